/// @file
/// How parallax apps answer SIGINT and SIGTERM (Ctrl-C, `timeout`, scancel, a job's time limit), and SIGUSR1
/// where an app asks for it (SLURM's warning before the time limit, `--signal=B:USR1@N`). One handler for
/// every app, installed by plx::run_app before MPI starts; an app that can stop cleanly installs it first,
/// in `drain` mode.
///
/// - end_now (plx-pi, plx-cosmo, plx-web: nothing is worth keeping half done): the handler removes every
///   unfinished output (detail::remove_registered_files: io::atomic_output registers its temporary file),
///   root writes one line, "error: stopped by SIGTERM before finishing: ...", and the process exits with
///   exit_interrupted (75) at once. Only async-signal-safe calls: unlink, write, _exit.
/// - drain (plx-ensemble, plx-run): the first signal sets stop_requested(), the second kill_requested(); the
///   app stops starting work, keeps what is finished (its resume state) and returns exit_interrupted.
///
/// What Open MPI 4.1's mpirun does with a SIGINT or SIGTERM it receives (measured: README, "Signals and exit
/// codes"): SIGCONT to every rank at once, SIGTERM about 1 s later, SIGKILL about 1 s after that
/// (odls_base_sigkill_timeout), and it exits with 1 whatever the ranks return. The ranks live in process
/// groups of their own, so a terminal's Ctrl-C reaches mpirun only. srun and SLURM signal every rank
/// directly, and the ranks' exit code reaches the batch script.
#pragma once

#include <atomic>
#include <string>

namespace plx {

/// What the first SIGINT or SIGTERM (or SIGUSR1, where asked) does.
enum class stop_mode {
  end_now,  ///< remove unfinished outputs, one line from root, exit 75 at once
  drain,    ///< set stop_requested(): the app finishes what runs, keeps it, and exits 75
};

/// Installs the handler for SIGINT, SIGTERM and, with `usr1`, SIGUSR1. `app` names the program in the line
/// end_now prints. Call it before the runtime starts (run_app does, in end_now mode, unless the app has
/// already); a second call does nothing. Not thread-safe: call it from main.
void install_stop_signals(stop_mode mode, const std::string& app, bool usr1 = false);
/// Whether install_stop_signals has run.
[[nodiscard]] bool stop_signals_installed() noexcept;
/// Tells the end_now handler whether this process is root (the one that prints). Until then it guesses
/// from the launcher's environment (OMPI_COMM_WORLD_RANK, PMIX_RANK, PMI_RANK, SLURM_PROCID).
void set_stop_signal_root(bool is_root) noexcept;

/// drain: set by the first signal. Lock-free; poll it, or hand it to map_options::stop, farm_options::drain.
[[nodiscard]] std::atomic<bool>& stop_requested() noexcept;
/// drain: set by the second signal (plx-run kills its running tasks then).
[[nodiscard]] std::atomic<bool>& kill_requested() noexcept;

}  // namespace plx
