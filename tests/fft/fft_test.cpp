#include <parallax/fft/plan.hpp>

#include <cmath>
#include <complex>
#include <cstring>
#include <numbers>
#include <vector>

#include <gtest/gtest.h>

#include <parallax/core/error.hpp>
#include <parallax/fft/field.hpp>
#include <parallax/fft/modes.hpp>
#include <parallax/fft/slab.hpp>

#include "../support/grid_gather.hpp"
#include "../support/mpi_test.hpp"

namespace {

using plx::testing_support::rt;

double test_value(std::ptrdiff_t x, std::ptrdiff_t y, std::ptrdiff_t z) {
  return std::sin(0.7 * x + 0.3) + std::cos(1.3 * y - 0.2 * z) + 0.01 * static_cast<double>(x * y + z);
}

void fill(plx::fft::field& f) {
  plx::fft::for_each_cell(f.geometry(), [&](std::ptrdiff_t offset, std::ptrdiff_t x, std::ptrdiff_t y, std::ptrdiff_t z) {
    f.real()[offset] = test_value(x, y, z);
  });
}

TEST(SlabGeometry, planes_cover_the_grid_for_any_n_and_ranks) {
  for (const int dim : {2, 3}) {
    for (const std::ptrdiff_t n : {2, 3, 5, 8, 13}) {
      const auto g = plx::fft::make_slab_geometry(rt().world(), dim, n);
      std::int64_t counts[2] = {g.real_count, g.fourier_count};
      std::int64_t totals[2] = {};
      MPI_Allreduce(counts, totals, 2, MPI_INT64_T, MPI_SUM, rt().world().native());
      EXPECT_EQ(totals[0], n) << dim << "D n=" << n;
      EXPECT_EQ(totals[1], dim == 3 ? n : n / 2 + 1) << dim << "D n=" << n;
      EXPECT_GE(g.alloc_doubles(), g.real_count * g.rows_per_plane() * g.padded());
    }
  }
}

TEST(SlabGeometry, bad_sizes_are_config_errors) {
  EXPECT_THROW((void)plx::fft::make_slab_geometry(rt().world(), 3, 1), plx::config_error);
  EXPECT_THROW((void)plx::fft::make_slab_geometry(rt().world(), 4, 8), plx::config_error);
}

TEST(R2c, forward_then_backward_returns_the_field_times_n_to_the_d) {
  for (const int dim : {2, 3}) {
    for (const std::ptrdiff_t n : {2, 5, 6, 8}) {
      const auto g = plx::fft::make_slab_geometry(rt().world(), dim, n);
      plx::fft::field f(g);
      const plx::fft::r2c_plans plans(rt().world(), f, plx::fft::plan_mode::estimate);
      fill(f);
      plans.forward(f);
      plans.backward(f);
      double worst = 0;
      for (std::ptrdiff_t plane = 0; plane < g.real_count; ++plane) {
        plx::fft::for_each_cell_in_plane(g, plane, [&](std::ptrdiff_t offset, std::ptrdiff_t x, std::ptrdiff_t y, std::ptrdiff_t z) {
          worst = std::max(worst, std::abs(f.real()[offset] / g.global_cells() - test_value(x, y, z)));
        });
      }
      EXPECT_LT(worst, 1e-12) << dim << "D n=" << n;
    }
  }
}

TEST(R2c, matches_a_direct_dft_at_small_n) {
  for (const int dim : {2, 3}) {
    const std::ptrdiff_t n = dim == 3 ? 5 : 6;
    const auto g = plx::fft::make_slab_geometry(rt().world(), dim, n);
    plx::fft::field f(g);
    const plx::fft::r2c_plans plans(rt().world(), f, plx::fft::plan_mode::estimate);
    fill(f);
    plans.forward(f);
    double worst = 0;
    for (std::ptrdiff_t plane = 0; plane < g.fourier_count; ++plane) {
      plx::fft::for_each_mode_in_plane(g, plane, [&](std::ptrdiff_t offset, const plx::fft::mode& m) {
        // O(N^2d) reference: F(k) = sum_x f(x) exp(-2 pi i k.x / N)
        std::complex<double> sum = 0;
        const std::ptrdiff_t nz = dim == 3 ? n : 1;
        for (std::ptrdiff_t x = 0; x < n; ++x)
          for (std::ptrdiff_t y = 0; y < n; ++y)
            for (std::ptrdiff_t z = 0; z < nz; ++z) {
              const double phase = -2 * std::numbers::pi * static_cast<double>(m.g[0] * x + m.g[1] * y + m.g[2] * z) / n;
              sum += test_value(x, y, z) * std::polar(1.0, phase);
            }
        worst = std::max(worst, std::abs(f.fourier()[offset] - sum));
      });
    }
    EXPECT_LT(worst, 1e-10) << dim << "D";
  }
}

TEST(OrderedPlaneSum, equals_the_sum_in_plane_order_for_any_layout) {
  // Planes are distributed in rank order: plane p holds {p, 0.1 * p}.
  const auto g = plx::fft::make_slab_geometry(rt().world(), 3, 7);
  std::vector<double> local;
  for (std::ptrdiff_t p = g.fourier_start; p < g.fourier_start + g.fourier_count; ++p) {
    local.push_back(static_cast<double>(p));
    local.push_back(0.1 * static_cast<double>(p));
  }
  const auto total = plx::fft::ordered_plane_sum(rt().world(), local, 2);
  double expected = 0;
  for (int p = 0; p < 7; ++p) expected += 0.1 * p;
  EXPECT_EQ(total[0], 21.0);
  EXPECT_EQ(total[1], expected);  // bitwise: same order as the serial loop
}

TEST(OrderedPlaneSum, tiny_chunks_and_any_layout_give_the_serial_sum_bitwise) {
  // 11 planes of 5 values that do not add exactly in floating point; the serial loop is the reference.
  constexpr std::size_t width = 5;
  const auto value = [](std::ptrdiff_t p, std::size_t w) { return 1.0 / (3.0 + static_cast<double>(p) + 0.7 * static_cast<double>(w)); };
  std::vector<double> serial(width, 0.0);
  for (std::ptrdiff_t p = 0; p < 11; ++p) {
    for (std::size_t w = 0; w < width; ++w) serial[w] += value(p, w);
  }
  const auto g = plx::fft::make_slab_geometry(rt().world(), 3, 11);
  std::vector<double> local;
  for (std::ptrdiff_t p = g.fourier_start; p < g.fourier_start + g.fourier_count; ++p) {
    for (std::size_t w = 0; w < width; ++w) local.push_back(value(p, w));
  }
  for (const std::size_t chunk : {std::size_t{1}, std::size_t{2}, std::size_t{3}, plx::detail::max_mpi_count}) {
    const auto total = plx::fft::ordered_plane_sum(rt().world(), local, width, chunk);
    ASSERT_EQ(total.size(), width);
    EXPECT_EQ(std::memcmp(total.data(), serial.data(), width * sizeof(double)), 0) << "chunks of " << chunk;
  }
}

TEST(Wisdom, is_saved_by_root_and_loaded_everywhere) {
  std::string path = ::testing::TempDir() + "/plx-wisdom-test-" + std::to_string(rt().size());
  const auto g = plx::fft::make_slab_geometry(rt().world(), 2, 16);
  plx::fft::field f(g);
  { const plx::fft::r2c_plans plans(rt().world(), f, plx::fft::plan_mode::measure); }
  plx::fft::save_wisdom(rt().world(), path);
  const bool loaded = plx::fft::load_wisdom(rt().world(), path);
  EXPECT_TRUE(loaded);
  rt().world().barrier();
  if (rt().is_root()) std::remove(path.c_str());
  EXPECT_FALSE(plx::fft::load_wisdom(rt().world(), path + ".missing"));
}

}  // namespace
