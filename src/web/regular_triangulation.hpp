// Private to src/web: the CGAL boundary. The regular triangulation of a weighted grid with ghost copies,
// grown shell by shell, handed back as plain index arrays, so that CGAL's headers (slow to compile) stay in
// regular_triangulation_2.cpp and regular_triangulation_3.cpp and nothing else recompiles them.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace plx::web::detail {

/// The weighted points of one domain: the slab of grid planes [begin, end) along axis 0 (the whole box when
/// begin = 0 and end = n) and its periodic copies in a margin, i.e. every integer point c with
/// begin - margin <= c_0 < end + margin and -margin <= c_a < n + margin on the other axes, each with the
/// weight of the primary point c mod n. Coordinates are absolute (the same point has the same coordinates in
/// every domain), in cells (exact integers); weights in cells^2.
struct ghost_grid {
  int dim = 0;
  std::ptrdiff_t n = 0;
  std::ptrdiff_t margin = 0;
  std::span<const double> weight;  ///< n^dim, C order
  std::ptrdiff_t begin = 0;        ///< the domain's first grid plane along axis 0
  std::ptrdiff_t end = 0;          ///< one past its last

  /// The extended points' range along `axis`: [lo, hi).
  [[nodiscard]] std::ptrdiff_t lo(int axis) const noexcept { return (axis == 0 ? begin : 0) - margin; }
  [[nodiscard]] std::ptrdiff_t hi(int axis) const noexcept { return (axis == 0 ? end : n) + margin; }
  [[nodiscard]] std::ptrdiff_t extent(int axis) const noexcept { return hi(axis) - lo(axis); }
  [[nodiscard]] std::ptrdiff_t frame_lo(int axis) const noexcept { return (axis == 0 ? begin : 0) - max_margin_boxes * n; }
  [[nodiscard]] std::size_t point_count() const noexcept {
    std::size_t count = 1;
    for (int a = 0; a < dim; ++a) count *= static_cast<std::size_t>(extent(a));
    return count;
  }
  /// The margin never grows beyond this many boxes: a triangulation that needs more has simplices as big as
  /// the box, which a periodic ghost margin cannot settle (and memory would not hold).
  static constexpr std::ptrdiff_t max_margin_boxes = 2;
  /// A point's id: its coordinates relative to the largest extended range (margin max_margin_boxes * n),
  /// packed into bit fields, axis 0 highest, so that ids stay valid while the margin grows, compare as
  /// their points do lexicographically, and unpack without a division (the structures unpack them millions
  /// of times per time).
  [[nodiscard]] std::int64_t id(std::span<const std::ptrdiff_t> c) const noexcept {
    std::int64_t id = 0;
    for (int a = 0; a < dim; ++a) id = (id << field_bits()) | (c[static_cast<std::size_t>(a)] - frame_lo(a));
    return id;
  }
  /// The coordinates of point `id` (cells), `dim` of them into `c`.
  void coordinates(std::int64_t id, std::span<std::ptrdiff_t> c) const noexcept {
    const std::int64_t mask = (std::int64_t{1} << field_bits()) - 1;
    for (int a = dim - 1; a >= 0; --a) {
      c[static_cast<std::size_t>(a)] = static_cast<std::ptrdiff_t>(id & mask) + frame_lo(a);
      id >>= field_bits();
    }
  }
  /// Bits per coordinate in an id: enough for the largest extended range (5n; 13 bits at n = 1024).
  [[nodiscard]] int field_bits() const noexcept {
    return static_cast<int>(std::bit_width(static_cast<std::uint64_t>(n + 2 * max_margin_boxes * n - 1)));
  }
  /// Whether `c` lies in the extended range of a margin `m`.
  [[nodiscard]] bool within_margin(std::span<const std::ptrdiff_t> c, std::ptrdiff_t m) const noexcept {
    for (int a = 0; a < dim; ++a) {
      const std::ptrdiff_t x = c[static_cast<std::size_t>(a)];
      if (x < lo(a) + margin - m || x >= hi(a) - margin + m) return false;
    }
    return true;
  }
  /// Whether `c` is a primary point of this domain: in the box, and in the domain's planes along axis 0.
  /// Every simplex and face of the periodic triangulation is counted by the one domain that owns its
  /// lowest vertex.
  [[nodiscard]] bool is_owned(std::span<const std::ptrdiff_t> c) const noexcept {
    if (c[0] < begin || c[0] >= end) return false;
    for (std::size_t a = 1; a < c.size(); ++a) {
      if (c[a] < 0 || c[a] >= n) return false;
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

/// The finite simplices of a regular triangulation that have at least one owned vertex (the rest are
/// never needed: every canonical simplex and every neighbour across an owned face has one).
struct simplex_list {
  int dim = 0;
  std::vector<std::int64_t> vertex;    ///< count x (dim + 1): point ids (ghost_grid::id)
  /// count x (dim + 1): the simplex across the face opposite vertex j, an index into this list, or -1 when
  /// that simplex is infinite or has no owned vertex.
  std::vector<std::int64_t> neighbor;

  [[nodiscard]] std::size_t size() const noexcept {
    return vertex.size() / static_cast<std::size_t>(dim + 1);
  }
};

/// The regular triangulation of a ghost grid, with CGAL's exact predicates, grown shell by shell: a margin
/// too small for the proof is widened by inserting the missing shell, not by starting again.
class ghost_triangulation {
 public:
  virtual ~ghost_triangulation() = default;
  /// Inserts the points of `grid` that lie outside the extended range of margin `inserted` (every point of
  /// `grid` when `inserted` < 0): `inserted` is the margin of the points already in.
  virtual void insert(const ghost_grid& grid, std::ptrdiff_t inserted) = 0;
  /// The finite simplices with an owned vertex.
  [[nodiscard]] virtual simplex_list touching(const ghost_grid& grid) = 0;
};

std::unique_ptr<ghost_triangulation> make_ghost_triangulation_2();
std::unique_ptr<ghost_triangulation> make_ghost_triangulation_3();

/// regular_triangulation_floor_seconds (see <parallax/web/adhesion.hpp>), in 2D and 3D.
double random_triangulation_seconds_2(std::size_t count, std::uint64_t seed);
double random_triangulation_seconds_3(std::size_t count, std::uint64_t seed);

}  // namespace plx::web::detail
