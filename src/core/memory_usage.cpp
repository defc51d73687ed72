#include <parallax/core/memory_usage.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <mpi.h>

#include <parallax/core/communicator.hpp>
#include <parallax/core/error.hpp>

namespace plx {

namespace {

/// Sums the "Rss:" and "Pss:" lines (kB) of an smaps-style file; false if it cannot be opened.
bool sum_smaps(const char* path, memory_usage& usage) {
  std::ifstream in(path);
  if (!in) return false;
  std::string line;
  while (std::getline(in, line)) {
    const bool rss = line.starts_with("Rss:");
    const bool pss = line.starts_with("Pss:");  // not Pss_Anon, Pss_File, ...: those start "Pss_"
    if (!rss && !pss) continue;
    std::istringstream fields(line.substr(4));
    std::uint64_t kib = 0;
    fields >> kib;
    (rss ? usage.rss_bytes : usage.pss_bytes) += kib * 1024;
  }
  return true;
}

}  // namespace

memory_usage current_memory_usage() {
  memory_usage usage;
  if (sum_smaps("/proc/self/smaps_rollup", usage)) return usage;
  usage = {};
  if (sum_smaps("/proc/self/smaps", usage)) return usage;
  throw io_error("cannot read /proc/self/smaps_rollup nor /proc/self/smaps: memory usage is known on Linux only");
}

double physical_memory_bytes() {
  return static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGE_SIZE));
}

void check_node_memory(const communicator& comm, double bytes, const std::string& what, const std::string& advice) {
  const communicator node = comm.split_shared();
  double on_node = 0;
  // Rank-local: the others go on into the Allgather on `comm`, which an agreement would not match.
  detail::check_mpi_alone(MPI_Allreduce(&bytes, &on_node, 1, MPI_DOUBLE, MPI_SUM, node.native()), "MPI_Allreduce");
  const double node_bytes = physical_memory_bytes();
  // The fullest node in proportion, with its numbers, the same on every rank (MAXLOC would need pairs).
  const double mine[3] = {on_node / node_bytes, on_node, node_bytes};
  std::vector<double> all(3 * static_cast<std::size_t>(comm.size()));
  detail::check_mpi(MPI_Allgather(mine, 3, MPI_DOUBLE, all.data(), 3, MPI_DOUBLE, comm.native()), "MPI_Allgather");
  std::size_t fullest = 0;
  for (std::size_t r = 1; r < static_cast<std::size_t>(comm.size()); ++r) {
    if (all[3 * r] > all[3 * fullest]) fullest = r;
  }
  if (!(all[3 * fullest] > 0.9)) return;
  constexpr double gib = 1024.0 * 1024.0 * 1024.0;
  char numbers[96];
  std::snprintf(numbers, sizeof numbers, " needs about %.1f GiB on a node that has %.1f GiB: ", all[3 * fullest + 1] / gib,
                all[3 * fullest + 2] / gib);
  throw detail::collective(config_error(what + numbers + advice));
}

}  // namespace plx
