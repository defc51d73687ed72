#include <parallax/web/adhesion.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <parallax/core/detail/fault_injection.hpp>
#include <parallax/core/error.hpp>

#include "adhesion_arguments.hpp"
#include "regular_triangulation.hpp"

namespace plx::web {

namespace {

using point = std::array<std::ptrdiff_t, 3>;  // grid coordinates in cells; the first `dim` are used
using vector3 = std::array<double, 3>;

// Integer determinants of edge vectors: exact in double (entries are at most a few thousand cells).
double det2(const point& e1, const point& e2) {
  return static_cast<double>(e1[0] * e2[1] - e1[1] * e2[0]);
}
std::int64_t det3(const point& e1, const point& e2, const point& e3) {
  return e1[0] * (e2[1] * e3[2] - e2[2] * e3[1]) - e1[1] * (e2[0] * e3[2] - e2[2] * e3[0]) +
         e1[2] * (e2[0] * e3[1] - e2[1] * e3[0]);
}
point minus(const point& a, const point& b) { return {a[0] - b[0], a[1] - b[1], a[2] - b[2]}; }

// Lexicographic comparison of grid points: -1, 0 or 1.
int compare_points(const point& a, const point& b, int dim) {
  for (std::size_t k = 0; k < static_cast<std::size_t>(dim); ++k) {
    if (a[k] != b[k]) return a[k] < b[k] ? -1 : 1;
  }
  return 0;
}

// One simplex: its vertices' ids (detail::ghost_grid::id, whose order is the lexicographic order of the
// points), sorted, and what follows from them. The vertices are absolute grid points, the same in every
// domain's triangulation, and sorted, whatever order CGAL gave them in: so the power vertex is computed from
// the same numbers in the same order, bitwise, whichever domain (and thread, and rank) triangulated it.
// 64 bytes: there are about 6.5 of them per grid point in 3D.
struct simplex {
  std::array<std::int64_t, 4> id{};
  vector3 power_vertex{};  // cells, in absolute grid coordinates (not wrapped)
  std::int64_t measure_x_factorial = 0;  // dim! x the Lagrangian measure (exact integer)
};

// The power vertex x solves |x - q_i|^2 - w_i = |x - q_0|^2 - w_0 for i = 1..dim, i.e. 2 e_i . y = |e_i|^2 -
// (w_i - w_0) with e_i = q_i - q_0 and x = q_0 + y, solved by Cramer's rule (apps/web/adhesion_scipy.py uses
// the same formulas, so the two agree to round-off).
// Returns the squared radius of the orthogonal sphere, |x - q_0|^2 - w_0.
double solve_power_vertex(int dim, const std::array<point, 4>& vertex, const std::array<double, 4>& weight,
                          simplex& s) {
  std::array<point, 3> e{};
  std::array<double, 3> b{};
  for (int i = 1; i <= dim; ++i) {
    const auto k = static_cast<std::size_t>(i);
    e[k - 1] = minus(vertex[k], vertex[0]);
    double norm2 = 0;
    for (int a = 0; a < dim; ++a) norm2 += static_cast<double>(e[k - 1][static_cast<std::size_t>(a)] * e[k - 1][static_cast<std::size_t>(a)]);
    b[k - 1] = norm2 - (weight[k] - weight[0]);
  }
  vector3 y{};
  if (dim == 2) {
    const double det = det2(e[0], e[1]);
    s.measure_x_factorial = static_cast<std::int64_t>(std::abs(det));
    y[0] = (static_cast<double>(e[1][1]) * b[0] - static_cast<double>(e[0][1]) * b[1]) / (2 * det);
    y[1] = (static_cast<double>(e[0][0]) * b[1] - static_cast<double>(e[1][0]) * b[0]) / (2 * det);
  } else {
    const std::int64_t det = det3(e[0], e[1], e[2]);
    s.measure_x_factorial = det < 0 ? -det : det;
    // E^-1 = [r2 x r3, r3 x r1, r1 x r2] / det (as columns), r_i the rows e_i.
    const auto cross = [](const point& u, const point& v) {
      return vector3{static_cast<double>(u[1] * v[2] - u[2] * v[1]), static_cast<double>(u[2] * v[0] - u[0] * v[2]),
                     static_cast<double>(u[0] * v[1] - u[1] * v[0])};
    };
    const vector3 c0 = cross(e[1], e[2]);
    const vector3 c1 = cross(e[2], e[0]);
    const vector3 c2 = cross(e[0], e[1]);
    for (std::size_t a = 0; a < 3; ++a) y[a] = (b[0] * c0[a] + b[1] * c1[a] + b[2] * c2[a]) / (2 * static_cast<double>(det));
  }
  double radius2 = -weight[0];
  for (std::size_t a = 0; a < static_cast<std::size_t>(dim); ++a) {
    s.power_vertex[a] = static_cast<double>(vertex[0][a]) + y[a];
    radius2 += y[a] * y[a];
  }
  return radius2;
}

// Whether no ghost beyond the domain's margin can change the simplex: every point outside the extended range
// lies at distance >= d from the power vertex and has weight <= max_weight, hence power >= d^2 - max_weight,
// which must exceed the squared orthogonal radius. Returns how many cells the margin lacks (0 when proven).
double missing_margin(const detail::ghost_grid& grid, const simplex& s, double radius2, double max_weight) {
  double d = HUGE_VAL;
  for (int a = 0; a < grid.dim; ++a) {
    const double x = s.power_vertex[static_cast<std::size_t>(a)];
    d = std::min({d, x - static_cast<double>(grid.lo(a) - 1), static_cast<double>(grid.hi(a)) - x});
  }
  // A relative safety factor covers the rounding of the power vertex.
  const double needed = std::sqrt(std::max(0.0, radius2 + max_weight) * (1 + 1e-9)) + 1e-6;
  return d > needed ? 0.0 : needed - d;
}

double wrap(double x, double box) {
  double w = x - box * std::floor(x / box);
  return w >= box ? 0.0 : w;  // x a hair below 0 rounds to box
}

}  // namespace

namespace detail {

void check_adhesion_arguments(int dim, std::ptrdiff_t n, double box, std::span<const double> potential, double growth) {
  if (dim != 2 && dim != 3) throw config_error(fmt::format("adhesion: dim must be 2 or 3, not {}", dim));
  if (n < 2) throw config_error(fmt::format("adhesion: n must be at least 2, not {}", n));
  if (!(box > 0) || !std::isfinite(box)) throw config_error(fmt::format("adhesion: box must be positive, not {}", box));
  if (!(growth >= 0) || !std::isfinite(growth)) {
    throw config_error(fmt::format("adhesion: the growth factor must be finite and at least 0, not {}", growth));
  }
  const auto cells = static_cast<std::size_t>(dim == 2 ? n * n : n * n * n);
  if (potential.size() != cells) {
    throw config_error(fmt::format("adhesion: the potential has {} values, a {}^{} grid needs {}", potential.size(), n,
                                   dim, cells));
  }
  const auto bad = std::find_if(potential.begin(), potential.end(), [](double v) { return !std::isfinite(v); });
  if (bad != potential.end()) {
    throw config_error(fmt::format("adhesion: the potential is not finite at index {}", bad - potential.begin()));
  }
}

}  // namespace detail

namespace {

constexpr int factorial_of(int dim) { return dim == 2 ? 2 : 6; }

// The mass function's bin of a simplex of dim! x measure k >= 1 (see adhesion_structures::mass_count).
std::size_t mass_bin(std::int64_t k) {
  return static_cast<std::size_t>(std::floor(10 * std::log10(static_cast<double>(k))));
}

// The structures of one verified triangulation of one domain, in the canonical order: nodes by their sorted
// vertices, filaments by their face's sorted vertices (lexicographically, absolute grid coordinates). Each
// domain owns the simplices and faces whose lowest vertex is in its planes, so the domains' lists, one after
// the other in the order of their planes, are the whole box's list in the same order.
class structure_builder {
 public:
  structure_builder(int dim, std::ptrdiff_t n, double box, const detail::ghost_grid& grid,
                    const detail::simplex_list& list, const std::vector<simplex>& simplices)
      : dim_(dim), cell_(box / static_cast<double>(n)), box_(box), grid_(grid), list_(list),
        simplices_(simplices) {}

  adhesion_structures build(double growth, const adhesion_options& options) const {
    adhesion_structures out;
    out.dim = dim_;
    out.time = growth;
    std::int64_t total_x_factorial = 0;  // exact: the total mass is N^dim without rounding
    out.mass_count.assign(mass_function_bins(dim_, grid_.n), 0.0);
    std::vector<std::size_t> nodes;
    for (std::size_t t = 0; t < simplices_.size(); ++t) {
      const simplex& s = simplices_[t];
      if (!owned(s.id[0])) continue;  // a periodic simplex is counted once: where its lowest vertex is owned
      total_x_factorial += s.measure_x_factorial;
      out.mass_count[mass_bin(s.measure_x_factorial)] += 1;
      if (mass_of(s) >= options.min_node_mass) nodes.push_back(t);
    }
    canonical_sort(nodes, [this](std::size_t t) { return simplices_[t].id[0]; },
                   [this](std::size_t x, std::size_t y) { return node_less(x, y); });
    out.node_position.reserve(nodes.size() * static_cast<std::size_t>(dim_));
    out.node_mass.reserve(nodes.size());
    for (const std::size_t t : nodes) {
      const simplex& s = simplices_[t];
      for (std::size_t a = 0; a < static_cast<std::size_t>(dim_); ++a) {
        out.node_position.push_back(wrap(s.power_vertex[a] * cell_, box_));
      }
      out.node_mass.push_back(mass_of(s));
    }
    nodes = {};
    // A face's owner (the simplex holding its lowest vertex, which is owned) need not be canonical itself, so
    // every listed simplex is visited.
    std::vector<face_ref> faces;
    for (std::size_t t = 0; t < simplices_.size(); ++t) collect_faces(t, options, faces);
    canonical_sort(faces, [this](const face_ref& f) { return simplices_[f.t].id[f.j == 0 ? 1 : 0]; },
                   [this](const face_ref& x, const face_ref& y) { return face_less(x, y); });
    for (const face_ref& f : faces) add_filament(f, out);
    out.total_mass = static_cast<double>(total_x_factorial) / factorial_of(dim_);
    return out;
  }

 private:
  // A face: simplex t without its vertex j. The simplex's vertices are sorted, so the face's are too.
  struct face_ref {
    std::uint32_t j = 0;
    std::size_t t = 0;
    double mass = 0;
  };

  // Sorts `items` in the canonical order `less`, given the owned lowest vertex of each (`lowest`): a counting
  // sort by that vertex's index (C order over the domain's owned points, which is lexicographic order), then
  // each vertex's few items by `less`. O(items), where one std::sort took a sixth of a 3D time.
  template <class Item, class Lowest, class Less>
  void canonical_sort(std::vector<Item>& items, Lowest lowest, Less less) const {
    const auto owned_index = [this](std::int64_t id) {
      const point p = at(id);
      std::size_t index = static_cast<std::size_t>(p[0] - grid_.begin);
      for (std::size_t a = 1; a < static_cast<std::size_t>(dim_); ++a) {
        index = index * static_cast<std::size_t>(grid_.n) + static_cast<std::size_t>(p[a]);
      }
      return index;
    };
    std::size_t owned_points = static_cast<std::size_t>(grid_.end - grid_.begin);
    for (int a = 1; a < dim_; ++a) owned_points *= static_cast<std::size_t>(grid_.n);
    std::vector<std::size_t> start(owned_points + 1, 0);
    for (const Item& item : items) ++start[owned_index(lowest(item)) + 1];
    for (std::size_t i = 0; i < owned_points; ++i) start[i + 1] += start[i];
    std::vector<Item> sorted(items.size());
    {
      std::vector<std::size_t> next(start.begin(), start.end() - 1);
      for (const Item& item : items) sorted[next[owned_index(lowest(item))]++] = item;
    }
    items = {};
    for (std::size_t i = 0; i < owned_points; ++i) {
      if (start[i + 1] - start[i] > 1) {
        std::sort(sorted.begin() + static_cast<std::ptrdiff_t>(start[i]),
                  sorted.begin() + static_cast<std::ptrdiff_t>(start[i + 1]), less);
      }
    }
    items = std::move(sorted);
  }

  point at(std::int64_t id) const {
    point p{};
    grid_.coordinates(id, std::span(p.data(), static_cast<std::size_t>(dim_)));
    return p;
  }

  bool owned(std::int64_t id) const {
    const point p = at(id);
    return grid_.is_owned(std::span(p.data(), static_cast<std::size_t>(dim_)));
  }

  double mass_of(const simplex& s) const {
    return static_cast<double>(s.measure_x_factorial) / factorial_of(dim_);
  }

  // Ids compare as their points do (lexicographically).
  bool node_less(std::size_t x, std::size_t y) const {
    const auto& a = simplices_[x].id;
    const auto& b = simplices_[y].id;
    return std::lexicographical_compare(a.begin(), a.begin() + dim_ + 1, b.begin(), b.begin() + dim_ + 1);
  }

  std::array<std::int64_t, 3> face_ids(const face_ref& f) const {
    std::array<std::int64_t, 3> face{};
    std::size_t k = 0;
    for (std::size_t v = 0; v <= static_cast<std::size_t>(dim_); ++v) {
      if (v != f.j) face[k++] = simplices_[f.t].id[v];
    }
    return face;
  }

  bool face_less(const face_ref& x, const face_ref& y) const {
    const auto a = face_ids(x);
    const auto b = face_ids(y);
    return std::lexicographical_compare(a.begin(), a.begin() + dim_, b.begin(), b.begin() + dim_);
  }

  // The faces of simplex t that it owns: those whose lowest vertex is owned and on whose positive side the
  // simplex's opposite vertex lies (see adhesion_structures::filament_a). Each periodic face has exactly one
  // such (simplex, face) pair.
  void collect_faces(std::size_t t, const adhesion_options& options, std::vector<face_ref>& faces) const {
    const std::size_t per = static_cast<std::size_t>(dim_ + 1);
    const simplex& s = simplices_[t];
    std::array<point, 4> vertex{};
    for (std::size_t v = 0; v < per; ++v) vertex[v] = at(s.id[v]);
    for (std::size_t j = 0; j < per; ++j) {
      std::array<point, 3> face{};
      std::size_t k = 0;
      for (std::size_t v = 0; v < per; ++v) {
        if (v != j) face[k++] = vertex[v];
      }
      if (!grid_.is_owned(std::span(face[0].data(), static_cast<std::size_t>(dim_)))) continue;
      const point& p = vertex[j];
      double mass = 0;
      if (dim_ == 2) {
        if (det2(minus(face[1], face[0]), minus(p, face[0])) <= 0) continue;
        const point e = minus(face[1], face[0]);
        mass = std::sqrt(static_cast<double>(e[0] * e[0] + e[1] * e[1]));
      } else {
        if (det3(minus(face[1], face[0]), minus(face[2], face[0]), minus(p, face[0])) <= 0) continue;
        const point u = minus(face[1], face[0]);
        const point v = minus(face[2], face[0]);
        const double cx = static_cast<double>(u[1] * v[2] - u[2] * v[1]);
        const double cy = static_cast<double>(u[2] * v[0] - u[0] * v[2]);
        const double cz = static_cast<double>(u[0] * v[1] - u[1] * v[0]);
        mass = 0.5 * std::sqrt(cx * cx + cy * cy + cz * cz);
      }
      if (mass < options.min_filament_mass) continue;
      if (list_.neighbor[t * per + j] < 0) {
        throw error("adhesion: internal error: a face in the box has no neighbour in the verified triangulation");
      }
      faces.push_back({static_cast<std::uint32_t>(j), t, mass});
    }
  }

  void add_filament(const face_ref& f, adhesion_structures& out) const {
    const std::size_t per = static_cast<std::size_t>(dim_ + 1);
    const simplex& s = simplices_[f.t];
    const simplex& o = simplices_[static_cast<std::size_t>(list_.neighbor[f.t * per + f.j])];
    for (std::size_t a = 0; a < static_cast<std::size_t>(dim_); ++a) {
      const double from = s.power_vertex[a] * cell_;
      const double a_wrapped = wrap(from, box_);
      out.filament_a.push_back(a_wrapped);
      out.filament_b.push_back(a_wrapped + (o.power_vertex[a] * cell_ - from));
    }
    out.filament_mass.push_back(f.mass);
  }

  int dim_;
  double cell_;
  double box_;
  const detail::ghost_grid& grid_;
  const detail::simplex_list& list_;
  const std::vector<simplex>& simplices_;
};

// The simplices of `list` with their vertices in lexicographic order (and their neighbours permuted with
// them), solved. Returns how many cells the margin lacks for the worst of them (0: all proven).
double solve_simplices(const detail::ghost_grid& grid, detail::simplex_list& list, std::vector<simplex>& simplices,
                       double max_weight) {
  const int dim = grid.dim;
  const std::size_t per = static_cast<std::size_t>(dim + 1);
  simplices.assign(list.size(), simplex{});
  double missing = 0;
  for (std::size_t t = 0; t < simplices.size(); ++t) {
    std::array<point, 4> found{};
    for (std::size_t v = 0; v < per; ++v) {
      grid.coordinates(list.vertex[t * per + v], std::span(found[v].data(), static_cast<std::size_t>(dim)));
    }
    // Insertion sort of at most 4 (std::sort here trips g++ 12's -Warray-bounds on the small array).
    std::array<std::size_t, 4> order{0, 1, 2, 3};
    for (std::size_t k = 1; k < per; ++k) {
      for (std::size_t m = k; m > 0 && compare_points(found[order[m]], found[order[m - 1]], dim) < 0; --m) {
        std::swap(order[m], order[m - 1]);
      }
    }
    simplex& s = simplices[t];
    std::array<point, 4> vertex{};
    std::array<double, 4> weight{};
    std::array<std::int64_t, 4> neighbor{};
    for (std::size_t k = 0; k < per; ++k) {
      vertex[k] = found[order[k]];
      s.id[k] = list.vertex[t * per + order[k]];
      weight[k] = grid.weight_at(std::span(vertex[k].data(), static_cast<std::size_t>(dim)));
      neighbor[k] = list.neighbor[t * per + order[k]];
    }
    std::copy_n(neighbor.begin(), per, list.neighbor.begin() + static_cast<std::ptrdiff_t>(t * per));
    const double radius2 = solve_power_vertex(dim, vertex, weight, s);
    missing = std::max(missing, missing_margin(grid, s, radius2, max_weight));
  }
  list.vertex = {};  // the sorted simplices hold the vertices now
  return missing;
}

// The first ghost margin, cells (see adhesion_domain). Clamped as doubles: a huge growth factor must reach
// the "too large" error, not overflow a cast.
std::ptrdiff_t first_margin(double max_weight, std::ptrdiff_t n) {
  const auto margin_limit = static_cast<double>(detail::ghost_grid::max_margin_boxes * n);
  return static_cast<std::ptrdiff_t>(std::min(std::ceil(1.1 * std::sqrt(max_weight)) + 1, margin_limit));
}

}  // namespace

double adhesion_domain_points(int dim, std::ptrdiff_t n, double box, double potential_range, double growth,
                              int domains) {
  const double cell = box / static_cast<double>(n);
  const auto margin = static_cast<double>(first_margin(2 * growth / (cell * cell) * potential_range, n));
  const double planes = std::ceil(static_cast<double>(n) / std::max(1, domains));
  return (planes + 2 * margin) * std::pow(static_cast<double>(n) + 2 * margin, dim - 1);
}

std::size_t mass_function_bins(int dim, std::ptrdiff_t n) {
  const double whole = factorial_of(dim) * std::pow(static_cast<double>(n), dim);
  return static_cast<std::size_t>(std::floor(10 * std::log10(whole))) + 1;
}

std::pair<std::ptrdiff_t, std::ptrdiff_t> domain_planes(std::ptrdiff_t n, int index, int count) {
  if (count < 1 || count > n || index < 0 || index >= count) {
    throw config_error(fmt::format("adhesion: domain {} of {} does not exist for a grid of {} planes", index, count, n));
  }
  const auto share = [&](int i) { return static_cast<std::ptrdiff_t>(static_cast<std::int64_t>(n) * i / count); };
  return {share(index), share(index + 1)};
}

adhesion_structures adhesion_domain(int dim, std::ptrdiff_t n, double box, std::span<const double> potential,
                                    double growth, const adhesion_options& options, int index, int count,
                                    const adhesion_stage_callback& on_stage) {
  const auto stage = [&](const std::string& text) {
    if (on_stage) on_stage(text);
  };
  detail::check_adhesion_arguments(dim, n, box, potential, growth);
  const auto [begin, end] = domain_planes(n, index, count);
  // Test hook (PLX_FAULT=web.adhesion@rank): a time that fails on one rank, as memory running out would.
  if (plx::detail::fault_point(plx::detail::fault_sites::web_adhesion)) throw error(fmt::format("adhesion: injected failure at growth {}", growth));
  // Weights in cells^2 (coordinates are integer cells, exact for the predicates), shifted so that the smallest
  // is 0: a common shift leaves the triangulation and the power vertices unchanged and bounds the ghosts'
  // influence by the largest weight (missing_margin). The shift and the scale are the whole box's, so every
  // domain computes the same weights.
  const double cell = box / static_cast<double>(n);
  const double scale = 2 * growth / (cell * cell);
  const auto [lo, hi] = std::minmax_element(potential.begin(), potential.end());
  plx::detail::allocation_point(plx::detail::fault_sites::alloc_buffer);  // tests: the weights, then CGAL's
  std::vector<double> weight(potential.size());
  std::transform(potential.begin(), potential.end(), weight.begin(), [&](double phi) { return scale * (phi - *lo); });
  const double max_weight = scale * (*hi - *lo);

  detail::ghost_grid grid{dim, n, 0, weight, begin, end};
  // The proof needs sqrt(max_weight + r^2) cells beyond a power vertex (missing_margin), r the simplex's
  // orthogonal radius, and the power vertex lies up to a displacement outside the domain. Measured on
  // plx-cosmo's 3D N=64 box, the margin needed was 0.93 to 1.21 sqrt(max_weight) from D = 0.5 to 4; the first
  // margin is a little above that, and a margin still too small grows by the missing shell (inserted into the
  // same triangulation), which costs a fraction of starting again.
  const auto margin_limit = static_cast<double>(detail::ghost_grid::max_margin_boxes * n);
  grid.margin = first_margin(max_weight, n);
  std::unique_ptr<detail::ghost_triangulation> triangulation =
      dim == 2 ? detail::make_ghost_triangulation_2() : detail::make_ghost_triangulation_3();
  std::ptrdiff_t inserted = -1;
  for (;;) {
    if (inserted < 0) {
      stage(fmt::format("triangulating {} points (margin {})", grid.point_count(), grid.margin));
    } else {
      stage(fmt::format("margin {} too small: inserting the shell to {} ({} points)", inserted, grid.margin,
                        grid.point_count()));
    }
    triangulation->insert(grid, inserted);
    inserted = grid.margin;
    stage("solving the simplices");
    detail::simplex_list list = triangulation->touching(grid);
    std::vector<simplex> simplices;
    const double missing = solve_simplices(grid, list, simplices, max_weight);
    if (missing == 0) {
      triangulation.reset();  // the lists hold what is needed: CGAL's memory goes before the structures' comes
      stage("building the structures");
      return structure_builder(dim, n, box, grid, list, simplices).build(growth, options);
    }
    if (grid.margin >= detail::ghost_grid::max_margin_boxes * n) {
      throw error(fmt::format("adhesion: at growth factor {} the structures reach beyond {} boxes of periodic copies "
                              "({}^{} grid); the growth factor is too large for this box",
                              growth, detail::ghost_grid::max_margin_boxes, n, dim));
    }
    // What the worst simplex lacked, and a little more: the simplices near the new margin's edge are then
    // those of the periodic triangulation too, and rarely need a third round.
    grid.margin = static_cast<std::ptrdiff_t>(
        std::min(static_cast<double>(grid.margin) + std::ceil(1.25 * missing) + 2, margin_limit));
  }
}

adhesion_structures adhesion(int dim, std::ptrdiff_t n, double box, std::span<const double> potential, double growth,
                             const adhesion_options& options) {
  return adhesion_domain(dim, n, box, potential, growth, options, 0, 1);
}

double regular_triangulation_floor_seconds(int dim, std::size_t count, std::uint64_t seed) {
  if (dim != 2 && dim != 3) throw config_error(fmt::format("adhesion: dim must be 2 or 3, not {}", dim));
  return dim == 2 ? detail::random_triangulation_seconds_2(count, seed) : detail::random_triangulation_seconds_3(count, seed);
}

adhesion_structures join_domains(std::vector<adhesion_structures> parts) {
  if (parts.empty()) throw config_error("adhesion: join_domains needs at least one domain");
  adhesion_structures whole = std::move(parts.front());
  const double factorial = factorial_of(whole.dim);
  // Each part's total is an exact multiple of 1/dim!, rounded once: summed as integers, the whole's total
  // is the one rounding of the one-domain result.
  auto total_x_factorial = static_cast<std::int64_t>(std::llround(whole.total_mass * factorial));
  const auto append = [](std::vector<double>& to, const std::vector<double>& from) {
    to.insert(to.end(), from.begin(), from.end());
  };
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const adhesion_structures& part = parts[i];
    if (part.dim != whole.dim || part.time != whole.time) {
      throw config_error("adhesion: join_domains got domains of different times or dimensions");
    }
    append(whole.node_position, part.node_position);
    append(whole.node_mass, part.node_mass);
    append(whole.filament_a, part.filament_a);
    append(whole.filament_b, part.filament_b);
    append(whole.filament_mass, part.filament_mass);
    if (part.mass_count.size() != whole.mass_count.size()) {
      throw config_error("adhesion: join_domains got domains of different grids");
    }
    for (std::size_t b = 0; b < whole.mass_count.size(); ++b) whole.mass_count[b] += part.mass_count[b];
    total_x_factorial += static_cast<std::int64_t>(std::llround(part.total_mass * factorial));
    parts[i] = {};
  }
  whole.total_mass = static_cast<double>(total_x_factorial) / factorial;
  return whole;
}

}  // namespace plx::web
