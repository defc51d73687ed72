/// @file
/// Gaussian random fields on a periodic box, built directly in Fourier space.
///
/// White noise: every Fourier mode gets a complex Gaussian (two normal quantiles of the two 53-bit uniforms
/// of one Random123 Philox4x32-10 draw, keyed by the seed and countered by the mode's global index), with the Hermitian symmetry of a real field (on the
/// self-conjugate planes a mode and its mirror share one draw; self-mirrored modes are real). Its statistics
/// are exactly those of the FFT of real unit white noise (variance N^d per mode), and it depends on nothing
/// but the seed and the mode, so the field is the same for any number of ranks and threads. Generating in
/// Fourier space saves the forward transform of the workshop's algorithm.
///
/// Fourier fields here are kept "ready to invert": divided by N^d, so the unnormalised backward FFT gives
/// the real-space field. Wave numbers are k = 2 pi / L * integer frequency, L the box size.
#pragma once

#include <cstdint>
#include <vector>

#include <parallax/core/communicator.hpp>
#include <parallax/cosmo/spectrum.hpp>
#include <parallax/fft/field.hpp>
#include <parallax/fft/slab_ranks.hpp>

namespace plx::cosmo {

/// The standard normal quantile Phi^-1(p) for p in (0, 1), by Wichura's algorithm AS 241 (Applied
/// Statistics 37, 1988), accurate to about 1e-16. Turning one uniform into one normal with a few
/// multiplications (a log and a sqrt only in the tails, 15% of draws) is what makes the noise stage cheap,
/// and it has no rejection loop, so a draw depends on its counter alone.
[[nodiscard]] double normal_quantile(double p);

/// Fills `f` (Fourier space) with Hermitian complex white noise, divided by N^d: then sum_k |f_k|^2 has
/// expectation 1, i.e. the real-space field has unit variance.
void fill_white_noise(fft::field& f, std::uint64_t seed);

/// Multiplies every mode by sqrt(amplitude * P(|k|)), k in 1/box units, and removes the k = 0 mode. P is
/// evaluated once per distinct integer |k|^2 (a table, spectrum_factors), not once per mode.
void apply_spectrum(fft::field& f, const power_spectrum& spectrum, double box, double amplitude);

/// The table apply_spectrum uses for a dim-dimensional box of n cells per side: entry m (m = |k|^2 in units
/// of the fundamental, 0 .. dim (n/2)^2) is sqrt(amplitude * P(2 pi / box * sqrt(m))), entry 0 is 0. Made once,
/// it serves any number of realizations (apply_spectrum_factors); thread-safe.
[[nodiscard]] std::vector<double> spectrum_factors(int dim, std::ptrdiff_t n, const power_spectrum& spectrum, double box,
                                                   double amplitude);

/// Multiplies every mode by factors[|k|^2] (a table of spectrum_factors for the field's shape).
void apply_spectrum_factors(fft::field& f, const std::vector<double>& factors);

/// Collective unless `ranks` is serial: the real-space variance of a ready-to-invert Fourier field, by
/// Parseval, summed in a fixed order (bitwise the same for any decomposition, a serial box included).
[[nodiscard]] double variance_from_fourier(const fft::slab_ranks& ranks, const fft::field& f);

/// Multiplies every value (all of the rank's memory) by `factor`.
void scale(fft::field& f, double factor);

/// phi_k = -delta_k / k^2, phi_0 = 0 (Poisson's equation with unit source): `phi` from `delta`, both Fourier.
void potential_from_density(const fft::field& delta, fft::field& phi, double box);

/// out_k = -i k_axis phi_k: component `axis` of -grad(phi), the Zel'dovich displacement. Nyquist frequencies
/// of `axis` (even N) are zeroed, since i k there has no real counterpart.
void minus_gradient(const fft::field& phi, fft::field& out, int axis, double box);

}  // namespace plx::cosmo
