#include <parallax/cosmo/stages.hpp>

#include <cmath>

#include <parallax/core/error.hpp>
#include <parallax/cosmo/gaussian_field.hpp>
#include <parallax/fft/serial_plans.hpp>

namespace plx::cosmo {

density_recipe make_density_recipe(const pipeline_params& p, const power_spectrum& spectrum) {
  density_recipe r;
  r.cells = fft::serial_slab_geometry(p.dim, p.n).global_cells();
  r.volume = std::pow(p.box, p.dim);
  r.unit_variance = p.normalisation == "unit-variance";
  // The ready-to-invert noise has E|w_k|^2 = 1/N^d; a physical field needs E|delta_k / N^d|^2 = P / V,
  // hence the amplitude N^d / V. Unit variance rescales afterwards, so any amplitude does there.
  r.amplitude = r.unit_variance ? 1.0 : r.cells / r.volume;
  if (p.normalisation == "sigma8") r.amplitude *= std::pow(p.spectrum.sigma_8 / sigma_r(spectrum, 8.0), 2);
  r.factors = spectrum_factors(p.dim, p.n, spectrum, p.box, r.amplitude);
  return r;
}

double shape_density(const fft::slab_ranks& ranks, const density_recipe& recipe, fft::field& density) {
  apply_spectrum_factors(density, recipe.factors);
  double rescale = 1.0;
  if (recipe.unit_variance) {
    rescale = 1.0 / std::sqrt(variance_from_fourier(ranks, density));
    scale(density, rescale);
  }
  // Measured P = V * E|f_k|^2 = V * amplitude * rescale^2 / N^d * P(k).
  return recipe.volume * recipe.amplitude * rescale * rescale / recipe.cells;
}

void displacement_from_fourier_potential(const fft::transforms& plans, std::span<fft::field* const> components,
                                         double box) {
  if (components.empty()) throw error("displacement_from_fourier_potential: no component fields");
  fft::field& phi = *components.back();
  const int dim = phi.geometry().dim;
  if (static_cast<int>(components.size()) != dim) {
    throw error("displacement_from_fourier_potential: need one field per axis");
  }
  for (int axis = 0; axis < dim - 1; ++axis) {
    fft::field& out = *components[static_cast<std::size_t>(axis)];
    minus_gradient(phi, out, axis, box);
    plans.backward(out);
  }
  minus_gradient(phi, phi, dim - 1, box);  // element by element, so in place is safe
  plans.backward(phi);
}

}  // namespace plx::cosmo
