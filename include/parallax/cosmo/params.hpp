/// @file
/// Parameters of the cosmology pipeline: defaults that reproduce the teaching workshop (2D, N = 256,
/// L = 50, P(k) = exp(-k^2/100)/sqrt(k), unit variance, 10 times from 0 to 4), a TOML parameter file, and
/// the checks that run before any work.
///
/// TOML layout (every key optional; unknown keys are errors, so typos do not pass silently):
/// @code{.unparsed}
///   dim = 2            n = 256          box = 50.0         seed = 42   # seed: 0 .. 2^64 - 1; above 2^63 - 1
///                                                                        # (TOML's integers end there) as a string
///   times = [0.0, 0.5, 1.0]            normalisation = "unit-variance"   # or "sigma8", "none"
///   out = "cosmo.h5"
///   [spectrum]  model = "workshop"  amplitude = 1.0  index = -1.0  omega_m = 0.3111  omega_b = 0.049
///               h = 0.6766  n_s = 0.9665  sigma_8 = 0.8102  table = "pk.dat"
///   [fft]       plan = "estimate"   wisdom = "fftw.wisdom"
/// @endcode
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <parallax/cosmo/spectrum.hpp>

namespace plx::cosmo {

/// Every parameter of a plx-cosmo run (and of each realization of plx-ensemble); the defaults are the workshop's.
struct pipeline_params {
  int dim = 2;             ///< 2 or 3
  std::ptrdiff_t n = 256;  ///< cells per side of the grid
  double box = 50.0;  ///< side of the periodic box (length units of the spectrum; Mpc/h for eisenstein-hu)
  std::uint64_t seed = 42;  ///< seed of the Gaussian field: the same seed gives the same field on any layout
  spectrum_config spectrum;  ///< the power spectrum model and its parameters
  /// "unit-variance": density scaled to unit standard deviation (the workshop);
  /// "sigma8": the spectrum's amplitude scaled so that sigma(8) = spectrum.sigma_8 (3D only);
  /// "none": the spectrum as given, in physical units.
  std::string normalisation = "unit-variance";
  std::vector<double> times = default_times();  ///< growth factors D of the Zel'dovich frames, increasing
  std::string out = "cosmo.h5";   ///< the HDF5 output file
  bool force = false;             ///< overwrite an existing output file
  std::string plan = "estimate";  ///< FFTW planning: estimate (bitwise reproducible) or measure
  std::string wisdom;             ///< FFTW wisdom file read before and written after planning ("" = none)

  /// Where the values read from a parameter file came from: key ("n", "spectrum.model", "spectrum" for the
  /// table) -> "file:line". A key not here holds a default or a command-line flag's value, and errors name
  /// the flag ("--n must be at least 2, not 1") instead of the file ("p.toml:3: 'n' must be at least 2, not 1").
  std::map<std::string, std::string> file_origin;

  /// 10 times from 0 to 4, as the workshop.
  static std::vector<double> default_times();
};

/// Command-line values that override a parameter file: each one given replaces the file's value.
struct pipeline_flags {
  std::optional<int> dim;              ///< --dim
  std::optional<std::ptrdiff_t> n;     ///< --n
  std::optional<double> box;           ///< --box
  std::optional<std::uint64_t> seed;   ///< --seed
  std::optional<std::string> spectrum;  ///< the model
  std::optional<std::string> table;     ///< the spectrum table's path
  std::optional<std::string> normalisation;  ///< --normalisation
  std::optional<std::string> times;  ///< as parse_times reads it
  std::optional<std::string> out;     ///< --out
  std::optional<std::string> plan;    ///< --plan
  std::optional<std::string> wisdom;  ///< --wisdom
  bool force = false;                 ///< --force (only ever turns force on)
};

/// Reads a TOML parameter file over `defaults`. Throws plx::config_error naming the file, line and key
/// (syntax errors, unknown keys, values of the wrong type, a negative seed), and records where each value
/// came from in file_origin, so that validate() names the file and line of a bad value too.
[[nodiscard]] pipeline_params load_params(const std::string& path, pipeline_params defaults = {});

/// Sets the flags that were given over `params` (a value set here is no longer attributed to the file).
/// Throws plx::config_error for a --times that does not parse.
void apply_flags(pipeline_params& params, const pipeline_flags& flags);

/// The most growth factors a run takes: each is a frame (plx-cosmo) or a row of spectra (plx-ensemble), and the
/// output records them all in one HDF5 attribute, which holds at most 64 KiB (8192 doubles, less its header).
inline constexpr std::size_t max_times = 4096;

/// Parses "0,0.5,1" (a list) or "0:4:10" (start:stop:count, evenly spaced). Throws plx::config_error whose
/// message starts with `name` (the flag, or the file, line and key the text came from), also for more than
/// max_times times.
[[nodiscard]] std::vector<double> parse_times(const std::string& text, const std::string& name = "--times");

/// Checks growth factors: at least one, at most max_times, each >= 0, strictly increasing. Throws plx::config_error whose message
/// starts with `name` ("--times must be increasing: 2.000000 is followed by 1.000000").
void check_times(const std::vector<double>& times, const std::string& name = "--times");

/// Checks everything that can be checked before work: N >= 2, L > 0, dim, times increasing and >= 0,
/// normalisation, plan, the spectrum (built here: unknown model, unreadable table, ...) and that the
/// table covers the grid's k range. Throws plx::config_error naming the parameter: its flag, or the file,
/// line and key it was read from (see file_origin).
void validate(const pipeline_params& params);

}  // namespace plx::cosmo
