// write_adhesion_times: the times over the map layer, then root's results into the file.
#include <parallax/web/adhesion.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <omp.h>

#include <parallax/core/collectives.hpp>
#include <parallax/core/error.hpp>
#include <parallax/dist/map.hpp>
#include <parallax/dist/progress.hpp>
#include <parallax/io/slab_io.hpp>

#include "adhesion_arguments.hpp"

namespace plx::web {

namespace {

void write_points(io::h5_file& file, const std::string& path, int dim, const std::vector<double>& values) {
  const std::vector<hsize_t> dims{static_cast<hsize_t>(values.size() / static_cast<std::size_t>(dim)),
                                  static_cast<hsize_t>(dim)};
  io::write_from_root(file, path, dims, values);
}

// Root's results for times [first, first + count) into /adhesion/NNN (collective; only root's `results` are
// read).
void write_batch(const communicator& comm, io::h5_file& file, int dim, std::ptrdiff_t n, double box,
                 std::span<const double> times, std::size_t first, std::size_t count,
                 const std::vector<adhesion_structures>& results) {
  // The mass function's bin edges (log10 of the mass in cells) and its density per box unit^dim per dex.
  const std::size_t bins = mass_function_bins(dim, n);
  std::vector<double> edges(bins + 1);
  for (std::size_t b = 0; b <= bins; ++b) edges[b] = static_cast<double>(b) / 10 - std::log10(dim == 2 ? 2.0 : 6.0);
  const double volume_dex = 0.1 * std::pow(box, dim);
  // Root's totals on every rank: attributes are collective metadata with the same value everywhere.
  std::vector<double> totals(count);
  if (comm.is_root()) {
    for (std::size_t i = 0; i < count; ++i) totals[i] = results[i].total_mass;
  }
  plx::detail::broadcast_chunked(comm, std::span<double>(totals), 0);
  // Only root holds results; write_from_root takes shapes and data from root, and the group paths and
  // attributes (collective metadata) are the same on every rank.
  static const adhesion_structures none{};
  for (std::size_t i = 0; i < count; ++i) {
    const std::string group = fmt::format("/adhesion/{:03}", first + i);
    const adhesion_structures& s = comm.is_root() ? results[i] : none;
    write_points(file, group + "/nodes/position", dim, s.node_position);
    io::write_from_root(file, group + "/nodes/mass", s.node_mass);
    write_points(file, group + "/filaments/a", dim, s.filament_a);
    write_points(file, group + "/filaments/b", dim, s.filament_b);
    io::write_from_root(file, group + "/filaments/mass", s.filament_mass);
    io::write_from_root(file, group + "/mass_function/count", s.mass_count);
    io::write_from_root(file, group + "/mass_function/log10_mass", edges);
    std::vector<double> density(s.mass_count);
    for (double& d : density) d /= volume_dex;
    io::write_from_root(file, group + "/mass_function/dn_dlog10m", density);
    io::set_attribute(file, group, "time", times[first + i]);
    io::set_attribute(file, group, "total_mass", totals[i]);
  }
}

}  // namespace

void write_adhesion_times(const communicator& comm, int dim, std::ptrdiff_t n, double box,
                          std::span<const double> potential, std::span<const double> times,
                          const adhesion_options& options, io::h5_file& file, const map_options& map, int domains) {
  // Checked before any work, identically on every rank (they all pass the same arguments): every rank throws
  // the same config_error.
  for (const double t : times) {
    if (!(t >= 0) || !std::isfinite(t)) {
      throw config_error(fmt::format("adhesion: times must be finite and at least 0, not {}", t));
    }
  }
  detail::check_adhesion_arguments(dim, n, box, potential, 0.0);
  if (domains < 0 || domains > n) {
    throw config_error(fmt::format("adhesion: the domains per time must be between 1 and the grid's {} planes (0: "
                                   "automatic), not {}",
                                   n, domains));
  }
  if (times.empty()) return;

  map_options m = map;
  if (m.label == map_options{}.label) m.label = "adhesion";
  // Every thread of every rank (root's count, shared).
  std::uint64_t workers = static_cast<std::uint64_t>(comm.size()) *
                          static_cast<std::uint64_t>(m.threads > 0 ? m.threads : omp_get_max_threads());
  plx::detail::broadcast_chunked(comm, std::span<std::uint64_t>(&workers, 1), 0);
  // Fewer times than workers: each time is cut into spatial domains, so that every worker has one (the
  // result is the same bitwise for any cut).
  const auto per_time =
      static_cast<std::size_t>(domains > 0 ? domains : adhesion_domains_for_workers(n, times.size(), workers));
  // Tasks (a time's domain each) go out in batches of about twice the workers, whole times each, written
  // before the next batch starts: root holds one batch's structures, not every time's (3D filaments alone
  // are ~100 MB per time at N = 64), and twice the workers still lets the dynamic schedule even out tasks of
  // different cost.
  const std::size_t batch = std::max<std::size_t>(1, 2 * static_cast<std::size_t>(workers) / per_time);
  // One progress line over all batches (the map layer's own would start again at each), with an ETA over
  // every task.
  progress_meter meter(m.label, times.size() * per_time, m.progress && comm.is_root(), stderr, m.progress_interval);
  m.progress = false;
  std::size_t done = 0;
  for (std::size_t first = 0; first < times.size(); first += batch) {
    const std::size_t count = std::min(batch, times.size() - first);
    std::vector<adhesion_structures> parts(comm.is_root() ? count * per_time : 0);
    plx::map_unordered(
        comm, count * per_time,
        [&](std::size_t task) {
          return adhesion_domain(dim, n, box, potential, times[first + task / per_time], options,
                                 static_cast<int>(task % per_time), static_cast<int>(per_time));
        },
        [&](std::size_t task, adhesion_structures&& part) {  // root only, one call at a time
          parts[task] = std::move(part);
          ++done;
          if (meter.due()) {
            meter.update(done, fmt::format("tasks: {} times x {} domains, {} times written", times.size(), per_time,
                                           first));
          }
        },
        m);
    std::vector<adhesion_structures> results;
    if (comm.is_root()) {
      for (std::size_t i = 0; i < count; ++i) {
        std::vector<adhesion_structures> time_parts;
        for (std::size_t d = 0; d < per_time; ++d) time_parts.push_back(std::move(parts[i * per_time + d]));
        results.push_back(join_domains(std::move(time_parts)));
      }
    }
    parts = {};
    write_batch(comm, file, dim, n, box, times, first, count, results);
  }
  meter.finish(done, fmt::format("tasks: {} times x {} domains, all written", times.size(), per_time));
}

int adhesion_domains_for_workers(std::ptrdiff_t n, std::size_t times, std::uint64_t workers) {
  if (times == 0) return 1;
  return static_cast<int>(std::clamp<std::uint64_t>((workers + times - 1) / times, 1, static_cast<std::uint64_t>(n)));
}

double web_memory_estimate_bytes(int dim, std::ptrdiff_t n, std::ptrdiff_t slab_doubles, int threads,
                                 int ranks_on_node, double domain_points) {
  const double cells = std::pow(static_cast<double>(n), dim);
  const double potential = cells * sizeof(double) / std::max(1, ranks_on_node);
  const double tensor = dim * (dim + 1) / 2.0 * static_cast<double>(slab_doubles) * sizeof(double);
  // Per weighted point of a thread's triangulation (the domain's points with the first margin): its weight,
  // CGAL's vertex and cells, the simplex list, the solved simplices and the sorted structures. 3D N = 128 to
  // D = 4 on 2 ranks peaked at 11.4 GB in one rank, 2.15 kB per point of the first margin, but that is root,
  // which also holds a batch of joined times for writing (README, issue 19's note); plx-bench web's 2D N = 256
  // measured 0.9 kB per grid point with the margin.
  const double per_point = dim == 3 ? 1500.0 : 900.0;
  const double io_buffers = 24.0 * (1 << 20);  // ROMIO's collective buffer and HDF5's caches
  return potential + tensor + threads * domain_points * per_point + io_buffers;
}

}  // namespace plx::web
