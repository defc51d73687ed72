#include <parallax/farm/process.hpp>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using plx::farm::command_result;
using plx::farm::command_spec;
using plx::farm::run_command;

/// Commands end within ~1 s in these tests; this only catches hangs on a loaded machine.
constexpr double hang_limit_s = 10.0;

/// A fresh directory for one test, removed afterwards.
class scratch_dir {
 public:
  scratch_dir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("plx_farm_process_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(path_);
  }
  ~scratch_dir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  // Owns the directory.
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;

  [[nodiscard]] std::string file(const std::string& name) const { return (path_ / name).string(); }
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

command_spec spec_in(const scratch_dir& dir, std::string command) {
  command_spec spec;
  spec.command = std::move(command);
  spec.stdout_path = dir.file("out.txt");
  spec.stderr_path = dir.file("err.txt");
  return spec;
}

/// True once `pid` no longer runs: gone, or a zombie waiting for init (a container's pid 1 may be slow
/// to reap, or never reap, what it inherits; a zombie runs nothing).
bool has_ended(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  const std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
  const auto paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
}

bool ends_within(pid_t pid, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!has_ended(pid)) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

TEST(FarmProcess, exit_zero_is_ok) {
  const scratch_dir dir;
  const double before = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const command_result result = run_command(spec_in(dir, "true"));
  EXPECT_EQ(result.outcome, "ok");
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.signal, 0);
  EXPECT_TRUE(result.error.empty());
  EXPECT_GE(result.start_s, before - 1.0);
  EXPECT_LE(result.start_s, result.end_s);
  EXPECT_LT(result.end_s - result.start_s, hang_limit_s);
  EXPECT_EQ(plx::farm::running_command_count(), 0U);
}

TEST(FarmProcess, nonzero_exit_is_failed_with_its_code) {
  const scratch_dir dir;
  const command_result result = run_command(spec_in(dir, "exit 3"));
  EXPECT_EQ(result.outcome, "failed");
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_EQ(result.signal, 0);
}

TEST(FarmProcess, death_by_signal_is_failed_with_the_signal) {
  const scratch_dir dir;
  const command_result result = run_command(spec_in(dir, "kill -9 $$"));
  EXPECT_EQ(result.outcome, "failed");
  EXPECT_EQ(result.signal, SIGKILL);
  EXPECT_EQ(result.exit_code, -1);
}

TEST(FarmProcess, captures_stdout_and_stderr_with_their_sizes) {
  const scratch_dir dir;
  const command_result result = run_command(spec_in(dir, "echo hello; echo oops >&2; printf abc >&2"));
  ASSERT_EQ(result.outcome, "ok");
  EXPECT_EQ(read_text(dir.file("out.txt")), "hello\n");
  EXPECT_EQ(read_text(dir.file("err.txt")), "oops\nabc");
  EXPECT_EQ(result.stdout_bytes, 6U);
  EXPECT_EQ(result.stderr_bytes, 8U);
}

TEST(FarmProcess, truncates_existing_output_files) {
  const scratch_dir dir;
  std::ofstream(dir.file("out.txt")) << "an old and much longer output\n";
  const command_result result = run_command(spec_in(dir, "echo new"));
  EXPECT_EQ(read_text(dir.file("out.txt")), "new\n");
  EXPECT_EQ(result.stdout_bytes, 4U);
}

TEST(FarmProcess, one_file_for_both_streams_keeps_both) {
  const scratch_dir dir;
  command_spec spec = spec_in(dir, "echo one; echo two >&2; echo three");
  spec.stderr_path = spec.stdout_path;
  const command_result result = run_command(spec);
  ASSERT_EQ(result.outcome, "ok");
  EXPECT_EQ(read_text(spec.stdout_path), "one\ntwo\nthree\n");
  EXPECT_EQ(result.stdout_bytes, 14U);
  EXPECT_EQ(result.stderr_bytes, 14U);
}

TEST(FarmProcess, empty_paths_mean_dev_null) {
  command_spec spec;
  spec.command = "echo gone; echo gone >&2";
  const command_result result = run_command(spec);
  EXPECT_EQ(result.outcome, "ok");
  EXPECT_EQ(result.stdout_bytes, 0U);
}

TEST(FarmProcess, stdin_is_dev_null) {
  const scratch_dir dir;
  // With an inherited stdin this could block; /dev/null gives EOF at once.
  const command_result result = run_command(spec_in(dir, "cat; read line || echo eof"));
  EXPECT_EQ(result.outcome, "ok");
  EXPECT_EQ(read_text(dir.file("out.txt")), "eof\n");
}

// MPI's sockets, a library's log file: whatever the caller opened without O_CLOEXEC must not reach the
// command, which could hold it open or write to it. The shell lists its own descriptors.
TEST(FarmProcess, command_inherits_no_descriptor_beyond_stdin_stdout_stderr) {
  const scratch_dir dir;
  const int low = ::open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  ASSERT_GE(low, 0);
  const int high = ::fcntl(low, F_DUPFD, 200);  // a duplicate never has FD_CLOEXEC
  int pipe_ends[2] = {-1, -1};
  const int piped = ::pipe(pipe_ends);
  const command_result r = run_command(spec_in(dir, "ls /proc/$$/fd"));
  for (const int fd : {low, high, pipe_ends[0], pipe_ends[1]}) {
    if (fd >= 0) ::close(fd);
  }
  ASSERT_GE(high, 200);
  ASSERT_EQ(piped, 0);
  EXPECT_EQ(r.outcome, "ok") << r.error;
  EXPECT_EQ(read_text(dir.file("out.txt")), "0\n1\n2\n") << "the command sees descriptors it should not";
}

TEST(FarmProcess, environment_adds_and_replaces_variables) {
  const scratch_dir dir;
  ASSERT_EQ(::setenv("PLX_PROCESS_TEST_OLD", "parent", 1), 0);  // before any thread runs a command
  command_spec spec =
      spec_in(dir, "echo $PLX_TASK_ID $PLX_RANK $PLX_PROCESS_TEST_OLD; env | grep -c '^PLX_PROCESS_TEST_OLD='");
  spec.environment = {{"PLX_TASK_ID", "41"}, {"PLX_RANK", "2"}, {"PLX_PROCESS_TEST_OLD", "child"},
                      {"PLX_TASK_ID", "42"}};
  const command_result result = run_command(spec);
  ::unsetenv("PLX_PROCESS_TEST_OLD");
  ASSERT_EQ(result.outcome, "ok");
  EXPECT_EQ(read_text(dir.file("out.txt")), "42 2 child\n1\n");
}

TEST(FarmProcess, inherits_the_callers_environment) {
  const scratch_dir dir;
  const char* path = std::getenv("PATH");
  ASSERT_NE(path, nullptr);
  const command_result result = run_command(spec_in(dir, "printf %s \"$PATH\""));
  EXPECT_EQ(read_text(dir.file("out.txt")), path);
}

TEST(FarmProcess, runs_in_the_working_directory) {
  const scratch_dir dir;
  fs::create_directory(dir.path() / "work");
  command_spec spec = spec_in(dir, "printf %s \"$(pwd)\"; touch made_here");
  spec.working_directory = (dir.path() / "work").string();
  const command_result result = run_command(spec);
  ASSERT_EQ(result.outcome, "ok");
  EXPECT_EQ(fs::canonical(read_text(dir.file("out.txt"))), fs::canonical(dir.path() / "work"));
  EXPECT_TRUE(fs::exists(dir.path() / "work" / "made_here"));
}

TEST(FarmProcess, timeout_ends_the_command) {
  const scratch_dir dir;
  command_spec spec = spec_in(dir, "sleep 30");
  spec.timeout = 0.2s;
  spec.kill_grace = 2s;
  const command_result result = run_command(spec);
  EXPECT_EQ(result.outcome, "timeout");
  EXPECT_EQ(result.signal, SIGTERM);
  EXPECT_LT(result.end_s - result.start_s, hang_limit_s);
}

TEST(FarmProcess, command_ignoring_sigterm_is_killed_after_the_grace) {
  const scratch_dir dir;
  command_spec spec = spec_in(dir, "trap '' TERM; sleep 30");
  spec.timeout = 0.2s;
  spec.kill_grace = 0.2s;
  const command_result result = run_command(spec);
  EXPECT_EQ(result.outcome, "timeout");
  EXPECT_EQ(result.signal, SIGKILL);
  EXPECT_GE(result.end_s - result.start_s, 0.3);
  EXPECT_LT(result.end_s - result.start_s, hang_limit_s);
}

TEST(FarmProcess, background_grandchild_is_killed) {
  const scratch_dir dir;
  const command_result result = run_command(spec_in(dir, "sleep 100 & echo $! > " + dir.file("pid")));
  ASSERT_EQ(result.outcome, "ok");
  const pid_t grandchild = std::stoi(read_text(dir.file("pid")));
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE(ends_within(grandchild, 2000ms)) << "pid " << grandchild << " still runs";
}

TEST(FarmProcess, grandchild_survives_a_timeout_of_its_shell_only_briefly) {
  const scratch_dir dir;
  // The shell is ended by SIGTERM; its background child ignores it and must still go.
  command_spec spec = spec_in(dir, "(trap '' TERM; sleep 100) & echo $! > " + dir.file("pid") + "; sleep 30");
  spec.timeout = 0.3s;
  spec.kill_grace = 0.2s;
  const command_result result = run_command(spec);
  EXPECT_EQ(result.outcome, "timeout");
  const pid_t grandchild = std::stoi(read_text(dir.file("pid")));
  EXPECT_TRUE(ends_within(grandchild, 2000ms)) << "pid " << grandchild << " still runs";
}

TEST(FarmProcess, stop_token_interrupts_the_command) {
  const scratch_dir dir;
  std::atomic<bool> stop{false};
  command_spec spec = spec_in(dir, "sleep 30");
  spec.kill_grace = 0.2s;
  std::thread stopper([&stop] {
    std::this_thread::sleep_for(200ms);
    stop = true;
  });
  const command_result result = run_command(spec, {&stop});
  stopper.join();
  EXPECT_EQ(result.outcome, "interrupted");
  EXPECT_NE(result.signal, 0);
  EXPECT_LT(result.end_s - result.start_s, hang_limit_s);
}

TEST(FarmProcess, stop_token_already_set_interrupts_at_once) {
  const scratch_dir dir;
  const std::atomic<bool> stop{true};
  command_spec spec = spec_in(dir, "sleep 30");
  spec.kill_grace = 0.2s;
  const command_result result = run_command(spec, {&stop});
  EXPECT_EQ(result.outcome, "interrupted");
  EXPECT_LT(result.end_s - result.start_s, hang_limit_s);
}

TEST(FarmProcess, kill_all_running_interrupts_running_commands) {
  const scratch_dir dir;
  command_result results[2];
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&dir, &results, i] {
      command_spec spec = spec_in(dir, "sleep 30");
      spec.stdout_path = dir.file("out" + std::to_string(i));
      results[i] = run_command(spec);
    });
  }
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (plx::farm::running_command_count() < 2 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(5ms);
  plx::farm::kill_all_running();
  for (std::thread& thread : threads) thread.join();
  for (const command_result& result : results) {
    EXPECT_EQ(result.outcome, "interrupted");
    EXPECT_EQ(result.signal, SIGKILL);
    EXPECT_LT(result.end_s - result.start_s, hang_limit_s);
  }
  EXPECT_EQ(plx::farm::running_command_count(), 0U);
}

TEST(FarmProcess, child_gets_default_signal_handling_whatever_the_caller_has) {
  const scratch_dir dir;
  // The caller ignores SIGTERM and blocks SIGUSR1 (as MPI threads may); neither may reach the command.
  struct sigaction old_term {};
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGTERM, &ignore, &old_term), 0);
  sigset_t usr1;
  sigset_t old_mask;
  ::sigemptyset(&usr1);
  ::sigaddset(&usr1, SIGUSR1);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &usr1, &old_mask), 0);
  const command_result term = run_command(spec_in(dir, "kill -TERM $$; sleep 5"));
  const command_result user = run_command(spec_in(dir, "kill -USR1 $$; sleep 5"));
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  EXPECT_EQ(term.outcome, "failed");
  EXPECT_EQ(term.signal, SIGTERM);
  EXPECT_EQ(user.outcome, "failed");
  EXPECT_EQ(user.signal, SIGUSR1);
}

TEST(FarmProcess, runs_in_its_own_process_group) {
  const scratch_dir dir;
  const command_result result = run_command(spec_in(dir, "echo $$ $PPID; ps -o pgid= -p $$ 2>/dev/null || "
                                                         "cut -d' ' -f5 /proc/$$/stat"));
  ASSERT_EQ(result.outcome, "ok");
  std::istringstream out(read_text(dir.file("out.txt")));
  long pid = 0;
  long parent = 0;
  long pgid = 0;
  out >> pid >> parent >> pgid;
  EXPECT_GT(pid, 0);
  // The group's leader is the shell, or the shim that started it (and whose pid run_command watches).
  EXPECT_EQ(plx::farm::task_shim_path().empty() ? pid : parent, pgid);
  EXPECT_NE(pgid, static_cast<long>(::getpgrp()));
}

TEST(FarmProcess, concurrent_calls_each_get_their_own_result) {
  const scratch_dir dir;
  constexpr int calls = 8;
  std::vector<command_result> results(calls);
  std::vector<std::thread> threads;
  for (int i = 0; i < calls; ++i) {
    threads.emplace_back([&dir, &results, i] {
      command_spec spec;
      spec.command = "sleep 0.$PLX_TASK_ID; echo task $PLX_TASK_ID; echo e$PLX_TASK_ID >&2; exit $PLX_TASK_ID";
      spec.stdout_path = dir.file("out" + std::to_string(i));
      spec.stderr_path = dir.file("err" + std::to_string(i));
      spec.environment = {{"PLX_TASK_ID", std::to_string(i)}};
      spec.timeout = 30s;
      results[static_cast<std::size_t>(i)] = run_command(spec);
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int i = 0; i < calls; ++i) {
    const command_result& result = results[static_cast<std::size_t>(i)];
    EXPECT_EQ(result.outcome, i == 0 ? "ok" : "failed") << "task " << i;
    EXPECT_EQ(result.exit_code, i);
    EXPECT_EQ(read_text(dir.file("out" + std::to_string(i))), "task " + std::to_string(i) + "\n");
    EXPECT_EQ(result.stderr_bytes, 3U);
  }
  EXPECT_EQ(plx::farm::running_command_count(), 0U);
}

TEST(FarmProcess, missing_output_directory_is_an_error_naming_it) {
  const scratch_dir dir;
  command_spec spec = spec_in(dir, "echo never");
  spec.stdout_path = dir.file("no/such/dir/out.txt");
  const command_result result = run_command(spec);
  EXPECT_EQ(result.outcome, "error");
  EXPECT_NE(result.error.find(dir.file("no/such/dir")), std::string::npos) << result.error;
  EXPECT_NE(result.error.find("stdout"), std::string::npos) << result.error;
  EXPECT_EQ(plx::farm::running_command_count(), 0U);
}

TEST(FarmProcess, missing_working_directory_is_an_error_naming_it) {
  const scratch_dir dir;
  command_spec spec = spec_in(dir, "echo never");
  spec.working_directory = dir.file("absent");
  const command_result result = run_command(spec);
  EXPECT_EQ(result.outcome, "error");
  EXPECT_NE(result.error.find(dir.file("absent")), std::string::npos) << result.error;
}

TEST(FarmProcess, unusable_spec_is_an_error) {
  const scratch_dir dir;
  command_spec spec = spec_in(dir, "true");
  spec.environment = {{"BAD=NAME", "x"}};
  EXPECT_EQ(run_command(spec).outcome, "error");
  spec.environment.clear();
  spec.kill_grace = std::chrono::duration<double>(-1.0);
  const command_result result = run_command(spec);
  EXPECT_EQ(result.outcome, "error");
  EXPECT_NE(result.error.find("kill_grace"), std::string::npos) << result.error;
}

TEST(FarmProcess, commands_start_through_the_shim_of_this_build) {
  // Tests run from the build tree, where the shim sits in libexec/parallax/ beside tests/.
  EXPECT_NE(plx::farm::task_shim_path().find("libexec/parallax/plx-task-shim"), std::string::npos);
}

/// The shim started as run_command starts it (own group, `lifeline` on descriptor 3), running `command`
/// with stdout in `out`. Returns its pid (= its group).
pid_t start_shim(int lifeline, const std::string& command, const std::string& out) {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawnattr_init(&attributes);
  ::posix_spawn_file_actions_adddup2(&actions, lifeline, 3);
  ::posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ::posix_spawnattr_setpgroup(&attributes, 0);
  ::posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
  std::string name = "plx-task-shim";
  std::string text = command;
  char* argv[] = {name.data(), text.data(), nullptr};
  pid_t pid = -1;
  const int code = ::posix_spawn(&pid, plx::farm::task_shim_path().c_str(), &actions, &attributes, argv, environ);
  ::posix_spawn_file_actions_destroy(&actions);
  ::posix_spawnattr_destroy(&attributes);
  return code == 0 ? pid : -1;
}

TEST(FarmProcess, shim_kills_its_whole_group_when_the_farm_is_gone) {
  if (plx::farm::task_shim_path().empty()) GTEST_SKIP() << "no plx-task-shim";
  const scratch_dir dir;
  int ends[2];
  ASSERT_EQ(::pipe2(ends, O_CLOEXEC), 0);
  // A background grandchild and a foreground one: the shell's own children, which no signal to the shell
  // alone would reach.
  const pid_t shim = start_shim(ends[0], "sleep 60 & echo $! $$; sleep 60; echo survived", dir.file("out.txt"));
  ::close(ends[0]);
  ASSERT_GT(shim, 0);
  long background = 0;
  long shell = 0;
  for (int tries = 0; tries < 500 && background == 0; ++tries) {
    std::istringstream(read_text(dir.file("out.txt"))) >> background >> shell;
    if (background == 0) std::this_thread::sleep_for(10ms);
  }
  ::close(ends[1]);  // the farm's process is gone: its lifeline closes
  int status = 0;
  const auto until = std::chrono::steady_clock::now() + 2s;
  pid_t ended = 0;
  while ((ended = ::waitpid(shim, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(10ms);
  if (ended == 0) {
    ::kill(-shim, SIGKILL);
    ::waitpid(shim, &status, 0);
  }
  ASSERT_GT(background, 0) << "the command did not start";
  EXPECT_EQ(ended, shim) << "the shim outlived the farm by 2 s";
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_TRUE(ends_within(static_cast<pid_t>(background), 2000ms));
  EXPECT_TRUE(ends_within(static_cast<pid_t>(shell), 2000ms));
  EXPECT_EQ(read_text(dir.file("out.txt")).find("survived"), std::string::npos);
}

TEST(FarmProcess, shim_starts_nothing_when_the_farm_is_already_gone) {
  if (plx::farm::task_shim_path().empty()) GTEST_SKIP() << "no plx-task-shim";
  const scratch_dir dir;
  int ends[2];
  ASSERT_EQ(::pipe2(ends, O_CLOEXEC), 0);
  ::close(ends[1]);  // gone before the shim looks
  const pid_t shim = start_shim(ends[0], "echo started", dir.file("out.txt"));
  ::close(ends[0]);
  ASSERT_GT(shim, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(shim, &status, 0), shim);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 127);
  EXPECT_EQ(read_text(dir.file("out.txt")), "");
}

}  // namespace
