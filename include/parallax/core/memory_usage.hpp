// How much memory this process uses, as Linux accounts it (/proc/self/smaps_rollup).
//
// Resident set size (RSS) counts every page mapped into the process, so memory that several processes share
// is counted once per process. The proportional set size (PSS) divides each page by the number of processes
// mapping it: summed over the processes of a node, PSS counts shared memory once. That makes it the measure
// for "one copy per node" (plx::node_shared) against "one copy per rank".
#pragma once

#include <cstdint>

namespace plx {

struct memory_usage {
  std::uint64_t rss_bytes = 0;  ///< resident set size
  std::uint64_t pss_bytes = 0;  ///< proportional set size (shared pages split between their mappers)
};

/// This process's memory now. Reads /proc/self/smaps_rollup (Linux 4.14+), or sums /proc/self/smaps where
/// the rollup is missing. Throws plx::io_error where neither exists (not Linux). Not collective; thread-safe.
[[nodiscard]] memory_usage current_memory_usage();

}  // namespace plx
