// plx-ensemble's library on this test's ranks: the physics of the covariance of P(k) (Gaussian errors,
// uncorrelated bins, an unbiased mean; correlated bins under unit-variance normalisation), rows bitwise
// the realizations of their seeds, and a write failure on one rank only followed by a resume.
#include <parallax/cosmo/ensemble.hpp>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <parallax/core/collectives.hpp>
#include <parallax/core/detail/fault_injection.hpp>
#include <parallax/cosmo/realization.hpp>
#include <parallax/io/hdf5_file.hpp>
#include <parallax/io/slab_io.hpp>

#include "../support/mpi_test.hpp"

namespace {

using plx::testing_support::rt;
namespace cosmo = plx::cosmo;

// Root's scratch name, on every rank; removed (with any work files) when the test ends.
class scratch_file {
 public:
  explicit scratch_file(const std::string& name) {
    path_ = ::testing::TempDir() + "/plx_ensemble_test." + std::to_string(::getpid()) + "." + name + ".h5";
    plx::detail::broadcast_from_root(rt().world(), path_);
  }
  ~scratch_file() {
    rt().world().barrier();
    if (!rt().is_root()) return;
    std::error_code ignored;
    for (const char* suffix : {"", ".partial", ".journal"}) std::filesystem::remove(path_ + suffix, ignored);
  }
  scratch_file(const scratch_file&) = delete;
  scratch_file& operator=(const scratch_file&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

cosmo::ensemble_params small_ensemble(const std::string& out, const std::string& normalisation, std::size_t m) {
  cosmo::ensemble_params p;
  p.field.dim = 3;
  p.field.n = 16;
  p.field.box = 40.0;
  p.field.seed = 1000;
  p.field.normalisation = normalisation;
  p.field.times = {1.0, 3.0};
  p.field.out = out;
  p.realizations = m;
  return p;
}

struct read_back {
  std::vector<double> mean, matrix, correlation, gaussian, input, modes, evolved_correlation, power, seed_rows;
  explicit read_back(const std::string& path) {
    const plx::communicator self = plx::communicator::duplicate_of(MPI_COMM_SELF);
    const plx::io::h5_file f = plx::io::h5_file::open_read(self, path);
    mean = plx::io::read_all(f, "/covariance/mean");
    matrix = plx::io::read_all(f, "/covariance/matrix");
    correlation = plx::io::read_all(f, "/covariance/correlation");
    gaussian = plx::io::read_all(f, "/covariance/gaussian_diagonal");
    input = plx::io::read_all(f, "/power_spectrum/input");
    modes = plx::io::read_all(f, "/power_spectrum/modes");
    evolved_correlation = plx::io::read_all(f, "/covariance/evolved/correlation");
    power = plx::io::read_all(f, "/realizations/power");
  }
};

// Mean of the off-diagonal entries of the b x b correlation matrix starting at `at`.
double mean_off_diagonal(const std::vector<double>& r, std::size_t b, std::size_t at = 0) {
  double sum = 0;
  for (std::size_t i = 0; i < b; ++i) {
    for (std::size_t j = 0; j < b; ++j) {
      if (i != j) sum += r[at + i * b + j];
    }
  }
  return sum / static_cast<double>(b * (b - 1));
}

TEST(Ensemble, gaussian_field_has_gaussian_errors_and_uncorrelated_bins) {
  constexpr std::size_t m = 400;
  const scratch_file out("none");
  const cosmo::ensemble_report report = cosmo::run_ensemble(rt().world(), small_ensemble(out.path(), "none", m));
  EXPECT_EQ(report.realizations, m);
  EXPECT_EQ(report.computed, m);
  if (!rt().is_root()) return;
  const read_back f(out.path());
  const std::size_t b = f.mean.size();
  ASSERT_EQ(b, 8u);
  for (std::size_t i = 0; i < b; ++i) {
    // P of a shell averages N_modes / 2 independent exponential |delta_k|^2 (k and -k are one): a Gamma
    // variable of shape N_modes / 2, excess kurtosis 12 / N_modes, so the sample variance has relative
    // error sqrt((2 + 12 / N_modes) / M). Seeds are fixed: the bounds are about 4 sigma, never flaky.
    const double ratio = f.matrix[i * b + i] / f.gaussian[i];
    const double error = std::sqrt((2.0 + 12.0 / f.modes[i]) / static_cast<double>(m));
    EXPECT_NEAR(ratio, 1.0, 4 * error) << "bin " << i << ": variance / (2 P^2 / N_modes)";
    const double pull = (f.mean[i] - f.input[i]) / std::sqrt(f.matrix[i * b + i] / static_cast<double>(m));
    EXPECT_LT(std::abs(pull), 4.0) << "bin " << i << ": mean P(k) against the input";
    for (std::size_t j = 0; j < b; ++j) {
      if (i != j) {
        EXPECT_LT(std::abs(f.correlation[i * b + j]), 4.0 / std::sqrt(static_cast<double>(m))) << i << "," << j;
      }
    }
  }
  // Evolved fields couple their modes: their bins correlate, the initial ones do not.
  const double pairs = static_cast<double>(b * (b - 1)) / 2;
  const double initial = mean_off_diagonal(f.correlation, b);
  EXPECT_LT(std::abs(initial), 4.0 / std::sqrt(static_cast<double>(m) * pairs));
  EXPECT_GT(mean_off_diagonal(f.evolved_correlation, b, b * b), initial + 0.05);
}

TEST(Ensemble, unit_variance_normalisation_correlates_the_bins) {
  constexpr std::size_t m = 400;
  const scratch_file out("unit");
  (void)cosmo::run_ensemble(rt().world(), small_ensemble(out.path(), "unit-variance", m));
  if (!rt().is_root()) return;
  const read_back f(out.path());
  // Dividing each realization by its own variance ties the bins together: a high P in one bin means a lower
  // P in the others, a negative correlation well beyond the noise of an uncorrelated estimate.
  const std::size_t b = f.mean.size();
  const double pairs = static_cast<double>(b * (b - 1)) / 2;
  EXPECT_LT(mean_off_diagonal(f.correlation, b), -6.0 / std::sqrt(static_cast<double>(m) * pairs));
}

TEST(Ensemble, rows_are_the_realizations_of_their_seeds) {
  constexpr std::size_t m = 12;
  const scratch_file out("rows");
  cosmo::ensemble_params p = small_ensemble(out.path(), "none", m);
  p.field.n = 8;  // 4 bins: M = 12 is enough for a precision matrix
  (void)cosmo::run_ensemble(rt().world(), p);
  if (!rt().is_root()) return;
  const read_back f(out.path());
  const cosmo::realization_maker maker(p.field);
  const std::size_t b = maker.bins();
  for (const std::size_t i : {std::size_t{0}, std::size_t{5}, m - 1}) {
    const std::vector<double> expected = maker.run(p.field.seed + i).power;
    EXPECT_EQ(std::memcmp(expected.data(), f.power.data() + i * b, b * sizeof(double)), 0) << "row " << i;
  }
}

TEST(Ensemble, a_write_failure_on_one_rank_keeps_the_rows_for_a_resume) {
  constexpr std::size_t m = 12;
  const scratch_file out("fault");
  cosmo::ensemble_params p = small_ensemble(out.path(), "none", m);
  p.field.n = 8;
  // The last rank's first HDF5 write fails (ENOSPC): on 2+ ranks that is a covariance write, collective.
  if (rt().world().rank() == rt().world().size() - 1) plx::detail::arm_fault("hdf5.write");
  std::string failure;
  try {
    (void)cosmo::run_ensemble(rt().world(), p);
  } catch (const plx::error& e) {
    failure = e.what();
  }
  plx::detail::disarm_faults();
  EXPECT_NE(failure.find("No space left on device"), std::string::npos) << failure;
  const bool final_exists = std::filesystem::exists(out.path());
  p.resume = true;
  const cosmo::ensemble_report resumed = cosmo::run_ensemble(rt().world(), p);
  EXPECT_FALSE(final_exists) << "a failed run left a finished-looking file";
  EXPECT_EQ(resumed.realizations, m);
  if (rt().world().size() > 1) {
    EXPECT_EQ(resumed.computed, 0u) << "rows already on disk were computed again";
  }
  if (!rt().is_root()) return;
  const read_back f(out.path());
  EXPECT_EQ(f.power.size(), m * 4);
}

TEST(Ensemble, refuses_too_few_realizations_for_a_precision_matrix) {
  const scratch_file out("few");
  cosmo::ensemble_params p = small_ensemble(out.path(), "none", 10);  // 8 bins need M > 10
  std::string message;
  try {
    (void)cosmo::run_ensemble(rt().world(), p);
  } catch (const plx::config_error& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("the precision matrix is undefined"), std::string::npos) << message;
  EXPECT_NE(message.find("--realizations 11 or more"), std::string::npos) << message;
  EXPECT_FALSE(std::filesystem::exists(out.path() + ".journal"));
}

}  // namespace
