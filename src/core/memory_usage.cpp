#include <parallax/core/memory_usage.hpp>

#include <fstream>
#include <sstream>
#include <string>

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

}  // namespace plx
