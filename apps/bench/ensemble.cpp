// plx-bench ensemble: realizations per second of plx-ensemble's workload (3D N = 64, one evolved time) under
// the current MPI layout, and in the same run the numpy peer (apps/ensemble/ensemble_numpy.py, numpy rfftn
// over multiprocessing.Pool) started from root; --repeats runs of each, taking turns, medians reported.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <parallax/app/json_line.hpp>
#include <parallax/core/collectives.hpp>
#include <parallax/cosmo/ensemble.hpp>
#include <parallax/cosmo/params.hpp>

#include "bench.hpp"

namespace plx::bench {

namespace {

void report(bool as_json, const char* tool, int n, std::size_t realizations, double seconds) {
  const double rate = static_cast<double>(realizations) / seconds;
  if (as_json) {
    print_json_line({{"benchmark", "ensemble"},
                     {"tool", tool},
                     {"n", n},
                     {"realizations", realizations},
                     {"seconds", rounded(seconds, 3)},
                     {"realizations_per_s", rounded(rate, 2)}});
  } else {
    std::printf("  %-14s %6zu realizations %9.3f s  %9.2f realizations/s\n", tool, realizations, seconds, rate);
  }
  std::fflush(stdout);
}

// The numpy peer's own timing (it excludes only Python's start-up and imports), from its --json line.
std::optional<double> numpy_seconds(const ensemble_bench_options& o, const std::string& dir) {
  const std::string command =
      fmt::format("'{}' '{}' --dim 3 --n {} --realizations {} --times '{}' --seed {} --processes {} --out '{}/numpy.h5' "
                  "--json",
                  o.python, o.numpy_script, o.n, o.numpy_realizations, o.times, o.seed, o.processes, dir);
  const std::string text = peer_output(command, "numpy peer");
  if (text.empty()) return std::nullopt;
  try {
    return json::parse(text.substr(0, text.find('\n'))).at("seconds").get<double>();
  } catch (const json::exception& e) {
    std::fprintf(stderr, "plx-bench: cannot read the numpy peer's JSON line (%s): %s\n", e.what(), text.c_str());
    return std::nullopt;
  }
}

// plx-ensemble's whole run in process (checks, plans, the realizations over every rank x thread, rows to
// HDF5, covariance on root, the rename), timed on root between barriers.
double time_plx_ensemble(const runtime& rt, const ensemble_bench_options& o, const std::string& out) {
  cosmo::ensemble_params p;
  p.field.dim = 3;
  p.field.n = o.n;
  p.field.seed = o.seed;
  p.field.times = cosmo::parse_times(o.times, "--times");
  p.field.out = out;
  p.field.force = true;  // the previous repeat's file
  p.realizations = o.realizations;
  rt.world().barrier();
  const auto start = std::chrono::steady_clock::now();
  (void)cosmo::run_ensemble(rt.world(), p);
  rt.world().barrier();
  return seconds_since(start);
}

}  // namespace

int run_ensemble_bench(runtime& rt, const ensemble_bench_options& options) {
  const communicator& comm = rt.world();
  const std::string dir = scratch_directory(comm, "ensemble");
  if (comm.is_root() && !options.json) {
    std::printf("ensemble: 3D N=%d, times %s, %d ranks x %d threads; numpy peer with %d processes; median of %d\n",
                options.n, options.times.c_str(), comm.size(), rt.threads(), options.processes, options.repeats);
  }

  // The two tools take turns, so that a machine whose load drifts (shared, noisy) weighs on both alike.
  std::vector<double> plx_s;
  std::vector<double> numpy_s;
  bool numpy_ran = true;
  for (int r = 0; r < options.repeats; ++r) {
    plx_s.push_back(time_plx_ensemble(rt, options, dir + "/plx.h5"));
    if (comm.is_root() && numpy_ran) {
      const auto seconds = numpy_seconds(options, dir);
      numpy_ran = seconds.has_value();
      if (numpy_ran) numpy_s.push_back(*seconds);
    }
    sleeping_barrier(comm);
  }
  if (comm.is_root()) {
    report(options.json, "plx-ensemble", options.n, options.realizations, median(plx_s));
    if (numpy_ran) report(options.json, "numpy-pool", options.n, options.numpy_realizations, median(numpy_s));
    std::filesystem::remove_all(dir);
  }
  return 0;
}

}  // namespace plx::bench
