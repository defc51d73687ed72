#include <parallax/cosmo/pipeline.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <numbers>
#include <vector>

#include <mpi.h>

#include <fmt/format.h>

#include <parallax/core/collectives.hpp>
#include <parallax/core/error.hpp>
#include <parallax/cosmo/gaussian_field.hpp>
#include <parallax/cosmo/power_measure.hpp>
#include <parallax/cosmo/stages.hpp>
#include <parallax/cosmo/zeldovich.hpp>
#include <parallax/fft/modes.hpp>
#include <parallax/fft/plan.hpp>
#include <parallax/io/atomic_output.hpp>
#include <parallax/io/hdf5_file.hpp>
#include <parallax/io/slab_io.hpp>
#include <parallax/io/xdmf.hpp>
#include <parallax/version.hpp>

namespace plx::cosmo {

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

namespace {

using clock = std::chrono::steady_clock;

// Seconds since the last lap, measured on every rank after the stage's collective calls.
class stopwatch {
 public:
  double lap() {
    const auto now = clock::now();
    const double s = std::chrono::duration<double>(now - last_).count();
    last_ = now;
    return s;
  }
  [[nodiscard]] double since_start() const { return std::chrono::duration<double>(clock::now() - start_).count(); }

 private:
  clock::time_point start_ = clock::now();
  clock::time_point last_ = start_;
};

void log_line(bool log, const std::string& text) {
  if (log) std::fprintf(stderr, "plx-cosmo: %s\n", text.c_str());
}

// Refuses (collectively, before any allocation) a run whose estimated memory exceeds a node's memory.
void check_memory(const communicator& comm, const fft::slab_geometry& g, int dim) {
  const double mine = memory_estimate_bytes(dim, g.alloc_doubles(), g.real_count * g.rows_per_plane() * g.n);
  const communicator node = comm.split_shared();
  double on_node = 0;
  detail::check_mpi(MPI_Allreduce(&mine, &on_node, 1, MPI_DOUBLE, MPI_SUM, node.native()), "MPI_Allreduce");
  const double node_bytes = static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGE_SIZE));
  int too_big = on_node > 0.9 * node_bytes ? 1 : 0;
  int any = 0;
  detail::check_mpi(MPI_Allreduce(&too_big, &any, 1, MPI_INT, MPI_MAX, comm.native()), "MPI_Allreduce");
  if (any) {
    throw config_error(fmt::format("a {}^{} grid needs about {:.1f} GiB on a node that has {:.1f} GiB: use a smaller "
                                   "--n or more nodes",
                                   g.n, dim, on_node / (1 << 30), node_bytes / (1 << 30)));
  }
}

// Everything the density and potential stages produce.
struct density_potential {
  std::unique_ptr<fft::r2c_plans> plans;
  std::unique_ptr<fft::field> density;    // real space
  std::unique_ptr<fft::field> potential;  // real space
  double power_factor = 1;                // the density's spectrum is power_factor * P(k)
  bool wisdom_loaded = false;
  // With `full`: the density's measured spectrum and the displacement (real space, one field per axis),
  // both taken while the density and the potential are still in Fourier space (no round trips).
  measured_spectrum measured;
  std::vector<std::unique_ptr<fft::field>> displacement;
};

density_potential make_density_potential(const communicator& comm, const pipeline_params& p,
                                         const fft::slab_geometry& g, const power_spectrum& spectrum,
                                         stage_timings& t, stopwatch& watch, bool full) {
  density_potential r;
  r.density = std::make_unique<fft::field>(g);
  r.potential = std::make_unique<fft::field>(g);
  const fft::plan_mode mode = fft::parse_plan_mode(p.plan);
  if (!p.wisdom.empty()) r.wisdom_loaded = fft::load_wisdom(comm, p.wisdom);
  r.plans = std::make_unique<fft::r2c_plans>(comm, *r.density, mode);
  if (!p.wisdom.empty()) fft::save_wisdom(comm, p.wisdom);
  watch.lap();  // field allocation is not planning: report FFTW's own time
  t.plan = r.plans->planning_seconds();

  fill_white_noise(*r.density, p.seed);
  t.noise = watch.lap();

  r.power_factor = shape_density(comm, make_density_recipe(p, spectrum), *r.density);
  t.density = watch.lap();
  if (full) {
    r.measured = measure_power(comm, *r.density, p.box, assignment_window::none,
                               fourier_normalisation::ready_to_invert);
    t.power_spectrum = watch.lap();
  }
  potential_from_density(*r.density, *r.potential, p.box);
  if (full) {
    // -grad phi from phi_k as it is now: dim inverse transforms (plx-ensemble's realizations do the same).
    std::vector<fft::field*> psi;
    for (int axis = 0; axis < p.dim; ++axis) psi.push_back(r.displacement.emplace_back(std::make_unique<fft::field>(g)).get());
    psi.back()->copy_from(*r.potential);
    displacement_from_fourier_potential(*r.plans, psi, p.box);
    t.displacement = watch.lap();
  }
  r.plans->backward(*r.density);
  t.density += watch.lap();

  r.plans->backward(*r.potential);
  t.potential = watch.lap();
  return r;
}

std::string frame_path(std::size_t index) { return fmt::format("/frames/{:03}/density", index); }

}  // namespace

stage_timings run_density_potential(const communicator& comm, const pipeline_params& params) {
  const auto spectrum = detail::on_all_ranks(comm, [&] {
    validate(params);
    return make_spectrum(params.spectrum);
  });
  const fft::slab_geometry g = fft::make_slab_geometry(comm, params.dim, params.n);
  stage_timings t;
  stopwatch watch;
  const density_potential r = make_density_potential(comm, params, g, *spectrum, t, watch, false);
  comm.barrier();
  t.total = watch.since_start();
  return t;
}

pipeline_report run_pipeline(const communicator& comm, const pipeline_params& p, const run_info& info, bool log) {
  // Every rank checks (and may read a table); one rank's failure fails them all, before any work.
  const auto spectrum = detail::on_all_ranks(comm, [&] {
    validate(p);
    return make_spectrum(p.spectrum);
  });
  const fft::slab_geometry g = fft::make_slab_geometry(comm, p.dim, p.n);
  const std::vector<fft::slab_geometry> all = fft::gather_geometries(comm, g);
  if (log && comm.is_root()) {
    std::fprintf(stderr, "%s", fft::decomposition_report(all, 3 + p.dim).c_str());
    // The estimate includes the particles of the frames stage, beyond the grids listed above.
    std::fprintf(stderr, "  memory estimate per rank (grids and particles): %.1f MiB\n",
                 memory_estimate_bytes(p.dim, g.alloc_doubles(), g.real_count * g.rows_per_plane() * g.n) / (1 << 20));
  }
  check_memory(comm, g, p.dim);

  log = log && comm.is_root();
  pipeline_report report;
  stage_timings& t = report.seconds;
  stopwatch watch;
  io::atomic_output output(comm, p.out, p.force);
  if (!p.wisdom.empty()) fft::check_wisdom_path(comm, p.wisdom);
  io::h5_file file = io::h5_file::create(comm, output.temporary_path());
  watch.lap();

  density_potential dp = make_density_potential(comm, p, g, *spectrum, t, watch, true);
  report.wisdom_loaded = dp.wisdom_loaded;
  log_line(log, fmt::format("plan {:.3f} s ({}{})", t.plan, p.plan, dp.wisdom_loaded ? ", wisdom loaded" : ""));
  log_line(log, fmt::format("noise {:.3f} s, density {:.3f} s, potential {:.3f} s", t.noise, t.density, t.potential));

  const std::vector<hsize_t> dims(static_cast<std::size_t>(p.dim), static_cast<hsize_t>(p.n));
  const auto offset0 = static_cast<hsize_t>(g.real_start);
  const auto count0 = static_cast<hsize_t>(g.real_count);
  const auto stride = static_cast<hsize_t>(g.padded());
  io::write_distributed(file, "/density", dims, offset0, count0, dp.density->real(), stride);
  io::write_distributed(file, "/potential", dims, offset0, count0, dp.potential->real(), stride);
  t.write += watch.lap();

  // The displacement was taken from phi_k with the potential (make_density_potential).
  std::vector<std::unique_ptr<fft::field>>& displacement = dp.displacement;
  std::vector<fft::field*> psi;
  for (auto& component : displacement) psi.push_back(component.get());
  log_line(log, fmt::format("displacement {:.3f} s", t.displacement));
  {
    // Components last: pack this rank's cells as [x][y][z][axis].
    const std::size_t local_cells = static_cast<std::size_t>(g.real_count * g.rows_per_plane() * g.n);
    std::vector<double> packed(std::max<std::size_t>(local_cells, 1) * static_cast<std::size_t>(p.dim));
    const auto cells_per_plane = static_cast<std::size_t>(g.rows_per_plane() * g.n);
#pragma omp parallel for schedule(static)
    for (std::ptrdiff_t plane = 0; plane < g.real_count; ++plane) {
      std::size_t cell = static_cast<std::size_t>(plane) * cells_per_plane;
      fft::for_each_cell_in_plane(g, plane, [&](std::ptrdiff_t offset, std::ptrdiff_t, std::ptrdiff_t, std::ptrdiff_t) {
        for (int a = 0; a < p.dim; ++a) packed[cell * static_cast<std::size_t>(p.dim) + static_cast<std::size_t>(a)] = displacement[static_cast<std::size_t>(a)]->real()[offset];
        ++cell;
      });
    }
    std::vector<hsize_t> vector_dims = dims;
    vector_dims.push_back(static_cast<hsize_t>(p.dim));
    io::write_distributed(file, "/displacement", vector_dims, offset0, count0, packed.data());
  }
  t.write += watch.lap();

  // Frames: one Zel'dovich density per time, written as it is made.
  auto frame = std::make_unique<fft::field>(g);
  const std::vector<const fft::field*> components(psi.begin(), psi.end());
  for (std::size_t i = 0; i < p.times.size(); ++i) {
    zeldovich_density(comm, components, p.times[i], p.box, *frame);
    t.frames += watch.lap();
    io::write_distributed(file, frame_path(i), dims, offset0, count0, frame->real(), stride);
    io::set_attribute(file, frame_path(i), "time", p.times[i]);
    t.write += watch.lap();
  }
  psi.clear();
  displacement.clear();
  log_line(log, fmt::format("frames {:.3f} s ({} times)", t.frames, p.times.size()));

  // Measured power spectrum of the density (taken from its Fourier field), next to the input one.
  const measured_spectrum& measured = dp.measured;
  std::vector<double> input;
  for (const double k : measured.k) input.push_back(dp.power_factor * (*spectrum)(k));
  t.power_spectrum += watch.lap();
  log_line(log, fmt::format("power spectrum {:.3f} s ({} bins)", t.power_spectrum, measured.k.size()));

  const std::vector<hsize_t> bins = {static_cast<hsize_t>(measured.k.size())};
  io::write_from_root(file, "/power_spectrum/k", bins, measured.k);
  io::write_from_root(file, "/power_spectrum/power", bins, measured.power);
  io::write_from_root(file, "/power_spectrum/modes", bins, measured.modes);
  io::write_from_root(file, "/power_spectrum/input", bins, input);

  // Provenance.
  io::set_attribute(file, "/", "dim", std::int64_t{p.dim});
  io::set_attribute(file, "/", "N", static_cast<std::int64_t>(p.n));
  io::set_attribute(file, "/", "L", p.box);
  io::set_attribute_uint64(file, "/", "seed", p.seed);
  io::set_attribute(file, "/", "spectrum", spectrum->name());
  for (const auto& [name, value] : spectrum->parameters()) io::set_attribute(file, "/", "spectrum_" + name, value);
  if (p.spectrum.model == "table") io::set_attribute(file, "/", "spectrum_table", p.spectrum.table_path);
  io::set_attribute(file, "/", "normalisation", p.normalisation);
  io::set_attribute(file, "/", "times", std::span<const double>(p.times));
  io::set_attribute(file, "/", "parallax_version", std::string(version_string) + " (" + git_hash + ")");
  io::set_attribute(file, "/", "ranks", std::int64_t{comm.size()});
  io::set_attribute(file, "/", "threads", std::int64_t{info.threads});
  io::set_attribute(file, "/", "fft_plan", p.plan);
  io::set_attribute(file, "/", "command_line", info.command_line);
  t.write += watch.lap();
  io::set_attribute(file, "/", "wall_time_s", watch.since_start());
  file.close();
  output.commit();
  t.write += watch.lap();

  // The XDMF sidecar names the final file, so it is written once the rename is done. Root writes it; a
  // failure there (a full disk) is everyone's failure, so no rank is left waiting.
  detail::on_all_ranks(comm, [&] {
    if (!comm.is_root()) return;
    const io::xdmf_grid grid{p.dim, static_cast<std::size_t>(p.n), p.box};
    const std::vector<io::xdmf_field> fields = {{"density", "/density", false}, {"potential", "/potential", false},
                                                {"displacement", "/displacement", true}};
    std::vector<io::xdmf_frame> frames;
    for (std::size_t i = 0; i < p.times.size(); ++i) frames.push_back({p.times[i], {{"density", frame_path(i), false}}});
    io::write_xdmf_file(io::xdmf_path_for(p.out), p.out, grid, fields, frames);
  });
  t.total = watch.since_start();
  report.output = p.out;

  const double mine = peak_rss_mb();
  report.peak_rss_mb.assign(comm.is_root() ? static_cast<std::size_t>(comm.size()) : 0, 0.0);
  detail::check_mpi(MPI_Gather(&mine, 1, MPI_DOUBLE, report.peak_rss_mb.data(), 1, MPI_DOUBLE, 0, comm.native()),
                    "MPI_Gather");
  return report;
}

}  // namespace plx::cosmo
