/// @file
/// The power spectrum of a field, measured in spherical (circular in 2D) shells of |k|.
#pragma once

#include <vector>

#include <parallax/fft/field.hpp>
#include <parallax/fft/slab_ranks.hpp>

namespace plx::cosmo {

/// One row per non-empty shell. Shell b holds the modes with round(|k| / k_f) = b, b = 1 .. N/2, k_f = 2 pi / L.
struct measured_spectrum {
  std::vector<double> k;      ///< mean |k| of the shell's modes (1/box units)
  std::vector<double> power;  ///< mean of L^d / N^(2d) |F_k|^2 (/ W(k)^2, see assignment_window) over the shell
  std::vector<double> modes;  ///< modes in the shell, counting k and -k separately
};

/// The mass-assignment window a measurement divides out of each mode.
enum class assignment_window {
  none,
  /// Cloud in cell: a density deposited by CIC (zeldovich_density) is the particles' density convolved with
  /// a box of one cell, twice, along each axis, so each mode is damped by
  ///   W(k) = prod over axes i of sinc^2(pi m_i / N),   sinc x = sin(x) / x,   m_i the integer frequency,
  /// (k_i / k_Nyquist = 2 m_i / N). P is measured as |F_k|^2 / W(k)^2. Aliasing is not corrected.
  cic,
};

/// How the Fourier field given to measure_power is normalised.
enum class fourier_normalisation {
  forward_transform,  ///< the unnormalised forward FFT of a real field (fft::transforms::forward): F = N^d f_k
  ready_to_invert,    ///< f_k itself, as the density is made (fill_white_noise, shape_density) before its inverse
};

/// Collective unless `ranks` is serial. `fourier` holds a real field's transform, normalised as `normalisation`
/// says. Sums are taken in a fixed order: bitwise the same result for any decomposition, a serial box included.
[[nodiscard]] measured_spectrum measure_power(
    const fft::slab_ranks& ranks, const fft::field& fourier, double box, assignment_window window = assignment_window::none,
    fourier_normalisation normalisation = fourier_normalisation::forward_transform);

}  // namespace plx::cosmo
