/// @file
/// One realization of the cosmology pipeline as one task: a whole box on one thread, in this process's
/// memory, with no MPI (map tasks run on OpenMP threads, which must not call MPI). A realization measures
/// P(k) of its initial density, evolves the box with Zel'dovich to each growth factor of params.times,
/// deposits the particles by CIC, transforms, and measures P(k) of each evolved density with the CIC window
/// divided out (assignment_window::cic).
///
/// It runs plx-cosmo's own stages (stages.hpp, zeldovich_density, measure_power) on a serial box, the 1-rank
/// slab, with serial FFTW plans that compute what FFTW-MPI does on any number of ranks (serial_plans.hpp).
/// So the initial P(k) of seed s is bitwise plx-cosmo's /power_spectrum/power for seed s, and the evolved
/// densities are bitwise its /frames/NNN/density, for any rank x thread layout of plx-cosmo. Like plx-cosmo,
/// it measures the initial P(k) on the density's Fourier field as drawn (no round trip through real space)
/// and takes the displacement from phi_k (displacement_from_fourier_potential): dim + 1 transforms per time.
///
/// @code
///   const plx::cosmo::realization_maker maker(params);   // once: checks, spectrum, plans (main thread)
///   #pragma omp parallel for                               // or any map: run() is thread-safe
///   for (int i = 0; i < m; ++i) spectra[i] = maker.run(params.seed + i);
/// @endcode
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <parallax/cosmo/params.hpp>
#include <parallax/cosmo/spectrum.hpp>
#include <parallax/cosmo/stages.hpp>
#include <parallax/fft/field.hpp>
#include <parallax/fft/serial_plans.hpp>

namespace plx::cosmo {

/// The spectra of one realization, in the bins of realization_maker::k().
struct realization_spectra {
  std::vector<double> power;          ///< P(k) of the initial density (bins)
  std::vector<double> power_evolved;  ///< P(k) of each evolved density, CIC window divided out (times x bins, row-major)
};

/// Runs realizations of one parameter set: the set-up shared by every seed is done once, run() per seed.
class realization_maker {
 public:
  /// Checks `params` (validate(): plx::config_error naming the parameter), builds the spectrum, the density
  /// recipe, the bins and the serial plans. Not collective; call it on the thread that plans (FFTW's planner
  /// runs under a lock, but building this while other threads plan is best avoided for speed).
  explicit realization_maker(pipeline_params params);
  ~realization_maker();
  // Tasks hold references to it while they run.
  realization_maker(const realization_maker&) = delete;
  realization_maker& operator=(const realization_maker&) = delete;

  /// The realization of `seed`. Thread-safe: each thread works in its own buffers, made on its first call
  /// and kept for its next one (dim + 2 grids, and 5 doubles per cell for the particles: about 100 MB a
  /// thread for 3D N = 128). No MPI.
  [[nodiscard]] realization_spectra run(std::uint64_t seed) const;

  /// Called with each evolved density (real space, rho / mean rho, the serial layout of fft::field) as it is
  /// made: time index and field. For tests and for anyone who wants the frames themselves.
  using frame_callback = std::function<void(std::size_t, const fft::field&)>;
  /// run(seed), calling `on_frame` on the calling thread with each evolved density as it is made.
  [[nodiscard]] realization_spectra run(std::uint64_t seed, const frame_callback& on_frame) const;

  /// The parameters as given (validated); params().seed is not used by run().
  [[nodiscard]] const pipeline_params& params() const noexcept { return params_; }
  /// The power spectrum model built from params().spectrum.
  [[nodiscard]] const power_spectrum& spectrum() const noexcept { return *spectrum_; }
  /// Number of |k| bins of every measured spectrum.
  [[nodiscard]] std::size_t bins() const noexcept { return k_.size(); }
  /// Number of evolved frames: the growth factors of params().times.
  [[nodiscard]] std::size_t times() const noexcept { return params_.times.size(); }
  /// Mean |k| of each bin (1/box units) and its number of modes (k and -k counted apart), as plx-cosmo's
  /// /power_spectrum/k and /modes.
  [[nodiscard]] const std::vector<double>& k() const noexcept { return k_; }
  /// Number of modes in each bin (k and -k counted apart), as plx-cosmo's /power_spectrum/modes.
  [[nodiscard]] const std::vector<double>& modes() const noexcept { return modes_; }
  /// The expected initial P(k) in each bin: f * P(k) with f the power factor. With unit-variance
  /// normalisation each realization is rescaled by its own variance, so f uses the expected variance here
  /// (plx-cosmo's /power_spectrum/input uses the run's own).
  [[nodiscard]] const std::vector<double>& input() const noexcept { return input_; }

 private:
  pipeline_params params_;
  std::unique_ptr<power_spectrum> spectrum_;
  density_recipe recipe_;
  fft::serial_r2c_plans plans_;
  std::vector<double> k_;
  std::vector<double> modes_;
  std::vector<double> input_;
};

}  // namespace plx::cosmo
