// The 3D regular triangulation with CGAL (one of the two files that include CGAL; see
// regular_triangulation.hpp).
#include "regular_triangulation.hpp"
#include "cgal_triangulation.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>

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

class ghost_triangulation_3 final : public ghost_triangulation {
 public:
  void insert(const ghost_grid& grid, std::ptrdiff_t inserted) override {
    insert_ghost_points<triangulation, 3>(rt_, grid, inserted);
  }

  simplex_list touching(const ghost_grid& grid) override {
    return touching_simplices(rt_, grid, rt_.finite_cell_handles(), rt_.all_cells_begin(), rt_.all_cells_end());
  }

 private:
  triangulation rt_;
};

}  // namespace

std::unique_ptr<ghost_triangulation> make_ghost_triangulation_3() { return std::make_unique<ghost_triangulation_3>(); }

double random_triangulation_seconds_3(std::size_t count, std::uint64_t seed) {
  return random_triangulation_seconds<triangulation, 3>(count, seed);
}

}  // namespace plx::web::detail
