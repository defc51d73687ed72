// plx::web::write_adhesion_times on 1-4 ranks: the file holds, for each time, exactly what adhesion() gives
// (2D and 3D), with 1 or 2 threads per rank and any number of spatial domains per time (automatic, 1, 3), for
// many times and for one; a time that fails on one rank only (an injected fault), and a write that fails on one rank only,
// end the call on every rank with the same error; bad times are refused on every rank before any work. Every
// test finishes its collective calls before it asserts.
#include <parallax/web/adhesion.hpp>

#include <stdlib.h>  // mkdtemp (POSIX)

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <numeric>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>
#include <mpi.h>

#include <parallax/core/collectives.hpp>
#include <parallax/core/detail/fault_injection.hpp>
#include <parallax/core/error.hpp>
#include <parallax/io/atomic_output.hpp>
#include <parallax/io/hdf5_file.hpp>
#include <parallax/io/slab_io.hpp>

#include "../support/mpi_test.hpp"

namespace {

using plx::testing_support::rt;
const plx::communicator& world() { return rt().world(); }

// A smooth periodic potential with a few waves: structures several cells big at D of a few.
std::vector<double> potential(int dim, std::ptrdiff_t n, double box) {
  std::vector<double> phi;
  const double k = 2 * std::acos(-1.0) / box;
  const double cell = box / static_cast<double>(n);
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    for (std::ptrdiff_t j = 0; j < n; ++j) {
      for (std::ptrdiff_t l = 0; l < (dim == 3 ? n : 1); ++l) {
        const double x = static_cast<double>(i) * cell, y = static_cast<double>(j) * cell, z = static_cast<double>(l) * cell;
        phi.push_back(0.5 * std::cos(k * x + 0.3) + 0.25 * std::sin(k * (x + 2 * y) + 1.1) + 0.2 * std::cos(k * (y - z) + 0.7) +
                      0.1 * std::sin(2 * k * (x - y + z)));
      }
    }
  }
  return phi;
}

// A fresh directory made by root, named to every rank.
std::string scratch(const std::string& tag) {
  std::string dir;
  if (world().is_root()) {
    std::string pattern = (std::filesystem::temp_directory_path() / ("plx-web-" + tag + "-XXXXXX")).string();
    dir = mkdtemp(pattern.data()) ? pattern : "";
  }
  plx::detail::broadcast_from_root(world(), dir);
  return dir;
}

bool all_ranks(bool value) {
  int mine = value ? 1 : 0, all = 0;
  MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, world().native());
  return all == 1;
}

struct layout_case {
  int dim;
  int threads;
  int domains;  // per time; 0: automatic
};

class WriteAdhesionTimes : public ::testing::TestWithParam<std::tuple<layout_case, std::vector<double>>> {};

TEST_P(WriteAdhesionTimes, the_file_holds_what_adhesion_gives_for_each_time) {
  const auto& [layout, times] = GetParam();
  const int dim = layout.dim;
  const std::ptrdiff_t n = dim == 2 ? 20 : 8;
  const double box = 10;
  const std::vector<double> phi = potential(dim, n, box);
  plx::map_options map;
  map.threads = layout.threads;
  const std::string dir = scratch("times");
  const std::string path = dir + "/web.h5";
  plx::web::adhesion_options options;
  options.min_node_mass = 0.25;
  {
    auto file = plx::io::h5_file::create(world(), path);
    plx::web::write_adhesion_times(world(), dim, n, box, phi, times, options, file, map, layout.domains);
    file.close();
  }
  bool same = true;
  std::string what;
  {
    auto file = plx::io::h5_file::open_read(world(), path);
    for (std::size_t i = 0; i < times.size(); ++i) {
      const plx::web::adhesion_structures s = plx::web::adhesion(dim, n, box, phi, times[i], options);
      const std::string group = "/adhesion/00" + std::to_string(i);
      const auto check = [&](const std::string& name, const std::vector<double>& expected) {
        if (plx::io::read_all(file, group + "/" + name) != expected) {
          same = false;
          what += group + "/" + name + " ";
        }
      };
      check("nodes/position", s.node_position);
      check("nodes/mass", s.node_mass);
      check("filaments/a", s.filament_a);
      check("filaments/b", s.filament_b);
      check("filaments/mass", s.filament_mass);
      check("mass_function/count", s.mass_count);
      std::vector<double> density(s.mass_count);
      for (double& d : density) d /= 0.1 * std::pow(box, dim);
      check("mass_function/dn_dlog10m", density);
      same = same && plx::io::read_all(file, group + "/mass_function/log10_mass").size() == s.mass_count.size() + 1;
      const auto shape = plx::io::dataset_dims(file, group + "/filaments/a");
      same = same && shape.size() == 2 && shape[1] == static_cast<hsize_t>(dim);
      same = same && plx::io::get_attribute_double(file, group, "time") == times[i];
      same = same && plx::io::get_attribute_double(file, group, "total_mass") == std::pow(static_cast<double>(n), dim);
    }
    file.close();
  }
  const bool everywhere = all_ranks(same);
  if (world().is_root()) std::filesystem::remove_all(dir);
  EXPECT_TRUE(everywhere) << what;
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, WriteAdhesionTimes,
    ::testing::Combine(::testing::Values(layout_case{2, 1, 0}, layout_case{2, 2, 0}, layout_case{2, 2, 3},
                                         layout_case{3, 1, 0}, layout_case{3, 2, 0}, layout_case{3, 1, 1},
                                         layout_case{3, 2, 3}),
                       ::testing::Values(std::vector<double>{0.0, 0.7, 1.5, 3.0, 4.0}, std::vector<double>{1.5})));

// Nothing stored (thresholds above every mass): each rank's domains have no rows, and the datasets still exist,
// with no rows and the right width, while the totals count everything.
TEST(WriteAdhesionTimes, thresholds_above_every_mass_give_empty_datasets_of_the_right_shape) {
  const std::vector<double> phi = potential(3, 8, 10);
  const std::vector<double> times{0.5, 2.0};
  const std::string dir = scratch("empty");
  plx::web::adhesion_options options;
  options.min_node_mass = 1e9;
  options.min_filament_mass = 1e9;
  bool same = true;
  {
    auto file = plx::io::h5_file::create(world(), dir + "/web.h5");
    plx::web::write_adhesion_times(world(), 3, 8, 10, phi, times, options, file, {}, 3);
    file.close();
  }
  {
    auto file = plx::io::h5_file::open_read(world(), dir + "/web.h5");
    for (const char* group : {"/adhesion/000", "/adhesion/001"}) {
      const std::string g = group;
      same = same && plx::io::dataset_dims(file, g + "/nodes/position") == std::vector<hsize_t>{0, 3};
      same = same && plx::io::dataset_dims(file, g + "/filaments/b") == std::vector<hsize_t>{0, 3};
      same = same && plx::io::dataset_dims(file, g + "/filaments/mass") == std::vector<hsize_t>{0};
      same = same && plx::io::get_attribute_double(file, g, "total_mass") == 512.0;
      const std::vector<double> counts = plx::io::read_all(file, g + "/mass_function/count");
      same = same && std::accumulate(counts.begin(), counts.end(), 0.0) > 0;
    }
    file.close();
  }
  const bool everywhere = all_ranks(same);
  if (world().is_root()) std::filesystem::remove_all(dir);
  EXPECT_TRUE(everywhere);
}

// Every worker (one thread per rank, round-robin) draws times, so the last rank's fault is reached.
plx::map_options every_rank_works() {
  plx::map_options map;
  map.threads = 1;
  map.schedule = plx::schedule::static_blocks(1);
  return map;
}

TEST(WriteAdhesionTimes, a_time_failing_on_one_rank_stops_every_rank) {
  const std::vector<double> phi = potential(2, 12, 10);
  const std::vector<double> times(8, 1.0);
  const std::string dir = scratch("fault");
  std::string message;
  {
    auto file = plx::io::h5_file::create(world(), dir + "/web.h5");
    if (world().rank() == world().size() - 1) plx::detail::arm_fault("web.adhesion");
    try {
      plx::web::write_adhesion_times(world(), 2, 12, 10, phi, times, {}, file, every_rank_works());
    } catch (const plx::task_error& e) {
      message = e.what();
    }
    plx::detail::disarm_faults();
    file.close();
  }
  const bool everywhere = all_ranks(message.find("injected failure") != std::string::npos);
  if (world().is_root()) std::filesystem::remove_all(dir);
  EXPECT_TRUE(everywhere) << message;
}

TEST(WriteAdhesionTimes, a_write_failing_on_one_rank_stops_every_rank) {
  const std::vector<double> phi = potential(2, 12, 10);
  const std::vector<double> times{0.5, 1.0};
  const std::string dir = scratch("write");
  std::string message;
  {
    // Into an output's temporary, as plx-web writes: after a failed direct write the discarded temporary is
    // emptied so that it can still be closed (a file that is kept would be abandoned: MPI_Abort at the end).
    plx::io::atomic_output output(world(), dir + "/web.h5", true);
    auto file = plx::io::h5_file::create(world(), output.temporary_path());
    if (world().rank() == world().size() - 1) plx::detail::arm_fault("hdf5.write");
    try {
      plx::web::write_adhesion_times(world(), 2, 12, 10, phi, times, {}, file);
    } catch (const plx::io_error& e) {
      message = e.what();
    }
    plx::detail::disarm_faults();
    file.close();  // returns on every rank (the file is let go, see h5_file::close)
  }
  const bool everywhere = all_ranks(message.find("No space left on device") != std::string::npos);
  if (world().is_root()) std::filesystem::remove_all(dir);
  EXPECT_TRUE(everywhere) << message;
}

TEST(WriteAdhesionTimes, bad_times_and_domains_are_refused_on_every_rank_before_any_work) {
  const std::vector<double> phi = potential(2, 12, 10);
  const std::vector<double> times{0.5, -1.0};
  const std::string dir = scratch("bad");
  std::string message;
  {
    auto file = plx::io::h5_file::create(world(), dir + "/web.h5");
    try {
      plx::web::write_adhesion_times(world(), 2, 12, 10, phi, times, {}, file);
    } catch (const plx::config_error& e) {
      message = e.what();
    }
    file.close();
  }
  std::string domains_message;
  {
    auto file = plx::io::h5_file::create(world(), dir + "/web2.h5");
    try {
      plx::web::write_adhesion_times(world(), 2, 12, 10, phi, std::vector<double>{0.5}, {}, file, {}, 13);
    } catch (const plx::config_error& e) {
      domains_message = e.what();
    }
    file.close();
  }
  const bool everywhere = all_ranks(message.find("times must be finite and at least 0, not -1") != std::string::npos &&
                                    domains_message.find("between 1 and the grid's 12 planes") != std::string::npos);
  if (world().is_root()) std::filesystem::remove_all(dir);
  EXPECT_TRUE(everywhere) << message << " / " << domains_message;
}

}  // namespace
