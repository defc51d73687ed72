// The 2D regular triangulation with CGAL (one of the two files that include CGAL; see
// regular_triangulation.hpp).
#include "regular_triangulation.hpp"
#include "touching_simplices.hpp"

#include <array>
#include <utility>

#include <CGAL/Exact_predicates_inexact_constructions_kernel.h>
#include <CGAL/Regular_triangulation_2.h>
#include <CGAL/Regular_triangulation_face_base_2.h>
#include <CGAL/Regular_triangulation_vertex_base_2.h>
#include <CGAL/Triangulation_face_base_with_info_2.h>
#include <CGAL/Triangulation_vertex_base_with_info_2.h>

namespace plx::web::detail {

namespace {

// Exact predicates: at growth 0 the grid is fully degenerate (every cell's 4 corners are co-circular), and
// CGAL's symbolic perturbation resolves it the same way for every periodic copy (it orders points
// lexicographically, which translations keep). Constructions are never used: power vertices are computed
// from the integer coordinates by the caller.
using kernel = CGAL::Exact_predicates_inexact_constructions_kernel;
using vertex_base = CGAL::Triangulation_vertex_base_with_info_2<std::int64_t, kernel,
                                                                CGAL::Regular_triangulation_vertex_base_2<kernel>>;
using face_base = CGAL::Triangulation_face_base_with_info_2<std::int64_t, kernel,
                                                            CGAL::Regular_triangulation_face_base_2<kernel>>;
using triangulation = CGAL::Regular_triangulation_2<kernel, CGAL::Triangulation_data_structure_2<vertex_base, face_base>>;

}  // namespace

simplex_list regular_triangulation_2(const ghost_grid& grid) {
  const std::ptrdiff_t lo = -grid.margin;
  const std::ptrdiff_t hi = grid.n + grid.margin;
  std::vector<std::pair<triangulation::Weighted_point, std::int64_t>> points;
  points.reserve(static_cast<std::size_t>(grid.side() * grid.side()));
  for (std::ptrdiff_t i = lo; i < hi; ++i) {
    for (std::ptrdiff_t j = lo; j < hi; ++j) {
      const std::array<std::ptrdiff_t, 2> c{i, j};
      points.emplace_back(triangulation::Weighted_point(kernel::Point_2(static_cast<double>(i), static_cast<double>(j)),
                                                        grid.weight_at(c)),
                          grid.id(c));
    }
  }
  triangulation rt;
  rt.insert(points.begin(), points.end());  // spatially sorted inside
  points = {};

  return touching_simplices(rt, grid, rt.finite_face_handles(), rt.all_faces_begin(), rt.all_faces_end());
}

}  // namespace plx::web::detail
