#include <parallax/cosmo/covariance.hpp>

#include <cmath>
#include <limits>

#include <Eigen/Eigenvalues>
#include <Eigen/LU>
#include <fmt/format.h>

#include <parallax/core/error.hpp>

namespace plx::cosmo {

void check_ensemble_size(std::size_t realizations, std::size_t bins) {
  if (realizations < 2) {
    throw config_error(fmt::format("--realizations must be at least 2 for a covariance, not {}", realizations));
  }
  if (bins + 2 >= realizations) {
    throw config_error(fmt::format(
        "--realizations {} with {} P(k) bins: the precision matrix is undefined, since the Hartlap factor "
        "(M - bins - 2)/(M - 1) is not positive unless M > bins + 2; use --realizations {} or more (or a smaller --n)",
        realizations, bins, bins + 3));
  }
}

covariance_estimate estimate_covariance(const Eigen::MatrixXd& samples, const std::vector<double>& modes) {
  const Eigen::Index m = samples.rows();
  const Eigen::Index bins = samples.cols();
  if (static_cast<std::size_t>(bins) != modes.size()) {
    throw error(fmt::format("estimate_covariance: {} bins of samples but {} of modes", bins, modes.size()));
  }
  check_ensemble_size(static_cast<std::size_t>(m), static_cast<std::size_t>(bins));
  covariance_estimate e;
  e.mean = Eigen::VectorXd::Zero(bins);
  for (Eigen::Index r = 0; r < m; ++r) e.mean += samples.row(r).transpose();
  e.mean /= static_cast<double>(m);
  const Eigen::MatrixXd centred = samples.rowwise() - e.mean.transpose();
  e.matrix = centred.transpose() * centred / static_cast<double>(m - 1);

  const Eigen::VectorXd sigma = e.matrix.diagonal().cwiseSqrt();
  e.correlation = e.matrix.array() / (sigma * sigma.transpose()).array();
  e.eigenvalues = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(e.matrix, Eigen::EigenvaluesOnly).eigenvalues();

  const double hartlap = static_cast<double>(m - bins - 2) / static_cast<double>(m - 1);
  const Eigen::FullPivLU<Eigen::MatrixXd> lu(e.matrix);
  e.precision = lu.isInvertible()
                    ? Eigen::MatrixXd(hartlap * lu.inverse())
                    : Eigen::MatrixXd::Constant(bins, bins, std::numeric_limits<double>::quiet_NaN());

  e.gaussian_diagonal.resize(bins);
  for (Eigen::Index b = 0; b < bins; ++b) {
    e.gaussian_diagonal(b) = 2.0 * e.mean(b) * e.mean(b) / modes[static_cast<std::size_t>(b)];
  }
  return e;
}

}  // namespace plx::cosmo
