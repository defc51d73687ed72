/// @file
/// The layout of a run: where each rank lives, how many threads it runs and which cores it may use.
///
/// `gather_layout` collects one `rank_placement` per rank on root; the formatting and the
/// oversubscription check are pure functions, testable without MPI.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <parallax/core/communicator.hpp>

namespace plx {

/// Where one rank runs: host, node, thread count and the cores it is bound to (from runtime::layout()).
struct rank_placement {
  int rank = 0;       ///< rank in the communicator the layout was gathered over
  std::string host;   ///< host name (MPI_Get_processor_name)
  /// The SLURM node the rank runs on (SLURMD_NODENAME), "" outside SLURM. Usually the host's short name;
  /// it differs where a site names nodes otherwise, or where several slurmd emulate nodes on one host.
  std::string slurm_node;
  int node_rank = 0;       ///< rank among the ranks of the same node
  int node_size = 1;       ///< ranks on the same node
  int node_cores = 1;      ///< online processors of the node
  int threads = 1;         ///< OpenMP threads of this rank
  std::vector<int> cpus;   ///< cores this rank is bound to (sched_getaffinity)
};

/// The cores this rank may run on, sorted: the union of its OpenMP places when OMP_PROC_BIND is set (the
/// OpenMP runtime pins the first thread to the first place at start-up), else the process's affinity mask.
/// Needs no MPI.
[[nodiscard]] std::vector<int> bound_cpus();

/// This process's placement (host, affinity); `node_*` and `threads` are filled in from the arguments.
[[nodiscard]] rank_placement local_placement(int rank, int node_rank, int node_size, int threads);

/// Collective over `comm`: every rank's placement, on root (empty elsewhere), in rank order.
[[nodiscard]] std::vector<rank_placement> gather_layout(const communicator& comm, const rank_placement& mine);

/// "0-3,8,10-11" for {0,1,2,3,8,10,11}.
[[nodiscard]] std::string format_cpu_list(std::vector<int> cpus);

/// A fixed-width table, one line per rank: rank, host, node rank, threads, bound cores; and the SLURM node
/// when some rank's differs from its host name.
[[nodiscard]] std::string layout_table(const std::vector<rank_placement>& layout);

/// One warning (possibly several lines) when ranks x threads exceed a node's cores, or a rank runs more
/// threads than the cores it is bound to; nullopt when the layout fits.
[[nodiscard]] std::optional<std::string> oversubscription_warning(const std::vector<rank_placement>& layout);

}  // namespace plx
