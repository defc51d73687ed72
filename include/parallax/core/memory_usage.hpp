/// @file
/// How much memory this process uses, as Linux accounts it (/proc/self/smaps_rollup).
///
/// Resident set size (RSS) counts every page mapped into the process, so memory that several processes share
/// is counted once per process. The proportional set size (PSS) divides each page by the number of processes
/// mapping it: summed over the processes of a node, PSS counts shared memory once. That makes it the measure
/// for "one copy per node" (plx::node_shared) against "one copy per rank".
#pragma once

#include <cstdint>
#include <string>

namespace plx {

class communicator;

/// One process's memory at one instant, in bytes (current_memory_usage()).
struct memory_usage {
  std::uint64_t rss_bytes = 0;  ///< resident set size
  std::uint64_t pss_bytes = 0;  ///< proportional set size (shared pages split between their mappers)
};

/// This process's memory now. Reads /proc/self/smaps_rollup (Linux 4.14+), or sums /proc/self/smaps where
/// the rollup is missing. Throws plx::io_error where neither exists (not Linux). Not collective; thread-safe.
[[nodiscard]] memory_usage current_memory_usage();

/// This node's physical memory, bytes (what check_node_memory compares with). Not collective.
[[nodiscard]] double physical_memory_bytes();

/// Collective. Refuses work that cannot fit, before it allocates or writes anything: sums `bytes` (this
/// rank's estimated peak) over the ranks of each node and, when a node's sum exceeds 90% of its physical
/// memory, throws plx::config_error on every rank alike (marked collective: one line, exit code 2 in the
/// apps): "<what> needs about <X> GiB on a node that has <Y> GiB: <advice>", X and Y those of the node that
/// is fullest in proportion. `what` names the size ("a 4096^3 grid"), `advice` the parameters to change.
void check_node_memory(const communicator& comm, double bytes, const std::string& what, const std::string& advice);

}  // namespace plx
