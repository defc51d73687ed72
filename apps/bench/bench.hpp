// plx-bench: benchmarks of the map layer. Each benchmark prints a human table, or one JSON object per
// line with --json (field names are a stable interface: scripts rely on them).
#pragma once

#include <cstddef>
#include <string>

#include <parallax/core/runtime.hpp>

namespace plx::bench {

struct dispatch_options {
  std::size_t tasks = 1'000'000;
  int repeats = 5;
  bool json = false;
};

struct calls_options {
  int calls = 2000;
  bool json = false;
};

struct fft_options {
  int dim = 3;
  int n = 256;
  int repeats = 3;
  std::string plan = "estimate";
  bool json = false;
};

struct farm_bench_options {
  std::size_t tasks = 10'000;
  bool json = false;
};

struct shared_options {
  std::size_t bytes = std::size_t{2} << 30;  ///< input size (rounded down to whole 8 KiB rows)
  std::string dir;                           ///< where the input file goes; "" = the temporary directory
  std::string mode = "both";                 ///< shared | copy | both
  bool json = false;
};

struct balance_options {
  double unit_ms = 100;  ///< sleep per character of a word
  int repeats = 1;
  bool json = false;
};

struct h5map_options {
  std::size_t items = 10'000'000;  ///< results of 8 bytes
  std::size_t big_items = 1024;    ///< results of 1 MiB
  int repeats = 3;
  std::string dir = ".";           ///< where the files go (the file system to measure)
  bool json = false;
};

/// Node memory and load time of a node-shared input against a copy per rank.
int run_shared(runtime& rt, const shared_options& options);
/// Empty tasks: microseconds per task for static and dynamic schedules, chunk 1 and auto.
int run_dispatch(runtime& rt, const dispatch_options& options);
/// Cost of one small map call (a few items per rank): what a loop of many calls pays per call.
int run_calls(runtime& rt, const calls_options& options);
/// Noise -> density -> potential against the workshop's 4 bare FFTW transforms.
int run_fft(runtime& rt, const fft_options& options);
/// `true` commands through plx-run against GNU parallel and xargs -P.
int run_farm_bench(runtime& rt, const farm_bench_options& options);
/// map_to_h5 to disk against dd writing the same bytes.
int run_h5map(runtime& rt, const h5map_options& options);
/// The 12-word tutorial workload: makespan against the best possible schedule.
int run_balance(runtime& rt, const balance_options& options);

}  // namespace plx::bench
