// The disk's floor for the write benchmarks (h5map, io): dd writing the same bytes with one final fdatasync;
// and the clean slate each timed write starts from.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <string>

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <parallax/core/collectives.hpp>
#include <parallax/core/error.hpp>

#include "bench.hpp"

namespace plx::bench {

void remove_and_settle(const std::string& path) {
  std::filesystem::remove(path);
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  const int fd = ::open(parent.empty() ? "." : parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  static_cast<void>(::syncfs(fd));
  ::close(fd);
}

double time_dd(const communicator& comm, const std::string& path, std::size_t bytes, const std::string& who) {
  double seconds = 0;
  if (comm.is_root()) {
    // 1 MiB blocks, the last one short: count_bytes makes `count` a byte count, so dd writes exactly `bytes`.
    const std::string command = fmt::format(
        "dd if=/dev/zero of='{}' bs=1M count={} iflag=count_bytes conv=fdatasync status=none", path, bytes);
    const unbound_for_children unbound;  // dd may run on any core, as it would outside mpirun
    const auto start = std::chrono::steady_clock::now();
    const int status = std::system(command.c_str());
    seconds = seconds_since(start);
    remove_and_settle(path);
    if (status != 0) seconds = -1;
  }
  sleeping_barrier(comm);  // the other ranks wait without taking a core from dd
  detail::broadcast_chunked(comm, std::span<double>(&seconds, 1), 0);
  if (seconds < 0) throw io_error(who + ": dd failed (is dd installed, is the directory writable?)");
  return seconds;
}

}  // namespace plx::bench
