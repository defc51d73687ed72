// plx-bench web: the adhesion model through plx::web::write_adhesion_times (the (time, domain) tasks over every
// rank x thread) against the workshop's method in scipy (apps/web/adhesion_scipy.py: Qhull in one process) on
// the same plx-cosmo potential, in the same run: 2D N=256 at the workshop's 10 times from 0 to 4, and 3D N=64
// at fewer times (scipy's 4D hulls take minutes each). The floor beside them: CGAL's own serial regular
// triangulation of N^d random weighted points (plx::web::regular_triangulation_floor_seconds), and plx-web's
// cost per time in core-seconds (seconds x ranks x threads / times) against it. Memory: the peak RSS growth
// of root (plx) or of the Python process (scipy) during the tool's run, per grid point.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <parallax/app/json_line.hpp>
#include <parallax/app/memory_reuse.hpp>
#include <parallax/cosmo/params.hpp>
#include <parallax/cosmo/pipeline.hpp>
#include <parallax/io/hdf5_file.hpp>
#include <parallax/io/slab_io.hpp>
#include <parallax/web/adhesion.hpp>

#include "bench.hpp"
#include "web_tbb.hpp"

namespace plx::bench {

namespace {

struct web_case {
  int dim;
  int n;
  std::string times;
};

struct measurement {
  double seconds = 0;
  double rss_growth_mb = 0;
};

// The potential: plx-cosmo's pipeline in process (workshop spectrum, unit variance), one frame only.
std::string make_cosmo_file(const runtime& rt, const web_case& c, const web_bench_options& o, const std::string& dir) {
  cosmo::pipeline_params p;
  p.dim = c.dim;
  p.n = c.n;
  p.seed = o.seed;
  p.times = {0.0};
  p.out = fmt::format("{}/cosmo-{}d.h5", dir, c.dim);
  p.force = true;
  (void)cosmo::run_pipeline(rt.world(), p, {"plx-bench web", rt.threads()}, {.stages = false});
  return p.out;
}

measurement time_plx(const runtime& rt, const web_case& c, const std::string& cosmo_path, const std::string& dir) {
  const communicator& comm = rt.world();
  auto in = io::h5_file::open_read(comm, cosmo_path);
  const double box = io::get_attribute_double(in, "/", "L");
  const std::vector<double> potential = io::read_all(in, "/potential");
  in.close();
  const std::vector<double> times = cosmo::parse_times(c.times, c.dim == 2 ? "--times2" : "--times3");
  const double before_mb = cosmo::peak_rss_mb();
  comm.barrier();
  const auto start = std::chrono::steady_clock::now();
  {
    auto out = io::h5_file::create(comm, dir + "/web.h5");
    web::write_adhesion_times(comm, c.dim, c.n, box, potential, times, {}, out);
    out.close();
  }
  comm.barrier();
  return {seconds_since(start), cosmo::peak_rss_mb() - before_mb};
}

// scipy's own timing (the adhesion calls only: no start-up, imports or reading), from its --json line.
std::optional<measurement> time_scipy(const web_case& c, const web_bench_options& o, const std::string& cosmo_path) {
  const std::string command =
      fmt::format("'{}' '{}' '{}' --times '{}' --json", o.python, o.scipy_script, cosmo_path, c.times);
  const std::string text = peer_output(command, "scipy peer");
  if (text.empty()) return std::nullopt;
  try {
    const json line = json::parse(text.substr(0, text.find('\n')));
    return measurement{line.at("seconds").get<double>(), line.at("peak_rss_growth_mb").get<double>()};
  } catch (const json::exception& e) {
    std::fprintf(stderr, "plx-bench: cannot read the scipy peer's JSON line (%s): %s\n", e.what(), text.c_str());
    return std::nullopt;
  }
}

void report(const runtime& rt, bool as_json, const char* tool, const web_case& c, std::size_t times,
            const measurement& m) {
  const double points = std::pow(static_cast<double>(c.n), c.dim);
  const double bytes_per_point = m.rss_growth_mb * 1024 * 1024 / points;
  const bool plx = std::string(tool) == "plx-web";
  if (as_json) {
    json line{{"benchmark", "web"}, {"tool", tool}, {"dim", c.dim}, {"n", c.n}, {"times", times},
              {"seconds", rounded(m.seconds, 3)},
              {"seconds_per_time", rounded(m.seconds / static_cast<double>(times), 4)},
              {"ranks", plx ? rt.size() : 1}, {"threads", plx ? rt.threads() : 1},
              {"peak_rss_growth_mb", rounded(m.rss_growth_mb, 1)}, {"bytes_per_point", rounded(bytes_per_point, 0)}};
    print_json_line(line);
  } else {
    std::printf("  %-8s %dD N=%-4d %3zu times %9.3f s %8.4f s/time %8.1f MB peak growth %8.0f B/point\n", tool,
                c.dim, c.n, times, m.seconds, m.seconds / static_cast<double>(times), m.rss_growth_mb, bytes_per_point);
  }
  std::fflush(stdout);
}

// CGAL's floor, and plx-web's core-seconds per time against it.
void report_floor(const runtime& rt, bool as_json, const web_case& c, std::size_t times, const measurement& plx,
                  double floor_seconds) {
  const double core_seconds_per_time =
      plx.seconds * rt.size() * rt.threads() / static_cast<double>(std::max<std::size_t>(1, times));
  const double ratio = floor_seconds > 0 ? core_seconds_per_time / floor_seconds : 0;
  if (as_json) {
    print_json_line({{"benchmark", "web"}, {"tool", "cgal-floor"}, {"dim", c.dim}, {"n", c.n},
                     {"seconds", rounded(floor_seconds, 3)},
                     {"plx_core_seconds_per_time", rounded(core_seconds_per_time, 3)},
                     {"plx_over_floor", rounded(ratio, 2)}});
  } else {
    std::printf("  %-8s %dD N=%-4d one triangulation of N^%d random weighted points: %.3f s; plx-web %.3f "
                "core-s per time, %.2fx the floor\n",
                "cgal", c.dim, c.n, c.dim, floor_seconds, core_seconds_per_time, ratio);
  }
  std::fflush(stdout);
}

#ifdef PLX_BENCH_HAVE_TBB
// CGAL's parallel insertion on as many threads as plx-web had workers, beside plx-web's wall time per time
// (its domains on those workers): issue 19's choice between the two ways to use every thread on one time.
void report_cgal_parallel(const runtime& rt, bool as_json, const web_case& c, std::size_t times,
                          const measurement& plx, const cgal_parallel_times& t) {
  const double plx_per_time = plx.seconds / static_cast<double>(std::max<std::size_t>(1, times));
  const double speedup = t.parallel_seconds > 0 ? t.serial_seconds / t.parallel_seconds : 0;
  if (as_json) {
    print_json_line({{"benchmark", "web"}, {"tool", "cgal-tbb"}, {"dim", c.dim}, {"n", c.n},
                     {"threads", t.threads}, {"serial_seconds", rounded(t.serial_seconds, 3)},
                     {"parallel_seconds", rounded(t.parallel_seconds, 3)}, {"speedup", rounded(speedup, 2)},
                     {"valid", t.same_vertices}, {"plx_seconds_per_time", rounded(plx_per_time, 3)},
                     {"plx_workers", rt.size() * rt.threads()}});
  } else {
    std::printf("  %-8s %dD N=%-4d CGAL's parallel insertion (TBB) on %d threads: %.3f s, serial %.3f s (%.2fx%s); "
                "plx-web %.3f s per time on %d workers\n",
                "cgal-tbb", c.dim, c.n, t.threads, t.parallel_seconds, t.serial_seconds, speedup,
                t.same_vertices ? "" : ", NOT the serial triangulation", plx_per_time, rt.size() * rt.threads());
  }
  std::fflush(stdout);
}
#endif

}  // namespace

int run_web_bench(runtime& rt, const web_bench_options& options) {
  reuse_freed_memory();  // as plx-web does (its main)
  const communicator& comm = rt.world();
  const std::string dir = scratch_directory(comm, "web");
  if (comm.is_root() && !options.json) {
    std::printf("web: adhesion structures, plx-web on %d ranks x %d threads vs scipy (one process)\n", comm.size(),
                rt.threads());
  }
  // 3D last: its larger peak would hide 2D's growth of the same process's high-water mark.
  for (const web_case& c : {web_case{2, options.n2, options.times2}, web_case{3, options.n3, options.times3}}) {
    const std::string cosmo_path = make_cosmo_file(rt, c, options, dir);
    const std::size_t times = cosmo::parse_times(c.times, "--times").size();
    const measurement plx = time_plx(rt, c, cosmo_path, dir);
    // The floor on root alone (the others wait asleep): the same number of points as the grid, serially.
    double floor_seconds = 0;
    if (comm.is_root()) {
      floor_seconds = web::regular_triangulation_floor_seconds(
          c.dim, static_cast<std::size_t>(std::pow(static_cast<double>(c.n), c.dim)), options.seed);
    }
#ifdef PLX_BENCH_HAVE_TBB
    std::optional<cgal_parallel_times> tbb;  // 3D only: CGAL has no parallel 2D triangulation
    if (comm.is_root() && c.dim == 3) {
      tbb = cgal_parallel_insertion_seconds(static_cast<std::size_t>(std::pow(static_cast<double>(c.n), 3)),
                                            options.seed, std::max(2, rt.size() * rt.threads()));
    }
#endif
    sleeping_barrier(comm);
    std::optional<measurement> scipy;
    if (comm.is_root() && options.scipy) scipy = time_scipy(c, options, cosmo_path);
    sleeping_barrier(comm);
    if (comm.is_root()) {
      report(rt, options.json, "plx-web", c, times, plx);
      report_floor(rt, options.json, c, times, plx, floor_seconds);
#ifdef PLX_BENCH_HAVE_TBB
      if (tbb) report_cgal_parallel(rt, options.json, c, times, plx, *tbb);
#endif
      if (scipy) report(rt, options.json, "scipy", c, times, *scipy);
    }
  }
  if (comm.is_root()) std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace plx::bench
