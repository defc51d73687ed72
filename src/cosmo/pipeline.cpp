#include <parallax/cosmo/pipeline.hpp>
#include <parallax/cosmo/output_metadata.hpp>

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
#include <parallax/core/memory_usage.hpp>
#include <parallax/cosmo/gaussian_field.hpp>
#include <parallax/cosmo/power_measure.hpp>
#include <parallax/cosmo/stages.hpp>
#include <parallax/cosmo/zeldovich.hpp>
#include <parallax/fft/modes.hpp>
#include <parallax/fft/plan.hpp>
#include <parallax/io/atomic_output.hpp>
#include <parallax/io/dimension_scales.hpp>
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

double memory_estimate_bytes(const fft::slab_geometry& g, int threads) {
  const auto n = static_cast<double>(g.n);
  const double grid = static_cast<double>(g.alloc_doubles()) * sizeof(double);
  const double plane = static_cast<double>(g.rows_per_plane() * g.padded()) * sizeof(double);
  const double particles_per_plane = static_cast<double>(g.rows_per_plane()) * n;
  // A thread's spill planes span twice the farthest a particle moves, plus 3; the workshop's defaults move
  // them up to about N / 20 planes at D = 4 (3D N = 256: 12 planes), here taken as N / 16.
  const double spill_planes = 2 * (n / 16 + 2) + 3;
  // Particles that cross an edge of the slab, both ways: about one plane's worth per edge at D = 4, kept as
  // a position (24 bytes) in the sender's thread list (+8), its send buffer and the receiver's.
  const double crossing = g.real_count > 0 && g.real_count < g.n ? 2 * 2 * particles_per_plane * (32 + 24 + 24) : 0;
  const double io_buffers = 24.0 * (1 << 20);  // ROMIO's collective buffer (16 MiB) and HDF5's caches
  return (g.dim + 1) * grid + threads * spill_planes * plane + crossing + io_buffers;
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

// The pipeline's memory, per rank: what it holds before the work plus the work's estimate (its peak).
struct memory_plan {
  double before_bytes = 0;  // resident when the pipeline starts (libraries, MPI, HDF5)
  double work_bytes = 0;    // memory_estimate_bytes
  [[nodiscard]] double peak_bytes() const { return before_bytes + work_bytes; }
};

memory_plan plan_memory(const fft::slab_geometry& g, int threads) {
  return {static_cast<double>(current_memory_usage().rss_bytes), memory_estimate_bytes(g, threads)};
}

// Collective: a field of `g` on every rank, or plx::io_error on every rank when any cannot allocate its own
// (one line, exit 1, where one rank's failure alone would end the job with MPI_Abort).
std::unique_ptr<fft::field> make_field(const communicator& comm, const fft::slab_geometry& g) {
  return detail::on_all_ranks(comm, [&] {
    try {
      return std::make_unique<fft::field>(g);
    } catch (const std::exception& e) {
      throw error(fmt::format("{} (rank {} of {})", e.what(), comm.rank(), comm.size()));
    }
  });
}

// The density and the potential in Fourier space, as the noise, density and potential stages leave them.
struct fourier_fields {
  std::unique_ptr<fft::r2c_plans> plans;
  std::unique_ptr<fft::field> density;
  std::unique_ptr<fft::field> potential;  // phi_k
  double power_factor = 1;                // the density's spectrum is power_factor * P(k)
  bool wisdom_loaded = false;
  measured_spectrum measured;             // with `measure`: the density's spectrum, from its Fourier field
};

fourier_fields make_fourier_fields(const communicator& comm, const pipeline_params& p, const fft::slab_geometry& g,
                                   const power_spectrum& spectrum, stage_timings& t, stopwatch& watch, bool measure) {
  fourier_fields r;
  r.density = make_field(comm, g);
  r.potential = make_field(comm, g);
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
  if (measure) {
    r.measured = measure_power(comm, *r.density, p.box, assignment_window::none,
                               fourier_normalisation::ready_to_invert);
    t.power_spectrum = watch.lap();
  }
  potential_from_density(*r.density, *r.potential, p.box);
  t.potential = watch.lap();
  return r;
}

std::string frame_path(std::size_t index) { return fmt::format("/frames/{:03}/density", index); }

// Collective. /displacement, components last, packed a few planes at a time (about 32 MiB) rather than as
// a copy of the whole slab, which would be dim grids more at the pipeline's peak.
void write_displacement(const communicator& comm, io::h5_file& file, const fft::slab_geometry& g,
                        std::span<const fft::field* const> psi) {
  const auto dim = static_cast<std::size_t>(g.dim);
  const auto cells_per_plane = static_cast<std::size_t>(g.rows_per_plane() * g.n);
  const std::size_t per_part = std::max<std::size_t>(1, (std::size_t{32} << 20) / (cells_per_plane * dim * sizeof(double)));
  std::int64_t most = g.real_count;
  detail::check_mpi(MPI_Allreduce(MPI_IN_PLACE, &most, 1, MPI_INT64_T, MPI_MAX, comm.native()), "MPI_Allreduce");
  const auto parts = (static_cast<std::size_t>(most) + per_part - 1) / per_part;  // the same on every rank
  std::vector<hsize_t> dims(dim + 1, static_cast<hsize_t>(g.n));
  dims.back() = dim;
  std::vector<double> packed(std::min(per_part, static_cast<std::size_t>(g.real_count)) * cells_per_plane * dim);
  for (std::size_t part = 0; part < parts; ++part) {
    const std::size_t first = std::min(part * per_part, static_cast<std::size_t>(g.real_count));
    const std::size_t planes = std::min(per_part, static_cast<std::size_t>(g.real_count) - first);
#pragma omp parallel for schedule(static)
    for (std::size_t plane = first; plane < first + planes; ++plane) {
      std::size_t cell = (plane - first) * cells_per_plane;
      fft::for_each_cell_in_plane(g, static_cast<std::ptrdiff_t>(plane), [&](std::ptrdiff_t offset, auto, auto, auto) {
        for (std::size_t a = 0; a < dim; ++a) packed[cell * dim + a] = psi[a]->real()[offset];
        ++cell;
      });
    }
    const io::slab_block block{.global_dims = dims,
                               .offset0 = static_cast<hsize_t>(g.real_start + static_cast<std::ptrdiff_t>(first)),
                               .count0 = planes};
    io::write_distributed_part(file, "/displacement", block, std::span<const double>(packed.data(), planes * cells_per_plane * dim));
  }
}

}  // namespace

stage_timings run_density_potential(const communicator& comm, const pipeline_params& params) {
  const auto spectrum = detail::on_all_ranks(comm, [&] {
    validate(params);
    return make_spectrum(params.spectrum);
  });
  const fft::slab_geometry g = fft::make_slab_geometry(comm, params.dim, params.n);
  stage_timings t;
  stopwatch watch;
  fourier_fields r = make_fourier_fields(comm, params, g, *spectrum, t, watch, false);
  r.plans->backward(*r.density);
  t.density += watch.lap();
  r.plans->backward(*r.potential);
  t.potential += watch.lap();
  comm.barrier();
  t.total = watch.since_start();
  return t;
}

// Collective. Units, meanings and named dimensions of every dataset (io/dimension_scales.hpp), so that
// xarray.open_dataset(path, engine="h5netcdf") shows them: coordinates /x, /y (, /z) of the grid points (box
// units), /component for the displacement's last axis, and k for the power spectrum. Lengths are Mpc/h where
// the spectrum sets them (Eisenstein-Hu, a CLASS/CAMB table: k in h/Mpc), box units otherwise.
void describe_outputs(io::h5_file& file, const pipeline_params& p, const std::string& spectrum_name) {
  const std::string length = length_units(spectrum_name);
  const bool physical = length != "box units";
  const std::string wavenumber = physical ? "h/Mpc" : "1/(box units)";
  const std::string volume = physical ? fmt::format("(Mpc/h)^{}", p.dim) : fmt::format("(box units)^{}", p.dim);
  const std::string area = physical ? "(Mpc/h)^2" : "(box units)^2";
  const std::vector<std::string> grid = write_grid_scales(file, p.dim, p.n, p.box, length);
  const std::string component =
      write_index_scale(file, "component", static_cast<std::size_t>(p.dim), "vector component: 0 = x, 1 = y, 2 = z");

  io::attach_dimension_scales(file, "/density", grid);
  io::describe_dataset(file, "/density", "1", "linear density contrast delta (Gaussian field, growth factor 1)");
  io::attach_dimension_scales(file, "/potential", grid);
  io::describe_dataset(file, "/potential", area, "gravitational potential phi, with nabla^2 phi = delta");
  std::vector<std::string> vector_axes = grid;
  vector_axes.push_back(component);
  io::attach_dimension_scales(file, "/displacement", vector_axes);
  io::describe_dataset(file, "/displacement", length, "Zel'dovich displacement Psi = -grad phi (at growth factor 1)");
  for (std::size_t i = 0; i < p.times.size(); ++i) {
    io::attach_dimension_scales(file, frame_path(i), grid);
    io::describe_dataset(file, frame_path(i), "1",
                         fmt::format("Zel'dovich particles per cell, cloud in cell (mean 1), at growth factor {}",
                                     p.times[i]));
  }
  io::make_dimension_scale(file, "/power_spectrum/k", "k");
  io::describe_dataset(file, "/power_spectrum/k", wavenumber, "wavenumber k: the mean |k| of the shell's modes");
  for (const char* name : {"power", "modes", "input"}) {
    io::attach_dimension_scales(file, std::string("/power_spectrum/") + name, {"/power_spectrum/k"});
  }
  io::describe_dataset(file, "/power_spectrum/power", volume, "measured power spectrum P(k) of /density");
  io::describe_dataset(file, "/power_spectrum/modes", "1", "Fourier modes in the shell");
  io::describe_dataset(file, "/power_spectrum/input", volume, "input power spectrum P(k) at the shell's k");
}

pipeline_report run_pipeline(const communicator& comm, const pipeline_params& p, const run_info& info,
                             pipeline_log logging) {
  // Every rank checks (and may read a table); one rank's failure fails them all, before any work.
  const auto spectrum = detail::on_all_ranks(comm, [&] {
    validate(p);
    return make_spectrum(p.spectrum);
  });
  const fft::slab_geometry g = fft::make_slab_geometry(comm, p.dim, p.n);
  const memory_plan memory = plan_memory(g, info.threads);
  // Before the table below (whose sizes would be absurd) and before any file: one line on every rank alike.
  check_node_memory(comm, memory.peak_bytes(), fmt::format("a {}^{} grid", g.n, g.dim),
                    "use a smaller --n or more nodes");
  const std::vector<fft::slab_geometry> all = fft::gather_geometries(comm, g);
  if (logging.stages && comm.is_root()) {
    std::fprintf(stderr, "%s", fft::decomposition_report(all, p.dim + 1).c_str());
    std::fprintf(stderr, "  memory estimate of root's peak: %.1f MiB (%.1f MiB now, %.1f MiB for the work: the grids "
                 "above, the frames' buffers)\n",
                 memory.peak_bytes() / (1 << 20), memory.before_bytes / (1 << 20), memory.work_bytes / (1 << 20));
  }

  const bool log = logging.stages && comm.is_root();
  const bool log_frames = logging.frames && comm.is_root();
  pipeline_report report;
  stage_timings& t = report.seconds;
  stopwatch watch;
  io::atomic_output output(comm, p.out, p.force);
  if (!p.wisdom.empty()) fft::check_wisdom_path(comm, p.wisdom);
  io::h5_file file = io::h5_file::create(comm, output.temporary_path());
  watch.lap();

  // Each output is written as soon as it is complete and its memory reused or freed: at most dim + 1
  // grids at a time (the displacement and a frame), not every output at once.
  fourier_fields ff = make_fourier_fields(comm, p, g, *spectrum, t, watch, true);
  report.wisdom_loaded = ff.wisdom_loaded;
  const std::vector<hsize_t> dims(static_cast<std::size_t>(p.dim), static_cast<hsize_t>(p.n));
  const auto offset0 = static_cast<hsize_t>(g.real_start);
  const auto count0 = static_cast<hsize_t>(g.real_count);
  const auto stride = static_cast<hsize_t>(g.padded());
  ff.plans->backward(*ff.density);
  t.density += watch.lap();
  io::write_distributed(file, "/density", dims, offset0, count0, ff.density->real(), stride);
  t.write += watch.lap();

  // The displacement -grad phi from phi_k (plx-ensemble's realizations take it the same way): the last
  // component starts as a copy of phi_k in the density's memory, the first in the potential's once that
  // is written.
  std::unique_ptr<fft::field> phi_copy = std::move(ff.density);
  phi_copy->copy_from(*ff.potential);
  t.displacement = watch.lap();
  ff.plans->backward(*ff.potential);
  t.potential += watch.lap();
  log_line(log, fmt::format("plan {:.3f} s ({}{})", t.plan, p.plan, ff.wisdom_loaded ? ", wisdom loaded" : ""));
  log_line(log, fmt::format("noise {:.3f} s, density {:.3f} s, potential {:.3f} s", t.noise, t.density, t.potential));
  io::write_distributed(file, "/potential", dims, offset0, count0, ff.potential->real(), stride);
  t.write += watch.lap();

  std::vector<std::unique_ptr<fft::field>> displacement;
  displacement.push_back(std::move(ff.potential));
  if (p.dim == 3) displacement.push_back(make_field(comm, g));
  displacement.push_back(std::move(phi_copy));
  std::vector<fft::field*> psi;
  for (auto& component : displacement) psi.push_back(component.get());
  displacement_from_fourier_potential(*ff.plans, psi, p.box);
  ff.plans.reset();  // the last transform
  t.displacement += watch.lap();
  log_line(log, fmt::format("displacement {:.3f} s", t.displacement));
  const std::vector<const fft::field*> components(psi.begin(), psi.end());
  write_displacement(comm, file, g, components);
  t.write += watch.lap();

  // Frames: one Zel'dovich density per time into the same field, written as it is made.
  {
    const std::unique_ptr<fft::field> frame_field = make_field(comm, g);
    fft::field& frame = *frame_field;
    zeldovich_frames frames(comm, components, p.box);
    for (std::size_t i = 0; i < p.times.size(); ++i) {
      frames.density(p.times[i], frame);
      const double made = watch.lap();
      t.frames += made;
      io::write_distributed(file, frame_path(i), dims, offset0, count0, frame.real(), stride);
      io::set_attribute(file, frame_path(i), "time", p.times[i]);
      const double written = watch.lap();
      t.write += written;
      log_line(log_frames, fmt::format("frame {} of {} (D = {:.6g}): {:.3f} s, written in {:.3f} s", i + 1, p.times.size(),
                                       p.times[i], made, written));
    }
    log_line(log, fmt::format("frames {:.3f} s ({} times; deposit buffers {:.1f} MiB on root)", t.frames,
                              p.times.size(), static_cast<double>(frames.buffer_bytes()) / (1 << 20)));
  }
  psi.clear();
  displacement.clear();

  // Measured power spectrum of the density (taken from its Fourier field), next to the input one.
  const measured_spectrum& measured = ff.measured;
  std::vector<double> input;
  for (const double k : measured.k) input.push_back(ff.power_factor * (*spectrum)(k));
  t.power_spectrum += watch.lap();
  log_line(log, fmt::format("power spectrum {:.3f} s ({} bins)", t.power_spectrum, measured.k.size()));

  const std::vector<hsize_t> bins = {static_cast<hsize_t>(measured.k.size())};
  io::write_from_root(file, "/power_spectrum/k", bins, measured.k);
  io::write_from_root(file, "/power_spectrum/power", bins, measured.power);
  io::write_from_root(file, "/power_spectrum/modes", bins, measured.modes);
  io::write_from_root(file, "/power_spectrum/input", bins, input);

  describe_outputs(file, p, spectrum->name());

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
  log_line(log, fmt::format("write {:.3f} s (the fields, frames and spectrum into HDF5, the sync and the rename)",
                            t.write));

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

  const double mine[2] = {peak_rss_mb(), memory.peak_bytes() / (1 << 20)};
  std::vector<double> all_memory(comm.is_root() ? 2 * static_cast<std::size_t>(comm.size()) : 0);
  detail::check_mpi(MPI_Gather(mine, 2, MPI_DOUBLE, all_memory.data(), 2, MPI_DOUBLE, 0, comm.native()), "MPI_Gather");
  for (std::size_t r = 0; r < all_memory.size() / 2; ++r) {
    report.peak_rss_mb.push_back(all_memory[2 * r]);
    report.memory_estimate_mb.push_back(all_memory[2 * r + 1]);
  }
  return report;
}

}  // namespace plx::cosmo
