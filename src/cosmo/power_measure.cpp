#include <parallax/cosmo/power_measure.hpp>

#include <cmath>
#include <complex>
#include <numbers>

#include <parallax/fft/modes.hpp>

namespace plx::cosmo {

namespace {

// sinc^2(pi m / N) for the integer frequencies m = -N/2 .. N/2 (index m + N/2): one axis of the CIC window.
std::vector<double> cic_axis_window(std::ptrdiff_t n) {
  std::vector<double> w(static_cast<std::size_t>(n + 1), 1.0);
  for (std::ptrdiff_t m = -n / 2; m <= n / 2; ++m) {
    const double x = std::numbers::pi * static_cast<double>(m) / static_cast<double>(n);
    const double sinc = m == 0 ? 1.0 : std::sin(x) / x;
    w[static_cast<std::size_t>(m + n / 2)] = sinc * sinc;
  }
  return w;
}

}  // namespace

measured_spectrum measure_power(const fft::slab_ranks& ranks, const fft::field& fourier, double box,
                                assignment_window window, fourier_normalisation normalisation) {
  const fft::slab_geometry& g = fourier.geometry();
  const auto shells = static_cast<std::size_t>(g.n / 2) + 1;  // shell 0 (k = 0) is dropped below
  const double k_unit = 2.0 * std::numbers::pi / box;
  const double volume = std::pow(box, g.dim);
  // P = V |f_k|^2 = V / N^(2d) |F_k|^2.
  const double norm = normalisation == fourier_normalisation::ready_to_invert
                          ? volume
                          : volume / (g.global_cells() * g.global_cells());
  constexpr std::size_t stride = 3;  // per shell: modes, sum of k, sum of P
  std::vector<double> partial(static_cast<std::size_t>(g.fourier_count) * shells * stride, 0.0);
  const std::complex<double>* values = fourier.fourier();
  const bool deconvolve = window == assignment_window::cic;
  const std::vector<double> axis_window = deconvolve ? cic_axis_window(g.n) : std::vector<double>{};
  const auto half_n = static_cast<std::ptrdiff_t>(g.n / 2);
  // |k| and its shell per integer |k|^2 (dim (N/2)^2 + 1 values), looked up per mode: the same values as
  // sqrt and lround per mode, which cost a realization (3D N = 64) more than its bins' sums. Past a million
  // values (2D N > 1400, 3D N > 1150) the table would rival a rank's share of the grid: computed then.
  const auto largest_k2 = static_cast<std::size_t>(g.dim * (half_n + 1) * (half_n + 1));
  const bool tabulate = largest_k2 < (std::size_t{1} << 20);
  std::vector<double> k_of(tabulate ? largest_k2 + 1 : 0);
  std::vector<std::size_t> shell_of(k_of.size());
  for (std::size_t k2 = 0; k2 < k_of.size(); ++k2) {
    k_of[k2] = std::sqrt(static_cast<double>(k2));
    shell_of[k2] = static_cast<std::size_t>(std::lround(k_of[k2]));
  }
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t plane = 0; plane < g.fourier_count; ++plane) {
    double* sums = partial.data() + static_cast<std::size_t>(plane) * shells * stride;
    fft::for_each_mode_in_plane(g, plane, [&](std::ptrdiff_t offset, const fft::mode& m) {
      const auto k2 = static_cast<std::size_t>(m.k[0] * m.k[0] + m.k[1] * m.k[1] + m.k[2] * m.k[2]);
      const double k = tabulate ? k_of[k2] : std::sqrt(static_cast<double>(k2));
      const auto shell = tabulate ? shell_of[k2] : static_cast<std::size_t>(std::lround(k));
      if (shell == 0 || shell >= shells) return;
      sums[stride * shell] += m.weight;
      sums[stride * shell + 1] += m.weight * k * k_unit;
      double power = m.weight * norm * std::norm(values[offset]);
      if (deconvolve) {
        double w = 1.0;
        for (int a = 0; a < g.dim; ++a) w *= axis_window[static_cast<std::size_t>(m.k[a] + half_n)];
        power /= w * w;
      }
      sums[stride * shell + 2] += power;
    });
  }
  const std::vector<double> total = fft::ordered_plane_sum(ranks, partial, shells * stride);
  measured_spectrum result;
  for (std::size_t s = 1; s < shells; ++s) {
    const double modes = total[stride * s];
    if (modes == 0) continue;
    result.k.push_back(total[stride * s + 1] / modes);
    result.power.push_back(total[stride * s + 2] / modes);
    result.modes.push_back(modes);
  }
  return result;
}

}  // namespace plx::cosmo
