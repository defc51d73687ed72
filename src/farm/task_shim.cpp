// plx-task-shim: starts one task of the farm and ends its whole process group when the farm's process is gone.
//
//   plx-task-shim COMMAND        (started by plx::farm::run_command, with the farm's lifeline on descriptor 3)
//
// run_command starts this shim, not the shell, as the leader of the task's process group. The shim runs
// `/bin/sh -c COMMAND` in the same group (with the signal mask and dispositions the shim was given: empty and
// default), waits for it, and then ends the same way: the shell's exit status, or death by the signal that
// killed it. So the group, its id and the outcome are what they were without the shim.
//
// Descriptor 3 is the read end of a pipe whose write end only the farm's process holds (close-on-exec, so no
// other command inherits it). Nobody ever writes to it: it becomes readable (end of file) exactly when the
// farm's process has ended, whichever way, kill -9 included, and then the shim SIGKILLs its group, itself
// included. End of file stays, so a farm that died before the shim looked is seen too: there is no race.
// (prctl's PR_SET_PDEATHSIG was the other candidate: it fires when the *thread* that started the child ends,
// and the farm starts tasks from its slots, OpenMP threads that the runtime may retire; and it needs a second
// look at getppid() for a parent that died before the prctl.)
//
// A task may leave its process group: `setsid sleep 44`, a daemonizing server, nohup with setsid. Killing the
// group misses those. So the shim is a child subreaper (prctl PR_SET_CHILD_SUBREAPER): a process of the task
// whose parent ends is reparented to the shim, not to init, and every process the task started stays a
// descendant of the shim, whatever group or session it moved to. Before the shim ends (the shell has exited,
// or the farm is gone) it SIGKILLs all its descendants, found by their parent links in /proc, until none is
// left; then the group as before. What still escapes: a process that double-forks out of a *different*
// subreaper's reach (none exists below the shim unless a task makes one), or one started through a service
// manager (systemd-run, at, ssh to another host), which was never the task's child.
//
// Only libc, no C++ library: the shim is started once per task, so it should load fast.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

extern "C" {
extern char** environ;  // POSIX: handed on to the shell unchanged
}

namespace {

constexpr int lifeline_fd = 3;
constexpr int exit_cannot_start = 127;  // the shell's own code for "command not found"

int fail(const char* what, int code) {
  std::fprintf(stderr, "plx-task-shim: %s: %s\n", what, std::strerror(code));
  return exit_cannot_start;
}

/// Whether the farm's process is gone: the lifeline reads end of file (or fails: nothing left to guard).
bool farm_gone(short revents) { return (revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) != 0; }

/// The parent of process `pid` and whether it still runs (not a zombie), from /proc/PID/stat; false if it is gone.
bool parent_of(pid_t pid, pid_t& parent, bool& running) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char text[512];
  const ssize_t n = ::read(fd, text, sizeof text - 1);
  ::close(fd);
  if (n <= 0) return false;
  text[n] = '\0';
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so look after the last ')'.
  const char* end = std::strrchr(text, ')');
  char state = 0;
  int ppid = 0;
  if (end == nullptr || std::sscanf(end + 1, " %c %d", &state, &ppid) != 2) return false;
  parent = static_cast<pid_t>(ppid);
  running = state != 'Z' && state != 'X';
  return true;
}

/// SIGKILLs every descendant of this shim (by the parent links in /proc) and reaps those that became its
/// children, until a scan finds none alive. A subreaper keeps the orphans among them as its children, so a
/// process that moved to another session or group is found too. Bounded: a task that forks faster than
/// this kills gets the group kill that follows anyway.
void kill_descendants() {
  const pid_t self = ::getpid();
  constexpr int max_processes = 1 << 16;
  struct process {
    pid_t pid;
    pid_t parent;
    bool running;  // not a zombie: a zombie needs no kill (its children were reparented already)
    bool mine;
  };
  auto* table = static_cast<process*>(std::malloc(sizeof(process) * max_processes));
  if (table == nullptr) return;
  for (int round = 0; round < 100; ++round) {
    int count = 0;
    if (DIR* proc = ::opendir("/proc")) {
      while (const dirent* entry = ::readdir(proc)) {
        char* end = nullptr;
        const long pid = std::strtol(entry->d_name, &end, 10);
        if (end == entry->d_name || *end != '\0' || pid <= 0 || pid == self || count == max_processes) continue;
        process& p = table[count];
        p.pid = static_cast<pid_t>(pid);
        p.mine = false;
        if (parent_of(p.pid, p.parent, p.running)) ++count;
      }
      ::closedir(proc);
    }
    // Descendants: a fixed point of "its parent is the shim or a descendant" (few rounds: trees are shallow).
    for (bool grew = true; grew;) {
      grew = false;
      for (int i = 0; i < count; ++i) {
        if (table[i].mine) continue;
        bool under = table[i].parent == self;
        for (int j = 0; j < count && !under; ++j) under = table[j].mine && table[j].pid == table[i].parent;
        if (under) table[i].mine = grew = true;
      }
    }
    int alive = 0;
    for (int i = 0; i < count; ++i) {
      if (!table[i].mine || !table[i].running) continue;
      ::kill(table[i].pid, SIGKILL);
      ++alive;
    }
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {  // the zombies that are the shim's own children
    }
    if (alive == 0) break;
    ::usleep(1000);  // let the kills land and the orphans be reparented to the shim
  }
  std::free(table);
}

/// Ends the shim the way the shell ended.
[[noreturn]] void end_like(int status) {
  kill_descendants();  // what the task left running, in its group or out of it
  if (WIFEXITED(status)) ::_exit(WEXITSTATUS(status));
  const int signal = WIFSIGNALED(status) ? WTERMSIG(status) : SIGKILL;
  const rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);  // the shell dumped its core already, if it did
  ::signal(signal, SIG_DFL);
  sigset_t just_this;
  ::sigemptyset(&just_this);
  ::sigaddset(&just_this, signal);
  ::sigprocmask(SIG_UNBLOCK, &just_this, nullptr);
  ::kill(::getpid(), signal);
  ::_exit(128 + signal);  // a signal whose default is not to end the process cannot have killed the shell
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: plx-task-shim COMMAND (started by the parallax task farm, lifeline on fd 3)\n");
    return exit_cannot_start;
  }
  struct stat lifeline {};
  if (::fstat(lifeline_fd, &lifeline) != 0 || !S_ISFIFO(lifeline.st_mode)) {
    std::fprintf(stderr, "plx-task-shim: descriptor 3 is not the farm's lifeline pipe\n");
    return exit_cannot_start;
  }
  ::fcntl(lifeline_fd, F_SETFD, FD_CLOEXEC);  // the command must not hold the farm's lifeline
  // Orphans of the task come to the shim, whatever session they moved to (see the top of this file).
  // Without it (a kernel before 3.4) the shim works as before and a setsid'ed process can outlive the task.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);

  // Every signal waits, so that one sent to the whole group (run_command's SIGTERM at a timeout) reaches
  // the shell and the shim outlives it to report how it ended; SIGCHLD is read from a descriptor.
  sigset_t all;
  ::sigfillset(&all);
  ::sigprocmask(SIG_BLOCK, &all, nullptr);
  sigset_t child_signal;
  ::sigemptyset(&child_signal);
  ::sigaddset(&child_signal, SIGCHLD);
  const int child_fd = ::signalfd(-1, &child_signal, SFD_CLOEXEC);
  if (child_fd < 0) return fail("signalfd", errno);

  pollfd look{lifeline_fd, POLLIN, 0};
  if (::poll(&look, 1, 0) > 0 && farm_gone(look.revents)) return exit_cannot_start;  // nothing started yet

  posix_spawnattr_t attributes;
  ::posix_spawnattr_init(&attributes);
  sigset_t none;
  ::sigemptyset(&none);
  ::posix_spawnattr_setsigmask(&attributes, &none);
  sigset_t defaults;
  ::sigfillset(&defaults);
  ::sigdelset(&defaults, SIGKILL);
  ::sigdelset(&defaults, SIGSTOP);
  ::posix_spawnattr_setsigdefault(&attributes, &defaults);
  ::posix_spawnattr_setflags(&attributes, static_cast<short>(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF));
  char shell_name[] = "sh";
  char dash_c[] = "-c";
  char* shell_argv[] = {shell_name, dash_c, argv[1], nullptr};
  pid_t shell = 0;
  const int code = ::posix_spawn(&shell, "/bin/sh", nullptr, &attributes, shell_argv, environ);
  ::posix_spawnattr_destroy(&attributes);
  if (code != 0) return fail("cannot start /bin/sh", code);

  for (;;) {
    pollfd watch[2] = {{lifeline_fd, POLLIN, 0}, {child_fd, POLLIN, 0}};
    if (::poll(watch, 2, -1) < 0) {
      if (errno == EINTR) continue;
      kill_descendants();
      ::kill(0, SIGKILL);  // cannot watch the farm any more: leave nothing behind
    }
    if (farm_gone(watch[0].revents)) {
      kill_descendants();
      ::kill(0, SIGKILL);  // the whole group, this shim included
    }
    if (watch[1].revents != 0) {
      signalfd_siginfo info;
      while (::read(child_fd, &info, sizeof info) < 0 && errno == EINTR) {
      }
      int status = 0;
      const pid_t ended = ::waitpid(shell, &status, WNOHANG);
      if (ended == shell) end_like(status);
      if (ended < 0 && errno != EINTR) return fail("waitpid", errno);
    }
  }
}
