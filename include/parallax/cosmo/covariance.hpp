/// @file
/// The covariance of a measured power spectrum from an ensemble of realizations: the sample mean and the
/// unbiased covariance, the correlation matrix and the eigenvalues, the precision matrix with the Hartlap
/// factor, and the Gaussian expectation of the diagonal. Pure computation with Eigen, no MPI.
///
/// Hartlap, Simon & Schneider 2007 (A&A 464, 399): the inverse of a sample covariance from M realizations
/// of `bins` correlated Gaussian variables is a biased estimate of the precision matrix; multiplying it by
/// (M - bins - 2) / (M - 1) removes the bias. For M <= bins + 2 the factor is not positive: the precision
/// matrix is undefined, so such an ensemble is refused (check_ensemble_size) before any work.
#pragma once

#include <cstddef>
#include <vector>

#include <Eigen/Core>

namespace plx::cosmo {

/// The covariance of P(k) over an ensemble of M realizations, and what follows from it (estimate_covariance()).
struct covariance_estimate {
  Eigen::VectorXd mean;               ///< mean P(k) over the realizations (bins)
  Eigen::MatrixXd matrix;             ///< unbiased sample covariance, 1/(M - 1) sum (P - mean)(P - mean)^T
  Eigen::MatrixXd correlation;        ///< matrix_ij / sqrt(matrix_ii matrix_jj) (NaN where a variance is 0)
  Eigen::VectorXd eigenvalues;        ///< of `matrix`, ascending
  Eigen::MatrixXd precision;          ///< matrix^-1 (M - bins - 2)/(M - 1); NaN when `matrix` is singular
  Eigen::VectorXd gaussian_diagonal;  ///< 2 mean^2 / N_modes: the variance of a Gaussian field's P(k)
};

/// Throws plx::config_error naming --realizations when M < 2 (no sample covariance) or bins >= M - 2 (the
/// Hartlap factor is not positive: the precision matrix is undefined), saying the smallest M that works.
void check_ensemble_size(std::size_t realizations, std::size_t bins);

/// The estimate from `samples` (one realization per row, M x bins, M and bins passing check_ensemble_size)
/// and the modes of each bin. Sums run over the rows in order, so the result depends on the samples alone.
/// Throws plx::error when the shapes disagree.
[[nodiscard]] covariance_estimate estimate_covariance(const Eigen::MatrixXd& samples, const std::vector<double>& modes);

}  // namespace plx::cosmo
