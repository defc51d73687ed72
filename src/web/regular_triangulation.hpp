// Private to src/web: the CGAL boundary. The regular triangulation of a weighted grid with ghost copies,
// handed back as plain index arrays, so that CGAL's headers (slow to compile) stay in
// regular_triangulation_2.cpp and regular_triangulation_3.cpp and nothing else recompiles them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace plx::web::detail {

/// The weighted points: the primary grid [0, n)^dim and its periodic copies in a margin, i.e. every
/// integer point c in [-margin, n + margin)^dim, with the weight of the primary point c mod n.
/// Coordinates are in cells (exact integers), weights in cells^2.
struct ghost_grid {
  int dim = 0;
  std::ptrdiff_t n = 0;
  std::ptrdiff_t margin = 0;
  std::span<const double> weight;  ///< n^dim, C order

  [[nodiscard]] std::ptrdiff_t side() const noexcept { return n + 2 * margin; }
  /// Index of an extended point in C order over [-margin, n + margin)^dim; the points' ids below.
  [[nodiscard]] std::int64_t id(std::span<const std::ptrdiff_t> c) const noexcept {
    std::int64_t id = 0;
    for (const std::ptrdiff_t x : c) id = id * side() + (x + margin);
    return id;
  }
  /// The coordinates of point `id` (cells), `dim` of them into `c`.
  void coordinates(std::int64_t id, std::span<std::ptrdiff_t> c) const noexcept {
    for (int a = dim - 1; a >= 0; --a) {
      c[static_cast<std::size_t>(a)] = static_cast<std::ptrdiff_t>(id % side()) - margin;
      id /= side();
    }
  }
  [[nodiscard]] bool is_primary(std::span<const std::ptrdiff_t> c) const noexcept {
    for (const std::ptrdiff_t x : c) {
      if (x < 0 || x >= n) return false;
    }
    return true;
  }
  /// The weight of the extended point `c` (that of its primary copy).
  [[nodiscard]] double weight_at(std::span<const std::ptrdiff_t> c) const noexcept {
    std::size_t index = 0;
    for (const std::ptrdiff_t x : c) index = index * static_cast<std::size_t>(n) + static_cast<std::size_t>(((x % n) + n) % n);
    return weight[index];
  }
};

/// The finite simplices of a regular triangulation that have at least one primary vertex (the rest are
/// never needed: every canonical simplex and every neighbour across a canonical face has one).
struct simplex_list {
  int dim = 0;
  std::vector<std::int64_t> vertex;    ///< count x (dim + 1): point ids (ghost_grid::id)
  /// count x (dim + 1): the simplex across the face opposite vertex j, an index into this list, or -1 when
  /// that simplex is infinite or has no primary vertex.
  std::vector<std::int64_t> neighbor;

  [[nodiscard]] std::size_t size() const noexcept {
    return vertex.size() / static_cast<std::size_t>(dim + 1);
  }
};

/// The regular triangulation of `grid` (dim 2), with CGAL's exact predicates.
simplex_list regular_triangulation_2(const ghost_grid& grid);
/// The regular triangulation of `grid` (dim 3), with CGAL's exact predicates.
simplex_list regular_triangulation_3(const ghost_grid& grid);

}  // namespace plx::web::detail
