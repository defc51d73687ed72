// plx-bench: benchmarks of the map layer. Each benchmark prints a human table, or one JSON object per
// line with --json (field names are a stable interface: scripts rely on them).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <sched.h>

#include <parallax/core/communicator.hpp>
#include <parallax/core/runtime.hpp>

namespace plx::bench {

/// The median of `values` (the mean of the middle two for an even count); `values` must not be empty.
inline double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t mid = values.size() / 2;
  return values.size() % 2 ? values[mid] : 0.5 * (values[mid - 1] + values[mid]);
}

/// Wall seconds since `start`.
inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/// Collective: a barrier that sleeps while it waits. The other ranks wait here while root runs a peer
/// program, whose processes need the cores: MPI_Barrier would busy-poll one of them (Open MPI's default).
void sleeping_barrier(const communicator& comm);

/// Lets the calling thread (and so the children it starts from now on) run on every core of the machine, and
/// puts its binding back when it goes out of scope. mpiexec binds a rank to its core(s), and a child
/// inherits the binding: a peer started by root would share root's single core.
class unbound_for_children {
 public:
  unbound_for_children();
  ~unbound_for_children();
  // A copy would restore the binding twice.
  unbound_for_children(const unbound_for_children&) = delete;
  unbound_for_children& operator=(const unbound_for_children&) = delete;

 private:
  cpu_set_t saved_{};
  bool restore_ = false;
};

/// Removes the file at `path` and syncs its file system (syncfs), so that freeing its blocks is done before the
/// next timed write starts. On a file system mounted with `discard` (this VM's ext4) the blocks of a deleted
/// file are discarded at the next journal commit, which the next tool's final sync would otherwise wait for:
/// without this, whichever tool follows a fragmented file (two ranks writing one file) pays for it.
void remove_and_settle(const std::string& path);

/// Collective: seconds for `dd if=/dev/zero bs=1M conv=fdatasync` to write exactly `bytes` to `path` (then
/// removed), run by root and shared with every rank: the file system's floor for the write benchmarks. Throws
/// plx::io_error naming `who` if dd fails.
double time_dd(const communicator& comm, const std::string& path, std::size_t bytes, const std::string& who);

/// Collective: an empty directory plx-bench-NAME-PID under the system's temporary directory, made by root
/// (any old one of that name removed) and named to every rank. The caller removes it.
std::string scratch_directory(const communicator& comm, const std::string& name);

/// Root only: runs `command` through the shell with every core allowed (a rank's binding to its cores is
/// lifted for the child) and returns its standard output; "" and a warning naming `peer` on stderr when it
/// cannot start or exits non-zero (the peer is then left out of the report).
std::string peer_output(const std::string& command, const std::string& peer);

struct dispatch_options {
  std::size_t tasks = 1'000'000;
  int repeats = 5;
  bool json = false;
};

struct calls_options {
  int calls = 2000;
  std::string layouts;  ///< "RxT,..." measured in turns in this run; "" = min(2, ranks)x1 and the run's own
  bool json = false;
};

/// One layout of `plx-bench calls`: the first `ranks` ranks, `threads` threads each.
struct calls_layout {
  int ranks = 1;
  int threads = 1;
  bool operator==(const calls_layout&) const = default;
};

/// "2x1,3x2" as layouts (duplicates dropped); throws plx::config_error naming --layouts when an entry is
/// malformed or needs more than `ranks` ranks or `threads` threads.
std::vector<calls_layout> parse_calls_layouts(const std::string& text, int ranks, int threads);

struct fft_options {
  int dim = 3;
  int n = 256;
  int repeats = 3;
  std::string plan = "estimate";
  bool json = false;
};

struct farm_bench_options {
  std::size_t tasks = 10'000;
  bool json = false;
};

struct ensemble_bench_options {
  int n = 64;                       ///< cells per side of the 3D boxes
  std::size_t realizations = 256;   ///< plx-ensemble's realizations
  std::size_t numpy_realizations = 40;  ///< the numpy peer's (slower; at least bins + 3 = N/2 + 3)
  std::string times = "1";          ///< growth factors of the evolved spectra
  std::uint64_t seed = 42;
  int processes = 2;                ///< multiprocessing.Pool workers of the numpy peer
  int repeats = 3;                  ///< runs of each tool, taking turns (medians reported)
  std::string python = "/usr/bin/python3";
  std::string numpy_script = PLX_ENSEMBLE_NUMPY_SCRIPT;  ///< apps/ensemble/ensemble_numpy.py of the source tree
  bool json = false;
};

struct checkpoint_bench_options {
  std::size_t results = 100'000;     ///< 8-byte results of the timed maps
  std::size_t synced_results = 2000;  ///< fewer for one fdatasync per result (about 1 ms each here)
  double window_ms = 5;               ///< the group commit window (map_options::commit_window)
  int repeats = 3;
  bool json = false;
};
struct shared_options {
  std::size_t bytes = std::size_t{2} << 30;  ///< input size (rounded down to whole 8 KiB rows)
  std::string dir;                           ///< where the input file goes; "" = the temporary directory
  std::string mode = "both";                 ///< shared | copy | both
  bool json = false;
};

struct balance_options {
  double unit_ms = 100;  ///< sleep per character of a word
  int repeats = 1;
  bool json = false;
};

struct h5map_options {
  std::size_t items = 10'000'000;  ///< results of 8 bytes
  std::size_t big_items = 1024;    ///< results of 1 MiB
  int repeats = 3;
  std::string dir = ".";           ///< where the files go (the file system to measure)
  bool json = false;
};

struct web_bench_options {
  int n2 = 256;                    ///< cells per side of the 2D box (the workshop's)
  int n3 = 64;                     ///< cells per side of the 3D box
  std::string times2 = "0:4:10";   ///< growth factors in 2D, both tools
  /// Growth factors in 3D, both tools: scipy's Qhull takes minutes per time in 3D (4D hulls of ~0.7M
  /// points), so fewer than the workshop's 10 by default.
  std::string times3 = "2";
  std::uint64_t seed = 42;
  std::string python = "/usr/bin/python3";
  std::string scipy_script = PLX_WEB_SCIPY_SCRIPT;  ///< apps/web/adhesion_scipy.py of the source tree
  bool scipy = true;               ///< run the scipy peer (--no-scipy leaves it out)
  bool json = false;
};

struct io_options {
  int dim = 3;
  int n = 256;          ///< cells per side
  int repeats = 5;
  std::string dir = ".";  ///< where the files go (the file system to measure)
  bool json = false;
};

/// Node memory and load time of a node-shared input against a copy per rank.
int run_shared(runtime& rt, const shared_options& options);
/// Durable small results per second through checkpointed_map: group commit, one sync per result, the floors.
int run_checkpoint_bench(runtime& rt, const checkpoint_bench_options& options);
/// Empty tasks: microseconds per task for static and dynamic schedules, chunk 1 and auto.
int run_dispatch(runtime& rt, const dispatch_options& options);
/// Cost of one small map call (a few items per rank): what a loop of many calls pays per call.
int run_calls(runtime& rt, const calls_options& options);
/// Noise -> density -> potential against the workshop's 4 bare FFTW transforms.
int run_fft(runtime& rt, const fft_options& options);
/// `true` commands through plx-run against GNU parallel and xargs -P.
int run_farm_bench(runtime& rt, const farm_bench_options& options);
/// plx-ensemble's realizations per second against the numpy peer's, in one run.
int run_ensemble_bench(runtime& rt, const ensemble_bench_options& options);
/// map_to_h5 to disk against dd writing the same bytes.
int run_h5map(runtime& rt, const h5map_options& options);
/// Adhesion structures (plx::web::write_adhesion_times) against scipy's ConvexHull (apps/web/adhesion_scipy.py)
/// at 2D and 3D, in the same run: seconds for the times and memory per grid point.
int run_web_bench(runtime& rt, const web_bench_options& options);
/// plx-cosmo's write stage (density, potential, displacement through the slab writer, the final sync and
/// rename) against dd writing the same bytes.
int run_io(runtime& rt, const io_options& options);
/// The 12-word tutorial workload: makespan against the best possible schedule.
int run_balance(runtime& rt, const balance_options& options);

}  // namespace plx::bench
