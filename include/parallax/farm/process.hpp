/// @file
/// plx::farm::run_command: one shell command of the task farm, run to completion with nothing left behind.
///
/// plx-run runs tasks on MPI ranks x K slots per rank. A slot (an OpenMP thread of a rank) hands each
/// task's command to run_command, which starts `/bin/sh -c command` with posix_spawn (fork is unsafe in a
/// process with MPI and threads; posix_spawn uses vfork-like clone and copies no memory), in a process
/// group of its own, with stdout and stderr in per-task files, and waits for it. A time limit or a stop
/// request ends the whole group: SIGTERM, then SIGKILL after a grace period. When the shell has exited,
/// whatever it left running in the background in its group is SIGKILLed too, so a slot never leaves orphans
/// behind. The result says exactly how the command ended; run_command does not throw for anything the
/// command does, including failing to start.
///
/// @code
///   plx::farm::command_spec spec;
///   spec.command = "./simulate --seed 7";
///   spec.stdout_path = "logs/7.out";
///   spec.stderr_path = "logs/7.err";
///   spec.environment = {{"PLX_TASK_ID", "7"}};
///   spec.timeout = std::chrono::minutes(10);
///   const plx::farm::command_result result = plx::farm::run_command(spec, {&shutdown_requested});
///   if (result.outcome != "ok") ...
/// @endcode
///
/// Tasks die with the farm: each command is started through plx-task-shim (installed in libexec/parallax/),
/// which leads the group, runs the shell in it and reports the shell's end as its own. The shim holds the
/// read end of a pipe whose write end only the calling process has; when that process ends, kill -9
/// included, the pipe reads end of file and the shim SIGKILLs the group. This works whichever thread started
/// the command (prctl's PR_SET_PDEATHSIG would fire when that *thread* ends, and the farm's slots are OpenMP
/// threads), and has no race (end of file stays, however late the shim looks). Where no shim is found (see
/// task_shim_path) the shell is started directly, as before, and a command can outlive a killed farm.
///
/// Known limits: a process that leaves the group (setsid, setpgid; e.g. a daemonizing command) escapes the
/// clean-up. Nothing in the process may reap children it did not start (waitpid(-1) in a SIGCHLD handler)
/// or set SIGCHLD to SIG_IGN: run_command then cannot learn how its command ended and reports "error".
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace plx::farm {

/// What to run and how. A plain value: it can be built and copied freely.
struct command_spec {
  /// Run as `/bin/sh -c command`.
  std::string command;
  /// Files for the command's stdout and stderr, created or truncated (mode 0644 before the umask). A
  /// relative path is relative to the caller's working directory, not to `working_directory` (the files
  /// are opened before the change of directory). "" means /dev/null. The same path for both gives one
  /// file with both streams, in the order they were written. stdin is always /dev/null.
  std::string stdout_path, stderr_path;  ///< the stderr file: see stdout_path
  /// Directory the command runs in; "" inherits the caller's.
  std::string working_directory;
  /// Variables added to the caller's environment (PLX_TASK_ID, PLX_RANK, ...); one with the name of an
  /// existing variable replaces it, and a later entry replaces an earlier one of the same name.
  std::vector<std::pair<std::string, std::string>> environment;
  /// Wall-time limit from the start; none if empty. When it passes, the group is ended as described at
  /// `kill_grace` and the outcome is "timeout".
  std::optional<std::chrono::duration<double>> timeout;
  /// After SIGTERM to the whole group (timeout or stop), how long to wait for the shell to exit before
  /// SIGKILL to the whole group.
  std::chrono::duration<double> kill_grace = std::chrono::seconds(5);
};

/// How a command ended.
struct command_result {
  /// One of
  /// - "ok": the shell exited with status 0;
  /// - "failed": it exited with another status, or was killed by a signal run_command did not send (the
  ///   OOM killer's SIGKILL shows up here, with signal = 9);
  /// - "timeout": run_command ended it because `timeout` passed;
  /// - "interrupted": run_command ended it because the stop token was set, or kill_all_running() killed it;
  /// - "error": it could not be started (or its end could not be observed); `error` says why, naming the
  ///   file or directory at fault where it can tell.
  std::string outcome;
  /// The shell's exit status when it exited normally, else -1.
  int exit_code = -1;
  /// The signal that killed the shell, else 0.
  int signal = 0;
  /// Unix time [s] (system clock) just before the start and after the clean-up.
  double start_s = 0, end_s = 0;  ///< Unix time [s] after the clean-up: see start_s
  /// Sizes [bytes] of the stdout and stderr files afterwards (0 if they cannot be read).
  std::uint64_t stdout_bytes = 0, stderr_bytes = 0;  ///< the stderr file's size: see stdout_bytes
  /// For outcome "error": what went wrong. Empty otherwise.
  std::string error;
};

/// A way to stop running commands from outside, e.g. the farm's shutdown on SIGTERM. When `*requested`
/// becomes true, run_command sends SIGTERM to the command's group, waits `kill_grace`, then SIGKILLs the
/// group, and reports "interrupted". It is checked at least every 20 ms. nullptr: never stopped. The flag
/// must outlive the run_command call; the same flag may serve any number of calls.
struct stop_token {
  const std::atomic<bool>* requested = nullptr;  ///< the flag, or nullptr
};

/// Runs `spec.command` to completion as described at the top of this header, and returns how it ended.
/// Blocks the calling thread until the shell has exited and its group has been SIGKILLed; waits with a
/// pidfd and poll where the kernel has them (Linux 5.3+), else polls waitid with a sleep growing from 1 ms
/// to 20 ms. Installs no signal handler and touches no signal disposition of the caller.
///
/// Thread-safe: any number of threads may run commands at the same time. It reads `environ`, so no thread
/// may call setenv/putenv/unsetenv meanwhile. The command's group is in the registry of running groups (see
/// kill_all_running) from its start until its shell has exited.
///
/// Does not throw for anything about the command: a spec it cannot use (a negative time, an environment
/// name with '='), a failed start, an unobservable end all give outcome "error". Throws std::bad_alloc.
command_result run_command(const command_spec& spec, stop_token stop = {});

/// Sends SIGKILL to the process group of every command that run_command is running now, e.g. from an
/// emergency path before exiting. Those calls then return "interrupted" with signal 9 (or their normal
/// result if the shell had already exited). A call whose command is just being started is caught too: it
/// kills its own group as soon as the group exists.
///
/// The registry behind it is the one piece of global state here: a mutex-guarded set of the process
/// groups of running commands. A group's id stays valid while it is registered (the shell is not reaped
/// before its group leaves the registry), so this never signals an unrelated process.
///
/// Thread-safe. Not async-signal-safe (it takes a mutex): call it from a normal thread, e.g. one that
/// waits for signals with sigwait, not from a signal handler. Does not wait for the commands to end.
void kill_all_running();

/// Where run_command finds plx-task-shim, found once per process: $PLX_TASK_SHIM if set (empty or not an
/// executable file: no shim), else ../libexec/parallax/plx-task-shim next to the running program's directory
/// (an install's bin/, a build tree's apps/ or tests/), else the install path the library was configured
/// with. "" when there is none: commands then start without it (see the top of this header). Thread-safe.
[[nodiscard]] const std::string& task_shim_path();

/// How many commands run_command is running now (the size of the registry described at
/// kill_all_running). Thread-safe; the value can be stale as soon as it is returned.
[[nodiscard]] std::size_t running_command_count();

}  // namespace plx::farm
