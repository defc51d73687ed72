/// @file
/// plx::runtime: the one object every parallax program creates first.
///
/// It initialises MPI (also when the program is started without mpirun: then it is one rank), works out
/// the topology (world and node-local ranks), picks the thread count per rank and applies it to OpenMP,
/// FFTW and Eigen alike, warns on root when ranks x threads exceed a node's cores, and finalises MPI in
/// its destructor. On a crowded node it first restarts the program so that idle OpenMP threads wait
/// passively instead of spinning (wait_policy.hpp): create it first in main(), before anything is printed. Nothing MPI outlives it: parallax keeps no static or global MPI objects.
///
/// Thread level: parallax asks MPI for MPI_THREAD_SERIALIZED, one level above FUNNELED, because the
/// OpenMP threads of a rank draw work from the shared dynamic-schedule counter themselves (one at a
/// time, under a lock). That keeps a long task on one thread from idling its siblings. If MPI grants
/// less, map calls run one thread per rank and the runtime says so.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <parallax/core/communicator.hpp>
#include <parallax/core/layout.hpp>

namespace plx {

/// How a runtime starts: the options every app shares (run_app fills them from the command line).
struct runtime_options {
  std::optional<int> threads;   ///< --threads: overrides OMP_NUM_THREADS and SLURM_CPUS_PER_TASK
  bool report_layout = false;   ///< --report-layout: root prints every rank's host, threads and cores
  bool quiet = false;           ///< no start-up banner, no oversubscription warning
};

/// The MPI and threads environment of a parallax program: create it first in main(), one per process.
class runtime {
 public:
  /// Collective over MPI_COMM_WORLD. Initialises MPI unless it is already initialised (then the
  /// destructor leaves finalising to whoever initialised it). Throws plx::config_error for a bad
  /// thread count (--threads, OMP_NUM_THREADS, SLURM_CPUS_PER_TASK).
  runtime(int& argc, char**& argv, const runtime_options& options = {});
  /// Collective over MPI_COMM_WORLD: finalises MPI if this runtime initialised it.
  ~runtime();
  // One per process, tied to MPI's lifetime.
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;
  runtime(runtime&&) = delete;
  runtime& operator=(runtime&&) = delete;

  /// parallax's own duplicate of MPI_COMM_WORLD (MPI_ERRORS_RETURN set).
  [[nodiscard]] const communicator& world() const noexcept { return world_; }
  /// The ranks on this node: they share memory and, under SLURM, the SLURM node (communicator::split_node).
  [[nodiscard]] const communicator& node() const noexcept { return node_; }

  /// This process's rank in world().
  [[nodiscard]] int rank() const noexcept { return world_.rank(); }
  /// The number of ranks in world().
  [[nodiscard]] int size() const noexcept { return world_.size(); }
  /// Whether this is rank 0 of world().
  [[nodiscard]] bool is_root() const noexcept { return world_.is_root(); }
  /// This process's rank among the ranks of its node (node()).
  [[nodiscard]] int node_rank() const noexcept { return node_.rank(); }
  /// The number of ranks on this node (node()).
  [[nodiscard]] int node_size() const noexcept { return node_.size(); }
  /// The host name MPI reports for this process (MPI_Get_processor_name).
  [[nodiscard]] const std::string& processor_name() const noexcept { return placement_.host; }

  /// Threads per rank, as applied to OpenMP, FFTW and Eigen.
  [[nodiscard]] int threads() const noexcept { return placement_.threads; }
  /// Where the thread count came from: "--threads", "OMP_NUM_THREADS", "SLURM_CPUS_PER_TASK", "cores/ranks".
  [[nodiscard]] const std::string& threads_source() const noexcept { return threads_source_; }
  /// Whether this program was restarted with OMP_WAIT_POLICY=passive because its node is crowded
  /// (wait_policy.hpp); false when it runs with the user's or libgomp's default policy.
  [[nodiscard]] bool passive_wait() const noexcept { return passive_wait_; }
  /// The thread level MPI granted (MPI_THREAD_*).
  [[nodiscard]] int mpi_thread_level() const noexcept { return thread_level_; }

  /// Collective: every rank's placement, on root (empty elsewhere).
  [[nodiscard]] std::vector<rank_placement> layout() const;

  /// One line: parallax version and git hash, compiler, build type, MPI library, ranks x threads,
  /// FFTW and HDF5 versions.
  [[nodiscard]] std::string provenance() const;

 private:
  bool owns_mpi_ = false;
  bool passive_wait_ = false;
  int thread_level_ = 0;
  communicator world_;
  communicator node_;
  rank_placement placement_;
  std::string threads_source_;
};

namespace detail {
/// Exit code of the MPI_Abort that ends a program whose runtime was told not to finalize.
inline constexpr int exit_code_after_abandoned_file = 1;
/// Called when MPI_Finalize is no longer safe on this rank (an HDF5 file had to be abandoned open after a
/// failed write: HDF5 would close it at MPI_Finalize, collectively, and that can hang). The runtime then
/// ends the job with MPI_Abort instead of finalizing. Thread-safe.
void forbid_finalize() noexcept;
}  // namespace detail

}  // namespace plx
