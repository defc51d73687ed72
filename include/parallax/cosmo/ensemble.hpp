/// @file
/// plx-ensemble's library: M realizations of the cosmology pipeline (realization_maker), one map task each
/// over every rank x thread, their spectra stored as rows of an HDF5 file while the map runs (map_to_h5:
/// durable rows, resume after a stop or a kill), then, on root, the covariance of P(k) of the initial density
/// and of each evolved one.
///
/// Output (one file; M realizations, B bins, T times), with the dimensions' names (HDF5 dimension scales,
/// which xarray reads) and a `units` and `long_name` on every dataset:
///
///     /realizations/power            (realization, k)        P(k) of realization i's initial density (seed S + i)
///     /realizations/power_evolved    (realization, time, k)  P(k) of its Zel'dovich densities, CIC window divided out
///     /realizations/seed             (realization)           S + i (uint64)
///     /power_spectrum/k, /modes, /input   (k)                bins (mean |k|, modes) and the expected initial P(k)
///     /covariance/{mean, matrix, correlation, eigenvalues, precision, gaussian_diagonal}
///                                    of the initial P(k): (k), (k, k_prime), (k, k_prime), (eigenvalue),
///                                    (k, k_prime), (k)
///     /covariance/evolved/{the same} of each evolved P(k), with a leading axis (time)
///     /k, /time                      the coordinates: the bins' mean |k|, the growth factors
///     /covariance/k_prime, /eigenvalue   the matrices' second axis (k again), the eigenvalues' index
///
/// The times are also the attribute "times" of "/" and of /covariance/evolved; see covariance.hpp for the
/// estimators (unbiased covariance, Hartlap-corrected precision, 2 P^2 / N_modes with P the ensemble mean).
/// Units: k in h/Mpc and P in (Mpc/h)^dim for the Eisenstein-Hu and table spectra, box units otherwise.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <parallax/core/communicator.hpp>
#include <parallax/cosmo/params.hpp>
#include <parallax/dist/options.hpp>

namespace plx::cosmo {

/// What plx-ensemble runs: the field's options and the ensemble's.
struct ensemble_params {
  pipeline_params field;         ///< the field options; field.seed is S, field.out the output, field.force overwrites
  std::size_t realizations = 0;  ///< M, at least 2 and more than bins + 2
  bool resume = false;           ///< continue a stopped run of the same parameters (computes only missing rows)
};

/// What run_ensemble did.
struct ensemble_report {
  std::size_t realizations = 0;  ///< M
  std::size_t computed = 0;      ///< realizations computed by this call (fewer than M after a resume)
  std::size_t bins = 0;          ///< B, the P(k) bins
  double seconds = 0;            ///< wall time of the whole call (root)
  double map_seconds = 0;        ///< of the realizations alone
  std::string output;            ///< the file written
  /// On root: the mean off-diagonal entry of the correlation matrix of the initial P(k), then of each
  /// evolved one (times order). Near 0 for a Gaussian field under --normalisation none; mode coupling makes
  /// it grow with the growth factor.
  std::vector<double> mean_correlation;
};

/// The text that identifies what a realization depends on (every field option, the first seed, and a table
/// spectrum's CRC-32): a resume against another one is refused. Doubles are written with 17 significant
/// digits. Reads the table file, so call it after validate().
[[nodiscard]] std::string ensemble_fingerprint(const pipeline_params& field);

/// A rank's estimated peak memory for realizations of a dim-dimensional N^dim box on `threads` threads,
/// bytes: each thread holds its own serial grids.
[[nodiscard]] double ensemble_memory_estimate_bytes(int dim, std::ptrdiff_t n, int threads);

/// Collective. Checks everything before any work (plx::config_error on every rank: the field options as
/// plx-cosmo's, grids that do not fit in a node's memory (check_node_memory), M < 2, bins >= M - 2, an unwritable output, an existing output without --force, a partial run
/// without --resume or --force, a resume against other parameters), runs the realizations through the map
/// layer with `options` (progress, schedule, threads), writes the covariance on root and renames the file
/// into place. Finished rows stay durable whatever fails later.
ensemble_report run_ensemble(const communicator& comm, const ensemble_params& params, map_options options = {});

}  // namespace plx::cosmo
