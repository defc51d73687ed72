/// @file
/// Power spectrum models P(k) for Gaussian random density fields.
///
/// A Gaussian random field is described completely by its power spectrum: the variance of its Fourier
/// modes as a function of the wavenumber k = |k|. The cosmology pipeline draws each mode with variance
/// P(k) (times the grid's normalisation) and transforms back to a density contrast. This header has the
/// interface `power_spectrum`, four models (a teaching example, a power law, the Eisenstein & Hu 1998
/// LCDM fit, and a table written by CLASS or CAMB), a factory from a config struct, and sigma_r(), the rms
/// density contrast in spheres, which is how a spectrum's amplitude is usually quoted (sigma_8).
///
/// Units: k in 1/length and P in length^3 (for 3D fields), with the same length unit as the box. The LCDM
/// model uses h/Mpc and (Mpc/h)^3; a table uses whatever its file uses. Everything here is pure
/// computation: no MPI, and every const member function is thread-safe.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace plx::cosmo {

/// Linear matter power spectrum P(k). k in 1/length, P in length^3 (3D) -- same length unit as the box.
class power_spectrum {
 public:
  virtual ~power_spectrum() = default;
  /// P(k) for k > 0. Throws plx::config_error for k <= 0, a non-finite k, or (table) k outside k_range().
  [[nodiscard]] virtual double operator()(double k) const = 0;
  /// "workshop", "powerlaw", "eisenstein-hu" or "table": the `model` value of spectrum_config.
  [[nodiscard]] virtual std::string name() const = 0;
  /// Parameters as (name, value) pairs, written as HDF5 attributes by the pipeline.
  [[nodiscard]] virtual std::vector<std::pair<std::string, double>> parameters() const = 0;
  /// The k range where the model is defined, if limited (the table); nullopt = all k > 0.
  [[nodiscard]] virtual std::optional<std::pair<double, double>> k_range() const { return std::nullopt; }
};

/// What make_spectrum() builds. Only the fields of the chosen model are read.
struct spectrum_config {
  std::string model = "workshop";  ///< workshop | powerlaw | eisenstein-hu | table
  double amplitude = 1.0;          ///< powerlaw A, in length^(3+n)
  double index = -1.0;             ///< powerlaw n
  // eisenstein-hu, Planck 2018 (TT,TE,EE+lowE+lensing+BAO) defaults.
  double omega_m = 0.3111;  ///< total matter density / critical density today (CDM + baryons)
  double omega_b = 0.0490;  ///< baryon density / critical density today
  double h = 0.6766;        ///< H0 / (100 km/s/Mpc)
  double n_s = 0.9665;      ///< primordial spectral index
  double sigma_8 = 0.8102;  ///< rms density contrast in spheres of 8 Mpc/h, sets the amplitude
  std::string table_path;   ///< table: the "k P" text file
};

/// True when make_spectrum knows the model `name` (workshop, powerlaw, eisenstein-hu, table).
[[nodiscard]] bool is_spectrum_model(const std::string& name);

/// Builds the model named by config.model. Throws plx::config_error naming the parameter: an unknown model
/// (the message lists the known ones) or a bad value (omega_b >= omega_m, h <= 0, sigma_8 <= 0, an empty
/// table_path, ...), plus every error of the model's constructor (for a table, those of loading the file).
[[nodiscard]] std::unique_ptr<power_spectrum> make_spectrum(const spectrum_config& config);

/// rms of the density contrast in spheres of radius R, from the 3D spectrum with the top-hat window:
/// sigma^2(R) = 1/(2 pi^2) int k^2 P(k) W(kR)^2 dk, W(x) = 3 (sin x - x cos x) / x^3.
/// Integrates in ln k over [1e-5, 1e3] / R (intersected with p.k_range(), P taken as zero outside it) by
/// adaptive Gauss-Kronrod quadrature to a relative error estimate of 1e-9. Cutting the range costs about
/// (1e-5)^(3 + n) relative where P ~ k^n at small k and (1e-3)^(1 - n) where P ~ k^n at large k: under
/// 1e-5 for LCDM and for power laws with -2 <= n <= -1, but 1e-3 for white noise (n = 0).
/// @param radius  R > 0, in the length unit of p (Mpc/h for eisenstein_hu_spectrum)
/// Throws plx::config_error for radius <= 0, or when p's k range misses the integration range.
[[nodiscard]] double sigma_r(const power_spectrum& p, double radius);

/// P(k) = exp(-k^2 / 100) / sqrt(k): a dimensionless teaching example, for 2D or 3D fields alike.
class workshop_spectrum final : public power_spectrum {
 public:
  [[nodiscard]] double operator()(double k) const override;
  [[nodiscard]] std::string name() const override { return "workshop"; }
  /// None: the model has no free parameter.
  [[nodiscard]] std::vector<std::pair<std::string, double>> parameters() const override { return {}; }
};

/// P(k) = A k^n.
class powerlaw_spectrum final : public power_spectrum {
 public:
  /// @param amplitude  A > 0, in length^(3+n)
  /// @param index      n, finite
  /// Throws plx::config_error naming "amplitude" or "index" when it is out of range.
  powerlaw_spectrum(double amplitude, double index);
  [[nodiscard]] double operator()(double k) const override;
  [[nodiscard]] std::string name() const override { return "powerlaw"; }
  /// {"amplitude", A}, {"index", n}.
  [[nodiscard]] std::vector<std::pair<std::string, double>> parameters() const override;
  /// A, in length^(3+n).
  [[nodiscard]] double amplitude() const noexcept { return amplitude_; }
  /// n, the spectral index.
  [[nodiscard]] double index() const noexcept { return index_; }

 private:
  double amplitude_;
  double index_;
};

/// Cosmological parameters of the LCDM spectrum.
struct lcdm_parameters {
  double omega_m = 0.3111;  ///< total matter (CDM + baryons) / critical density today
  double omega_b = 0.0490;  ///< baryons / critical density today, 0 < omega_b < omega_m
  double h = 0.6766;        ///< H0 / (100 km/s/Mpc)
  double n_s = 0.9665;      ///< primordial spectral index
  double sigma_8 = 0.8102;  ///< rms density contrast in spheres of radius 8 Mpc/h
  double t_cmb_k = 2.7255;  ///< CMB temperature today, K
};

/// Linear LCDM spectrum today: P(k) = A k^n_s T(k)^2, with T the Eisenstein & Hu 1998 (ApJ 496, 605)
/// fitting formula including the baryon acoustic wiggles (their eqs. 2-24). k in h/Mpc, P in (Mpc/h)^3.
/// The amplitude A is fixed in the constructor so that sigma_r(*this, 8) == sigma_8.
class eisenstein_hu_spectrum final : public power_spectrum {
 public:
  /// Throws plx::config_error naming the parameter that is out of range (omega_b >= omega_m, h <= 0,
  /// sigma_8 <= 0, non-finite values, ...).
  explicit eisenstein_hu_spectrum(const lcdm_parameters& parameters = {});
  [[nodiscard]] double operator()(double k) const override;
  [[nodiscard]] std::string name() const override { return "eisenstein-hu"; }
  /// omega_m, omega_b, h, n_s, sigma_8, t_cmb_k and the derived amplitude A in (Mpc/h)^(3+n_s).
  [[nodiscard]] std::vector<std::pair<std::string, double>> parameters() const override;

  /// The transfer function T(k), k in h/Mpc: 1 for k -> 0, falling as ln(k)/k^2 for large k.
  /// Throws plx::config_error for k < 0 or a non-finite k (T(0) = 1).
  [[nodiscard]] double transfer(double k) const;
  /// The normalisation A, in (Mpc/h)^(3+n_s).
  [[nodiscard]] double amplitude() const noexcept { return amplitude_; }
  /// Sound horizon at the drag epoch (EH98 eq. 6), in Mpc/h.
  [[nodiscard]] double sound_horizon_mpc_h() const noexcept { return sound_horizon_mpc_ * parameters_.h; }

 private:
  [[nodiscard]] double transfer_mpc(double k_mpc) const;  // k in 1/Mpc

  lcdm_parameters parameters_;
  // Derived quantities of EH98, in Mpc and 1/Mpc as in the paper.
  double f_baryon_ = 0;        // Omega_b / Omega_m
  double k_equality_mpc_ = 0;  // eq. 3
  double sound_horizon_mpc_ = 0;  // eq. 6
  double k_silk_mpc_ = 0;      // eq. 7
  double alpha_c_ = 0;         // eq. 11
  double beta_c_ = 0;          // eq. 12
  double alpha_b_ = 0;         // eq. 14
  double beta_b_ = 0;          // eq. 24
  double beta_node_ = 0;       // eq. 23
  double amplitude_ = 1;
};

/// A tabulated spectrum, e.g. CLASS's "*_pk.dat" or CAMB's "*_matterpower.dat": a text file with k in the
/// first and P in the second column. '#' comments and blank lines are skipped, further columns ignored.
/// Between the nodes P is interpolated linearly in (ln k, ln P); at a node it is the tabulated value.
class table_spectrum final : public power_spectrum {
 public:
  /// Loads the file. Throws plx::config_error when it cannot be read (the message names the path), has
  /// fewer than 2 rows (names the path), or has a row with fewer than 2 columns, a non-numeric field, a k
  /// that is not larger than the previous one, or k <= 0 or P <= 0 (names the path and the line number).
  explicit table_spectrum(std::string path);
  /// Throws plx::config_error saying k and the range when k is outside k_range().
  [[nodiscard]] double operator()(double k) const override;
  [[nodiscard]] std::string name() const override { return "table"; }
  /// {"k_min", ...}, {"k_max", ...}, {"rows", ...}. The path is a string: see path().
  [[nodiscard]] std::vector<std::pair<std::string, double>> parameters() const override;
  /// [k_min, k_max], the first and the last k of the file.
  [[nodiscard]] std::optional<std::pair<double, double>> k_range() const override;
  /// The table file as given.
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  /// Number of (k, P) rows read from the file.
  [[nodiscard]] std::size_t rows() const noexcept { return k_.size(); }

 private:
  std::string path_;
  std::vector<double> k_;      // strictly increasing, > 0
  std::vector<double> p_;      // > 0
  std::vector<double> log_k_;  // ln of k_ and p_, for the interpolation
  std::vector<double> log_p_;
};

}  // namespace plx::cosmo
