// Private to src/web: hands a CGAL triangulation (2D or 3D) back as a simplex_list. A template over the
// triangulation type, included only by the two files that include CGAL.
#pragma once

#include <cstdint>
#include <vector>

#include "regular_triangulation.hpp"

namespace plx::web::detail {

/// The finite simplices of `rt` with a primary vertex, numbered through their `info()` (an index, or -1).
/// `finite` ranges over the finite faces (2D) or cells (3D) and [first, last) over all of them.
template <class Triangulation, class FiniteRange, class AllIterator>
simplex_list touching_simplices(const Triangulation& rt, const ghost_grid& grid, const FiniteRange& finite,
                                AllIterator first, AllIterator last) {
  const int per = grid.dim + 1;
  std::vector<std::ptrdiff_t> c(static_cast<std::size_t>(grid.dim));
  for (; first != last; ++first) first->info() = -1;
  std::int64_t count = 0;
  for (const auto simplex : finite) {
    for (int v = 0; v < per; ++v) {
      grid.coordinates(simplex->vertex(v)->info(), c);
      if (grid.is_primary(c)) {
        simplex->info() = count++;
        break;
      }
    }
  }
  simplex_list out;
  out.dim = grid.dim;
  out.vertex.reserve(static_cast<std::size_t>(count * per));
  out.neighbor.reserve(static_cast<std::size_t>(count * per));
  for (const auto simplex : finite) {
    if (simplex->info() < 0) continue;
    // CGAL's convention, in 2D and 3D alike: neighbor(v) is across the face opposite vertex(v).
    for (int v = 0; v < per; ++v) {
      out.vertex.push_back(simplex->vertex(v)->info());
      const auto other = simplex->neighbor(v);
      out.neighbor.push_back(rt.is_infinite(other) ? -1 : other->info());
    }
  }
  return out;
}

}  // namespace plx::web::detail
