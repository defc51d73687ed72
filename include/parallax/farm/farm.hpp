/// @file
/// The task farm: every command of a task set run over MPI ranks x slots, each finished task recorded in a
/// durable journal on root the moment it finishes, so that a run stopped at any instant resumes where it
/// stood. Slots are the OpenMP threads of the map layer's dynamic schedule (chunk 1): one slow task never
/// holds back the others.
///
/// Signals: tasks start with SIGUSR1 ignored, since it is the farm's drain request and srun passes a job's
/// signals to every process of the step (farm_options::pass_usr1 leaves it at its default instead); a task
/// killed by SIGTERM or SIGINT (or SIGUSR1, when passed) during a shutdown counts as interrupted (rerun on
/// resume), not failed.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <parallax/core/communicator.hpp>
#include <parallax/farm/journal.hpp>
#include <parallax/farm/task_set.hpp>

namespace plx::farm {

/// How run_farm runs a task set: slots, task threads, journal, retries, limits and shutdown requests.
struct farm_options {
  int slots = 0;                 ///< concurrent tasks per rank; 0 = the runtime's threads
  /// Threads each task may use: its environment gets OMP_NUM_THREADS and the BLAS libraries' variables
  /// (OpenBLAS, MKL, BLIS, numexpr, vecLib) set to it, and OMP_PROC_BIND=false (the farm does not pin
  /// tasks, and inherited binding would pin every task's threads to the same first cores). 0 = the rank's
  /// threads / slots, at least 1, so slots x task threads fit the rank's cores.
  int task_threads = 0;
  std::string journal;           ///< journal path ("" = `<workdir>/journal`)
  bool resume = false;           ///< skip tasks the journal records as succeeded
  std::string workdir = "plx-run";  ///< per-task stdout/stderr go to `<workdir>/tasks/<id>.out` and `.err`
  /// Time limit of one attempt of a task (none by default): its process group then gets SIGTERM, SIGKILL
  /// after `kill_grace`, and the attempt's outcome is "timeout" (retried like a failure).
  std::optional<std::chrono::duration<double>> task_timeout;
  std::chrono::duration<double> kill_grace = std::chrono::seconds(5);  ///< SIGTERM -> SIGKILL of a task
  int retries = 0;               ///< extra attempts of a failed task
  std::optional<std::size_t> max_failures;  ///< stop after this many tasks failed for good
  /// Shutdown requests, set by signal handlers (must outlive the call): `drain` stops handing out tasks and
  /// lets running ones finish within `drain_grace`, then kills them; `kill_now` kills running tasks at once.
  const std::atomic<bool>* drain = nullptr;
  const std::atomic<bool>* kill_now = nullptr;  ///< see `drain`
  /// How long running tasks may finish after a drain request before they are killed; below SLURM's default
  /// KillWait (30 s), so the farm kills them before SLURM kills the farm.
  std::chrono::duration<double> drain_grace = std::chrono::seconds(20);
  /// The job's end (a batch time limit): a task is not started when the mean duration of the tasks this rank
  /// has finished says it would not end before it; the farm then drains and stops like on a signal.
  std::optional<std::chrono::system_clock::time_point> deadline;
  bool progress = false;         ///< progress lines on root's stderr
  /// SIGUSR1 in the tasks. false (default): tasks start with it ignored, so that the farm's drain request,
  /// which srun delivers to every process of the job step, does not kill the work in flight. A task's own
  /// command line may still `trap ... USR1`, and a program may install a handler (sigaction), but a shell
  /// script the task runs cannot trap it (POSIX shells ignore traps on signals ignored at their start).
  /// true: tasks start with SIGUSR1 at its default action (terminate), so that they can trap it, e.g. to
  /// checkpoint before a time limit; a task that does not trap it dies of the job-wide USR1, and is recorded
  /// as interrupted (rerun on resume) if the farm is shutting down by then. The farm does not send SIGUSR1
  /// to tasks itself: under mpirun, which forwards signals to the ranks only, tasks never receive it.
  bool pass_usr1 = false;
};

/// What a run_farm call did, counted over every rank.
struct farm_summary {
  std::size_t total = 0;         ///< tasks in the set
  std::size_t already_done = 0;  ///< succeeded in an earlier run (resume)
  std::size_t succeeded = 0;     ///< in this run
  std::size_t failed = 0;        ///< in this run, after every retry
  std::size_t interrupted = 0;   ///< killed at shutdown (to run again on resume)
  std::size_t not_started = 0;   ///< left unstarted by a stop (to run on resume)
  bool stopped = false;          ///< ended by a shutdown request or max_failures, not by running out of tasks
  std::string stop_reason;       ///< why it stopped, for the summary line ("" unless stopped)
  double journal_seconds = 0;    ///< root: time spent making journal records durable in this run
  /// Root: the last record of every task that has one, by id, over this and earlier runs.
  std::vector<task_record> final_records;
};

/// Collective. Runs the task set; throws plx::config_error / plx::io_error (every rank) for an unwritable work
/// directory or a journal of another task set, before any task starts.
farm_summary run_farm(const communicator& comm, const task_set& tasks, const farm_options& options);

/// Collective: writes the summary as HDF5, one row per task with a record (datasets id, outcome, exit_code,
/// signal, attempt, rank, start_s, end_s; outcome codes 0 ok, 1 failed, 2 timeout, 3 interrupted, 4 error, in the
/// `outcome_codes` attribute), through a temporary name.
void write_summary(const communicator& comm, const farm_summary& summary, const std::string& path);

/// The human-readable summary: counts, the slowest tasks, failures with exit codes and stderr paths.
[[nodiscard]] std::string summary_table(const farm_summary& summary, const task_set& tasks, const farm_options& options);

}  // namespace plx::farm
