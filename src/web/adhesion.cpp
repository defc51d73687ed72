#include <parallax/web/adhesion.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>

#include <fmt/format.h>

#include <parallax/core/detail/fault_injection.hpp>
#include <parallax/core/error.hpp>

#include "adhesion_arguments.hpp"
#include "regular_triangulation.hpp"

namespace plx::web {

namespace {

using point = std::array<std::ptrdiff_t, 3>;  // grid coordinates in cells; the first `dim` are used
using vector3 = std::array<double, 3>;

// Margins never grow beyond this many boxes: a triangulation that needs more has simplices as big as the box,
// which a periodic ghost margin cannot settle (and memory would not hold).
constexpr std::ptrdiff_t max_margin_boxes = 2;

bool lexicographically_less(const point& a, const point& b, int dim) {
  for (int k = 0; k < dim; ++k) {
    if (a[static_cast<std::size_t>(k)] != b[static_cast<std::size_t>(k)]) {
      return a[static_cast<std::size_t>(k)] < b[static_cast<std::size_t>(k)];
    }
  }
  return false;
}

// Integer determinants of edge vectors: exact in double (entries are at most a few thousand cells).
double det2(const point& e1, const point& e2) {
  return static_cast<double>(e1[0] * e2[1] - e1[1] * e2[0]);
}
std::int64_t det3(const point& e1, const point& e2, const point& e3) {
  return e1[0] * (e2[1] * e3[2] - e2[2] * e3[1]) - e1[1] * (e2[0] * e3[2] - e2[2] * e3[0]) +
         e1[2] * (e2[0] * e3[1] - e2[1] * e3[0]);
}
point minus(const point& a, const point& b) { return {a[0] - b[0], a[1] - b[1], a[2] - b[2]}; }

// One simplex in cells: its vertices, their weights, and what follows from them.
struct simplex {
  std::array<point, 4> vertex{};
  std::array<double, 4> weight{};
  vector3 power_vertex{};  // cells, in the frame of the ghost grid (not wrapped)
  std::int64_t measure_x_factorial = 0;  // dim! x the Lagrangian measure (exact integer)
  double power_radius2 = 0;        // |x - q_0|^2 - w_0: the squared radius of the orthogonal sphere
};

// The power vertex x solves |x - q_i|^2 - w_i = |x - q_0|^2 - w_0 for i = 1..dim, i.e. 2 e_i . y = |e_i|^2 -
// (w_i - w_0) with e_i = q_i - q_0 and x = q_0 + y, solved by Cramer's rule (apps/web/adhesion_scipy.py uses
// the same formulas, so the two agree to round-off).
void solve_power_vertex(int dim, simplex& s) {
  std::array<point, 3> e{};
  std::array<double, 3> b{};
  for (int i = 1; i <= dim; ++i) {
    const auto k = static_cast<std::size_t>(i);
    e[k - 1] = minus(s.vertex[k], s.vertex[0]);
    double norm2 = 0;
    for (int a = 0; a < dim; ++a) norm2 += static_cast<double>(e[k - 1][static_cast<std::size_t>(a)] * e[k - 1][static_cast<std::size_t>(a)]);
    b[k - 1] = norm2 - (s.weight[k] - s.weight[0]);
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
  s.power_radius2 = -s.weight[0];
  for (std::size_t a = 0; a < static_cast<std::size_t>(dim); ++a) {
    s.power_vertex[a] = static_cast<double>(s.vertex[0][a]) + y[a];
    s.power_radius2 += y[a] * y[a];
  }
}

// Whether no ghost beyond the margin can change the simplex: every point outside [-m, n + m)^dim lies at
// distance >= d from the power vertex and has weight <= max_weight, hence power >= d^2 - max_weight, which must
// exceed the squared orthogonal radius. Returns how many cells the margin lacks (0 when proven).
double missing_margin(int dim, std::ptrdiff_t n, std::ptrdiff_t margin, const simplex& s, double max_weight) {
  double d = HUGE_VAL;
  for (std::size_t a = 0; a < static_cast<std::size_t>(dim); ++a) {
    d = std::min({d, s.power_vertex[a] + static_cast<double>(margin + 1), static_cast<double>(n + margin) - s.power_vertex[a]});
  }
  // A relative safety factor covers the rounding of the power vertex.
  const double needed = std::sqrt(std::max(0.0, s.power_radius2 + max_weight) * (1 + 1e-9)) + 1e-6;
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

// The structures of one verified triangulation.
class structure_builder {
 public:
  structure_builder(int dim, std::ptrdiff_t n, double box, const detail::ghost_grid& grid,
                    const detail::simplex_list& list, const std::vector<simplex>& simplices)
      : dim_(dim), cell_(box / static_cast<double>(n)), box_(box), grid_(grid), list_(list),
        simplices_(simplices) {}

  adhesion_structures build(double growth, const adhesion_options& options) {
    adhesion_structures out;
    out.dim = dim_;
    out.time = growth;
    const int factorial = dim_ == 2 ? 2 : 6;
    std::int64_t total_x_factorial = 0;  // exact: the total mass is N^dim without rounding
    const std::size_t per = static_cast<std::size_t>(dim_ + 1);
    for (std::size_t t = 0; t < simplices_.size(); ++t) {
      const simplex& s = simplices_[t];
      if (!is_canonical(s, per)) continue;
      total_x_factorial += s.measure_x_factorial;
      const double mass = static_cast<double>(s.measure_x_factorial) / factorial;
      if (mass >= options.min_node_mass) {
        for (std::size_t a = 0; a < static_cast<std::size_t>(dim_); ++a) {
          out.node_position.push_back(wrap(s.power_vertex[a] * cell_, box_));
        }
        out.node_mass.push_back(mass);
      }
    }
    // A face's owner (the simplex holding its lowest vertex, which is primary) need not be canonical itself, so
    // every listed simplex is visited.
    for (std::size_t t = 0; t < simplices_.size(); ++t) add_filaments(t, options, out);
    out.total_mass = static_cast<double>(total_x_factorial) / factorial;
    return out;
  }

 private:
  // A periodic simplex is counted once: in the copy whose lexicographically smallest vertex is primary.
  bool is_canonical(const simplex& s, std::size_t per) const {
    std::size_t lowest = 0;
    for (std::size_t v = 1; v < per; ++v) {
      if (lexicographically_less(s.vertex[v], s.vertex[lowest], dim_)) lowest = v;
    }
    return grid_.is_primary(std::span(s.vertex[lowest].data(), static_cast<std::size_t>(dim_)));
  }

  // The faces of simplex t that it owns: those whose lowest vertex is primary and on whose positive side the
  // simplex's opposite vertex lies (see adhesion_structures::filament_a). Each periodic face has exactly one
  // such (simplex, face) pair.
  void add_filaments(std::size_t t, const adhesion_options& options, adhesion_structures& out) const {
    const std::size_t per = static_cast<std::size_t>(dim_ + 1);
    const simplex& s = simplices_[t];
    for (std::size_t j = 0; j < per; ++j) {
      std::array<point, 3> face{};
      std::size_t k = 0;
      for (std::size_t v = 0; v < per; ++v) {
        if (v != j) face[k++] = s.vertex[v];
      }
      const auto order = [this](point& a, point& b) {
        if (lexicographically_less(b, a, dim_)) std::swap(a, b);
      };
      order(face[0], face[1]);
      if (dim_ == 3) {
        order(face[1], face[2]);
        order(face[0], face[1]);
      }
      if (!grid_.is_primary(std::span(face[0].data(), static_cast<std::size_t>(dim_)))) continue;
      const point& p = s.vertex[j];
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
      const std::int64_t other = list_.neighbor[t * per + j];
      if (other < 0) {
        throw error("adhesion: internal error: a face in the box has no neighbour in the verified triangulation");
      }
      const simplex& o = simplices_[static_cast<std::size_t>(other)];
      for (std::size_t a = 0; a < static_cast<std::size_t>(dim_); ++a) {
        const double from = s.power_vertex[a] * cell_;
        const double a_wrapped = wrap(from, box_);
        out.filament_a.push_back(a_wrapped);
        out.filament_b.push_back(a_wrapped + (o.power_vertex[a] * cell_ - from));
      }
      out.filament_mass.push_back(mass);
    }
  }

  int dim_;
  double cell_;
  double box_;
  const detail::ghost_grid& grid_;
  const detail::simplex_list& list_;
  const std::vector<simplex>& simplices_;
};

}  // namespace

adhesion_structures adhesion(int dim, std::ptrdiff_t n, double box, std::span<const double> potential, double growth,
                             const adhesion_options& options) {
  detail::check_adhesion_arguments(dim, n, box, potential, growth);
  // Test hook (PLX_FAULT=web.adhesion@rank): a time that fails on one rank, as memory running out would.
  if (plx::detail::fault_point(plx::detail::fault_sites::web_adhesion)) throw error(fmt::format("adhesion: injected failure at growth {}", growth));
  // Weights in cells^2 (coordinates are integer cells, exact for the predicates), shifted so that the smallest
  // is 0: a common shift leaves the triangulation and the power vertices unchanged and bounds the ghosts'
  // influence by the largest weight (missing_margin).
  const double cell = box / static_cast<double>(n);
  const double scale = 2 * growth / (cell * cell);
  const auto [lo, hi] = std::minmax_element(potential.begin(), potential.end());
  plx::detail::allocation_point(plx::detail::fault_sites::alloc_buffer);  // tests: the weights, then CGAL's
  std::vector<double> weight(potential.size());
  std::transform(potential.begin(), potential.end(), weight.begin(), [&](double phi) { return scale * (phi - *lo); });
  const double max_weight = scale * (*hi - *lo);

  detail::ghost_grid grid{dim, n, 0, weight};
  // The proof needs at least sqrt(max_weight + r^2) cells beyond a power vertex (missing_margin), r the
  // simplex's orthogonal radius, which grows with D like sqrt(max_weight) itself: 1.4 sqrt(max_weight) + 3
  // sufficed at once for plx-cosmo's workshop boxes at D = 0 to 4 (2D N=256: 1.35 at most), where a second
  // triangulation would cost more than the larger margin.
  // Clamped as doubles: a huge growth factor must reach the "too large" error below, not overflow a cast.
  const auto margin_limit = static_cast<double>(max_margin_boxes * n);
  grid.margin = static_cast<std::ptrdiff_t>(std::min(std::ceil(1.4 * std::sqrt(max_weight)) + 3, margin_limit));
  for (;;) {
    const detail::simplex_list list =
        dim == 2 ? detail::regular_triangulation_2(grid) : detail::regular_triangulation_3(grid);
    std::vector<simplex> simplices(list.size());
    const std::size_t per = static_cast<std::size_t>(dim + 1);
    double missing = 0;
    for (std::size_t t = 0; t < simplices.size(); ++t) {
      simplex& s = simplices[t];
      for (std::size_t v = 0; v < per; ++v) {
        grid.coordinates(list.vertex[t * per + v], std::span(s.vertex[v].data(), static_cast<std::size_t>(dim)));
        s.weight[v] = grid.weight_at(std::span(s.vertex[v].data(), static_cast<std::size_t>(dim)));
      }
      solve_power_vertex(dim, s);
      missing = std::max(missing, missing_margin(dim, n, grid.margin, s, max_weight));
    }
    if (missing == 0) return structure_builder(dim, n, box, grid, list, simplices).build(growth, options);
    if (grid.margin >= max_margin_boxes * n) {
      throw error(fmt::format("adhesion: at growth factor {} the structures reach beyond {} boxes of periodic copies "
                              "({}^{} grid); the growth factor is too large for this box",
                              growth, max_margin_boxes, n, dim));
    }
    // What the worst simplex lacked, and a little more: the simplices near the new margin's edge are then
    // those of the periodic triangulation too, and rarely need a third round.
    grid.margin = static_cast<std::ptrdiff_t>(
        std::min(static_cast<double>(grid.margin) + std::ceil(1.25 * missing) + 2, margin_limit));
  }
}

}  // namespace plx::web
