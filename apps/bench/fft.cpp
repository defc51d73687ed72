#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <mpi.h>

#include <parallax/app/json_line.hpp>
#include <parallax/cosmo/params.hpp>
#include <parallax/cosmo/pipeline.hpp>
#include <parallax/fft/field.hpp>
#include <parallax/fft/plan.hpp>

#include "bench.hpp"

namespace plx::bench {

namespace {

// Sum over ranks of this process's peak RSS minus its RSS before the benchmark allocated anything.
double rss_growth_sum_mb(const communicator& comm, double baseline_mb) {
  const double mine = cosmo::peak_rss_mb() - baseline_mb;
  double sum = 0;
  MPI_Allreduce(&mine, &sum, 1, MPI_DOUBLE, MPI_SUM, comm.native());
  return sum;
}

}  // namespace

int run_fft(runtime& rt, const fft_options& options) {
  const communicator& comm = rt.world();
  cosmo::pipeline_params p;
  p.dim = options.dim;
  p.n = options.n;
  p.plan = options.plan;
  const double baseline = cosmo::peak_rss_mb();
  const double grid_mb = static_cast<double>(options.n) * (options.dim == 3 ? static_cast<double>(options.n) : 1.0) *
                         static_cast<double>(2 * (options.n / 2 + 1)) * sizeof(double) / (1 << 20);

  // The pipeline first, in a fresh process, so its peak RSS is its own.
  std::vector<double> pipeline_s, plan_s;
  cosmo::stage_timings last;
  for (int r = 0; r < options.repeats; ++r) {
    comm.barrier();
    last = cosmo::run_density_potential(comm, p);
    pipeline_s.push_back(last.noise + last.density + last.potential);
    plan_s.push_back(last.plan);
  }
  const double pipeline_rss = rss_growth_sum_mb(comm, baseline);

  // The floor: the workshop's four transforms (forward, backward, forward, backward), bare FFTW.
  const fft::slab_geometry g = fft::make_slab_geometry(comm, options.dim, options.n);
  fft::field f(g);
  const fft::r2c_plans plans(comm, f, fft::parse_plan_mode(options.plan));
  for (std::size_t i = 0; i < f.size(); ++i) f.real()[i] = static_cast<double>(i % 7);
  std::vector<double> floor_s;
  for (int r = 0; r < options.repeats; ++r) {
    comm.barrier();
    const auto start = std::chrono::steady_clock::now();
    plans.forward(f);
    plans.backward(f);
    plans.forward(f);
    plans.backward(f);
    comm.barrier();
    floor_s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  if (!rt.is_root()) return 0;
  const double pipeline = median(pipeline_s);
  const double floor = median(floor_s);
  if (options.json) {
    const auto line = [&](const char* variant, double seconds, double extra_planning, double rss) {
      print_json_line({{"benchmark", "fft"},
                       {"variant", variant},
                       {"dim", options.dim},
                       {"n", options.n},
                       {"ranks", rt.size()},
                       {"threads", rt.threads()},
                       {"plan", options.plan},
                       {"seconds", rounded(seconds, 6)},
                       {"plan_seconds", rounded(extra_planning, 6)},
                       {"peak_rss_mb", rounded(rss, 1)},
                       {"grids", rounded(rss / grid_mb, 2)}});
    };
    line("pipeline", pipeline, median(plan_s), pipeline_rss);
    line("fftw-floor", floor, plans.planning_seconds(), 0.0);
  } else {
    std::printf("fft: %d^%d, %d ranks x %d threads, plan %s, median of %d\n", options.n, options.dim, rt.size(),
                rt.threads(), options.plan.c_str(), options.repeats);
    std::printf("  pipeline (noise, density, potential)  %.4f s  (stages %.4f + %.4f + %.4f, planning %.4f s)\n",
                pipeline, last.noise, last.density, last.potential, median(plan_s));
    std::printf("  4 bare FFTW transforms                %.4f s\n", floor);
    std::printf("  ratio %.2f; pipeline peak memory %.0f MiB over ranks = %.2f padded grids\n", pipeline / floor,
                pipeline_rss, pipeline_rss / grid_mb);
  }
  return 0;
}

}  // namespace plx::bench
