#include <parallax/cosmo/gaussian_field.hpp>

#include <cmath>
#include <complex>
#include <numbers>
#include <vector>

#include <Random123/philox.h>

#include <parallax/core/error.hpp>

#include <parallax/fft/modes.hpp>

namespace plx::cosmo {

namespace {

using philox = r123::Philox4x32;

// Two standard normals for counter `id`, from the two 53-bit uniforms in (0, 1) of one Philox draw.
std::complex<double> gaussian_pair(const philox::key_type& key, std::uint64_t id) {
  const philox generator;
  const philox::ctr_type counter = {{static_cast<std::uint32_t>(id), static_cast<std::uint32_t>(id >> 32), 0, 0}};
  const philox::ctr_type r = generator(counter, key);
  constexpr double two_pow_minus_53 = 1.0 / 9007199254740992.0;
  const auto uniform = [&](std::uint32_t hi, std::uint32_t lo) {
    const std::uint64_t bits = ((std::uint64_t{hi} << 32) | lo) >> 11;
    return (static_cast<double>(bits) + 0.5) * two_pow_minus_53;
  };
  return {normal_quantile(uniform(r[0], r[1])), normal_quantile(uniform(r[2], r[3]))};
}

// Horner evaluation of c[0] + c[1] x + ... + c[7] x^7.
double polynomial(const double (&c)[8], double x) {
  double sum = c[7];
  for (int i = 6; i >= 0; --i) sum = sum * x + c[i];
  return sum;
}

}  // namespace

double normal_quantile(double p) {
  // Coefficients of AS 241 (PPND16): rational approximations for the centre |p - 1/2| <= 0.425, the
  // tails with r = sqrt(-log(min(p, 1-p))) <= 5, and the far tails beyond.
  static constexpr double a[8] = {3.3871328727963666080e0, 1.3314166789178437745e2, 1.9715909503065514427e3,
                                  1.3731693765509461125e4, 4.5921953931549871457e4, 6.7265770927008700853e4,
                                  3.3430575583588128105e4, 2.5090809287301226727e3};
  static constexpr double b[8] = {1.0, 4.2313330701600911252e1, 6.8718700749205790830e2, 5.3941960214247511077e3,
                                  2.1213794301586595867e4, 3.9307895800092710610e4, 2.8729085735721942674e4,
                                  5.2264952788528545610e3};
  static constexpr double c[8] = {1.42343711074968357734e0, 4.63033784615654529590e0, 5.76949722146069140550e0,
                                  3.64784832476320460504e0, 1.27045825245236838258e0, 2.41780725177450611770e-1,
                                  2.27238449892691845833e-2, 7.74545014278341407640e-4};
  static constexpr double d[8] = {1.0, 2.05319162663775882187e0, 1.67638483018380384940e0, 6.89767334985100004550e-1,
                                  1.48103976427480074590e-1, 1.51986665636164571966e-2, 5.47593808499534494600e-4,
                                  1.05075007164441684324e-9};
  static constexpr double e[8] = {6.65790464350110377720e0, 5.46378491116411436990e0, 1.78482653991729133580e0,
                                  2.96560571828504891230e-1, 2.65321895265761230930e-2, 1.24266094738807843860e-3,
                                  2.71155556874348757815e-5, 2.01033439929228813265e-7};
  static constexpr double f[8] = {1.0, 5.99832206555887937690e-1, 1.36929880922735805310e-1, 1.48753612908506148525e-2,
                                  7.86869131145613259100e-4, 1.84631831751005468180e-5, 1.42151175831644588870e-7,
                                  2.04426310338993978564e-15};
  const double q = p - 0.5;
  if (std::abs(q) <= 0.425) {
    const double r = 0.180625 - q * q;
    return q * polynomial(a, r) / polynomial(b, r);
  }
  double r = std::sqrt(-std::log(q < 0 ? p : 1.0 - p));
  double value = 0;
  if (r <= 5.0) {
    r -= 1.6;
    value = polynomial(c, r) / polynomial(d, r);
  } else {
    r -= 5.0;
    value = polynomial(e, r) / polynomial(f, r);
  }
  return q < 0 ? -value : value;
}

void fill_white_noise(fft::field& f, std::uint64_t seed) {
  const fft::slab_geometry& g = f.geometry();
  const std::ptrdiff_t n = g.n;
  const std::ptrdiff_t half = g.half();
  const int last = g.dim - 1;  // the halved dimension
  const philox::key_type key = {{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)}};
  // Var(Re) = Var(Im) = 1/2 of the per-mode variance N^d; divided by N^d to be ready to invert.
  const double cells = g.global_cells();
  const double complex_sigma = std::sqrt(0.5 / cells);
  const double real_sigma = std::sqrt(1.0 / cells);
  const bool even = n % 2 == 0;
  std::complex<double>* out = f.fourier();

  // Global id of a mode: its index in the full [N]..[N][N/2+1] array (full dimensions first).
  const auto mode_id = [&](std::ptrdiff_t a, std::ptrdiff_t b, std::ptrdiff_t c) -> std::uint64_t {
    return g.dim == 3 ? static_cast<std::uint64_t>((a * n + b) * half + c) : static_cast<std::uint64_t>(a * half + c);
  };
  fft::for_each_mode(g, [&](std::ptrdiff_t offset, const fft::mode& m) {
    const std::ptrdiff_t a = m.g[0];
    const std::ptrdiff_t b = g.dim == 3 ? m.g[1] : 0;
    const std::ptrdiff_t c = m.g[last];
    const bool self_conjugate_plane = c == 0 || (even && c == n / 2);
    if (!self_conjugate_plane) {
      out[offset] = complex_sigma * gaussian_pair(key, mode_id(a, b, c));
      return;
    }
    // A mode and its mirror (-a, -b) on this plane must be conjugates: both use the draw of the smaller id.
    const std::ptrdiff_t ma = (n - a) % n;
    const std::ptrdiff_t mb = g.dim == 3 ? (n - b) % n : 0;
    const std::uint64_t self = mode_id(a, b, c);
    const std::uint64_t mirror = mode_id(ma, mb, c);
    if (self == mirror) {
      out[offset] = {real_sigma * gaussian_pair(key, self).real(), 0.0};
    } else if (self < mirror) {
      out[offset] = complex_sigma * gaussian_pair(key, self);
    } else {
      out[offset] = std::conj(complex_sigma * gaussian_pair(key, mirror));
    }
  });
}

std::vector<double> spectrum_factors(int dim, std::ptrdiff_t n, const power_spectrum& spectrum, double box,
                                     double amplitude) {
  const double k_unit = 2.0 * std::numbers::pi / box;
  // |k|^2 in units of the fundamental is an integer up to dim * (N/2)^2: one P(k) per distinct value.
  const std::ptrdiff_t half_n = n / 2;
  const auto largest = static_cast<std::size_t>(dim * half_n * half_n);
  std::vector<double> factor(largest + 1, 0.0);  // factor[0] = 0 removes the mean
#pragma omp parallel for schedule(dynamic, 256)
  for (std::size_t k2 = 1; k2 <= largest; ++k2) {
    factor[k2] = std::sqrt(amplitude * spectrum(k_unit * std::sqrt(static_cast<double>(k2))));
  }
  return factor;
}

void apply_spectrum(fft::field& f, const power_spectrum& spectrum, double box, double amplitude) {
  apply_spectrum_factors(f, spectrum_factors(f.geometry().dim, f.geometry().n, spectrum, box, amplitude));
}

void apply_spectrum_factors(fft::field& f, const std::vector<double>& factor) {
  const fft::slab_geometry& g = f.geometry();
  const std::ptrdiff_t half_n = g.n / 2;
  if (factor.size() <= static_cast<std::size_t>(g.dim * half_n * half_n)) {
    throw error("apply_spectrum_factors: a table of " + std::to_string(factor.size()) + " factors is too short for a " +
                std::to_string(g.n) + "^" + std::to_string(g.dim) + " box");
  }
  std::complex<double>* values = f.fourier();
  fft::for_each_mode(g, [&](std::ptrdiff_t offset, const fft::mode& m) {
    values[offset] *= factor[static_cast<std::size_t>(m.k[0] * m.k[0] + m.k[1] * m.k[1] + m.k[2] * m.k[2])];
  });
}

double variance_from_fourier(const fft::slab_ranks& ranks, const fft::field& f) {
  const fft::slab_geometry& g = f.geometry();
  std::vector<double> per_plane(static_cast<std::size_t>(g.fourier_count), 0.0);
  const std::complex<double>* values = f.fourier();
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t plane = 0; plane < g.fourier_count; ++plane) {
    double sum = 0;
    fft::for_each_mode_in_plane(g, plane, [&](std::ptrdiff_t offset, const fft::mode& m) {
      sum += m.weight * std::norm(values[offset]);
    });
    per_plane[static_cast<std::size_t>(plane)] = sum;
  }
  return fft::ordered_plane_sum(ranks, per_plane, 1)[0];
}

void scale(fft::field& f, double factor) {
  double* p = f.real();
  const auto count = static_cast<std::ptrdiff_t>(f.size());
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t i = 0; i < count; ++i) p[i] *= factor;
}

void potential_from_density(const fft::field& delta, fft::field& phi, double box) {
  const double k_unit = 2.0 * std::numbers::pi / box;
  const std::complex<double>* in = delta.fourier();
  std::complex<double>* out = phi.fourier();
  fft::for_each_mode(delta.geometry(), [&](std::ptrdiff_t offset, const fft::mode& m) {
    const double k2 = m.k2() * k_unit * k_unit;
    out[offset] = k2 == 0 ? std::complex<double>(0.0) : -in[offset] / k2;
  });
}

void minus_gradient(const fft::field& phi, fft::field& out, int axis, double box) {
  const double k_unit = 2.0 * std::numbers::pi / box;
  const std::ptrdiff_t n = phi.geometry().n;
  const std::complex<double>* in = phi.fourier();
  std::complex<double>* result = out.fourier();
  fft::for_each_mode(phi.geometry(), [&](std::ptrdiff_t offset, const fft::mode& m) {
    const std::ptrdiff_t k = m.k[axis];
    const bool nyquist = n % 2 == 0 && (k == n / 2 || k == -n / 2);
    // -grad: -i k phi_k
    result[offset] = nyquist ? std::complex<double>(0.0) : std::complex<double>(0.0, -k_unit * k) * in[offset];
  });
}

}  // namespace plx::cosmo
