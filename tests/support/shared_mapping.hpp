// Which memory a pointer lies in, as the kernel sees it (/proc/self/maps): the tests of plx::node_shared use
// it to tell one shared copy (the same file, mapped by every rank of a node) from copies per rank.
#pragma once

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

namespace plx::testing_support {

/// The mapping of this process that holds an address.
struct mapping {
  bool found = false;
  std::string device;     ///< "major:minor" of the backing file (00:00 for anonymous memory)
  std::uint64_t inode = 0;  ///< the backing file's inode (0 for anonymous memory)
  std::string path;       ///< the backing file, or "" / "[heap]" ...
  std::uint64_t bytes = 0;  ///< the mapping's length
};

inline mapping mapping_of(const void* address) {
  const auto where = reinterpret_cast<std::uintptr_t>(address);
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    std::istringstream fields(line);
    std::string range, permissions, offset;
    mapping m;
    fields >> range >> permissions >> offset >> m.device >> m.inode;
    std::getline(fields >> std::ws, m.path);
    const auto dash = range.find('-');
    const std::uint64_t start = std::stoull(range.substr(0, dash), nullptr, 16);
    const std::uint64_t end = std::stoull(range.substr(dash + 1), nullptr, 16);
    if (where >= start && where < end) {
      m.found = true;
      m.bytes = end - start;
      return m;
    }
  }
  return {};
}

}  // namespace plx::testing_support
