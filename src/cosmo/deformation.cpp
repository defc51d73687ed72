#include <parallax/cosmo/deformation.hpp>

#include <parallax/cosmo/output_metadata.hpp>
#include <parallax/io/dimension_scales.hpp>

#include <complex>
#include <cstdlib>
#include <memory>
#include <numbers>
#include <string>

#include <mpi.h>

#include <Eigen/Eigenvalues>

#include <parallax/core/collectives.hpp>
#include <parallax/core/error.hpp>
#include <parallax/cosmo/gaussian_field.hpp>
#include <parallax/fft/modes.hpp>
#include <parallax/io/slab_io.hpp>

namespace plx::cosmo {

namespace {

/// out_k = -k_i k_j phi_k (box units): the Fourier field of d_i d_j phi. Element by element, so `out` may be
/// `phi`.
void second_derivative(const fft::field& phi, fft::field& out, int i, int j, double box) {
  const double k_unit = 2.0 * std::numbers::pi / box;
  const double factor = -k_unit * k_unit;
  const std::ptrdiff_t n = phi.geometry().n;
  const auto is_nyquist = [n](std::ptrdiff_t k) { return n % 2 == 0 && std::abs(k) == n / 2; };
  const std::complex<double>* in = phi.fourier();
  std::complex<double>* result = out.fourier();
  fft::for_each_mode(phi.geometry(), [&](std::ptrdiff_t offset, const fft::mode& m) {
    const std::ptrdiff_t ki = m.k[i];
    const std::ptrdiff_t kj = m.k[j];
    // A mixed derivative is two first derivatives, each without a real counterpart at Nyquist.
    const bool zeroed = i != j && (is_nyquist(ki) || is_nyquist(kj));
    result[offset] = zeroed ? std::complex<double>(0.0)
                            : factor * static_cast<double>(ki) * static_cast<double>(kj) * in[offset];
  });
}

/// The eigenvalues of the symmetric Dim x Dim tensor at `offset` of the fields, sorted descending into `out`.
template <int Dim>
void eigenvalues_at(std::span<const fft::field* const> components, std::ptrdiff_t offset, double* out) {
  Eigen::Matrix<double, Dim, Dim> t;
  for (int i = 0; i < Dim; ++i) {
    for (int j = i; j < Dim; ++j) {
      t(i, j) = t(j, i) = components[static_cast<std::size_t>(tensor_component(Dim, i, j))]->real()[offset];
    }
  }
  // The closed form (Eigen: "computeDirect" for 2x2 and 3x3) instead of the iterative QR: several times
  // faster per cell, and accurate to round-off relative to the largest |eigenvalue|, which the trace test
  // checks.
  Eigen::SelfAdjointEigenSolver<Eigen::Matrix<double, Dim, Dim>> solver;
  solver.computeDirect(t, Eigen::EigenvaluesOnly);
  const auto& ascending = solver.eigenvalues();
  for (int a = 0; a < Dim; ++a) out[a] = ascending(Dim - 1 - a);
}

template <int Dim>
void classify_into(std::span<const fft::field* const> components, web_classes& web) {
  const fft::slab_geometry& g = components.front()->geometry();
  const auto cells_per_plane = static_cast<std::size_t>(g.rows_per_plane() * g.n);
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t plane = 0; plane < g.real_count; ++plane) {
    std::size_t cell = static_cast<std::size_t>(plane) * cells_per_plane;
    fft::for_each_cell_in_plane(g, plane, [&](std::ptrdiff_t offset, std::ptrdiff_t, std::ptrdiff_t, std::ptrdiff_t) {
      double* values = web.eigenvalues.data() + cell * Dim;
      eigenvalues_at<Dim>(components, offset, values);
      int above = 0;
      for (int a = 0; a < Dim; ++a) above += values[a] > web.threshold ? 1 : 0;
      web.classes[cell] = static_cast<std::uint8_t>(above);
      ++cell;
    });
  }
}

}  // namespace

void deformation_from_fourier_potential(const fft::transforms& plans, std::span<fft::field* const> components,
                                        double box) {
  if (components.empty()) throw error("deformation_from_fourier_potential: no component fields");
  fft::field& phi = *components.back();
  const int dim = phi.geometry().dim;
  if (static_cast<int>(components.size()) != tensor_components(dim)) {
    throw error("deformation_from_fourier_potential: need " + std::to_string(tensor_components(dim)) +
                " component fields in " + std::to_string(dim) + "D, got " + std::to_string(components.size()));
  }
  // Every component but the last from phi_k, then the last (d, d) in place over phi_k.
  for (int i = 0; i < dim; ++i) {
    for (int j = i; j < dim; ++j) {
      const int c = tensor_component(dim, i, j);
      if (c == tensor_components(dim) - 1) continue;
      fft::field& out = *components[static_cast<std::size_t>(c)];
      second_derivative(phi, out, i, j, box);
      plans.backward(out);
    }
  }
  second_derivative(phi, phi, dim - 1, dim - 1, box);
  plans.backward(phi);
}

web_classes classify_cells(std::span<const fft::field* const> components, double threshold) {
  if (components.empty()) throw error("classify_cells: no component fields");
  const fft::slab_geometry& g = components.front()->geometry();
  if (static_cast<int>(components.size()) != tensor_components(g.dim)) {
    throw error("classify_cells: need " + std::to_string(tensor_components(g.dim)) + " component fields");
  }
  web_classes web;
  web.dim = g.dim;
  web.threshold = threshold;
  const auto cells = static_cast<std::size_t>(g.real_count * g.rows_per_plane() * g.n);
  web.eigenvalues.resize(cells * static_cast<std::size_t>(g.dim));
  web.classes.resize(cells);
  if (g.dim == 3) {
    classify_into<3>(components, web);
  } else {
    classify_into<2>(components, web);
  }
  web.class_counts.assign(static_cast<std::size_t>(g.dim) + 1, 0);
  for (const std::uint8_t c : web.classes) ++web.class_counts[c];
  return web;
}

web_classes deformation_classes(const fft::slab_ranks& ranks, const fft::transforms& plans, fft::field& potential,
                                double box, double threshold) {
  const fft::slab_geometry& g = potential.geometry();
  // The tensor's fields first, on every rank or on none: a rank out of memory alone would leave the others
  // waiting in the transforms' collectives (the job then ended with MPI_Abort; now one line, exit 1).
  const auto allocate = [&] {
    std::vector<std::unique_ptr<fft::field>> fields;
    try {
      for (int c = 0; c + 1 < tensor_components(g.dim); ++c) fields.push_back(std::make_unique<fft::field>(g));
    } catch (const std::exception& e) {
      if (ranks.is_serial()) throw;
      throw error(std::string(e.what()) + " (rank " + std::to_string(ranks.comm().rank()) + " of " +
                  std::to_string(ranks.comm().size()) + ")");
    }
    return fields;
  };
  std::vector<std::unique_ptr<fft::field>> owned =
      ranks.is_serial() ? allocate() : detail::on_all_ranks(ranks.comm(), allocate);
  plans.forward(potential);
  scale(potential, 1.0 / g.global_cells());  // ready to invert
  std::vector<fft::field*> components;
  for (const auto& field : owned) components.push_back(field.get());
  components.push_back(&potential);
  deformation_from_fourier_potential(plans, components, box);

  const std::vector<const fft::field*> views(components.begin(), components.end());
  web_classes web = classify_cells(views, threshold);
  owned.clear();  // the tensor is no longer needed; free it before the reduction and the writes
  if (!ranks.is_serial()) {
    // Integer counts: their sum is exact, so the same on every layout. A failure on one rank is everyone's
    // (the allreduce completed elsewhere, and the next collective would wait for this rank forever).
    detail::on_all_ranks(ranks.comm(), [&] {
      std::vector<std::int64_t> total(web.class_counts.size());
      detail::check_mpi(MPI_Allreduce(web.class_counts.data(), total.data(), static_cast<int>(total.size()),
                                      MPI_INT64_T, MPI_SUM, ranks.comm().native()),
                        "MPI_Allreduce");
      web.class_counts = std::move(total);
    });
  }
  for (const std::int64_t count : web.class_counts) {
    web.class_fraction.push_back(static_cast<double>(count) / g.global_cells());
  }
  return web;
}

void write_deformation(io::h5_file& file, const fft::slab_geometry& g, const web_classes& web) {
  std::vector<hsize_t> dims(static_cast<std::size_t>(g.dim), static_cast<hsize_t>(g.n));
  const auto offset0 = static_cast<hsize_t>(g.real_start);
  const auto count0 = static_cast<hsize_t>(g.real_count);
  io::write_distributed(file, "/deformation/class", {.global_dims = dims, .offset0 = offset0, .count0 = count0},
                        std::span<const std::uint8_t>(web.classes));
  io::set_attribute(file, "/deformation/class", "threshold", web.threshold);
  io::set_attribute(file, "/deformation/class", "class_fraction", std::span<const double>(web.class_fraction));
  dims.push_back(static_cast<hsize_t>(g.dim));
  io::write_distributed(file, "/deformation/eigenvalues", {.global_dims = dims, .offset0 = offset0, .count0 = count0},
                        std::span<const double>(web.eigenvalues));
}

void describe_deformation(io::h5_file& file, int dim, std::ptrdiff_t n, double box, const std::string& length) {
  std::vector<std::string> axes = write_grid_scales(file, dim, n, box, length);
  io::attach_dimension_scales(file, "/deformation/class", axes);
  io::describe_dataset(file, "/deformation/class", "1",
                       "cosmic-web class: eigenvalues of the deformation tensor above the threshold (3D: 0 void, 1 "
                       "sheet, 2 filament, 3 knot; 2D: 0 void, 1 filament, 2 node)");
  axes.push_back(write_index_scale(file, "eigenvalue", static_cast<std::size_t>(dim),
                                   "eigenvalue index, in descending order (0 is the largest)"));
  io::attach_dimension_scales(file, "/deformation/eigenvalues", axes);
  io::describe_dataset(file, "/deformation/eigenvalues", "1",
                       "eigenvalues of the deformation tensor d_i d_j phi, descending (they sum to delta)");
}

}  // namespace plx::cosmo
