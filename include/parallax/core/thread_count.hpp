/// @file
/// How many OpenMP threads each rank runs: one number that configures OpenMP, FFTW and Eigen alike, so
/// nested libraries never oversubscribe the cores.
///
/// The first source that is set wins: the --threads option, OMP_NUM_THREADS, SLURM_CPUS_PER_TASK,
/// else the node's cores divided by the ranks on that node (at least 1). Pure logic, no MPI.
#pragma once

#include <optional>
#include <string>

namespace plx {

/// Everything the thread count may come from. Strings are raw environment values (unset: nullopt).
struct thread_sources {
  std::optional<int> option;                         ///< --threads
  std::optional<std::string> omp_num_threads;        ///< OMP_NUM_THREADS
  std::optional<std::string> slurm_cpus_per_task;    ///< SLURM_CPUS_PER_TASK
  int node_cores = 1;                                ///< online processors of this node
  int ranks_on_node = 1;                             ///< ranks sharing this node
};

/// The thread count per rank, and the source it came from (resolve_thread_count()).
struct thread_choice {
  int threads = 1;     ///< OpenMP threads per rank, at least 1
  std::string source;  ///< "--threads", "OMP_NUM_THREADS", "SLURM_CPUS_PER_TASK" or "cores/ranks"
};

/// Picks the thread count. Throws plx::config_error naming the option or variable whose value is not
/// a positive integer (OMP_NUM_THREADS may be a nesting list such as "4,2": its first entry counts).
[[nodiscard]] thread_choice resolve_thread_count(const thread_sources& sources);

/// Reads OMP_NUM_THREADS and SLURM_CPUS_PER_TASK from the environment into `sources`.
[[nodiscard]] thread_sources thread_sources_from_environment(std::optional<int> option, int node_cores,
                                                             int ranks_on_node);

}  // namespace plx
