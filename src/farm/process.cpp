#include <parallax/farm/process.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <new>
#include <system_error>
#include <thread>
#include <unordered_map>

extern "C" {
extern char** environ;  // POSIX: the caller's environment, copied into each command's
}

// Whether posix_spawn can close every inherited descriptor itself (glibc 2.34+). CMake decides it with
// check_symbol_exists; a build without that definition judges by the glibc version. 0 selects the fallback
// (close_inherited_descriptors below), which the tests also build on purpose.
#ifndef PLX_HAVE_POSIX_SPAWN_CLOSEFROM
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
#define PLX_HAVE_POSIX_SPAWN_CLOSEFROM 1
#else
#define PLX_HAVE_POSIX_SPAWN_CLOSEFROM 0
#endif
#endif

namespace plx::farm {

namespace {

namespace fs = std::filesystem;
using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

/// Longer limits are taken as "none": converting them to steady_clock ticks would overflow.
constexpr double unlimited_s = 1e9;
/// How often a stop token is looked at while a pidfd waits, and the longest sleep of the polling fallback.
constexpr auto stop_check_interval = 20ms;
constexpr auto first_poll_interval = 1ms;
/// Without a stop token, a pidfd wait still wakes up this often; only to keep the poll timeout an int.
constexpr auto longest_pidfd_wait = 1000ms;
/// Commands are shortened to this in messages.
constexpr std::size_t command_excerpt_chars = 80;

// ---------------------------------------------------------------------------------------------------
// The registry of running process groups (documented at kill_all_running).

struct group_registry {
  std::mutex mutex;
  /// pgid -> whether kill_all_running has SIGKILLed it.
  std::unordered_map<pid_t, bool> groups;
  /// How many times kill_all_running has run; lets a start that overlapped one notice it.
  std::uint64_t kill_all_calls = 0;
};

group_registry& registry() {
  static group_registry instance;  // function-local: initialized once, thread-safely, on first use
  return instance;
}

std::uint64_t kill_all_calls_now() {
  group_registry& reg = registry();
  const std::lock_guard lock(reg.mutex);
  return reg.kill_all_calls;
}

/// Registers the group of a command started after kill_all_running had run `calls_before` times. If it
/// ran since, the group missed it: kill it now, as it would have been.
void register_group(pid_t pgid, std::uint64_t calls_before) {
  group_registry& reg = registry();
  const std::lock_guard lock(reg.mutex);
  const bool missed_kill_all = reg.kill_all_calls != calls_before;
  reg.groups[pgid] = missed_kill_all;
  if (missed_kill_all) ::kill(-pgid, SIGKILL);
}

/// Removes the group; returns whether kill_all_running killed it. Called before the shell is reaped, so
/// that the pgid cannot be reused while it is registered.
bool unregister_group(pid_t pgid) {
  group_registry& reg = registry();
  const std::lock_guard lock(reg.mutex);
  const auto found = reg.groups.find(pgid);
  if (found == reg.groups.end()) return false;
  const bool killed = found->second;
  reg.groups.erase(found);
  return killed;
}

// ---------------------------------------------------------------------------------------------------
// Small helpers.

double unix_now_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

steady::time_point after(steady::time_point from, double seconds) {
  if (seconds >= unlimited_s) return steady::time_point::max();
  return from + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(seconds));
}

std::string describe_errno(int code) {
  char buffer[256];
  // GNU strerror_r (g++ defines _GNU_SOURCE): thread-safe, returns the text, not always in `buffer`.
  return ::strerror_r(code, buffer, sizeof buffer);
}

std::string excerpt(const std::string& command) {
  if (command.size() <= command_excerpt_chars) return command;
  return command.substr(0, command_excerpt_chars) + "...";
}

std::uint64_t file_size(const std::string& path) {
  if (path.empty()) return 0;
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) return 0;
  return static_cast<std::uint64_t>(info.st_size);
}

const char* output_path(const std::string& path) { return path.empty() ? "/dev/null" : path.c_str(); }

bool has_nul(const std::string& text) { return text.find('\0') != std::string::npos; }

/// Why the spec cannot be used, or "" if it can.
std::string spec_problem(const command_spec& spec) {
  const double grace_s = spec.kill_grace.count();
  if (!(grace_s >= 0)) return "kill_grace must be >= 0 s, not " + std::to_string(grace_s) + " s";
  if (spec.timeout && !(spec.timeout->count() >= 0))
    return "timeout must be >= 0 s, not " + std::to_string(spec.timeout->count()) + " s";
  if (has_nul(spec.command) || has_nul(spec.stdout_path) || has_nul(spec.stderr_path) ||
      has_nul(spec.working_directory))
    return "the command, a file path or the working directory contains a NUL character";
  for (const auto& [name, value] : spec.environment) {
    if (name.empty() || name.find('=') != std::string::npos || has_nul(name) || has_nul(value))
      return "environment variable name '" + name + "' is empty or contains '=' (or a value contains NUL)";
  }
  return {};
}

/// The caller's environment with spec.environment added or replacing variables of the same name.
std::vector<std::string> child_environment(const command_spec& spec) {
  std::vector<std::string> entries;
  auto name_of = [](const std::string& entry) { return entry.substr(0, entry.find('=')); };
  auto overridden = [&spec](const std::string& name) {
    return std::any_of(spec.environment.begin(), spec.environment.end(),
                       [&name](const auto& variable) { return variable.first == name; });
  };
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string text(*entry);
    if (!overridden(name_of(text))) entries.push_back(std::move(text));
  }
  for (const auto& [name, value] : spec.environment) {
    std::string text = name + "=" + value;
    const auto same = std::find_if(entries.begin(), entries.end(),
                                   [&](const std::string& entry) { return name_of(entry) == name; });
    if (same != entries.end()) {
      *same = std::move(text);  // a repeated name in spec.environment: the later one wins
    } else {
      entries.push_back(std::move(text));
    }
  }
  return entries;
}

/// A NULL-terminated array of pointers into `strings`, as exec wants (which does not write through them).
std::vector<char*> c_array(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  pointers.reserve(strings.size() + 1);
  for (std::string& text : strings) pointers.push_back(text.data());
  pointers.push_back(nullptr);
  return pointers;
}

/// After posix_spawn failed with `code`: names the path at fault, as far as the parent can tell.
std::string diagnose_start_failure(const command_spec& spec, const char* program, int code) {
  std::error_code ignored;
  auto check_output = [&](const char* label, const std::string& path) -> std::string {
    if (path.empty()) return {};
    const fs::path file(path);
    const fs::path directory = file.parent_path().empty() ? fs::path(".") : file.parent_path();
    if (!fs::exists(directory, ignored))
      return std::string("the directory '") + directory.string() + "' of the " + label + " file '" + path +
             "' does not exist";
    if (!fs::is_directory(directory, ignored))
      return std::string("'") + directory.string() + "' in the " + label + " file path '" + path +
             "' is not a directory";
    if (fs::is_directory(file, ignored)) return std::string("the ") + label + " file '" + path + "' is a directory";
    if (fs::exists(file, ignored) ? ::access(path.c_str(), W_OK) != 0
                                  : ::access(directory.c_str(), W_OK | X_OK) != 0)
      return std::string("the ") + label + " file '" + path + "' cannot be written";
    return {};
  };
  for (std::string found : {check_output("stdout", spec.stdout_path), check_output("stderr", spec.stderr_path)}) {
    if (!found.empty()) return found;
  }
  if (!spec.working_directory.empty()) {
    if (!fs::is_directory(spec.working_directory, ignored))
      return "the working directory '" + spec.working_directory + "' does not exist or is not a directory";
    if (::access(spec.working_directory.c_str(), X_OK) != 0)
      return "the working directory '" + spec.working_directory + "' cannot be entered";
  }
  if (::access(program, X_OK) != 0) return std::string(program) + " cannot be executed";
  return "posix_spawn failed (stdout '" + spec.stdout_path + "', stderr '" + spec.stderr_path +
         "', working directory '" + spec.working_directory + "'): " + describe_errno(code);
}

#if !PLX_HAVE_POSIX_SPAWN_CLOSEFROM
/// Where posix_spawn cannot close descriptors from a number on (glibc < 2.34, as on RHEL 8): one close action
/// per descriptor >= 3 that the caller has open without FD_CLOEXEC now, as /proc/self/fd lists them (without
/// /proc, every number below the descriptor limit is tried). Descriptors marked FD_CLOEXEC close on exec
/// anyway. A descriptor another thread opens between this walk and the spawn still reaches the command; one
/// closed meanwhile does no harm: glibc ignores a close action on a descriptor that is not open.
/// Returns "" or what failed.
std::string close_inherited_descriptors(posix_spawn_file_actions_t& actions) {
  std::vector<int> inherited;
  auto consider = [&inherited](int fd) {
    if (fd <= STDERR_FILENO) return;  // replaced by the command's own stdin, stdout and stderr
    const int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0 && (flags & FD_CLOEXEC) == 0) inherited.push_back(fd);
  };
  if (DIR* directory = ::opendir("/proc/self/fd")) {  // its own descriptor is FD_CLOEXEC
    while (const dirent* entry = ::readdir(directory)) {
      char* end = nullptr;
      const long fd = std::strtol(entry->d_name, &end, 10);
      if (end != entry->d_name && *end == '\0') consider(static_cast<int>(fd));
    }
    ::closedir(directory);
  } else {
    // Slow where the limit is high, but only without /proc; capped so that "unlimited" ends.
    constexpr long most_descriptors_probed = 1L << 20;
    const long limit = ::sysconf(_SC_OPEN_MAX);
    const long end = limit > 0 ? std::min(limit, most_descriptors_probed) : 1024;
    for (long fd = STDERR_FILENO + 1; fd < end; ++fd) consider(static_cast<int>(fd));
  }
  for (const int fd : inherited) {
    // EBADF: a descriptor at or beyond the current limit (lowered after it was opened) cannot be named in
    // a file action; it is left to the command.
    if (const int code = ::posix_spawn_file_actions_addclose(&actions, fd); code != 0 && code != EBADF)
      return "posix_spawn_file_actions_addclose: " + describe_errno(code);
  }
  return {};
}
#endif

// ---------------------------------------------------------------------------------------------------
// The task shim and the farm's lifeline (see plx-task-shim, src/farm/task_shim.cpp).

/// The descriptor the shim reads the lifeline from.
constexpr int shim_lifeline_fd = 3;
/// The lowest descriptor the lifeline's read end may have here: anything but 0-3, so that dup2 onto 3 is a
/// real copy (one onto itself would keep close-on-exec).
constexpr int lifeline_lowest_fd = 10;

/// The pipe whose write end only this process holds, for its whole life (both ends close-on-exec: no command
/// inherits the write end, and the read end reaches a shim only by the explicit dup2). When this process
/// ends, each shim reads end of file and kills its task's group. -1s when it cannot be made.
struct lifeline {
  int read_fd = -1;
  int write_fd = -1;
};

const lifeline& farm_lifeline() {
  static const lifeline instance = [] {
    int ends[2] = {-1, -1};
    if (::pipe2(ends, O_CLOEXEC) != 0) return lifeline{};
    const int read_fd = ::fcntl(ends[0], F_DUPFD_CLOEXEC, lifeline_lowest_fd);
    ::close(ends[0]);
    if (read_fd < 0) {
      ::close(ends[1]);
      return lifeline{};
    }
    return lifeline{read_fd, ends[1]};  // kept open until the process ends: that is its purpose
  }();
  return instance;
}

bool is_executable_file(const std::string& path) {
  struct stat info {};
  return !path.empty() && ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

std::string find_task_shim() {
  if (const char* chosen = std::getenv("PLX_TASK_SHIM")) return is_executable_file(chosen) ? chosen : "";
  std::error_code ignored;
  const fs::path program = fs::read_symlink("/proc/self/exe", ignored);
  if (!program.empty()) {
    // bin/plx-run and libexec/parallax/ of an install, apps/ or tests/ and libexec/parallax/ of a build tree.
    const fs::path beside = program.parent_path().parent_path() / "libexec" / "parallax" / "plx-task-shim";
    if (is_executable_file(beside.string())) return beside.string();
  }
#ifdef PLX_TASK_SHIM_INSTALL_PATH
  if (is_executable_file(PLX_TASK_SHIM_INSTALL_PATH)) return PLX_TASK_SHIM_INSTALL_PATH;
#endif
  return {};
}

// ---------------------------------------------------------------------------------------------------
// posix_spawn's attribute and file-action objects, owned.

class spawn_config {
 public:
  spawn_config() {
    if (::posix_spawnattr_init(&attributes_) != 0) throw std::bad_alloc();
    if (::posix_spawn_file_actions_init(&actions_) != 0) {
      ::posix_spawnattr_destroy(&attributes_);
      throw std::bad_alloc();
    }
  }
  ~spawn_config() {
    ::posix_spawn_file_actions_destroy(&actions_);
    ::posix_spawnattr_destroy(&attributes_);
  }
  // Owns the two posix_spawn objects, which cannot be copied or moved (their contents hold pointers).
  spawn_config(const spawn_config&) = delete;
  spawn_config& operator=(const spawn_config&) = delete;
  spawn_config(spawn_config&&) = delete;
  spawn_config& operator=(spawn_config&&) = delete;

  /// Fills in everything for `spec`, with `lifeline_fd` (or none: -1) on the command's descriptor 3;
  /// returns "" or what failed.
  std::string configure(const command_spec& spec, int lifeline_fd) {
    // A group of its own (pgid = the child's pid), so that one kill(-pgid) reaches everything the shell
    // starts. glibc's posix_spawn returns only after the child has called setpgid, so the group exists
    // when we first signal it.
    ::posix_spawnattr_setpgroup(&attributes_, 0);
    // The caller may block signals (MPI progress threads do) or ignore them (SIGPIPE is often ignored),
    // and both would be inherited across exec: give the command an empty mask and default dispositions
    // for every signal that can have one.
    sigset_t signals;
    ::sigemptyset(&signals);
    ::posix_spawnattr_setsigmask(&attributes_, &signals);
    ::sigfillset(&signals);
    ::sigdelset(&signals, SIGKILL);
    ::sigdelset(&signals, SIGSTOP);
    ::posix_spawnattr_setsigdefault(&attributes_, &signals);
    if (const int code = ::posix_spawnattr_setflags(
            &attributes_, static_cast<short>(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                             POSIX_SPAWN_SETSIGDEF));
        code != 0)
      return "posix_spawnattr_setflags: " + describe_errno(code);

    constexpr int output_flags = O_WRONLY | O_CREAT | O_TRUNC;
    constexpr mode_t output_mode = 0644;
    int code = ::posix_spawn_file_actions_addopen(&actions_, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    if (code == 0)
      code = ::posix_spawn_file_actions_addopen(&actions_, STDOUT_FILENO, output_path(spec.stdout_path),
                                                output_flags, output_mode);
    if (code == 0) {
      // One file for both: two opens would each truncate it and write over each other at separate offsets.
      code = spec.stderr_path == spec.stdout_path
                 ? ::posix_spawn_file_actions_adddup2(&actions_, STDOUT_FILENO, STDERR_FILENO)
                 : ::posix_spawn_file_actions_addopen(&actions_, STDERR_FILENO, output_path(spec.stderr_path),
                                                      output_flags, output_mode);
    }
    if (code != 0) return "posix_spawn_file_actions_addopen: " + describe_errno(code);
    // After the opens: relative output paths are relative to the caller's directory (see the header).
    if (!spec.working_directory.empty()) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 29))
      code = ::posix_spawn_file_actions_addchdir_np(&actions_, spec.working_directory.c_str());
      if (code != 0) return "posix_spawn_file_actions_addchdir_np: " + describe_errno(code);
#else
      return "a working directory needs glibc 2.29 or newer (posix_spawn_file_actions_addchdir_np)";
#endif
    }
    // Descriptors the caller opened without O_CLOEXEC (MPI's sockets, other slots' files) stay out of
    // the command: it could otherwise hold them open, or write to them.
    // The shim's lifeline goes to descriptor 3 after the closes of the fallback (which may close a 3 of the
    // caller's) and before closefrom(4). Its source is never 3 itself (see farm_lifeline), which dup2 would
    // leave close-on-exec.
#if PLX_HAVE_POSIX_SPAWN_CLOSEFROM
    if (lifeline_fd >= 0) {
      code = ::posix_spawn_file_actions_adddup2(&actions_, lifeline_fd, shim_lifeline_fd);
      if (code != 0) return "posix_spawn_file_actions_adddup2: " + describe_errno(code);
    }
    code = ::posix_spawn_file_actions_addclosefrom_np(&actions_, lifeline_fd >= 0 ? shim_lifeline_fd + 1
                                                                                : STDERR_FILENO + 1);
    if (code != 0) return "posix_spawn_file_actions_addclosefrom_np: " + describe_errno(code);
    return {};
#else
    if (std::string problem = close_inherited_descriptors(actions_); !problem.empty()) return problem;
    if (lifeline_fd >= 0) {
      code = ::posix_spawn_file_actions_adddup2(&actions_, lifeline_fd, shim_lifeline_fd);
      if (code != 0) return "posix_spawn_file_actions_adddup2: " + describe_errno(code);
    }
    return {};
#endif
  }

  [[nodiscard]] const posix_spawnattr_t* attributes() const { return &attributes_; }
  [[nodiscard]] const posix_spawn_file_actions_t* actions() const { return &actions_; }

 private:
  posix_spawnattr_t attributes_{};
  posix_spawn_file_actions_t actions_{};
};

// ---------------------------------------------------------------------------------------------------
// Waiting for the shell to exit, without reaping it.

/// Watches one child. It only observes the exit (waitid with WNOWAIT): the shell stays a zombie, which
/// keeps its pid, and so the pgid of its group, from being reused until run_command reaps it after the
/// final kill of the group.
class child_watch {
 public:
  enum class state { running, exited, stopped, deadline, lost };

  explicit child_watch(pid_t pid) : pid_(pid) {
#ifdef SYS_pidfd_open
    // pidfd_open (Linux 5.3): poll() on it wakes when the child exits. Via syscall(), so that neither
    // the glibc version (2.36 wraps it) nor a kernel or seccomp filter without it matters: on any
    // failure we poll waitid instead.
    const long fd = ::syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0) pidfd_ = static_cast<int>(fd);
#endif
  }
  ~child_watch() {
    if (pidfd_ >= 0) ::close(pidfd_);
  }
  // Owns the pidfd.
  child_watch(const child_watch&) = delete;
  child_watch& operator=(const child_watch&) = delete;
  child_watch(child_watch&&) = delete;
  child_watch& operator=(child_watch&&) = delete;

  /// Waits until the child has exited, `*stop` is true, or `until` has passed, whichever comes first.
  state wait(steady::time_point until, const std::atomic<bool>* stop) {
    auto sleep = std::chrono::duration_cast<steady::duration>(first_poll_interval);
    for (;;) {
      if (const state now_state = probe(); now_state != state::running) return now_state;
      if (stop != nullptr && stop->load(std::memory_order_acquire)) return state::stopped;
      const auto now = steady::now();
      if (now >= until) return state::deadline;
      auto step = until - now;
      if (pidfd_ >= 0) {
        step = std::min<steady::duration>(step, stop != nullptr ? stop_check_interval : longest_pidfd_wait);
        const auto milliseconds = std::chrono::ceil<std::chrono::milliseconds>(step).count();
        pollfd entry{pidfd_, POLLIN, 0};
        if (::poll(&entry, 1, static_cast<int>(std::max<long long>(milliseconds, 1))) < 0 && errno != EINTR) {
          ::close(pidfd_);  // should not happen; the fallback below always works
          pidfd_ = -1;
        }
      } else {
        step = std::min(step, sleep);
        std::this_thread::sleep_for(step);
        sleep = std::min<steady::duration>(sleep * 2, stop_check_interval);
      }
    }
  }

  /// errno of the waitid call that failed, for state::lost.
  [[nodiscard]] int lost_errno() const { return lost_errno_; }

 private:
  state probe() {
    siginfo_t info{};
    info.si_pid = 0;
    while (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
      if (errno == EINTR) continue;
      lost_errno_ = errno;  // ECHILD: someone else reaped it, or SIGCHLD is ignored (see the header)
      return state::lost;
    }
    return info.si_pid == pid_ ? state::exited : state::running;
  }

  pid_t pid_;
  int pidfd_ = -1;
  int lost_errno_ = 0;
};

command_result& finish(command_result& result, const command_spec& spec) {
  result.end_s = unix_now_s();
  result.stdout_bytes = file_size(spec.stdout_path);
  result.stderr_bytes = file_size(spec.stderr_path);
  return result;
}

command_result& fail_to_start(command_result& result, const command_spec& spec, std::string message) {
  result.outcome = "error";
  result.error = "cannot start '" + excerpt(spec.command) + "': " + std::move(message);
  return finish(result, spec);
}

}  // namespace

command_result run_command(const command_spec& spec, stop_token stop) {
  command_result result;
  result.start_s = unix_now_s();
  const auto started = steady::now();
  if (std::string problem = spec_problem(spec); !problem.empty())
    return fail_to_start(result, spec, std::move(problem));

  // Through the shim when there is one and the lifeline could be made; else the shell itself, as before.
  const std::string& shim = task_shim_path();
  const int lifeline_fd = shim.empty() ? -1 : farm_lifeline().read_fd;
  const bool through_shim = lifeline_fd >= 0;
  spawn_config config;
  if (std::string problem = config.configure(spec, lifeline_fd); !problem.empty())
    return fail_to_start(result, spec, std::move(problem));
  std::vector<std::string> arguments =
      through_shim ? std::vector<std::string>{"plx-task-shim", spec.command} : std::vector<std::string>{"sh", "-c", spec.command};
  std::vector<std::string> environment = child_environment(spec);
  const std::vector<char*> argv = c_array(arguments);
  const std::vector<char*> envp = c_array(environment);

  const std::uint64_t kill_all_calls_before = kill_all_calls_now();
  pid_t pid = 0;
  // glibc reports failures of the file actions and of exec itself here, as an errno value.
  if (const int code = ::posix_spawn(&pid, through_shim ? shim.c_str() : "/bin/sh", config.actions(),
                                     config.attributes(), argv.data(), envp.data());
      code != 0)
    return fail_to_start(result, spec, diagnose_start_failure(spec, through_shim ? shim.c_str() : "/bin/sh", code));
  const pid_t pgid = pid;
  try {
    register_group(pgid, kill_all_calls_before);
  } catch (...) {  // std::bad_alloc: leave no running command behind
    ::kill(-pgid, SIGKILL);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    throw;
  }

  enum class reason { none, timed_out, stopped };
  reason why = reason::none;
  child_watch watch(pid);
  const auto deadline = spec.timeout ? after(started, spec.timeout->count()) : steady::time_point::max();
  child_watch::state state = watch.wait(deadline, stop.requested);
  if (state == child_watch::state::deadline || state == child_watch::state::stopped) {
    why = state == child_watch::state::deadline ? reason::timed_out : reason::stopped;
    ::kill(-pgid, SIGTERM);
    state = watch.wait(after(steady::now(), spec.kill_grace.count()), nullptr);
    if (state == child_watch::state::deadline) {
      ::kill(-pgid, SIGKILL);
      // SIGKILL cannot be caught; only a process stuck in the kernel (D state) delays this.
      state = watch.wait(steady::time_point::max(), nullptr);
    }
  }

  const bool killed_by_kill_all = unregister_group(pgid);
  int status = 0;
  if (state == child_watch::state::lost) {
    // Not ours to reap any more, so its pid may already be reused: signal nothing.
    result.outcome = "error";
    result.error = "lost track of '" + excerpt(spec.command) + "' (pid " + std::to_string(pid) +
                   "): waitid: " + describe_errno(watch.lost_errno()) +
                   "; does the process reap children it did not start, or ignore SIGCHLD?";
    return finish(result, spec);
  }
  // The shell has exited but is not reaped yet, so the group's id is still its own. Whatever the shell
  // left running in the group (`sleep 100 &`) goes now; group members that already ended are reaped by
  // init or a subreaper, not here.
  if (::kill(-pgid, 0) == 0) ::kill(-pgid, SIGKILL);
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno == EINTR) continue;
    result.outcome = "error";
    result.error = "cannot reap '" + excerpt(spec.command) + "' (pid " + std::to_string(pid) +
                   "): waitpid: " + describe_errno(errno);
    return finish(result, spec);
  }

  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  if (why == reason::timed_out) {
    result.outcome = "timeout";
  } else if (why == reason::stopped || (killed_by_kill_all && WIFSIGNALED(status))) {
    result.outcome = "interrupted";
  } else {
    result.outcome = WIFEXITED(status) && result.exit_code == 0 ? "ok" : "failed";
  }
  return finish(result, spec);
}

void kill_all_running() {
  group_registry& reg = registry();
  const std::lock_guard lock(reg.mutex);
  ++reg.kill_all_calls;
  for (auto& [pgid, killed] : reg.groups) {
    ::kill(-pgid, SIGKILL);
    killed = true;
  }
}

const std::string& task_shim_path() {
  static const std::string path = find_task_shim();  // once: the file system does not move under a farm
  return path;
}

std::size_t running_command_count() {
  group_registry& reg = registry();
  const std::lock_guard lock(reg.mutex);
  return reg.groups.size();
}

}  // namespace plx::farm
