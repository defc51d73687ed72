// write_adhesion_times: the times' domains over the map layer, each rank then writing the rows it computed.
#include <parallax/web/adhesion.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <mutex>
#include <numeric>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <omp.h>

#include <parallax/core/collectives.hpp>
#include <parallax/core/error.hpp>
#include <parallax/cosmo/output_metadata.hpp>
#include <parallax/dist/map.hpp>
#include <parallax/dist/progress.hpp>
#include <parallax/io/dimension_scales.hpp>
#include <parallax/io/slab_io.hpp>

#include "adhesion_arguments.hpp"

namespace plx::web {

namespace {

// What root learns of one (time, domain) task: where its rows are (the rank that computed and keeps them, and
// how many), and what the time's attributes and mass function need. Small: the rows stay where they were made.
struct part_summary {
  int rank = 0;
  std::uint64_t nodes = 0;
  std::uint64_t filaments = 0;
  double total_mass = 0;
  std::vector<double> mass_count;

  template <class Archive>
  void serialize(Archive& archive) {  // the map layer carries it to root (dist/payload.hpp)
    archive(rank, nodes, filaments, total_mass, mass_count);
  }
};

// Root's summaries on every rank: each rank must know every part's rows to find its own parts' offsets, and the
// totals are collective metadata (attributes) with the same value everywhere.
std::vector<part_summary> share_summaries(const communicator& comm, std::vector<part_summary> summaries,
                                          std::size_t tasks, std::size_t bins) {
  const std::size_t width = 4 + bins;
  std::vector<double> flat;
  if (comm.is_root()) {
    flat.reserve(tasks * width);
    for (const part_summary& s : summaries) {
      flat.insert(flat.end(), {static_cast<double>(s.rank), static_cast<double>(s.nodes),
                               static_cast<double>(s.filaments), s.total_mass});
      std::vector<double> counts = s.mass_count;
      counts.resize(bins, 0.0);  // adhesion_domain gives mass_function_bins(dim, n) of them
      flat.insert(flat.end(), counts.begin(), counts.end());
    }
  }
  plx::detail::broadcast_from_root(comm, flat);  // whole numbers below 2^53: exact as doubles
  summaries.resize(tasks);
  for (std::size_t t = 0; t < tasks; ++t) {
    const double* row = flat.data() + t * width;
    summaries[t] = part_summary{.rank = static_cast<int>(row[0]),
                                .nodes = static_cast<std::uint64_t>(row[1]),
                                .filaments = static_cast<std::uint64_t>(row[2]),
                                .total_mass = row[3],
                                .mass_count = std::vector<double>(row + 4, row + width)};
  }
  return summaries;
}

// Collective. The dataset `path` of (sum of rows) x width doubles (1D when width is 0) whose rows are one time's
// domains in order, each domain's rows written by the rank that computed them (`rows`, `owner`: per domain;
// `mine(d)`: this rank's values of domain d). A rank with several domains of the time writes them in as many
// collective calls, and every rank makes as many calls as the rank with the most.
template <class Values>
void write_domain_rows(io::h5_file& file, const std::string& path, hsize_t width,
                       const std::vector<std::uint64_t>& rows, const std::vector<int>& owner, Values&& mine) {
  const std::uint64_t total = std::accumulate(rows.begin(), rows.end(), std::uint64_t{0});
  std::vector<hsize_t> dims{total};
  if (width > 0) dims.push_back(width);
  if (total == 0) {  // no storage to write (HDF5 refuses a selection of an empty dataset): the shape alone
    io::write_from_root(file, path, dims, {});
    return;
  }
  const int ranks = file.comm().size();
  const int me = file.comm().rank();
  std::vector<std::size_t> domains_of(static_cast<std::size_t>(ranks), 0);
  for (const int r : owner) ++domains_of[static_cast<std::size_t>(r)];
  const std::size_t calls = *std::max_element(domains_of.begin(), domains_of.end());
  std::vector<std::size_t> my_domains;
  std::vector<hsize_t> first_row(rows.size(), 0);
  for (std::size_t d = 0; d < rows.size(); ++d) {
    if (d > 0) first_row[d] = first_row[d - 1] + rows[d - 1];
    if (owner[d] == me) my_domains.push_back(d);
  }
  for (std::size_t call = 0; call < calls; ++call) {
    io::slab_block block{.global_dims = dims, .offset0 = 0, .count0 = 0, .row_stride = 0};
    std::span<const double> values;
    if (call < my_domains.size()) {
      const std::size_t d = my_domains[call];
      block.offset0 = first_row[d];
      block.count0 = rows[d];
      values = mine(d);
    }
    io::write_distributed_part(file, path, block, values);
  }
}

// The times [first, first + count), whose domains' structures are in `kept` (task i * per_time + d: time
// first + i, domain d; only the tasks this rank computed are filled) and summarized in `summaries` (every task,
// on every rank), into /adhesion/NNN (collective).
void write_batch(io::h5_file& file, int dim, std::ptrdiff_t n, double box, std::span<const double> times,
                 std::size_t first, std::size_t count, std::size_t per_time,
                 const std::vector<adhesion_structures>& kept, const std::vector<part_summary>& summaries) {
  // The mass function's bin edges (log10 of the mass in cells) and its density per box unit^dim per dex.
  const std::size_t bins = mass_function_bins(dim, n);
  std::vector<double> edges(bins + 1);
  for (std::size_t b = 0; b <= bins; ++b) edges[b] = static_cast<double>(b) / 10 - std::log10(dim == 2 ? 2.0 : 6.0);
  const double volume_dex = 0.1 * std::pow(box, dim);
  const auto width = static_cast<hsize_t>(dim);
  for (std::size_t i = 0; i < count; ++i) {
    const std::string group = fmt::format("/adhesion/{:03}", first + i);
    std::vector<std::uint64_t> nodes(per_time);
    std::vector<std::uint64_t> filaments(per_time);
    std::vector<int> owner(per_time);
    std::vector<adhesion_structures> totals(per_time);  // the parts without rows: join_domains sums them
    for (std::size_t d = 0; d < per_time; ++d) {
      const part_summary& s = summaries[i * per_time + d];
      nodes[d] = s.nodes;
      filaments[d] = s.filaments;
      owner[d] = s.rank;
      totals[d].dim = dim;
      totals[d].time = times[first + i];
      totals[d].total_mass = s.total_mass;
      totals[d].mass_count = s.mass_count;
    }
    const adhesion_structures whole = join_domains(std::move(totals));
    const auto part = [&](std::size_t d) -> const adhesion_structures& { return kept[i * per_time + d]; };
    write_domain_rows(file, group + "/nodes/position", width, nodes, owner,
                      [&](std::size_t d) { return std::span<const double>(part(d).node_position); });
    write_domain_rows(file, group + "/nodes/mass", 0, nodes, owner,
                      [&](std::size_t d) { return std::span<const double>(part(d).node_mass); });
    write_domain_rows(file, group + "/filaments/a", width, filaments, owner,
                      [&](std::size_t d) { return std::span<const double>(part(d).filament_a); });
    write_domain_rows(file, group + "/filaments/b", width, filaments, owner,
                      [&](std::size_t d) { return std::span<const double>(part(d).filament_b); });
    write_domain_rows(file, group + "/filaments/mass", 0, filaments, owner,
                      [&](std::size_t d) { return std::span<const double>(part(d).filament_mass); });
    io::write_from_root(file, group + "/mass_function/count", whole.mass_count);
    io::write_from_root(file, group + "/mass_function/log10_mass", edges);
    std::vector<double> density(whole.mass_count);
    for (double& d : density) d /= volume_dex;
    io::write_from_root(file, group + "/mass_function/dn_dlog10m", density);
    io::set_attribute(file, group, "time", times[first + i]);
    io::set_attribute(file, group, "total_mass", whole.total_mass);
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
  // before the next batch starts: a rank holds the structures of its own tasks of one batch (about two per
  // thread), not every time's (3D filaments alone are ~100 MB per time at N = 64), and twice the workers
  // still lets the dynamic schedule even out tasks of different cost.
  const std::size_t batch = std::max<std::size_t>(1, 2 * static_cast<std::size_t>(workers) / per_time);
  // One progress line over all batches (the map layer's own would start again at each), with an ETA over
  // every task.
  progress_meter meter(m.label, times.size() * per_time, m.progress && comm.is_root(), stderr, m.progress_interval);
  m.progress = false;
  std::size_t done = 0;
  // What root's running tasks are doing, by domain: its threads and the map layer's sink update the line.
  std::mutex meter_mutex;
  std::map<std::string, std::string> stages;
  const auto domain_name = [&](std::size_t time, int domain) {
    return per_time > 1 ? fmt::format("time {} domain {}", time, domain) : fmt::format("time {}", time);
  };
  const auto status = [&](std::size_t written) {  // under meter_mutex
    std::string line = fmt::format("tasks: {} times x {} domains, {} times written", times.size(), per_time, written);
    for (const auto& [name, stage] : stages) line += fmt::format("; root's {}: {}", name, stage);
    return line;
  };
  for (std::size_t first = 0; first < times.size(); first += batch) {
    const std::size_t count = std::min(batch, times.size() - first);
    // Each rank keeps the structures it computed (slots of other ranks' tasks stay empty) and writes them
    // itself; root gathers only their summaries (rows, masses), never the O(N^d) rows.
    std::vector<adhesion_structures> kept(count * per_time);
    std::vector<part_summary> summaries(comm.is_root() ? count * per_time : 0);
    plx::map_unordered(
        comm, count * per_time,
        [&](std::size_t task) {
          adhesion_structures& part = kept[task];  // one task per slot: no two threads share one
          const auto time = first + task / per_time;
          const auto domain = static_cast<int>(task % per_time);
          // Root's own tasks tell their stages (a 3D time takes minutes); other ranks' tasks only finish.
          adhesion_stage_callback on_stage;
          if (meter.enabled()) {
            on_stage = [&, time, domain](const std::string& stage) {
              const std::lock_guard lock(meter_mutex);
              stages[domain_name(time, domain)] = stage;
              if (meter.due()) meter.update(done, status(first));
            };
          }
          part = adhesion_domain(dim, n, box, potential, times[time], options, domain, static_cast<int>(per_time),
                                 on_stage);
          return part_summary{.rank = comm.rank(),
                              .nodes = part.node_mass.size(),
                              .filaments = part.filament_mass.size(),
                              .total_mass = part.total_mass,
                              .mass_count = part.mass_count};
        },
        [&](std::size_t task, part_summary&& summary) {  // root only, one call at a time
          summaries[task] = std::move(summary);
          const std::lock_guard lock(meter_mutex);
          stages.erase(domain_name(first + task / per_time, static_cast<int>(task % per_time)));
          ++done;
          if (meter.due()) meter.update(done, status(first));
        },
        m);
    summaries = share_summaries(comm, std::move(summaries), count * per_time, mass_function_bins(dim, n));
    if (meter.due()) meter.update(done, fmt::format("writing times {} to {}", first, first + count - 1));
    write_batch(file, dim, n, box, times, first, count, per_time, kept, summaries);
  }
  meter.finish(done, fmt::format("tasks: {} times x {} domains, all written", times.size(), per_time));
}

void describe_adhesion(io::h5_file& file, int dim, std::size_t times, const std::string& length) {
  const std::string measure = dim == 2 ? "area" : "volume";
  const std::string face = dim == 2 ? "length (the Delaunay edge)" : "area (the Delaunay triangle)";
  const std::string component = cosmo::write_index_scale(file, "component", static_cast<std::size_t>(dim),
                                                          "vector component: 0 = x, 1 = y, 2 = z");
  for (std::size_t i = 0; i < times; ++i) {
    const std::string group = fmt::format("/adhesion/{:03}", i);
    // Named dimensions per time (each time has its own number of nodes and filaments): netCDF dimensions
    // without coordinates, scoped to their group, so xarray opens every group without phony dimensions.
    const auto dimension_of = [&](const std::string& path, const std::string& rows_of) {
      return io::make_dimension(file, path, io::dataset_dims(file, rows_of).at(0));
    };
    const std::string node = dimension_of(group + "/nodes/node", group + "/nodes/mass");
    const std::string filament = dimension_of(group + "/filaments/filament", group + "/filaments/mass");
    const std::string bin = dimension_of(group + "/mass_function/bin", group + "/mass_function/count");
    const std::string edge = dimension_of(group + "/mass_function/bin_edge", group + "/mass_function/log10_mass");
    io::attach_dimension_scales(file, group + "/nodes/position", {node, component});
    io::attach_dimension_scales(file, group + "/nodes/mass", {node});
    io::attach_dimension_scales(file, group + "/filaments/a", {filament, component});
    io::attach_dimension_scales(file, group + "/filaments/b", {filament, component});
    io::attach_dimension_scales(file, group + "/filaments/mass", {filament});
    io::attach_dimension_scales(file, group + "/mass_function/count", {bin});
    io::attach_dimension_scales(file, group + "/mass_function/dn_dlog10m", {bin});
    io::attach_dimension_scales(file, group + "/mass_function/log10_mass", {edge});
    io::describe_dataset(file, group + "/nodes/position", length, "node position: the simplex's power vertex");
    io::describe_dataset(file, group + "/nodes/mass", "cells",
                         "node mass: the simplex's Lagrangian " + measure + " in grid cells");
    io::describe_dataset(file, group + "/filaments/a", length, "filament end a (inside the box)");
    io::describe_dataset(file, group + "/filaments/b", length, "filament end b (b - a the short periodic vector)");
    io::describe_dataset(file, group + "/filaments/mass", "cells", "filament mass: the Lagrangian " + face + " in cells");
    io::describe_dataset(file, group + "/mass_function/count", "1", "nodes per mass bin (every simplex, stored or not)");
    io::describe_dataset(file, group + "/mass_function/log10_mass", "1", "bin edges: log10 of the mass in cells");
    io::describe_dataset(file, group + "/mass_function/dn_dlog10m", fmt::format("({})^-{} dex^-1", length, dim),
                         "node mass function dn/dlog10 M: nodes per unit " + measure + " per dex of mass");
  }
}

int adhesion_domains_for_workers(std::ptrdiff_t n, std::size_t times, std::uint64_t workers) {
  if (times == 0) return 1;
  return static_cast<int>(std::clamp<std::uint64_t>((workers + times - 1) / times, 1, static_cast<std::uint64_t>(n)));
}

double web_memory_estimate_bytes(int dim, std::ptrdiff_t n, std::ptrdiff_t slab_doubles, int threads,
                                 int ranks_on_node, double domain_points, int domains_per_time) {
  const double cells = std::pow(static_cast<double>(n), dim);
  const double potential = cells * sizeof(double) / std::max(1, ranks_on_node);
  const double tensor = dim * (dim + 1) / 2.0 * static_cast<double>(slab_doubles) * sizeof(double);
  // Per weighted point of a thread's triangulation (the domain's points with the first margin): its weight,
  // CGAL's vertex and cells, the simplex list, the solved simplices and the sorted structures. 3D N = 128 to
  // D = 4 on 2 ranks peaked at 11.4 GB in one rank, 2.15 kB per point of the first margin, but that was root
  // when it still gathered a batch of joined times for writing (issue 19's note); plx-bench web's 2D N = 256
  // measured 0.9 kB per grid point with the margin.
  const double per_point = dim == 3 ? 1500.0 : 900.0;
  const double io_buffers = 24.0 * (1 << 20);  // ROMIO's collective buffer and HDF5's caches
  // The structures a rank keeps until its batch is written: about two tasks per thread (a batch is twice the
  // workers), each its domain's owned points' rows with every structure stored (min masses 0): per grid point
  // 6 tetrahedra x 4 doubles and 12 triangles x 7 in 3D, 2 triangles x 3 and 3 edges x 5 in 2D.
  const double owned_points = domain_points > 0 ? cells / std::max(1, domains_per_time) : 0.0;
  const double kept_per_point = (dim == 3 ? 6 * 4 + 12 * 7 : 2 * 3 + 3 * 5) * sizeof(double);
  const double kept = threads * 2.0 * owned_points * kept_per_point;
  return potential + tensor + threads * domain_points * per_point + kept + io_buffers;
}

}  // namespace plx::web
