// The 3D regular triangulation with CGAL (one of the two files that include CGAL; see
// regular_triangulation.hpp).
#include "regular_triangulation.hpp"
#include "touching_simplices.hpp"

#include <array>
#include <utility>

#include <CGAL/Exact_predicates_inexact_constructions_kernel.h>
#include <CGAL/Regular_triangulation_3.h>
#include <CGAL/Regular_triangulation_cell_base_3.h>
#include <CGAL/Regular_triangulation_vertex_base_3.h>
#include <CGAL/Triangulation_cell_base_with_info_3.h>
#include <CGAL/Triangulation_vertex_base_with_info_3.h>

namespace plx::web::detail {

namespace {

// Exact predicates for the degenerate grid at growth 0 (see regular_triangulation_2.cpp). Hidden points are
// discarded, not kept in the cells: nothing here asks for them, and they cost a list per cell.
using kernel = CGAL::Exact_predicates_inexact_constructions_kernel;
using vertex_base = CGAL::Triangulation_vertex_base_with_info_3<std::int64_t, kernel,
                                                                CGAL::Regular_triangulation_vertex_base_3<kernel>>;
using cell_base = CGAL::Triangulation_cell_base_with_info_3<
    std::int64_t, kernel,
    CGAL::Regular_triangulation_cell_base_3<kernel, CGAL::Triangulation_cell_base_3<kernel>, CGAL::Discard_hidden_points>>;
using triangulation = CGAL::Regular_triangulation_3<kernel, CGAL::Triangulation_data_structure_3<vertex_base, cell_base>>;

}  // namespace

simplex_list regular_triangulation_3(const ghost_grid& grid) {
  const std::ptrdiff_t lo = -grid.margin;
  const std::ptrdiff_t hi = grid.n + grid.margin;
  std::vector<std::pair<triangulation::Weighted_point, std::int64_t>> points;
  points.reserve(static_cast<std::size_t>(grid.side() * grid.side() * grid.side()));
  for (std::ptrdiff_t i = lo; i < hi; ++i) {
    for (std::ptrdiff_t j = lo; j < hi; ++j) {
      for (std::ptrdiff_t k = lo; k < hi; ++k) {
        const std::array<std::ptrdiff_t, 3> c{i, j, k};
        points.emplace_back(
            triangulation::Weighted_point(
                kernel::Point_3(static_cast<double>(i), static_cast<double>(j), static_cast<double>(k)),
                grid.weight_at(c)),
            grid.id(c));
      }
    }
  }
  triangulation rt;
  rt.insert(points.begin(), points.end());  // spatially sorted inside
  points = {};

  return touching_simplices(rt, grid, rt.finite_cell_handles(), rt.all_cells_begin(), rt.all_cells_end());
}

}  // namespace plx::web::detail
