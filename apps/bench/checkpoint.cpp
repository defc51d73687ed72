// plx-bench checkpoint: durable small results per second through checkpointed_map, with group commit (the
// default window) and with one fdatasync per result, against the same map without a file (the map layer's
// floor) and one bare fdatasync (the disk's floor for a result synced on its own), in one run.
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <fcntl.h>
#include <fmt/format.h>

#include <parallax/app/json_line.hpp>
#include <parallax/core/collectives.hpp>
#include <parallax/dist/checkpoint.hpp>
#include <parallax/dist/map.hpp>

#include "bench.hpp"

namespace plx::bench {

namespace {

std::uint64_t small_result(std::size_t i) { return i * 2654435761u; }

/// Root: seconds per fdatasync of an 8-byte append, the cost a result synced on its own pays.
double fdatasync_seconds(const std::string& dir, int count) {
  const std::string path = dir + "/fdatasync.probe";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < count; ++i) {
    const std::uint64_t value = static_cast<std::uint64_t>(i);
    if (::write(fd, &value, sizeof(value)) != static_cast<ssize_t>(sizeof(value)) || ::fdatasync(fd) != 0) break;
  }
  const double seconds = seconds_since(start) / count;
  ::close(fd);
  std::filesystem::remove(path);
  return seconds;
}

}  // namespace

int run_checkpoint_bench(runtime& rt, const checkpoint_bench_options& o) {
  const communicator& world = rt.world();
  const std::string dir = scratch_directory(world, "checkpoint");
  const auto rate_of = [&](std::size_t n, const auto& call) {
    std::vector<double> seconds;
    for (int r = 0; r < o.repeats; ++r) {
      world.barrier();
      const auto start = std::chrono::steady_clock::now();
      call(n, r);
      seconds.push_back(seconds_since(start));
    }
    return static_cast<double>(n) / median(seconds);
  };
  const auto checkpointed = [&](double window_s) {
    return [&, window_s](std::size_t n, int r) {
      map_options options;
      options.commit_window = std::chrono::duration<double>(window_s);
      const std::string path = fmt::format("{}/run-{}-{}.ckpt", dir, window_s > 0 ? "grouped" : "synced", r);
      static_cast<void>(checkpointed_map(world, n, small_result, path, options));
      if (world.is_root()) std::filesystem::remove(path);
    };
  };
  const double map_rate = rate_of(o.results, [&](std::size_t n, int) { static_cast<void>(map(world, n, small_result)); });
  const double grouped_rate = rate_of(o.results, checkpointed(o.window_ms / 1000));
  const std::size_t synced_n = std::min<std::size_t>(o.results, o.synced_results);
  const double synced_rate = rate_of(synced_n, checkpointed(0));
  double fsync_s = world.is_root() ? fdatasync_seconds(dir, 200) : 0;
  detail::broadcast_chunked(world, std::span<double>(&fsync_s, 1), 0);
  if (world.is_root()) std::filesystem::remove_all(dir);
  if (!world.is_root()) return 0;
  if (o.json) {
    print_json_line({{"bench", "checkpoint"},
                     {"results", o.results},
                     {"window_ms", o.window_ms},
                     {"map_per_s", rounded(map_rate, 0)},
                     {"grouped_per_s", rounded(grouped_rate, 0)},
                     {"synced_results", synced_n},
                     {"synced_per_s", rounded(synced_rate, 0)},
                     {"fdatasync_per_s", rounded(fsync_s > 0 ? 1 / fsync_s : 0, 0)},
                     {"ranks", world.size()},
                     {"threads", rt.threads()}});
    return 0;
  }
  std::printf("checkpointed_map of %zu 8-byte results, %d ranks x %d threads (median of %d runs):\n", o.results,
              world.size(), rt.threads(), o.repeats);
  std::printf("  %-44s %12.0f results/s\n", "plx::map, no file (the map layer's floor)", map_rate);
  std::printf("  %-44s %12.0f results/s  (%.2fx the map)\n",
              fmt::format("checkpointed_map, group commit {} ms", o.window_ms).c_str(), grouped_rate,
              grouped_rate / map_rate);
  std::printf("  %-44s %12.0f results/s  (%zu results)\n", "checkpointed_map, one fdatasync per result", synced_rate,
              synced_n);
  std::printf("  %-44s %12.0f per s\n", "bare write + fdatasync of 8 bytes (the disk)", fsync_s > 0 ? 1 / fsync_s : 0);
  return 0;
}

}  // namespace plx::bench
