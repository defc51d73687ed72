// The ensemble estimators on samples whose answers are known.
#include <parallax/cosmo/covariance.hpp>

#include <cmath>
#include <limits>
#include <string>

#include <gtest/gtest.h>

#include <parallax/core/error.hpp>

namespace {

namespace cosmo = plx::cosmo;

std::string config_message(std::size_t m, std::size_t bins) {
  try {
    cosmo::check_ensemble_size(m, bins);
  } catch (const plx::config_error& e) {
    return e.what();
  }
  return "accepted";
}

TEST(Covariance, refuses_ensembles_without_a_precision_matrix) {
  EXPECT_NE(config_message(1, 0).find("--realizations must be at least 2 for a covariance, not 1"), std::string::npos);
  EXPECT_NE(config_message(10, 8).find("the precision matrix is undefined"), std::string::npos);
  EXPECT_NE(config_message(10, 8).find("use --realizations 11 or more"), std::string::npos);
  EXPECT_EQ(config_message(11, 8), "accepted");
}

TEST(Covariance, estimates_a_known_sample) {
  // 6 samples of 2 bins: mean (2, 10); deviations (+-1, 0), (0, +-2), (+-1, +-2 together).
  Eigen::MatrixXd samples(6, 2);
  samples << 3, 10, 1, 10, 2, 12, 2, 8, 3, 12, 1, 8;
  const cosmo::covariance_estimate e = cosmo::estimate_covariance(samples, {4.0, 8.0});
  EXPECT_DOUBLE_EQ(e.mean(0), 2.0);
  EXPECT_DOUBLE_EQ(e.mean(1), 10.0);
  // Unbiased: sums of squares 4 and 16, cross 4, over M - 1 = 5.
  EXPECT_DOUBLE_EQ(e.matrix(0, 0), 0.8);
  EXPECT_DOUBLE_EQ(e.matrix(1, 1), 3.2);
  EXPECT_DOUBLE_EQ(e.matrix(0, 1), 0.8);
  EXPECT_DOUBLE_EQ(e.correlation(0, 0), 1.0);
  EXPECT_NEAR(e.correlation(0, 1), 0.8 / std::sqrt(0.8 * 3.2), 1e-15);
  // Eigenvalues of [[0.8, 0.8], [0.8, 3.2]], ascending.
  const double mid = 2.0;
  const double radius = std::sqrt(1.2 * 1.2 + 0.8 * 0.8);
  EXPECT_NEAR(e.eigenvalues(0), mid - radius, 1e-14);
  EXPECT_NEAR(e.eigenvalues(1), mid + radius, 1e-14);
  // Precision x covariance = Hartlap factor (6 - 2 - 2) / (6 - 1) times the identity.
  const Eigen::MatrixXd product = e.precision * e.matrix;
  EXPECT_NEAR(product(0, 0), 0.4, 1e-14);
  EXPECT_NEAR(product(1, 1), 0.4, 1e-14);
  EXPECT_NEAR(product(0, 1), 0.0, 1e-14);
  EXPECT_DOUBLE_EQ(e.gaussian_diagonal(0), 2.0 * 4.0 / 4.0);
  EXPECT_DOUBLE_EQ(e.gaussian_diagonal(1), 2.0 * 100.0 / 8.0);
}

TEST(Covariance, a_singular_covariance_has_no_precision) {
  Eigen::MatrixXd samples = Eigen::MatrixXd::Zero(5, 2);  // every realization the same (D = 0: no power)
  const cosmo::covariance_estimate e = cosmo::estimate_covariance(samples, {2.0, 4.0});
  EXPECT_TRUE(std::isnan(e.precision(0, 0)));
  EXPECT_EQ(e.matrix(0, 0), 0.0);
}

}  // namespace
