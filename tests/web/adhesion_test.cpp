// plx::web::adhesion on small 2D and 3D boxes: the masses of all simplices sum to N^d at every growth
// factor (also at 0, where the grid is fully degenerate), the power vertices tend to Zel'dovich's positions
// as D -> 0, the periodic counts obey Euler's relation on the torus, filaments are short periodic vectors,
// the stored-structure thresholds, and bad arguments.
#include <parallax/web/adhesion.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <numbers>
#include <numeric>
#include <random>
#include <utility>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <parallax/core/error.hpp>

namespace {

// phi = sum_m a_m cos(2 pi k_m . q / L + theta_m): smooth, periodic, with an analytic gradient and Hessian.
struct cosine_potential {
  int dim = 2;
  double box = 1;
  std::vector<std::array<int, 3>> k;
  std::vector<double> amplitude, phase;

  static cosine_potential random(int dim, double box, double strength, unsigned seed, int modes = 6, int kmax = 3) {
    cosine_potential p{dim, box, {}, {}, {}};
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> wave(-kmax, kmax);
    std::uniform_real_distribution<double> angle(0, 2 * std::numbers::pi);
    while (static_cast<int>(p.k.size()) < modes) {
      const std::array<int, 3> kk{wave(rng), wave(rng), dim == 3 ? wave(rng) : 0};
      const int k2 = kk[0] * kk[0] + kk[1] * kk[1] + kk[2] * kk[2];
      if (k2 == 0) continue;
      p.k.push_back(kk);
      p.amplitude.push_back(strength / k2);  // a red spectrum, as a potential's
      p.phase.push_back(angle(rng));
    }
    return p;
  }
  double arg(std::size_t m, const std::array<double, 3>& q) const {
    double s = phase[m];
    for (int a = 0; a < dim; ++a) s += 2 * std::numbers::pi * k[m][static_cast<std::size_t>(a)] * q[static_cast<std::size_t>(a)] / box;
    return s;
  }
  double value(const std::array<double, 3>& q) const {
    double v = 0;
    for (std::size_t m = 0; m < k.size(); ++m) v += amplitude[m] * std::cos(arg(m, q));
    return v;
  }
  std::array<double, 3> gradient(const std::array<double, 3>& q) const {
    std::array<double, 3> g{};
    for (std::size_t m = 0; m < k.size(); ++m) {
      for (int a = 0; a < dim; ++a) {
        g[static_cast<std::size_t>(a)] -= amplitude[m] * std::sin(arg(m, q)) * 2 * std::numbers::pi * k[m][static_cast<std::size_t>(a)] / box;
      }
    }
    return g;
  }
  // A bound on |Hessian| (Frobenius) anywhere.
  double hessian_bound() const {
    double h = 0;
    for (std::size_t m = 0; m < k.size(); ++m) {
      const double kk = 2 * std::numbers::pi / box;
      h += amplitude[m] * kk * kk * (k[m][0] * k[m][0] + k[m][1] * k[m][1] + k[m][2] * k[m][2]);
    }
    return h;
  }
  std::vector<double> grid(std::ptrdiff_t n) const {
    std::vector<double> values;
    const double cell = box / static_cast<double>(n);
    const std::ptrdiff_t nz = dim == 3 ? n : 1;
    for (std::ptrdiff_t i = 0; i < n; ++i) {
      for (std::ptrdiff_t j = 0; j < n; ++j) {
        for (std::ptrdiff_t l = 0; l < nz; ++l) {
          values.push_back(value({static_cast<double>(i) * cell, static_cast<double>(j) * cell, static_cast<double>(l) * cell}));
        }
      }
    }
    return values;
  }
};

double sum(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0); }

struct mass_case {
  int dim;
  std::ptrdiff_t n;
};

class AdhesionMass : public ::testing::TestWithParam<mass_case> {};

TEST_P(AdhesionMass, all_simplices_sum_to_the_cell_count_at_every_time) {
  const auto [dim, n] = GetParam();
  const double box = 10;
  // Displacements up to several cells at D = 4: structures much bigger than a cell, hidden points.
  const cosine_potential phi = cosine_potential::random(dim, box, 0.6, 7);
  const std::vector<double> potential = phi.grid(n);
  const double cells = std::pow(static_cast<double>(n), dim);
  for (const double growth : {0.0, 0.3, 1.0, 2.5, 4.0}) {
    SCOPED_TRACE(::testing::Message() << "dim " << dim << " n " << n << " D " << growth);
    const plx::web::adhesion_structures s = plx::web::adhesion(dim, n, box, potential, growth, {});
    EXPECT_EQ(s.dim, dim);
    EXPECT_EQ(s.time, growth);
    EXPECT_EQ(s.total_mass, cells);  // exact: summed as integers
    EXPECT_NEAR(sum(s.node_mass), cells, 1e-9 * cells);
    ASSERT_EQ(s.node_position.size(), s.node_mass.size() * static_cast<std::size_t>(dim));
    EXPECT_TRUE(std::all_of(s.node_position.begin(), s.node_position.end(), [&](double x) { return x >= 0 && x < box; }));
    EXPECT_TRUE(std::all_of(s.node_mass.begin(), s.node_mass.end(), [](double m) { return m > 0; }));
    // The mass function counts every node once, each in the bin of its mass.
    ASSERT_EQ(s.mass_count.size(), plx::web::mass_function_bins(dim, n));
    EXPECT_EQ(sum(s.mass_count), static_cast<double>(s.node_mass.size()));
    std::vector<double> recount(s.mass_count.size(), 0.0);
    const double factorial = dim == 2 ? 2 : 6;
    for (const double m : s.node_mass) recount[static_cast<std::size_t>(std::floor(10 * std::log10(m * factorial)))] += 1;
    EXPECT_EQ(recount, s.mass_count);
    // Euler on the torus: 2D V - E + F = 0 with 3F = 2E, so E = 3F/2; 3D every triangle bounds two tetrahedra.
    const std::size_t faces_per_simplex_pair = dim == 2 ? 3 : 4;
    EXPECT_EQ(2 * s.filament_mass.size(), faces_per_simplex_pair * s.node_mass.size());
    ASSERT_EQ(s.filament_a.size(), s.filament_mass.size() * static_cast<std::size_t>(dim));
    ASSERT_EQ(s.filament_b.size(), s.filament_a.size());
    for (std::size_t i = 0; i < s.filament_a.size(); ++i) {
      ASSERT_GE(s.filament_a[i], 0);
      ASSERT_LT(s.filament_a[i], box);
      ASSERT_LT(std::abs(s.filament_b[i] - s.filament_a[i]), box / 2);
    }
    // Every filament's ends are nodes (its two simplices' power vertices).
  }
}

INSTANTIATE_TEST_SUITE_P(Boxes, AdhesionMass,
                         ::testing::Values(mass_case{2, 16}, mass_case{2, 33}, mass_case{3, 8}, mass_case{3, 11}));

TEST(Adhesion, the_degenerate_grid_gives_half_cells_at_cell_centres_in_2d) {
  const std::ptrdiff_t n = 12;
  const double box = 6;
  const std::vector<double> flat(static_cast<std::size_t>(n * n), 0.25);
  const plx::web::adhesion_structures s = plx::web::adhesion(2, n, box, flat, 0.0, {});
  ASSERT_EQ(s.node_mass.size(), static_cast<std::size_t>(2 * n * n));
  for (std::size_t i = 0; i < s.node_mass.size(); ++i) {
    EXPECT_EQ(s.node_mass[i], 0.5);
    for (int a = 0; a < 2; ++a) {
      const double cells = s.node_position[2 * i + static_cast<std::size_t>(a)] / (box / n);
      EXPECT_NEAR(cells - std::floor(cells), 0.5, 1e-12);
    }
  }
}

TEST(Adhesion, nodes_tend_to_zeldovich_positions_at_small_growth) {
  for (const int dim : {2, 3}) {
    const std::ptrdiff_t n = dim == 2 ? 32 : 20;
    const double box = 10;
    const double cell = box / static_cast<double>(n);
    // Long waves only: the interpolation error relative to the move scales as cell / wavelength.
    const cosine_potential phi = cosine_potential::random(dim, box, 0.6, 11, 6, 1);
    // Small enough that every point moves by well under a cell: the triangulation stays the grid's.
    const double growth = 1e-3;
    const plx::web::adhesion_structures s = plx::web::adhesion(dim, n, box, phi.grid(n), growth, {});
    // A node sits at its simplex's circumcentre c (the cell centre) moved by -D times the gradient of phi's linear
    // interpolant over the simplex, which differs from grad phi(c) by at most about |Hessian| * cell.
    const double tolerance = growth * phi.hessian_bound() * cell * dim;
    double worst = 0;
    double largest_move = 0;
    for (std::size_t i = 0; i < s.node_mass.size(); ++i) {
      std::array<double, 3> x{};
      for (int a = 0; a < dim; ++a) x[static_cast<std::size_t>(a)] = s.node_position[i * static_cast<std::size_t>(dim) + static_cast<std::size_t>(a)];
      const std::array<double, 3> g = phi.gradient(x);
      std::array<double, 3> centre{};
      for (int a = 0; a < dim; ++a) {
        const auto k = static_cast<std::size_t>(a);
        centre[k] = (std::floor((x[k] + growth * g[k]) / cell) + 0.5) * cell;
      }
      const std::array<double, 3> gc = phi.gradient(centre);
      double d2 = 0;
      double move2 = 0;
      for (int a = 0; a < dim; ++a) {
        const auto k = static_cast<std::size_t>(a);
        double d = x[k] - (centre[k] - growth * gc[k]);
        d -= box * std::round(d / box);
        d2 += d * d;
        move2 += growth * gc[k] * growth * gc[k];
      }
      worst = std::max(worst, std::sqrt(d2));
      largest_move = std::max(largest_move, std::sqrt(move2));
    }
    EXPECT_LT(worst, tolerance) << "dim " << dim;
    // The Zel'dovich move itself is resolved: well above the error.
    EXPECT_GT(largest_move, 3 * worst) << "dim " << dim;
    std::printf("dim %d: largest move %.3g, worst error %.3g, bound %.3g\n", dim, largest_move, worst, tolerance);
  }
}

TEST(Adhesion, thresholds_choose_what_is_stored_and_total_mass_counts_everything) {
  const std::ptrdiff_t n = 24;
  const double box = 10;
  const cosine_potential phi = cosine_potential::random(2, box, 0.6, 3);
  const std::vector<double> potential = phi.grid(n);
  const plx::web::adhesion_structures all = plx::web::adhesion(2, n, box, potential, 3.0, {});
  plx::web::adhesion_options heavy;
  heavy.min_node_mass = 1;  // at D = 0 every triangle holds half a cell: these have merged
  heavy.min_filament_mass = 1.5;
  const plx::web::adhesion_structures few = plx::web::adhesion(2, n, box, potential, 3.0, heavy);
  EXPECT_EQ(few.total_mass, all.total_mass);
  const auto count_at_least = [](const std::vector<double>& v, double m) {
    return static_cast<std::size_t>(std::count_if(v.begin(), v.end(), [m](double x) { return x >= m; }));
  };
  EXPECT_EQ(few.node_mass.size(), count_at_least(all.node_mass, 1));
  EXPECT_EQ(few.filament_mass.size(), count_at_least(all.filament_mass, 1.5));
  EXPECT_LT(few.node_mass.size(), all.node_mass.size());
  EXPECT_GT(few.node_mass.size(), 0u);
  EXPECT_TRUE(std::all_of(few.node_mass.begin(), few.node_mass.end(), [](double m) { return m >= 1; }));
}

bool bitwise_equal(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

void expect_bitwise_equal(const plx::web::adhesion_structures& a, const plx::web::adhesion_structures& b) {
  EXPECT_EQ(a.dim, b.dim);
  EXPECT_EQ(a.time, b.time);
  EXPECT_EQ(a.total_mass, b.total_mass);
  EXPECT_TRUE(bitwise_equal(a.node_position, b.node_position));
  EXPECT_TRUE(bitwise_equal(a.node_mass, b.node_mass));
  EXPECT_TRUE(bitwise_equal(a.filament_a, b.filament_a));
  EXPECT_TRUE(bitwise_equal(a.filament_b, b.filament_b));
  EXPECT_TRUE(bitwise_equal(a.filament_mass, b.filament_mass));
  EXPECT_TRUE(bitwise_equal(a.mass_count, b.mass_count));
}

// Spatial domains (slabs of grid planes, each with its own ghost margin) joined in order are the whole box's
// result, bit for bit and row for row, at every growth factor (also the degenerate 0) and for domains thinner
// than their margin.
TEST(Adhesion, domains_joined_in_order_are_bitwise_the_whole_box) {
  for (const int dim : {2, 3}) {
    const std::ptrdiff_t n = dim == 2 ? 24 : 10;
    const double box = 10;
    const std::vector<double> potential = cosine_potential::random(dim, box, 0.6, 5).grid(n);
    for (const double growth : {0.0, 1.0, 3.0}) {
      const plx::web::adhesion_structures whole = plx::web::adhesion(dim, n, box, potential, growth, {});
      for (const int count : {2, 3, 7, static_cast<int>(n)}) {
        SCOPED_TRACE(::testing::Message() << "dim " << dim << " D " << growth << " domains " << count);
        std::vector<plx::web::adhesion_structures> parts;
        for (int d = 0; d < count; ++d) {
          parts.push_back(plx::web::adhesion_domain(dim, n, box, potential, growth, {}, d, count));
        }
        std::size_t nodes = 0;
        for (const auto& part : parts) nodes += part.node_mass.size();
        expect_bitwise_equal(plx::web::join_domains(std::move(parts)), whole);
        EXPECT_EQ(nodes, whole.node_mass.size());
      }
    }
  }
}

TEST(Adhesion, a_domain_tells_its_stages_in_order_and_the_result_does_not_depend_on_listening) {
  const std::ptrdiff_t n = 10;
  const std::vector<double> potential = cosine_potential::random(3, 10, 0.6, 5).grid(n);
  std::vector<std::string> stages;
  const plx::web::adhesion_structures heard = plx::web::adhesion_domain(
      3, n, 10, potential, 2.0, {}, 1, 3, [&](const std::string& stage) { stages.push_back(stage); });
  ASSERT_GE(stages.size(), 3u);
  EXPECT_EQ(stages.front().rfind("triangulating ", 0), 0u) << stages.front();
  EXPECT_NE(stages.front().find("points (margin "), std::string::npos) << stages.front();
  EXPECT_EQ(stages[1], "solving the simplices");
  EXPECT_EQ(stages.back(), "building the structures");
  expect_bitwise_equal(heard, plx::web::adhesion_domain(3, n, 10, potential, 2.0, {}, 1, 3));
}

TEST(Adhesion, domain_planes_cover_the_grid_evenly_and_refuse_what_does_not_exist) {
  std::ptrdiff_t next = 0;
  for (int d = 0; d < 7; ++d) {
    const auto [first, last] = plx::web::domain_planes(30, d, 7);
    EXPECT_EQ(first, next);
    EXPECT_TRUE(last - first == 4 || last - first == 5);
    next = last;
  }
  EXPECT_EQ(next, 30);
  EXPECT_THROW((void)plx::web::domain_planes(4, 0, 5), plx::config_error);
  EXPECT_THROW((void)plx::web::domain_planes(4, 4, 4), plx::config_error);
  EXPECT_THROW((void)plx::web::domain_planes(4, 0, 0), plx::config_error);
}

TEST(Adhesion, bad_arguments_name_the_parameter) {
  const std::vector<double> phi(16, 0.0);
  const auto message = [&](int dim, std::ptrdiff_t n, double box, std::span<const double> p, double growth) {
    try {
      (void)plx::web::adhesion(dim, n, box, p, growth, {});
    } catch (const plx::config_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(4, 4, 1, phi, 1).find("dim must be 2 or 3"), std::string::npos);
  EXPECT_NE(message(2, 1, 1, std::span(phi).first(1), 1).find("n must be at least 2"), std::string::npos);
  EXPECT_NE(message(2, 4, 0, phi, 1).find("box must be positive"), std::string::npos);
  EXPECT_NE(message(2, 4, 1, phi, -1).find("growth factor"), std::string::npos);
  EXPECT_NE(message(2, 5, 1, phi, 1).find("has 16 values"), std::string::npos);
  std::vector<double> nan = phi;
  nan[3] = std::nan("");
  EXPECT_NE(message(2, 4, 1, nan, 1).find("not finite at index 3"), std::string::npos);
}

}  // namespace
