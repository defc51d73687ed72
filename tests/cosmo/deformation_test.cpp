// The deformation tensor and the T-web classes on this test's ranks: an analytic plane wave, the trace equal
// to the density (Poisson) in every cell, Doroshkevich's class fractions for a Gaussian field, bitwise the
// same for every ranks x threads layout, the HDF5 datasets, and a failure on one rank ending every rank.
#include <parallax/cosmo/deformation.hpp>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <numbers>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <parallax/core/collectives.hpp>
#include <parallax/core/detail/fault_injection.hpp>
#include <parallax/cosmo/gaussian_field.hpp>
#include <parallax/fft/modes.hpp>
#include <parallax/fft/plan.hpp>
#include <parallax/io/hdf5_file.hpp>
#include <parallax/io/slab_io.hpp>

#include "../support/gaussian_fields.hpp"
#include "../support/grid_gather.hpp"
#include "../support/layouts.hpp"
#include "../support/mpi_test.hpp"

namespace {

using plx::testing_support::rt;
namespace cosmo = plx::cosmo;
namespace fft = plx::fft;

using gaussian_box = plx::testing_support::gaussian_fields;

// A Gaussian field in a box of N cells of size 1 with P(k) = exp(-(k/k0)^2). The tensor's variance weighs P by
// k^4 (k^6 with the shell), which peaks at sqrt(3) k0: k0 = k_Nyquist / 4 keeps the grid's cubic cutoff 3e-4
// below that peak, so the field is isotropic as Doroshkevich's result assumes.
gaussian_box make_box(const plx::communicator& comm, int dim, std::ptrdiff_t n, std::uint64_t seed) {
  return plx::testing_support::make_gaussian_fields(comm, dim, n, static_cast<double>(n),
                                                    plx::testing_support::smooth_spectrum(std::numbers::pi / 4), seed);
}

// The classes of a box's potential (its phi is left as it was).
cosmo::web_classes classes_of(const plx::communicator& comm, const gaussian_box& b, double threshold) {
  fft::field scratch(b.g);
  scratch.copy_from(*b.phi);
  return cosmo::deformation_classes(comm, *b.plans, scratch, static_cast<double>(b.g.n), threshold);
}

std::vector<double> as_doubles(const std::vector<std::uint8_t>& values) { return {values.begin(), values.end()}; }

TEST(TensorComponent, numbers_the_upper_triangle_row_by_row) {
  EXPECT_EQ(cosmo::tensor_components(2), 3);
  EXPECT_EQ(cosmo::tensor_components(3), 6);
  EXPECT_EQ(cosmo::tensor_component(2, 0, 0), 0);
  EXPECT_EQ(cosmo::tensor_component(2, 1, 0), 1);
  EXPECT_EQ(cosmo::tensor_component(2, 1, 1), 2);
  const int expected[3][3] = {{0, 1, 2}, {1, 3, 4}, {2, 4, 5}};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) EXPECT_EQ(cosmo::tensor_component(3, i, j), expected[i][j]) << i << j;
}

TEST(Deformation, plane_wave_has_one_nonzero_eigenvalue_of_known_value) {
  // phi = cos(k.x), k = 2 pi / L (1, 2, -1): T = -k k^T phi, eigenvalues -|k|^2 phi, 0, 0 (sorted descending:
  // the nonzero one first where phi < 0, last where phi > 0).
  const std::ptrdiff_t n = 16;
  const double box = 8.0;
  const auto g = fft::make_slab_geometry(rt().world(), 3, n);
  fft::field phi(g);
  const fft::r2c_plans plans(rt().world(), phi, fft::plan_mode::estimate);
  const double k_unit = 2 * std::numbers::pi / box;
  const double k[3] = {k_unit, 2 * k_unit, -k_unit};
  const double h = box / static_cast<double>(n);
  const auto wave = [&](std::ptrdiff_t x, std::ptrdiff_t y, std::ptrdiff_t z) {
    return std::cos(k[0] * static_cast<double>(x) * h + k[1] * static_cast<double>(y) * h + k[2] * static_cast<double>(z) * h);
  };
  fft::for_each_cell(g, [&](std::ptrdiff_t o, auto x, auto y, auto z) { phi.real()[o] = wave(x, y, z); });
  // The double eigenvalue 0 is the closed form's worst case: it resolves it to about sqrt(eps) = 1.5e-8 of
  // the largest |eigenvalue| only (measured: 6e-9 of |k|^2). The tolerance and the threshold are above that.
  const double k2 = k[0] * k[0] + k[1] * k[1] + k[2] * k[2];
  const double threshold = 1e-6 * k2;
  const cosmo::web_classes web = cosmo::deformation_classes(rt().world(), plans, phi, box, threshold);

  double worst = 0;
  bool classes_right = true;
  std::size_t cell = 0;
  for (std::ptrdiff_t plane = 0; plane < g.real_count; ++plane) {
    fft::for_each_cell_in_plane(g, plane, [&](std::ptrdiff_t, auto x, auto y, auto z) {
      const double value = -k2 * wave(x, y, z);
      const double expected[3] = {std::max(value, 0.0), 0.0, std::min(value, 0.0)};
      for (int a = 0; a < 3; ++a) worst = std::max(worst, std::abs(web.eigenvalues[3 * cell + a] - expected[a]));
      classes_right = classes_right && web.classes[cell] == (value > threshold ? 1 : 0);
      ++cell;
    });
  }
  EXPECT_LT(worst, 1e-7 * k2);
  EXPECT_TRUE(classes_right);
  std::int64_t total = 0;
  for (const auto count : web.class_counts) total += count;
  EXPECT_EQ(total, n * n * n);
  EXPECT_EQ(web.class_counts[2] + web.class_counts[3], 0);
}

TEST(Deformation, trace_is_the_density_in_every_cell) {
  for (const int dim : {2, 3}) {
    const std::ptrdiff_t n = dim == 3 ? 24 : 63;  // odd N: no Nyquist plane
    for (const std::ptrdiff_t size : {n, n + 1}) {
      const gaussian_box b = make_box(rt().world(), dim, size, 5);
      const cosmo::web_classes web = classes_of(rt().world(), b, 0.0);
      // Round-off of the transforms (a few eps times log N of the field's scale) and of the closed-form
      // eigenvalues (a few eps of the largest |eigenvalue|): 1e-12 of the largest |eigenvalue| is far above
      // both, and far below any real difference (the density's typical value is ~1/3 of the largest).
      double worst = 0;
      double scale = 0;
      std::size_t cell = 0;
      for (std::ptrdiff_t plane = 0; plane < b.g.real_count; ++plane) {
        fft::for_each_cell_in_plane(b.g, plane, [&](std::ptrdiff_t o, auto, auto, auto) {
          double trace = 0;
          for (int a = 0; a < dim; ++a) {
            trace += web.eigenvalues[static_cast<std::size_t>(dim) * cell + static_cast<std::size_t>(a)];
            scale = std::max(scale, std::abs(web.eigenvalues[static_cast<std::size_t>(dim) * cell + static_cast<std::size_t>(a)]));
          }
          worst = std::max(worst, std::abs(trace - b.delta->real()[o]));
          ++cell;
        });
      }
      double all[2] = {worst, scale};
      double max[2] = {};
      MPI_Allreduce(all, max, 2, MPI_DOUBLE, MPI_MAX, rt().world().native());
      EXPECT_GT(max[1], 0.0);
      EXPECT_LT(max[0], 1e-12 * max[1]) << dim << "D, N = " << size;
      // Sorted descending in every cell.
      bool sorted = true;
      for (std::size_t c = 0; c < web.classes.size(); ++c) {
        for (int a = 1; a < dim; ++a) {
          const std::size_t i = static_cast<std::size_t>(dim) * c + static_cast<std::size_t>(a);
          sorted = sorted && web.eigenvalues[i - 1] >= web.eigenvalues[i];
        }
      }
      EXPECT_TRUE(sorted) << dim << "D";
    }
  }
}

TEST(Deformation, gaussian_field_gives_doroshkevichs_fractions) {
  // 3D: 0.0797, 0.4203, 0.4203, 0.0797 (Doroshkevich 1970's 8%, 42%, 42%, 8%, here by a Monte Carlo of the
  // tensor's Gaussian distribution with 4e6 draws; the 2D values are exact: (1 - 1/sqrt 3)/2, 1/sqrt 3).
  const std::vector<double> expected3 = {0.0797, 0.4203, 0.4203, 0.0797};
  const double corner = (1 - 1 / std::sqrt(3.0)) / 2;
  const std::vector<double> expected2 = {corner, 1 / std::sqrt(3.0), corner};
  for (const int dim : {2, 3}) {
    const std::ptrdiff_t n = dim == 3 ? 64 : 512;
    const gaussian_box b = make_box(rt().world(), dim, n, 2024);
    const cosmo::web_classes web = classes_of(rt().world(), b, 0.0);
    const std::vector<double>& expected = dim == 3 ? expected3 : expected2;
    ASSERT_EQ(web.class_fraction.size(), expected.size());
    // Tolerance from the sample size: neighbouring cells are correlated, so the box holds fewer independent
    // samples than cells. Over 10 seeds the fractions scatter by at most 0.0018 (standard deviation, the 3D
    // filament fraction; the binomial p(1 - p)/sigma^2 says about 75,000 independent samples of 262,144
    // cells), and their means agree with the expected values within 2 standard errors. 0.008 is 4.5
    // standard deviations, and far below what a wrong sign or order of the eigenvalues would change.
    double total = 0;
    for (std::size_t c = 0; c < expected.size(); ++c) {
      EXPECT_NEAR(web.class_fraction[c], expected[c], 0.008) << dim << "D class " << c;
      total += web.class_fraction[c];
    }
    EXPECT_NEAR(total, 1.0, 1e-15);
  }
}

// The eigenvalues and classes of a Gaussian box for one layout, gathered on root (empty elsewhere).
std::vector<double> layout_outputs(const plx::communicator& comm, int dim, std::ptrdiff_t n) {
  const gaussian_box b = make_box(comm, dim, n, 11);
  const cosmo::web_classes web = classes_of(comm, b, 0.1);
  std::vector<double> all = plx::testing_support::gather_on_root(comm, web.eigenvalues);
  const auto classes = plx::testing_support::gather_on_root(comm, as_doubles(web.classes));
  all.insert(all.end(), classes.begin(), classes.end());
  for (const double f : web.class_fraction) all.push_back(f);
  return all;
}

TEST(Deformation, bitwise_identical_for_any_ranks_and_threads) {
  for (const int dim : {2, 3}) {
    const std::ptrdiff_t n = dim == 3 ? 17 : 33;  // odd: uneven splits
    plx::testing_support::expect_bitwise_same_as_one_rank(
        [&](const plx::communicator& comm) { return layout_outputs(comm, dim, n); }, std::to_string(dim) + "D");
  }
}

TEST(Deformation, writes_eigenvalues_and_uint8_classes_in_densitys_shape) {
  std::string path = ::testing::TempDir() + "/plx_deformation_test." + std::to_string(::getpid()) + ".h5";
  plx::detail::broadcast_from_root(rt().world(), path);
  const std::ptrdiff_t n = 9;
  const gaussian_box b = make_box(rt().world(), 3, n, 3);
  const cosmo::web_classes web = classes_of(rt().world(), b, 0.05);
  {
    auto file = plx::io::h5_file::create(rt().world(), path);
    cosmo::write_deformation(file, b.g, web);
    file.close();
  }
  const auto eigenvalues = plx::testing_support::gather_on_root(rt().world(), web.eigenvalues);
  const auto classes = plx::testing_support::gather_on_root(rt().world(), as_doubles(web.classes));
  auto file = plx::io::h5_file::open_read(rt().world(), path);
  EXPECT_EQ(plx::io::dataset_dims(file, "/deformation/eigenvalues"), (std::vector<hsize_t>{9, 9, 9, 3}));
  EXPECT_EQ(plx::io::dataset_dims(file, "/deformation/class"), (std::vector<hsize_t>{9, 9, 9}));
  EXPECT_EQ(plx::io::get_attribute_double(file, "/deformation/class", "threshold"), 0.05);
  EXPECT_EQ(plx::io::get_attribute_doubles(file, "/deformation/class", "class_fraction"), web.class_fraction);
  if (rt().is_root()) {
    EXPECT_EQ(plx::io::read_all(file, "/deformation/eigenvalues"), eigenvalues);
    const hid_t dataset = H5Dopen2(file.native(), "/deformation/class", H5P_DEFAULT);
    const hid_t type = H5Dget_type(dataset);
    EXPECT_EQ(H5Tget_class(type), H5T_INTEGER);
    EXPECT_EQ(H5Tget_size(type), 1U);
    EXPECT_EQ(H5Tget_sign(type), H5T_SGN_NONE);
    std::vector<std::uint8_t> stored(classes.size());
    EXPECT_GE(H5Dread(dataset, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, stored.data()), 0);
    EXPECT_EQ(as_doubles(stored), classes);
    H5Tclose(type);
    H5Dclose(dataset);
  }
  file.close();
  rt().world().barrier();
  if (rt().is_root()) std::filesystem::remove(path);
}

TEST(Deformation, a_failure_on_one_rank_ends_every_rank) {
  // The counts' reduction fails on the last rank only (after the allreduce itself completed everywhere): every
  // rank must throw, not go on into the next collective without it. Its MPI_Allreduce is the second: the
  // first is the agreement on the tensor's allocation.
  const gaussian_box b = make_box(rt().world(), 3, 12, 1);
  fft::field scratch(b.g);
  scratch.copy_from(*b.phi);
  if (rt().rank() == rt().size() - 1) plx::detail::arm_fault("MPI_Allreduce", 1, 1);
  bool threw = false;
  bool collective = false;
  try {
    (void)cosmo::deformation_classes(rt().world(), *b.plans, scratch, 12.0, 0.0);
  } catch (const plx::error& e) {
    threw = true;
    collective = e.is_collective();
  }
  plx::detail::disarm_faults();
  EXPECT_TRUE(threw);
  EXPECT_TRUE(collective);
}

TEST(Deformation, an_allocation_that_fails_on_one_rank_fails_on_every_rank) {
  // The tensor's fields come first, agreed: one rank out of memory must not leave the others in the
  // transforms (plx-web ended with MPI_Abort there; found by the fault sweep, alloc.buffer at 3 ranks).
  const gaussian_box b = make_box(rt().world(), 3, 12, 1);
  fft::field scratch(b.g);
  scratch.copy_from(*b.phi);
  if (rt().rank() == rt().size() - 1) plx::detail::arm_fault("alloc.buffer");
  std::string message;
  bool collective = false;
  try {
    (void)cosmo::deformation_classes(rt().world(), *b.plans, scratch, 12.0, 0.0);
  } catch (const plx::error& e) {
    message = e.what();
    collective = e.is_collective();
  }
  plx::detail::disarm_faults();
  EXPECT_NE(message.find("cannot allocate a field"), std::string::npos) << message;
  EXPECT_TRUE(collective || rt().size() == 1);
}

}  // namespace
