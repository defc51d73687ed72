// plx-bench web's measure of CGAL's own parallel insertion (Parallel_tag, TBB): the way issue 19 asked to
// weigh against spatial domains for using every thread of a rank on one time. Its own file: only here are
// CGAL's parallel headers, TBB and -frounding-math needed (apps/CMakeLists.txt).
#include "web_tbb.hpp"

#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <CGAL/Exact_predicates_inexact_constructions_kernel.h>
#include <CGAL/Regular_triangulation_3.h>
#include <CGAL/Regular_triangulation_cell_base_3.h>
#include <CGAL/Regular_triangulation_vertex_base_3.h>
#include <CGAL/Triangulation_data_structure_3.h>
#include <tbb/global_control.h>

namespace plx::bench {

namespace {

using kernel = CGAL::Exact_predicates_inexact_constructions_kernel;
using vertex_base = CGAL::Regular_triangulation_vertex_base_3<kernel>;
using cell_base = CGAL::Regular_triangulation_cell_base_3<kernel>;
template <class Concurrency>
using triangulation =
    CGAL::Regular_triangulation_3<kernel, CGAL::Triangulation_data_structure_3<vertex_base, cell_base, Concurrency>>;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

cgal_parallel_times cgal_parallel_insertion_seconds(std::size_t count, std::uint64_t seed, int threads) {
  // The floor's points (web::regular_triangulation_floor_seconds): unit density, weights below half a cell
  // squared. Plain weighted points here (no info), in both runs.
  const double side = std::cbrt(static_cast<double>(count));
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(0.0, side);
  std::uniform_real_distribution<double> weight(0.0, 0.5);
  std::vector<kernel::Weighted_point_3> points;
  points.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    const double x = uniform(rng);
    const double y = uniform(rng);
    const double z = uniform(rng);
    points.emplace_back(kernel::Point_3(x, y, z), weight(rng));
  }
  cgal_parallel_times out;
  out.threads = threads;
  auto start = std::chrono::steady_clock::now();
  {
    triangulation<CGAL::Sequential_tag> serial(points.begin(), points.end());
    out.vertices = serial.number_of_vertices();
  }
  out.serial_seconds = seconds_since(start);
  {
    const tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));
    // CGAL's grid of locks over the points' bounding box, 50 cells a side (its examples' choice).
    triangulation<CGAL::Parallel_tag>::Lock_data_structure locks(CGAL::Bbox_3(0, 0, 0, side, side, side), 50);
    start = std::chrono::steady_clock::now();
    triangulation<CGAL::Parallel_tag> parallel(points.begin(), points.end(), kernel(), &locks);
    out.parallel_seconds = seconds_since(start);
    out.same_vertices = parallel.number_of_vertices() == out.vertices && parallel.is_valid();
  }
  return out;
}

}  // namespace plx::bench
