// The 2D regular triangulation with CGAL (one of the two files that include CGAL; see
// regular_triangulation.hpp).
#include "regular_triangulation.hpp"
#include "cgal_triangulation.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>

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

class ghost_triangulation_2 final : public ghost_triangulation {
 public:
  void insert(const ghost_grid& grid, std::ptrdiff_t inserted) override {
    insert_ghost_points<triangulation, 2>(rt_, grid, inserted);
  }

  simplex_list touching(const ghost_grid& grid) override {
    return touching_simplices(rt_, grid, rt_.finite_face_handles(), rt_.all_faces_begin(), rt_.all_faces_end());
  }

 private:
  triangulation rt_;
};

}  // namespace

std::unique_ptr<ghost_triangulation> make_ghost_triangulation_2() { return std::make_unique<ghost_triangulation_2>(); }

double random_triangulation_seconds_2(std::size_t count, std::uint64_t seed) {
  return random_triangulation_seconds<triangulation, 2>(count, seed);
}

}  // namespace plx::web::detail
