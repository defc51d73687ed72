/// @file
/// The stages of the cosmology pipeline that a distributed run (plx-cosmo, over a communicator's slabs) and a
/// serial realization (one box on one thread, plx-ensemble's task) share: the same code, so the same bits.
/// A stage takes the box's ranks (fft::slab_ranks: a communicator, or serial) and its transforms
/// (fft::transforms: r2c_plans or serial_r2c_plans); with a serial box nothing calls MPI.
#pragma once

#include <span>
#include <vector>

#include <parallax/cosmo/params.hpp>
#include <parallax/cosmo/spectrum.hpp>
#include <parallax/fft/field.hpp>
#include <parallax/fft/slab_ranks.hpp>
#include <parallax/fft/transforms.hpp>

namespace plx::cosmo {

/// How white noise becomes a density for one parameter set: made once, shared by any number of
/// realizations (read-only, thread-safe).
struct density_recipe {
  std::vector<double> factors;  ///< spectrum_factors of the box for `amplitude`
  double amplitude = 1;         ///< the spectrum's factor: N^d / V (times the sigma8 rescaling), or 1 for unit variance
  bool unit_variance = false;   ///< each realization is rescaled to unit variance afterwards
  double cells = 1;             ///< N^d
  double volume = 1;            ///< L^d
};

/// The recipe of `params` (normalisation "none", "sigma8" or "unit-variance") for `spectrum`. Throws
/// plx::config_error from sigma_r when sigma8 cannot be computed.
[[nodiscard]] density_recipe make_density_recipe(const pipeline_params& params, const power_spectrum& spectrum);

/// Collective unless serial. Turns the ready-to-invert white noise in `density` (Fourier space) into the
/// density contrast: the spectrum's factors, then (unit variance) the rescaling by its own variance. Returns
/// the power factor f: the measured spectrum of the density is f * P(k).
double shape_density(const fft::slab_ranks& ranks, const density_recipe& recipe, fft::field& density);

/// Collective unless serial (the transforms). The Zel'dovich displacement -grad(phi), one real-space field
/// per axis in box units, from the potential still in Fourier space, ready to invert (as
/// potential_from_density leaves it): `components` has one field per axis, and the last one holds phi_k on
/// entry (it becomes the last component). dim inverse transforms; plx-cosmo took phi_k again from the
/// real-space potential before (a round trip more). plx-cosmo and plx-ensemble both use it, so their
/// frames agree bitwise.
void displacement_from_fourier_potential(const fft::transforms& plans, std::span<fft::field* const> components,
                                         double box);

}  // namespace plx::cosmo
