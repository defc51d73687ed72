#include <filesystem>
#include <string>

#include <unistd.h>

#include <fmt/format.h>

#include <parallax/core/collectives.hpp>

#include "bench.hpp"

namespace plx::bench {

std::string scratch_directory(const communicator& comm, const std::string& name) {
  std::string dir;
  if (comm.is_root()) {
    dir = (std::filesystem::temp_directory_path() / fmt::format("plx-bench-{}-{}", name, getpid())).string();
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }
  detail::broadcast_from_root(comm, dir);
  return dir;
}

}  // namespace plx::bench
