// The power spectrum of a field, measured in spherical (circular in 2D) shells of |k|.
#pragma once

#include <vector>

#include <parallax/core/communicator.hpp>
#include <parallax/fft/field.hpp>

namespace plx::cosmo {

/// One row per non-empty shell. Shell b holds the modes with round(|k| / k_f) = b, b = 1 .. N/2, k_f = 2 pi / L.
struct measured_spectrum {
  std::vector<double> k;      ///< mean |k| of the shell's modes (1/box units)
  std::vector<double> power;  ///< mean of L^d / N^(2d) |F_k|^2 over the shell
  std::vector<double> modes;  ///< modes in the shell, counting k and -k separately
};

/// Collective. `fourier` holds the unnormalised forward FFT of a real field (plx::fft::r2c_plans::forward).
/// Sums are taken in a fixed order: bitwise the same result for any decomposition.
[[nodiscard]] measured_spectrum measure_power(const communicator& comm, const fft::field& fourier, double box);

}  // namespace plx::cosmo
