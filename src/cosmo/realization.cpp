#include <parallax/cosmo/realization.hpp>

#include <utility>

#include <parallax/cosmo/gaussian_field.hpp>
#include <parallax/cosmo/power_measure.hpp>
#include <parallax/cosmo/zeldovich.hpp>
#include <parallax/fft/modes.hpp>

namespace plx::cosmo {

namespace {

// A thread's grids for realizations of one box shape: density (later each evolved density), potential,
// and the displacement components besides the potential's own field.
struct workspace {
  int dim = 0;
  std::ptrdiff_t n = 0;
  std::vector<std::unique_ptr<fft::field>> grids;
};

workspace& thread_workspace(const fft::slab_geometry& g) {
  // One per thread, kept between tasks (OpenMP threads live on): a realization allocates nothing large.
  thread_local workspace w;
  if (w.dim != g.dim || w.n != g.n) {
    w.grids.clear();
    w.dim = g.dim;
    w.n = g.n;
    for (int i = 0; i < g.dim + 1; ++i) w.grids.push_back(std::make_unique<fft::field>(g));
  }
  return w;
}

// E[variance] of the shaped, not yet rescaled density: every stored mode of the ready-to-invert noise has
// E|w_k|^2 = 1/N^d, so by Parseval E[sum weight |f_k|^2] = sum weight factor^2 / N^d.
double expected_variance(const fft::slab_geometry& g, const std::vector<double>& factors) {
  std::vector<double> per_plane(static_cast<std::size_t>(g.fourier_count), 0.0);
  for (std::ptrdiff_t plane = 0; plane < g.fourier_count; ++plane) {
    fft::for_each_mode_in_plane(g, plane, [&](std::ptrdiff_t, const fft::mode& m) {
      const double f = factors[static_cast<std::size_t>(m.k[0] * m.k[0] + m.k[1] * m.k[1] + m.k[2] * m.k[2])];
      per_plane[static_cast<std::size_t>(plane)] += m.weight * f * f;
    });
  }
  return fft::serial_plane_sum(per_plane, 1)[0] / g.global_cells();
}

}  // namespace

realization_maker::realization_maker(pipeline_params params)
    : params_(std::move(params)),
      spectrum_([&] {
        validate(params_);
        return make_spectrum(params_.spectrum);
      }()),
      recipe_(make_density_recipe(params_, *spectrum_)),
      plans_(params_.dim, params_.n) {
  const fft::slab_geometry& g = plans_.geometry();
  // The bins depend on the box alone: measure an empty field.
  const fft::field empty(g);
  const measured_spectrum bins = measure_power(fft::slab_ranks::serial(), empty, params_.box);
  k_ = bins.k;
  modes_ = bins.modes;
  const double variance = recipe_.unit_variance ? expected_variance(g, recipe_.factors) : 1.0;
  const double factor = recipe_.volume * recipe_.amplitude / (variance * recipe_.cells);
  for (const double k : k_) input_.push_back(factor * (*spectrum_)(k));
}

realization_maker::~realization_maker() = default;

realization_spectra realization_maker::run(std::uint64_t seed) const { return run(seed, {}); }

realization_spectra realization_maker::run(std::uint64_t seed, const frame_callback& on_frame) const {
  const fft::slab_ranks serial = fft::slab_ranks::serial();
  const fft::slab_geometry& g = plans_.geometry();
  const double box = params_.box;
  workspace& w = thread_workspace(g);
  fft::field& density = *w.grids[0];
  fft::field& potential = *w.grids[1];

  // plx-cosmo's stages, in its order.
  fill_white_noise(density, seed);
  (void)shape_density(serial, recipe_, density);
  // As plx-cosmo: P(k) and the displacement from the Fourier fields, no round trips (4 transforms in 3D
  // with one time, where measuring the real-space density's transform took 8).
  realization_spectra out;
  out.power = measure_power(serial, density, box, assignment_window::none, fourier_normalisation::ready_to_invert).power;
  potential_from_density(density, potential, box);
  std::vector<fft::field*> components;
  for (int axis = 0; axis < g.dim - 1; ++axis) components.push_back(w.grids[static_cast<std::size_t>(axis) + 2].get());
  components.push_back(&potential);
  displacement_from_fourier_potential(plans_, components, box);

  const std::vector<const fft::field*> psi(components.begin(), components.end());
  out.power_evolved.reserve(params_.times.size() * k_.size());
  for (std::size_t i = 0; i < params_.times.size(); ++i) {
    zeldovich_density(serial, psi, params_.times[i], box, density);
    if (on_frame) on_frame(i, density);
    plans_.forward(density);
    const measured_spectrum evolved = measure_power(serial, density, box, assignment_window::cic);
    out.power_evolved.insert(out.power_evolved.end(), evolved.power.begin(), evolved.power.end());
  }
  return out;
}

}  // namespace plx::cosmo
