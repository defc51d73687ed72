#include <parallax/core/runtime.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include <mpi.h>
#include <omp.h>

#include <Eigen/Core>
#include <fftw3-mpi.h>
#include <fftw3.h>
#include <fmt/format.h>
#include <hdf5.h>

#include <parallax/core/detail/fault_injection.hpp>
#include <parallax/core/error.hpp>
#include <parallax/core/thread_count.hpp>
#include <parallax/core/wait_policy.hpp>
#include <parallax/version.hpp>

namespace plx {

namespace {

// Lowest level the design needs; see the header for why it is SERIALIZED and not FUNNELED.
constexpr int wanted_thread_level = MPI_THREAD_SERIALIZED;

std::string mpi_library_version() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int length = 0;
  MPI_Get_library_version(text, &length);
  std::string version(text, static_cast<std::size_t>(length));
  if (const auto comma = version.find(','); comma != std::string::npos) version.resize(comma);
  while (!version.empty() && (version.back() == '\n' || version.back() == ' ')) version.pop_back();
  return version;
}

}  // namespace

runtime::runtime(int& argc, char**& argv, const runtime_options& options) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    // Before MPI_Init: a crowded node restarts the program here with idle OpenMP threads waiting passively
    // (see wait_policy.hpp). Measured on 2 cores (plx-bench calls, us per small map call, medians of one
    // loaded session): 3 ranks x 2 threads 43,284 spinning -> 132 restarted (64 in the quietest round, 62
    // on the quiet machine of issue 12); 2 x 1 (not crowded: no restart) 8.6 in the same session, 4 quiet.
    passive_wait_ = detail::apply_crowded_wait_policy(options.threads);
#ifdef OPEN_MPI
    // Open MPI 4.1 prefers its osc/rdma component for windows that span nodes, and on networks without
    // RDMA (plain TCP) it then fails to create them (MPI_ERR_WIN, seen with srun over two nodes), which the
    // map layer's shared counter needs. Without it osc/ucx (or pt2pt) takes over. A user's own choice wins.
    setenv("OMPI_MCA_osc", "^rdma", 0);
#endif
    detail::check_mpi(MPI_Init_thread(&argc, &argv, wanted_thread_level, &thread_level_), "MPI_Init_thread");
    owns_mpi_ = true;
  } else {
    MPI_Query_thread(&thread_level_);
  }
  // Everything after MPI_Init may throw; finalise here because the destructor will not run.
  try {
    world_ = communicator::duplicate_of(MPI_COMM_WORLD);
    detail::arm_faults_from_environment();  // tests: PLX_FAULT, PLX_FAULT_COUNT (a bad one is a config_error)
    // HDF5 prints its whole error stack (HDF5-DIAG, some 20 lines) for every failed call unless told not
    // to: parallax reports each failure itself, in one line (io::detail::describe_h5_failure), so the stack is
    // off for good. (HDF5 calls are made on this thread only.)
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    node_ = world_.split_node();

    rank_placement probe = local_placement(world_.rank(), node_.rank(), node_.size(), 1);
    const thread_choice choice = resolve_thread_count(
        thread_sources_from_environment(options.threads, probe.node_cores, node_.size()));
    probe.threads = choice.threads;
    placement_ = std::move(probe);
    threads_source_ = choice.source;
    // Map calls start on the master alone where waking sleeping threads costs more than a small call
    // (wait_policy.hpp); set on every rank, from the same facts the restart used.
    const bool threads_sleep = passive_wait_ || detail::is_passive_wait_policy(std::getenv("OMP_WAIT_POLICY"));
    const int bound_cpus = static_cast<int>(placement_.cpus.size());
    detail::set_lazy_team_wake(threads_sleep &&
                               detail::lazy_team_wake_pays(node_.size(), bound_cpus, placement_.node_cores));

    // One number for every threaded library, so nested parallelism never oversubscribes.
    omp_set_num_threads(placement_.threads);
    fftw_init_threads();
    fftw_plan_with_nthreads(placement_.threads);
    fftw_mpi_init();
    Eigen::setNbThreads(placement_.threads);

    const std::vector<rank_placement> all = gather_layout(world_, placement_);
    if (world_.is_root()) {
      if (!options.quiet) {
        std::fprintf(stderr, "parallax: %s\n", provenance().c_str());
        if (thread_level_ < wanted_thread_level) {
          std::fprintf(stderr,
                       "parallax: warning: MPI grants thread level %d (< MPI_THREAD_SERIALIZED); map calls "
                       "run one thread per rank\n",
                       thread_level_);
        }
        if (const auto warning = oversubscription_warning(all)) {
          std::fprintf(stderr, "parallax: %s\n", warning->c_str());
          if (!passive_wait_ && placement_.threads > 1 && std::getenv("OMP_WAIT_POLICY") == nullptr &&
              std::getenv("GOMP_SPINCOUNT") == nullptr) {
            // The launcher did not tell the ranks per node before MPI started, so nothing was restarted.
            std::fprintf(stderr,
                         "parallax: idle OpenMP threads spin and take cores that other ranks need: "
                         "set OMP_WAIT_POLICY=passive\n");
          }
        }
        if (passive_wait_) {
          std::fprintf(stderr,
                       "parallax: crowded node: restarted with OMP_WAIT_POLICY=passive, so idle OpenMP threads "
                       "sleep (set OMP_WAIT_POLICY yourself to choose)\n");
        }
      }
      if (options.report_layout) {
        std::fprintf(stdout, "%s", layout_table(all).c_str());
        std::fflush(stdout);
      }
    }
  } catch (const config_error&) {
    // A bad PLX_FAULT: every rank reads the same environment and throws here alike, so all can finalise.
    node_ = communicator();
    world_ = communicator();
    if (owns_mpi_) MPI_Finalize();
    throw;
  } catch (...) {
    // An MPI call failed on this rank, maybe on this rank alone while the others went on into the next
    // collective: MPI_Finalize would wait for them forever. MPI stays initialised; the caller reports the
    // error and ends the job (run_app: MPI_Abort, see end_after_failed_start).
    node_ = communicator();
    world_ = communicator();
    throw;
  }
}

namespace {
std::atomic<bool> finalize_unsafe{false};
}  // namespace

void detail::forbid_finalize() noexcept { finalize_unsafe.store(true); }

runtime::~runtime() {
  if (owns_mpi_ && finalize_unsafe.load()) {
    // MPI_Finalize would run HDF5's close of a file abandoned after a failed write, a collective flush
    // that can hang (see io::h5_file::close). The failure was reported on every rank already.
    std::fflush(nullptr);
    MPI_Abort(MPI_COMM_WORLD, detail::exit_code_after_abandoned_file);
  }
  if (const std::string failed = detail::write_fault_counts(); !failed.empty()) {
    std::fprintf(stderr, "parallax: warning: cannot write the fault counts: %s\n", failed.c_str());
  }
  node_ = communicator();
  world_ = communicator();
  fftw_mpi_cleanup();
  fftw_cleanup_threads();
  if (owns_mpi_) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }
}

std::vector<rank_placement> runtime::layout() const { return gather_layout(world_, placement_); }

std::string runtime::provenance() const {
  unsigned h5_major = 0, h5_minor = 0, h5_release = 0;
  H5get_libversion(&h5_major, &h5_minor, &h5_release);
  return fmt::format("parallax {} ({}, {}), g++ {}, {}, {} ranks x {} threads ({}), {}, HDF5 {}.{}.{}",
                     version_string, git_hash, build_type, __VERSION__, mpi_library_version(), size(),
                     threads(), threads_source_, fftw_version, h5_major, h5_minor, h5_release);
}

}  // namespace plx
