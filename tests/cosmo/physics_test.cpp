// The physics of the pipeline: spectrum, Poisson, Zel'dovich, CIC, and bitwise reproducibility.
#include <parallax/cosmo/gaussian_field.hpp>

#include <cmath>
#include <cstring>
#include <memory>
#include <numbers>

#include <gtest/gtest.h>

#include <parallax/cosmo/power_measure.hpp>
#include <parallax/cosmo/zeldovich.hpp>
#include <parallax/fft/modes.hpp>
#include <parallax/fft/plan.hpp>
#include <parallax/fft/serial_plans.hpp>

#include "../support/gaussian_fields.hpp"
#include "../support/grid_gather.hpp"
#include "../support/layouts.hpp"
#include "../support/mpi_test.hpp"

namespace {

using plx::testing_support::rt;
namespace fft = plx::fft;
namespace cosmo = plx::cosmo;

using plx::testing_support::smooth_spectrum;
using plx::testing_support::make_gaussian_fields;

TEST(NormalQuantile, matches_known_values_of_the_inverse_normal_cdf) {
  EXPECT_EQ(cosmo::normal_quantile(0.5), 0.0);
  EXPECT_NEAR(cosmo::normal_quantile(0.975), 1.959963984540054, 1e-15);
  EXPECT_NEAR(cosmo::normal_quantile(0.025), -1.959963984540054, 1e-15);
  EXPECT_NEAR(cosmo::normal_quantile(0.8413447460685429), 1.0, 1e-14);        // central region
  EXPECT_NEAR(cosmo::normal_quantile(1e-10), -6.361340902404056, 1e-12);      // tail
  EXPECT_NEAR(cosmo::normal_quantile(1e-20), -9.262340089798408, 1e-11);      // far tail
}

TEST(WhiteNoise, has_unit_variance_and_a_real_inverse) {
  const auto g = fft::make_slab_geometry(rt().world(), 3, 32);
  fft::field f(g);
  const fft::r2c_plans plans(rt().world(), f, fft::plan_mode::estimate);
  cosmo::fill_white_noise(f, 3);
  const double variance = cosmo::variance_from_fourier(rt().world(), f);
  plans.backward(f);
  double sum2 = 0;
  for (std::ptrdiff_t plane = 0; plane < g.real_count; ++plane) {
    fft::for_each_cell_in_plane(g, plane, [&](std::ptrdiff_t o, auto, auto, auto) { sum2 += f.real()[o] * f.real()[o]; });
  }
  double total = 0;
  MPI_Allreduce(&sum2, &total, 1, MPI_DOUBLE, MPI_SUM, rt().world().native());
  EXPECT_NEAR(variance, 1.0, 5 * std::sqrt(2.0 / g.global_cells()));
  EXPECT_NEAR(total / g.global_cells(), variance, 1e-12) << "Parseval";
}

TEST(Density, measured_power_matches_the_input_within_cosmic_variance) {
  for (const int dim : {2, 3}) {
    const std::ptrdiff_t n = dim == 3 ? 48 : 128;
    const double box = 50;
    const auto spectrum = cosmo::make_spectrum({});  // the workshop spectrum
    auto f = make_gaussian_fields(rt().world(), dim, n, box, *spectrum);
    f.plans->forward(*f.delta);
    const auto measured = cosmo::measure_power(rt().world(), *f.delta, box);
    ASSERT_FALSE(measured.k.empty());
    int outside = 0;
    for (std::size_t b = 0; b < measured.k.size(); ++b) {
      const double expected = (*spectrum)(measured.k[b]);
      const double sigma = std::sqrt(2.0 / measured.modes[b]);  // relative error of a mean of |delta|^2
      // The input is evaluated at the shell's mean k; allow the spread of P across the shell too.
      const double slope = std::abs((*spectrum)(measured.k[b] * 1.01) / expected - 1) / 0.01;
      const double tolerance = 4 * sigma + slope * 0.5 / (measured.k[b] / (2 * std::numbers::pi / box));
      if (std::abs(measured.power[b] / expected - 1) > tolerance) ++outside;
    }
    EXPECT_LE(outside, 1) << dim << "D: bins outside 4 sigma";
  }
}

TEST(Potential, satisfies_poisson_spectrally) {
  const double box = 10;
  const smooth_spectrum spectrum(10.0);
  auto f = make_gaussian_fields(rt().world(), 3, 16, box, spectrum);
  f.plans->forward(*f.delta);
  f.plans->forward(*f.phi);
  const double k_unit = 2 * std::numbers::pi / box;
  double worst = 0;
  double scale = 0;
  fft::for_each_mode(f.g, [&](std::ptrdiff_t o, const fft::mode& m) {
    const std::complex<double> laplacian = -m.k2() * k_unit * k_unit * f.phi->fourier()[o];
#pragma omp critical
    {
      worst = std::max(worst, std::abs(laplacian - f.delta->fourier()[o]));
      scale = std::max(scale, std::abs(f.delta->fourier()[o]));
    }
  });
  double all[2] = {worst, scale};
  double max[2] = {};
  MPI_Allreduce(all, max, 2, MPI_DOUBLE, MPI_MAX, rt().world().native());
  EXPECT_LT(max[0], 1e-10 * max[1]);
}

TEST(Potential, satisfies_poisson_by_finite_differences_for_a_smooth_field) {
  const std::ptrdiff_t n = 64;
  const double box = 1.0;
  const smooth_spectrum spectrum(2 * std::numbers::pi * 3);  // a few wavelengths per box: kh ~ 0.3 at most
  auto f = make_gaussian_fields(rt().world(), 2, n, box, spectrum);
  const auto delta = plx::testing_support::gather_real(rt().world(), *f.delta);
  const auto phi = plx::testing_support::gather_real(rt().world(), *f.phi);
  if (!rt().is_root()) return;
  const double h = box / n;
  double worst = 0;
  double scale = 0;
  const auto at = [&](const std::vector<double>& v, std::ptrdiff_t x, std::ptrdiff_t y) {
    return v[static_cast<std::size_t>(((x + n) % n) * n + (y + n) % n)];
  };
  for (std::ptrdiff_t x = 0; x < n; ++x)
    for (std::ptrdiff_t y = 0; y < n; ++y) {
      const double laplacian =
          (at(phi, x + 1, y) + at(phi, x - 1, y) + at(phi, x, y + 1) + at(phi, x, y - 1) - 4 * at(phi, x, y)) / (h * h);
      worst = std::max(worst, std::abs(laplacian - at(delta, x, y)));
      scale = std::max(scale, std::abs(at(delta, x, y)));
    }
  EXPECT_LT(worst, 0.02 * scale) << "second-order differences should agree to ~(kh)^2/12";
}

// `dim` displacement fields of smooth made-up values, amplitude * sin(frequency * i + axis).
std::vector<std::unique_ptr<fft::field>> made_up_displacements(const fft::slab_geometry& g, int dim, double amplitude,
                                                               double frequency) {
  std::vector<std::unique_ptr<fft::field>> psi;
  for (int a = 0; a < dim; ++a) {
    psi.push_back(std::make_unique<fft::field>(g));
    for (std::size_t i = 0; i < psi.back()->size(); ++i) {
      psi.back()->real()[i] = amplitude * std::sin(frequency * double(i) + a);
    }
  }
  return psi;
}

std::vector<const fft::field*> views_of(const std::vector<std::unique_ptr<fft::field>>& fields) {
  std::vector<const fft::field*> views;
  for (const auto& p : fields) views.push_back(p.get());
  return views;
}

TEST(Zeldovich, zero_growth_gives_uniform_density_and_cic_conserves_mass) {
  for (const int dim : {2, 3}) {
    const std::ptrdiff_t n = dim == 3 ? 12 : 40;
    const double box = 50;
    const auto spectrum = cosmo::make_spectrum({});
    auto f = make_gaussian_fields(rt().world(), dim, n, box, *spectrum);
    const auto psi = made_up_displacements(f.g, dim, 3.0, 0.37);
    const auto views = views_of(psi);
    fft::field out(f.g);
    cosmo::zeldovich_density(rt().world(), views, 0.0, box, out);
    const auto uniform = plx::testing_support::gather_real(rt().world(), out);
    cosmo::zeldovich_density(rt().world(), views, 2.5, box, out);
    const auto moved = plx::testing_support::gather_real(rt().world(), out);
    if (!rt().is_root()) continue;
    for (const double v : uniform) ASSERT_EQ(v, 1.0);
    double mass = 0;
    for (const double v : moved) mass += v;
    EXPECT_NEAR(mass, f.g.global_cells(), 1e-9 * f.g.global_cells()) << dim << "D";
    EXPECT_GT(*std::max_element(moved.begin(), moved.end()), 1.5) << "particles did move";
  }
}

TEST(Zeldovich, tiny_message_chunks_give_the_bitwise_same_density) {
  // Chunks of 1, 2 and 5 particles (and doubles of the spilled plane) split every message; the density
  // must not change by a bit. 3D 12^3 moves 1728 particles, 2D 33^2 an odd number per rank.
  for (const int dim : {2, 3}) {
    const std::ptrdiff_t n = dim == 3 ? 12 : 33;
    const double box = 50;
    const auto spectrum = cosmo::make_spectrum({});
    auto f = make_gaussian_fields(rt().world(), dim, n, box, *spectrum);
    const auto psi = made_up_displacements(f.g, dim, 4.0, 0.29);
    const auto views = views_of(psi);
    fft::field out(f.g);
    cosmo::zeldovich_density(rt().world(), views, 2.0, box, out);
    const auto reference = plx::testing_support::gather_real(rt().world(), out);
    for (const std::size_t chunk : {std::size_t{1}, std::size_t{2}, std::size_t{5}}) {
      fft::field chunked(f.g);
      cosmo::zeldovich_density(rt().world(), views, 2.0, box, chunked, chunk);
      const auto got = plx::testing_support::gather_real(rt().world(), chunked);
      if (!rt().is_root()) continue;
      ASSERT_EQ(got.size(), reference.size());
      EXPECT_EQ(std::memcmp(got.data(), reference.data(), got.size() * sizeof(double)), 0)
          << dim << "D, chunks of " << chunk;
    }
  }
}

// Displacement component `axis` at global cell (x, y, z), in box units: the same function on every layout,
// rough enough that neighbouring particles cross each other.
double rough_displacement(int axis, std::ptrdiff_t x, std::ptrdiff_t y, std::ptrdiff_t z) {
  const auto fx = static_cast<double>(x);
  const auto fy = static_cast<double>(y);
  const auto fz = static_cast<double>(z);
  return std::sin(0.37 * fx + 1.3 * fy * fy + 0.11 * fz * fx + axis) + 0.3 * std::cos(2.1 * fz - 0.7 * fx * fy);
}

std::vector<std::unique_ptr<fft::field>> rough_displacements(const fft::slab_geometry& g) {
  std::vector<std::unique_ptr<fft::field>> psi;
  for (int a = 0; a < g.dim; ++a) {
    fft::field& f = *psi.emplace_back(std::make_unique<fft::field>(g));
    for (std::ptrdiff_t plane = 0; plane < g.real_count; ++plane) {
      fft::for_each_cell_in_plane(g, plane, [&](std::ptrdiff_t o, auto x, auto y, auto z) {
        f.real()[o] = rough_displacement(a, x, y, z);
      });
    }
  }
  return psi;
}

TEST(Zeldovich, frames_are_bitwise_the_serial_deposit_for_any_ranks_and_threads) {
  // One zeldovich_frames reused over growths whose reach goes from nothing past half the box (particles
  // cross slabs, threads' blocks and the periodic edge, several planes at once) and back, and over 1-3
  // threads, in messages of 3 particles: every frame bitwise the serial box's (plx-ensemble's deposit).
  const plx::communicator& comm = rt().world();
  for (const int dim : {2, 3}) {
    const std::ptrdiff_t n = dim == 3 ? 14 : 37;
    const double box = 50;
    const fft::slab_geometry g = fft::make_slab_geometry(comm, dim, n);
    const auto psi = rough_displacements(g);
    const auto views = views_of(psi);
    cosmo::zeldovich_frames frames(comm, views, box, 3);
    fft::field out(g);
    const fft::slab_geometry whole = fft::serial_slab_geometry(dim, n);
    const auto serial_psi = rough_displacements(whole);
    const auto serial_views = views_of(serial_psi);
    fft::field serial_out(whole);
    for (const double growth : {0.0, 0.4, 3.0, 30.0, 9.0, 1.5, -2.0}) {
      std::vector<double> expected;
      if (comm.is_root()) {
        cosmo::zeldovich_density(fft::slab_ranks::serial(), serial_views, growth, box, serial_out);
        for (std::ptrdiff_t plane = 0; plane < whole.real_count; ++plane) {
          fft::for_each_cell_in_plane(whole, plane, [&](std::ptrdiff_t o, auto, auto, auto) {
            expected.push_back(serial_out.real()[o]);
          });
        }
      }
      for (const int threads : {1, 2, 3}) {
        omp_set_num_threads(threads);
        frames.density(growth, out);
        const auto got = plx::testing_support::gather_real(comm, out);
        if (!comm.is_root()) continue;
        ASSERT_EQ(got.size(), expected.size());
        EXPECT_EQ(std::memcmp(got.data(), expected.data(), got.size() * sizeof(double)), 0)
            << dim << "D, D = " << growth << ", " << comm.size() << " ranks x " << threads << " threads";
      }
    }
  }
  omp_set_num_threads(rt().threads());
}

// Everything the pipeline writes, for one layout: density, potential, displacement, one frame.
std::vector<double> pipeline_outputs(const plx::communicator& comm, int dim, std::ptrdiff_t n) {
  const double box = 50;
  const auto spectrum = cosmo::make_spectrum({});
  auto f = make_gaussian_fields(comm, dim, n, box, *spectrum, 11);
  std::vector<double> all = plx::testing_support::gather_real(comm, *f.delta);
  const auto phi_real = plx::testing_support::gather_real(comm, *f.phi);
  all.insert(all.end(), phi_real.begin(), phi_real.end());
  fft::field phi_k(f.g);
  phi_k.copy_from(*f.phi);
  f.plans->forward(phi_k);
  cosmo::scale(phi_k, 1.0 / f.g.global_cells());
  std::vector<std::unique_ptr<fft::field>> psi;
  for (int a = 0; a < dim; ++a) {
    psi.push_back(std::make_unique<fft::field>(f.g));
    cosmo::minus_gradient(phi_k, *psi.back(), a, box);
    f.plans->backward(*psi.back());
    const auto component = plx::testing_support::gather_real(comm, *psi.back());
    all.insert(all.end(), component.begin(), component.end());
  }
  std::vector<const fft::field*> views;
  for (const auto& p : psi) views.push_back(p.get());
  fft::field frame(f.g);
  cosmo::zeldovich_density(comm, views, 3.0, box, frame);
  const auto frame_real = plx::testing_support::gather_real(comm, frame);
  all.insert(all.end(), frame_real.begin(), frame_real.end());
  return all;
}

TEST(Reproducibility, outputs_are_bitwise_identical_for_any_ranks_and_threads) {
  for (const int dim : {2, 3}) {
    const std::ptrdiff_t n = dim == 3 ? 16 : 33;
    plx::testing_support::expect_bitwise_same_as_one_rank(
        [&](const plx::communicator& comm) { return pipeline_outputs(comm, dim, n); }, std::to_string(dim) + "D");
  }
}

}  // namespace
