// Test helper: a Gaussian density and its potential on a communicator's slabs, both in real space, made by the
// pipeline's own steps (noise, spectrum, Poisson), and a smooth spectrum that the grid resolves.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <parallax/cosmo/gaussian_field.hpp>
#include <parallax/cosmo/spectrum.hpp>
#include <parallax/fft/field.hpp>
#include <parallax/fft/plan.hpp>
#include <parallax/fft/slab.hpp>

namespace plx::testing_support {

/// P(k) = exp(-(k/k0)^2).
class smooth_spectrum final : public cosmo::power_spectrum {
 public:
  explicit smooth_spectrum(double k0) : k0_(k0) {}
  double operator()(double k) const override { return std::exp(-(k / k0_) * (k / k0_)); }
  std::string name() const override { return "smooth"; }
  std::vector<std::pair<std::string, double>> parameters() const override { return {{"k0", k0_}}; }

 private:
  double k0_;
};

struct gaussian_fields {
  fft::slab_geometry g;
  std::unique_ptr<fft::field> delta;  // real space
  std::unique_ptr<fft::field> phi;    // real space
  std::unique_ptr<fft::r2c_plans> plans;
};

/// Collective: noise -> delta_k (physical amplitude N^d / L^d) -> phi_k = -delta_k / k^2; both inverted to
/// real space.
inline gaussian_fields make_gaussian_fields(const communicator& comm, int dim, std::ptrdiff_t n, double box,
                                            const cosmo::power_spectrum& p, std::uint64_t seed = 7) {
  gaussian_fields f;
  f.g = fft::make_slab_geometry(comm, dim, n);
  f.delta = std::make_unique<fft::field>(f.g);
  f.phi = std::make_unique<fft::field>(f.g);
  f.plans = std::make_unique<fft::r2c_plans>(comm, *f.delta, fft::plan_mode::estimate);
  cosmo::fill_white_noise(*f.delta, seed);
  cosmo::apply_spectrum(*f.delta, p, box, f.g.global_cells() / std::pow(box, dim));
  cosmo::potential_from_density(*f.delta, *f.phi, box);
  f.plans->backward(*f.delta);
  f.plans->backward(*f.phi);
  return f;
}

}  // namespace plx::testing_support
