// plx-bench io: plx-cosmo's write stage against dd writing the same bytes to the same file system with one
// final fdatasync (the floor: what the disk takes), in the same run.
//
// plx's side is the path plx-cosmo takes (src/cosmo/pipeline.cpp), call for call: atomic_output, h5_file::create,
// write_distributed of the density and the potential from FFTW's padded slabs and of the packed displacement
// (N^d x d), the small datasets and attributes written from root, close, and commit (the fsync and the rename).
// The clock runs from the output's creation to the rename; the fields are made and touched before it starts.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

#include <fmt/format.h>

#include <parallax/app/json_line.hpp>
#include <parallax/core/collectives.hpp>
#include <parallax/fft/field.hpp>
#include <parallax/fft/slab.hpp>
#include <parallax/io/atomic_output.hpp>
#include <parallax/io/hdf5_file.hpp>
#include <parallax/io/slab_io.hpp>

#include "bench.hpp"

namespace plx::bench {

namespace {

/// This rank's part of plx-cosmo's three outputs, made and touched once.
struct outputs {
  explicit outputs(const fft::slab_geometry& g) : density(g), potential(g) {
    const std::size_t cells = static_cast<std::size_t>(g.real_count * g.rows_per_plane() * g.n);
    displacement.resize(cells * static_cast<std::size_t>(g.dim));
    // Values that differ from cell to cell (no all-zero pages), every page written.
    for (std::size_t i = 0; i < density.size(); ++i) {
      density.real()[i] = static_cast<double>(i % 1009) * 0.5;
      potential.real()[i] = -static_cast<double>(i % 997) * 0.25;
    }
    for (std::size_t i = 0; i < displacement.size(); ++i) displacement[i] = static_cast<double>(i % 1013) * 0.125;
  }
  fft::field density;
  fft::field potential;
  std::vector<double> displacement;  ///< [cell][axis], as the pipeline packs it
};

/// Bytes of the three datasets.
std::size_t field_bytes(int dim, int n) {
  std::size_t cells = 1;
  for (int d = 0; d < dim; ++d) cells *= static_cast<std::size_t>(n);
  return cells * static_cast<std::size_t>(2 + dim) * sizeof(double);
}

/// Seconds for plx-cosmo's write stage into `path`, from the output's creation to the rename.
double time_plx(const communicator& comm, const std::string& path, const fft::slab_geometry& g, outputs& out) {
  const std::vector<hsize_t> dims(static_cast<std::size_t>(g.dim), static_cast<hsize_t>(g.n));
  std::vector<hsize_t> vector_dims = dims;
  vector_dims.push_back(static_cast<hsize_t>(g.dim));
  const auto offset0 = static_cast<hsize_t>(g.real_start);
  const auto count0 = static_cast<hsize_t>(g.real_count);
  const auto stride = static_cast<hsize_t>(g.padded());
  const std::vector<double> bins(static_cast<std::size_t>(g.n / 2), 1.0);  // a power spectrum's size

  comm.barrier();
  const auto start = std::chrono::steady_clock::now();
  {
    io::atomic_output output(comm, path, true);
    io::h5_file file = io::h5_file::create(comm, output.temporary_path());
    io::write_distributed(file, "/density", dims, offset0, count0, out.density.real(), stride);
    io::write_distributed(file, "/potential", dims, offset0, count0, out.potential.real(), stride);
    io::write_distributed(file, "/displacement", vector_dims, offset0, count0, out.displacement.data());
    for (const char* name : {"/power_spectrum/k", "/power_spectrum/power", "/power_spectrum/modes",
                             "/power_spectrum/input"}) {
      io::write_from_root(file, name, bins);
    }
    io::set_attribute(file, "/", "dim", std::int64_t{g.dim});
    io::set_attribute(file, "/", "N", static_cast<std::int64_t>(g.n));
    io::set_attribute(file, "/", "command_line", std::string("plx-bench io"));
    file.close();
    output.commit();
  }
  comm.barrier();
  const double seconds = seconds_since(start);
  if (comm.is_root()) remove_and_settle(path);
  return seconds;
}

}  // namespace

int run_io(runtime& rt, const io_options& options) {
  const communicator& comm = rt.world();
  std::string base = (std::filesystem::path(options.dir) / fmt::format("plx-bench-io-{}", ::getpid())).string();
  detail::broadcast_from_root(comm, base);  // root's pid names the files
  const fft::slab_geometry g = fft::make_slab_geometry(comm, options.dim, options.n);
  outputs out(g);
  const std::size_t bytes = field_bytes(options.dim, options.n);

  // One untimed round of each first: the first writes of a process (and, on a VM, the first page-cache
  // pages it is given) cost more than any later ones, and neither tool should carry that alone.
  time_plx(comm, base + ".h5", g, out);
  time_dd(comm, base + ".dd", bytes, "plx-bench io");
  std::vector<double> plx_s, dd_s;
  for (int r = 0; r < options.repeats; ++r) {  // taking turns, so drift in the machine hits both alike
    plx_s.push_back(time_plx(comm, base + ".h5", g, out));
    dd_s.push_back(time_dd(comm, base + ".dd", bytes, "plx-bench io"));
  }
  if (!comm.is_root()) return 0;
  const double plx_median = median(plx_s);
  const double dd_median = median(dd_s);
  if (!options.json) {
    fmt::print("plx-cosmo's write stage vs dd (same bytes, same directory, final sync on both), {}D N = {}, {} ranks, "
               "median of {}\n",
               options.dim, options.n, comm.size(), options.repeats);
    fmt::print("{:>6} {:>12} {:>10} {:>8}\n", "tool", "bytes", "seconds", "GB/s");
  }
  for (const auto& [tool, seconds] : {std::pair{"plx", plx_median}, std::pair{"dd", dd_median}}) {
    const double gb_per_s = static_cast<double>(bytes) / 1e9 / seconds;
    if (options.json) {
      json line{{"benchmark", "io"}, {"tool", tool},   {"bytes", bytes},
                {"seconds", rounded(seconds, 4)}, {"gb_per_s", rounded(gb_per_s, 3)},
                {"ranks", comm.size()}, {"dim", options.dim}, {"n", options.n}};
      if (std::string(tool) == "plx") line["ratio_to_dd"] = rounded(dd_median / plx_median, 3);
      print_json_line(line);
    } else {
      fmt::print("{:>6} {:>12} {:>10.3f} {:>8.3f}\n", tool, bytes, seconds, gb_per_s);
    }
  }
  if (!options.json) fmt::print("plx / dd (bandwidth): {:.2f}\n", dd_median / plx_median);
  return 0;
}

}  // namespace plx::bench
