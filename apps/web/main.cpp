// plx-web: the cosmic web of a plx-cosmo run. Reads its potential, classifies every cell by the eigenvalues
// of the deformation tensor (the T-web) and computes the adhesion model's nodes and filaments at each time,
// into one HDF5 file written under a temporary name and renamed when complete.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <mpi.h>

#include <parallax/app/json_line.hpp>
#include <parallax/app/memory_reuse.hpp>
#include <parallax/app/number_option.hpp>
#include <parallax/app/run_app.hpp>
#include <parallax/core/collectives.hpp>
#include <parallax/core/error.hpp>
#include <parallax/core/memory_usage.hpp>
#include <parallax/cosmo/cosmo_input.hpp>
#include <parallax/cosmo/deformation.hpp>
#include <parallax/cosmo/output_metadata.hpp>
#include <parallax/cosmo/params.hpp>
#include <parallax/cosmo/pipeline.hpp>
#include <parallax/fft/plan.hpp>
#include <parallax/fft/slab.hpp>
#include <parallax/io/atomic_output.hpp>
#include <parallax/io/hdf5_file.hpp>
#include <parallax/version.hpp>
#include <parallax/web/adhesion.hpp>

namespace {

struct web_options {
  std::string input;
  std::string times = "0:4:10";  // the workshop's 10 times, as plx-cosmo's default; "none": classes only
  int domains = 0;               // spatial domains per time (0: as the workers and the memory need)
  double threshold = 0;
  // The adhesion model's selection of stored structures (plx::web::adhesion_options): 0 stores every node
  // and filament, the adhesion library's default.
  double min_node_mass = 0;
  double min_filament_mass = 0;
  std::string out = "web.h5";
  bool force = false;
  bool json = false;
  bool progress = false;
};

using clock_type = std::chrono::steady_clock;
double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  // Each time and domain allocates its triangulation again: reuse the memory the last one freed.
  plx::reuse_freed_memory();
  CLI::App cli{"The cosmic web of a plx-cosmo run: every cell classified by the eigenvalues of the deformation\n"
               "tensor d_i d_j phi (void, sheet, filament, knot), and the adhesion model's nodes and filaments at\n"
               "each time, into one HDF5 file. The grid (dim, N, L) and seed come from the input file.",
               "plx-web"};
  web_options o;
  cli.add_option("input", o.input, "plx-cosmo output file (HDF5 with /potential)")->required();
  cli.add_option("--times", o.times,
                 "growth factors of the adhesion model: list 0,1,2 or start:stop:count (default 0:4:10), or none: "
                 "the deformation classes only");
  plx::add_number(cli, "--domains", o.domains,
                  "spatial domains per time, slabs of grid planes that threads and ranks triangulate apart; the "
                  "output is the same for any count (default 0: enough for every worker and for the memory)",
                  plx::at_least(0));
  plx::add_number(cli, "--threshold", o.threshold, "eigenvalue threshold of the deformation classes (default 0)");
  plx::add_number(cli, "--min-node-mass", o.min_node_mass,
                  "store adhesion nodes of at least this mass, in cells (default 0: all)", plx::at_least(0));
  plx::add_number(cli, "--min-filament-mass", o.min_filament_mass,
                  "store adhesion filaments of at least this mass, in cells (default 0: all)", plx::at_least(0));
  cli.add_option("--out", o.out, "output HDF5 file (default web.h5)");
  cli.add_flag("--force", o.force, "overwrite an existing output file");
  cli.add_flag("--json", o.json, "print one JSON object: class fractions, stage timings (s), ranks, threads, out");
  cli.add_flag("--progress", o.progress, "progress of the stages on stderr");

  return plx::run_app(argc, argv, cli, [&](plx::runtime& rt) {
    const plx::communicator& world = rt.world();
    const auto start = clock_type::now();
    const auto log = [&](const std::string& text) {
      if (o.progress && rt.is_root()) std::fprintf(stderr, "plx-web: %s\n", text.c_str());
    };
    // Bad input is refused before any output exists, with one message naming it (exit code 2).
    const std::vector<double> times = plx::detail::on_all_ranks(world, [&] {
      if (o.times == "none") return std::vector<double>{};
      std::vector<double> parsed = plx::cosmo::parse_times(o.times);
      plx::cosmo::check_times(parsed);
      return parsed;
    });
    plx::cosmo::cosmo_input input = plx::cosmo::open_cosmo_input(world, o.input);
    plx::detail::on_all_ranks(world, [&] {
      if (o.domains > input.n) {
        throw plx::config_error("--domains " + std::to_string(o.domains) + " is more than the grid's " +
                                std::to_string(input.n) + " planes");
      }
    });
    plx::detail::on_all_ranks(world, [&] {
      std::error_code ignored;
      if (std::filesystem::equivalent(o.input, o.out, ignored)) {
        throw plx::config_error("--out '" + o.out + "' is the input file");
      }
    });
    // Before any output exists: a grid whose model cannot fit in a node's memory is refused with one line.
    const plx::fft::slab_geometry g = plx::fft::make_slab_geometry(world, input.dim, input.n);
    plx::check_node_memory(world,
                           plx::web::web_memory_estimate_bytes(input.dim, input.n, g.alloc_doubles(), rt.threads(),
                                                               rt.node().size(), 0.0),
                           "the " + std::to_string(input.n) + "^" + std::to_string(input.dim) + " input grid",
                           "use fewer --threads per rank, or ranks on more nodes");
    plx::io::atomic_output output(world, o.out, o.force);
    plx::io::h5_file file = plx::io::h5_file::create(world, output.temporary_path());

    // Every rank sees the whole potential (the adhesion model triangulates all of it at each time), in one
    // copy per node.
    auto lap = clock_type::now();
    const plx::node_shared<double> potential = plx::cosmo::read_whole_potential(input);
    const double read_s = seconds_since(lap);
    log("read /potential of " + o.input + " (" + std::to_string(input.n) + "^" + std::to_string(input.dim) + ")");

    lap = clock_type::now();
    plx::cosmo::web_classes web;
    {
      // Collective: one rank short of memory fails every rank with one line.
      auto slab = plx::detail::on_all_ranks(world, [&] { return std::make_unique<plx::fft::field>(g); });
      // estimate: the same FFT algorithms on every layout, so bitwise the same eigenvalues.
      const plx::fft::r2c_plans plans(world, *slab, plx::fft::plan_mode::estimate);
      plx::cosmo::copy_slab(potential.values(), *slab);
      web = plx::cosmo::deformation_classes(world, plans, *slab, input.box, o.threshold);
    }
    const double deformation_s = seconds_since(lap);
    lap = clock_type::now();
    plx::cosmo::write_deformation(file, g, web);
    plx::cosmo::describe_deformation(file, input.dim, input.n, input.box, plx::cosmo::length_units(input.spectrum));
    const double deformation_write_s = seconds_since(lap);
    log("deformation classes: " + std::to_string(deformation_s) + " s, written in " +
        std::to_string(deformation_write_s) + " s");

    // The adhesion model: one task per time and domain, handed out dynamically over the ranks and their
    // threads. The domains per time: enough for every worker, and for each worker's triangulation to fit.
    double range = 0;  // of the potential: with the largest time, it sets the ghost margin
    if (!times.empty()) {
      const auto [lowest, highest] = std::minmax_element(potential.values().begin(), potential.values().end());
      range = *highest - *lowest;
    }
    const auto estimate_bytes = [&](int domains_per_time) {
      return plx::web::web_memory_estimate_bytes(
          input.dim, input.n, g.alloc_doubles(), rt.threads(), rt.node().size(),
          plx::web::adhesion_domain_points(input.dim, input.n, input.box, range, times.back(), domains_per_time),
          domains_per_time);
    };
    const int domains = plx::detail::on_all_ranks(world, [&] {
      if (times.empty()) return 0;
      const auto workers = static_cast<std::uint64_t>(world.size()) * static_cast<std::uint64_t>(rt.threads());
      int count = o.domains > 0 ? o.domains : plx::web::adhesion_domains_for_workers(input.n, times.size(), workers);
      // The same bound as check_node_memory's below: split only what would not fit otherwise.
      const double share = 0.9 * plx::physical_memory_bytes() / rt.node().size();
      while (o.domains == 0 && count < input.n && estimate_bytes(count) > share) {
        count = std::min<int>(2 * count, static_cast<int>(input.n));
      }
      // Every rank the same count (nodes may differ in memory and ranks): the fullest node's.
      int agreed = count;
      plx::detail::check_mpi(MPI_Allreduce(&count, &agreed, 1, MPI_INT, MPI_MAX, world.native()), "MPI_Allreduce");
      return agreed;
    });
    // What one rank is expected to peak at (reported with --json beside the measured peaks).
    const double estimate_mb =
        (times.empty() ? plx::web::web_memory_estimate_bytes(input.dim, input.n, g.alloc_doubles(), rt.threads(),
                                                             rt.node().size(), 0.0)
                       : estimate_bytes(domains)) /
        (1 << 20);
    if (!times.empty()) {
      plx::check_node_memory(world, estimate_bytes(domains),
                             "the adhesion model of the " + std::to_string(input.n) + "^" + std::to_string(input.dim) +
                                 " grid at D = " + fmt::format("{}", times.back()) + " in " + std::to_string(domains) +
                                 " domains per time",
                             "use fewer --threads per rank, more --domains, or ranks on more nodes");
    }
    log("adhesion model: " + std::to_string(times.size()) + " times, " + std::to_string(domains) +
        " domains per time");
    lap = clock_type::now();
    plx::map_options map;
    map.progress = o.progress;
    map.label = "adhesion";
    const plx::web::adhesion_options adhesion{.min_node_mass = o.min_node_mass, .min_filament_mass = o.min_filament_mass};
    plx::web::write_adhesion_times(world, input.dim, input.n, input.box, potential.values(), times, adhesion, file, map,
                                   domains);
    plx::web::describe_adhesion(file, input.dim, times.size(), plx::cosmo::length_units(input.spectrum));
    const double adhesion_s = seconds_since(lap);
    log("adhesion model: " + std::to_string(times.size()) + " times in " + std::to_string(adhesion_s) + " s");

    std::string command_line;
    for (int i = 0; i < argc; ++i) command_line += (i ? " " : "") + std::string(argv[i]);
    plx::io::set_attribute(file, "/", "input", o.input);
    plx::io::set_attribute_uint64(file, "/", "seed", input.seed);
    plx::io::set_attribute(file, "/", "dim", std::int64_t{input.dim});
    plx::io::set_attribute(file, "/", "N", static_cast<std::int64_t>(input.n));
    plx::io::set_attribute(file, "/", "L", input.box);
    plx::io::set_attribute(file, "/", "times", std::span<const double>(times));
    plx::io::set_attribute(file, "/", "domains", std::int64_t{domains});
    plx::io::set_attribute(file, "/", "threshold", o.threshold);
    plx::io::set_attribute(file, "/", "min_node_mass", o.min_node_mass);
    plx::io::set_attribute(file, "/", "min_filament_mass", o.min_filament_mass);
    plx::io::set_attribute(file, "/", "parallax_version", std::string(plx::version_string) + " (" + plx::git_hash + ")");
    plx::io::set_attribute(file, "/", "ranks", std::int64_t{world.size()});
    plx::io::set_attribute(file, "/", "threads", std::int64_t{rt.threads()});
    plx::io::set_attribute(file, "/", "command_line", command_line);
    file.close();
    output.commit();
    const double total_s = seconds_since(start);
    // Every rank's peak, on root (--json): memory per rank grows as N^d / domains times the margin's factor.
    const double my_peak_mb = plx::cosmo::peak_rss_mb();
    std::vector<double> peak_mb(rt.is_root() ? static_cast<std::size_t>(world.size()) : 0);
    plx::detail::check_mpi(MPI_Gather(&my_peak_mb, 1, MPI_DOUBLE, peak_mb.data(), 1, MPI_DOUBLE, 0, world.native()),
                           "MPI_Gather");

    if (!rt.is_root()) return 0;
    if (o.json) {
      plx::json fractions = plx::json::array();
      for (const double f : web.class_fraction) fractions.push_back(plx::rounded_significant(f, 6));
      plx::json peak_rss = plx::json::array();
      for (const double mb : peak_mb) peak_rss.push_back(plx::rounded(mb, 1));
      plx::print_json_line({{"class_fraction", fractions},
                            {"threshold", o.threshold},
                            {"read", plx::rounded(read_s, 6)},
                            {"deformation", plx::rounded(deformation_s, 6)},
                            {"deformation_write", plx::rounded(deformation_write_s, 6)},
                            {"adhesion", plx::rounded(adhesion_s, 6)},
                            {"total", plx::rounded(total_s, 6)},
                            {"dim", input.dim},
                            {"n", input.n},
                            {"times", times.size()},
                            {"domains", domains},
                            {"ranks", world.size()},
                            {"threads", rt.threads()},
                            {"memory_estimate_mb", plx::rounded(estimate_mb, 1)},
                            {"peak_rss_mb", peak_rss},
                            {"out", o.out}});
    } else {
      std::string fractions;
      for (const double f : web.class_fraction) fractions += (fractions.empty() ? "" : " ") + std::to_string(f);
      std::printf("wrote %s: %d^%d cells, class fractions %s (threshold %g), %d ranks x %d threads, %.3f s\n",
                  o.out.c_str(), static_cast<int>(input.n), input.dim, fractions.c_str(), o.threshold, world.size(),
                  rt.threads(), total_s);
    }
    return 0;
  });
}
