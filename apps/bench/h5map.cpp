// plx-bench h5map: map_to_h5's throughput to disk, against dd writing the same bytes to the same file
// system with one final fdatasync (the floor: what the disk takes), in the same run.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <mpi.h>

#include <parallax/app/json_line.hpp>
#include <parallax/core/collectives.hpp>
#include <parallax/cosmo/pipeline.hpp>
#include <parallax/dist/map_to_h5.hpp>

#include "bench.hpp"

namespace plx::bench {

namespace {

using clock_type = std::chrono::steady_clock;

/// Seconds for map_to_h5 of `items` results of `result_bytes` (8: a double; else a vector of doubles),
/// from the output's creation to the rename after the final sync.
double time_plx(const communicator& comm, const std::string& path, std::size_t items, std::size_t result_bytes) {
  comm.barrier();
  const auto start = clock_type::now();
  if (result_bytes == sizeof(double)) {
    map_to_h5(comm, items, [](std::size_t i) { return static_cast<double>(i); }, path, {{"/results"}});
  } else {
    const std::size_t values = result_bytes / sizeof(double);
    map_to_h5(
        comm, items, [values](std::size_t i) { return std::vector<double>(values, static_cast<double>(i)); }, path,
        {{"/results", {values}}});
  }
  comm.barrier();
  const double seconds = std::chrono::duration<double>(clock_type::now() - start).count();
  if (comm.is_root()) std::filesystem::remove(path);
  return seconds;
}

}  // namespace

int run_h5map(runtime& rt, const h5map_options& options) {
  const communicator& comm = rt.world();
  const std::string base = (std::filesystem::path(options.dir) / fmt::format("plx-bench-h5map-{}", ::getpid())).string();
  std::string path = base;
  detail::broadcast_from_root(comm, path);  // root's pid names the files
  const double baseline_mb = cosmo::peak_rss_mb();
  struct bench_case {
    std::size_t result_bytes;
    std::size_t items;
  };
  const std::vector<bench_case> cases{{sizeof(double), options.items}, {std::size_t{1} << 20, options.big_items}};
  if (!options.json && comm.is_root()) {
    fmt::print("map_to_h5 vs dd (same bytes, same file system, final sync on both), {} ranks, median of {}\n",
               comm.size(), options.repeats);
    fmt::print("{:>12} {:>10} {:>6} {:>10} {:>14} {:>10}\n", "result bytes", "items", "tool", "seconds", "items/s", "MB/s");
  }
  for (const bench_case& c : cases) {
    std::vector<double> plx_s, dd_s;
    for (int r = 0; r < options.repeats; ++r) {  // alternating, so drift in the machine hits both alike
      plx_s.push_back(time_plx(comm, path + ".h5", c.items, c.result_bytes));
      dd_s.push_back(time_dd(comm, path + ".dd", c.items * c.result_bytes, "plx-bench h5map"));
    }
    const double root_rss = cosmo::peak_rss_mb() - baseline_mb;
    if (!comm.is_root()) continue;
    for (const auto& [tool, seconds] : {std::pair{"plx", median(plx_s)}, std::pair{"dd", median(dd_s)}}) {
      const double items_per_s = static_cast<double>(c.items) / seconds;
      const double mb_per_s = static_cast<double>(c.items * c.result_bytes) / 1e6 / seconds;
      if (options.json) {
        json line{{"benchmark", "h5map"}, {"tool", tool},          {"ranks", comm.size()},
                  {"result_bytes", c.result_bytes}, {"items", c.items}, {"seconds", rounded(seconds, 4)},
                  {"items_per_s", rounded(items_per_s, 0)}, {"mb_per_s", rounded(mb_per_s, 1)}};
        if (std::string(tool) == "plx") line["root_peak_rss_growth_mb"] = rounded(root_rss, 1);
        print_json_line(line);
      } else {
        fmt::print("{:>12} {:>10} {:>6} {:>10.3f} {:>14.0f} {:>10.1f}\n", c.result_bytes, c.items, tool, seconds,
                   items_per_s, mb_per_s);
      }
    }
  }
  return 0;
}

}  // namespace plx::bench
