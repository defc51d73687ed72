#include <parallax/cosmo/cosmo_input.hpp>

#include <algorithm>
#include <cmath>
#include <string>

#include <fmt/format.h>

#include <parallax/core/collectives.hpp>
#include <parallax/core/error.hpp>
#include <parallax/fft/modes.hpp>
#include <parallax/io/node_shared_h5.hpp>
#include <parallax/io/slab_io.hpp>

namespace plx::cosmo {

namespace {

/// What is wrong with the file as a plx-cosmo output ("" when nothing), filling `input`'s grid.
std::string problem_of(cosmo_input& input) {
  const io::h5_file& file = input.file;
  for (const char* name : {"dim", "N", "L", "seed"}) {
    if (!io::has_attribute(file, "/", name)) return fmt::format("is not a plx-cosmo file: it has no attribute '{}'", name);
  }
  input.dim = static_cast<int>(io::get_attribute_int64(file, "/", "dim"));
  input.n = static_cast<std::ptrdiff_t>(io::get_attribute_int64(file, "/", "N"));
  input.box = io::get_attribute_double(file, "/", "L");
  input.seed = io::get_attribute_uint64(file, "/", "seed");
  if (io::has_attribute(file, "/", "spectrum")) input.spectrum = io::get_attribute_string(file, "/", "spectrum");
  if (input.dim != 2 && input.dim != 3) return fmt::format("has dim = {}, not 2 or 3", input.dim);
  if (input.n < 2) return fmt::format("has N = {}, below 2", input.n);
  if (!(input.box > 0) || !std::isfinite(input.box)) return fmt::format("has L = {}, not a positive size", input.box);
  if (!file.exists("/potential")) return "has no /potential (plx-cosmo writes the potential there)";
  const std::vector<hsize_t> dims = io::dataset_dims(file, "/potential");
  const std::vector<hsize_t> expected(static_cast<std::size_t>(input.dim), static_cast<hsize_t>(input.n));
  if (dims != expected) {
    return fmt::format("has a /potential of shape ({}), not N^dim = {}^{}", fmt::join(dims, ", "), input.n, input.dim);
  }
  return {};
}

}  // namespace

cosmo_input open_cosmo_input(const communicator& comm, const std::string& path) {
  cosmo_input input;
  input.path = path;
  try {
    input.file = io::h5_file::open_read(comm, path);  // throws on every rank alike
  } catch (const io_error& e) {
    throw detail::collective(config_error(fmt::format("input '{}': {}", path, e.what())));
  }
  // The same file on every rank gives the same verdict; agreeing anyway keeps one rank's read error (an
  // attribute of an unexpected type) from leaving the others in the next collective.
  detail::on_all_ranks(comm, [&] {
    std::string problem;
    try {
      problem = problem_of(input);
    } catch (const io_error& e) {
      problem = fmt::format("is not a plx-cosmo file: {}", e.what());
    }
    if (!problem.empty()) throw config_error(fmt::format("input '{}' {}", path, problem));
  });
  return input;
}

node_shared<double> read_whole_potential(cosmo_input& input) {
  node_shared<double> potential = io::read_node_shared(input.file, "/potential");
  // Bad input, found before the work: each rank scans its share of the whole grid (every rank sees all of
  // it), and the lowest rank that finds a value not finite names it for all (one line, exit code 2).
  const std::span<const double> values = potential.values();
  const communicator& comm = input.file.comm();
  const auto ranks = static_cast<std::size_t>(comm.size());
  const auto me = static_cast<std::size_t>(comm.rank());
  const std::size_t first = values.size() / ranks * me + std::min(me, values.size() % ranks);
  const std::size_t count = values.size() / ranks + (me < values.size() % ranks ? 1 : 0);
  detail::on_all_ranks(comm, [&] {
    for (std::size_t i = first; i < first + count; ++i) {
      if (!std::isfinite(values[i])) {
        throw config_error(fmt::format("input '{}': /potential holds {} at cell {} (C order); every value must be "
                                       "finite",
                                       input.file.path(), values[i], i));
      }
    }
  });
  return potential;
}

void copy_slab(std::span<const double> whole, fft::field& field) {
  const fft::slab_geometry& g = field.geometry();
  if (static_cast<double>(whole.size()) != g.global_cells()) {
    throw error(fmt::format("copy_slab: {} values for a grid of {} cells", whole.size(), g.global_cells()));
  }
  const auto cells_per_plane = static_cast<std::size_t>(g.rows_per_plane() * g.n);
  double* out = field.real();
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t plane = 0; plane < g.real_count; ++plane) {
    std::size_t cell = static_cast<std::size_t>(g.real_start + plane) * cells_per_plane;
    fft::for_each_cell_in_plane(g, plane, [&](std::ptrdiff_t offset, std::ptrdiff_t, std::ptrdiff_t, std::ptrdiff_t) {
      out[offset] = whole[cell++];
    });
  }
}

}  // namespace plx::cosmo
