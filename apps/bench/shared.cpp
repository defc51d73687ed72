// plx-bench shared: node memory and load time of one input read by every rank, as one node-shared copy
// (plx::io::read_node_shared) against one copy per rank.
//
// The bench first writes the input, rows of 1024 doubles (value = flat index), to an HDF5 file in --dir,
// then loads it once per mode. Before each load the file is flushed and dropped from the page cache
// (posix_fadvise) so that each mode starts from the disk. After a load every rank reads one value per page
// (and checks it), so that it maps every page; node_pss_bytes is then the PSS of the node's ranks summed
// (the largest node's sum where there are several), the whole processes, not just the input.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <mpi.h>

#include <fmt/format.h>

#include <parallax/app/json_line.hpp>
#include <parallax/core/collectives.hpp>
#include <parallax/core/error.hpp>
#include <parallax/core/memory_usage.hpp>
#include <parallax/io/atomic_output.hpp>
#include <parallax/io/hdf5_file.hpp>
#include <parallax/io/node_shared_h5.hpp>
#include <parallax/io/slab_io.hpp>
#include <parallax/dist/node_shared.hpp>

#include "bench.hpp"

namespace plx::bench {

namespace {

constexpr std::size_t row_values = 1024;             // 8 KiB rows
constexpr std::size_t values_per_page = 4096 / sizeof(double);
constexpr std::size_t read_batch_bytes = std::size_t{256} << 20;  // per rank and HDF5 call, as read_node_shared
const std::string dataset = "/input";

double value_at(std::size_t flat) { return static_cast<double>(flat); }

/// Collective: the input file, each rank writing its share of the rows.
void write_input(const communicator& comm, const std::string& path, std::size_t rows) {
  const auto first = rows * static_cast<std::size_t>(comm.rank()) / static_cast<std::size_t>(comm.size());
  const auto last = rows * static_cast<std::size_t>(comm.rank() + 1) / static_cast<std::size_t>(comm.size());
  std::vector<double> mine((last - first) * row_values);
  for (std::size_t k = 0; k < mine.size(); ++k) mine[k] = value_at(first * row_values + k);
  auto file = io::h5_file::create(comm, path);
  io::write_distributed(file, dataset, {.global_dims = {rows, row_values}, .offset0 = first, .count0 = last - first},
                        mine);
  file.close();
}

/// Collective: the file on disk and out of the page cache of every node (one rank per node does it).
void drop_from_page_cache(const runtime& rt, const std::string& path) {
  detail::on_all_ranks(rt.world(), [&] {
    if (rt.node_rank() != 0) return;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw io_error("cannot open '" + path + "' to drop it from the page cache");
    ::fdatasync(fd);  // dirty pages cannot be dropped
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  });
}

/// Reads one value per page of `values` (so that this rank maps every page) and checks it.
void touch_every_page(std::span<const double> values) {
  for (std::size_t i = 0; i < values.size(); i += values_per_page) {
    if (values[i] != value_at(i)) {
      throw io_error(fmt::format("value {} reads {} instead of {} (rank {})", i, values[i], value_at(i),
                                 detail::world_rank_or_zero()));
    }
  }
}

struct measurement {
  double load_seconds = 0;       // slowest rank
  std::uint64_t node_pss_bytes = 0;  // largest node
};

/// Collective: `load` (returning the values this rank can read) timed on every rank, then every page
/// touched and the node's PSS summed.
template <class Load>
measurement measure(const runtime& rt, Load&& load) {
  rt.world().barrier();
  const auto start = std::chrono::steady_clock::now();
  const auto holder = load();
  const double mine = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  detail::on_all_ranks(rt.world(), [&] { touch_every_page(holder.values()); });
  rt.node().barrier();  // PSS splits a page among the processes that map it now: every rank has mapped all
  const std::uint64_t pss = current_memory_usage().pss_bytes;
  std::uint64_t node_pss = 0;
  detail::check_mpi(MPI_Allreduce(&pss, &node_pss, 1, MPI_UINT64_T, MPI_SUM, rt.node().native()), "MPI_Allreduce");
  measurement m;
  detail::check_mpi(MPI_Allreduce(&node_pss, &m.node_pss_bytes, 1, MPI_UINT64_T, MPI_MAX, rt.world().native()),
                    "MPI_Allreduce");
  detail::check_mpi(MPI_Allreduce(&mine, &m.load_seconds, 1, MPI_DOUBLE, MPI_MAX, rt.world().native()),
                    "MPI_Allreduce");
  rt.node().barrier();  // every rank of the node measured before any lets go of its copy
  return m;
}

/// A rank's own copy of the whole input.
struct private_copy {
  std::vector<double> data;
  [[nodiscard]] std::span<const double> values() const { return data; }
};

/// Collective: every rank reads the whole dataset into its own vector, in the same batches as read_node_shared.
private_copy read_copy(io::h5_file& file, std::size_t rows) {
  private_copy copy;
  copy.data.resize(rows * row_values);
  const std::size_t batch_rows = std::max<std::size_t>(1, read_batch_bytes / sizeof(double) / row_values);
  for (std::size_t done = 0; done < rows; done += batch_rows) {
    const std::size_t count = std::min(batch_rows, rows - done);
    io::read_distributed(file, dataset, {.global_dims = {rows, row_values}, .offset0 = done, .count0 = count},
                         std::span<double>(copy.data).subspan(done * row_values, count * row_values));
  }
  return copy;
}

}  // namespace

int run_shared(runtime& rt, const shared_options& options) {
  const communicator& world = rt.world();
  const std::size_t rows = std::max<std::size_t>(1, options.bytes / (row_values * sizeof(double)));
  const std::uint64_t input_bytes = rows * row_values * sizeof(double);
  const std::string dir = options.dir.empty() ? std::filesystem::temp_directory_path().string() : options.dir;

  // Refused before anything is written: the copies a mode holds at once on the largest node must fit in its
  // memory (with a tenth to spare for everything else).
  detail::on_all_ranks(world, [&] {
    const double memory = double(sysconf(_SC_PHYS_PAGES)) * double(sysconf(_SC_PAGE_SIZE));
    const int copies = options.mode == "shared" ? 1 : rt.node_size();
    if (double(copies) * double(input_bytes) > 0.9 * memory) {
      throw config_error(fmt::format("--bytes {}: {} {} of the input need {:.1f} GiB on a node that has {:.1f} GiB",
                                     options.bytes, copies, copies == 1 ? "copy" : "copies",
                                     double(copies) * double(input_bytes) / double(1ULL << 30),
                                     memory / double(1ULL << 30)));
    }
  });

  // The input's file: a fresh name in --dir, removed at the end, or after a failure (never committed).
  std::optional<io::atomic_output> scratch;
  try {
    scratch.emplace(world, dir + "/plx-bench-shared.h5", true);
  } catch (const error& e) {  // a missing or unwritable directory: bad input, named as the option
    throw detail::collective(config_error(std::string("--dir: ") + e.what()));
  }
  const std::string& path = scratch->temporary_path();
  if (world.is_root() && !options.json) {
    std::printf("shared: a %.2f GiB input (%zu rows x %zu doubles) in %s, %d ranks\n",
                double(input_bytes) / double(1ULL << 30), rows, row_values, path.c_str(), world.size());
    std::fflush(stdout);
  }
  write_input(world, path, rows);

  const auto report = [&](const char* mode, const measurement& m) {
    if (!world.is_root()) return;
    if (options.json) {
      print_json_line({{"benchmark", "shared"},
                       {"mode", mode},
                       {"ranks", world.size()},
                       {"input_bytes", input_bytes},
                       {"node_pss_bytes", m.node_pss_bytes},
                       {"load_seconds", rounded(m.load_seconds, 3)}});
    } else {
      std::printf("  %-6s node PSS %6.2f GiB (%.2fx one copy), load %.3f s\n", mode,
                  double(m.node_pss_bytes) / double(1ULL << 30), double(m.node_pss_bytes) / double(input_bytes),
                  m.load_seconds);
      std::fflush(stdout);
    }
  };
  const auto wanted = [&](const char* mode) { return options.mode == "both" || options.mode == mode; };
  if (wanted("shared")) {
    drop_from_page_cache(rt, path);
    report("shared", measure(rt, [&] {
             auto file = io::h5_file::open_read(world, path);
             auto table = io::read_node_shared(file, dataset, read_batch_bytes);
             file.close();
             return table;
           }));
  }
  if (wanted("copy")) {
    drop_from_page_cache(rt, path);
    report("copy", measure(rt, [&] {
             auto file = io::h5_file::open_read(world, path);
             auto copy = read_copy(file, rows);
             file.close();
             return copy;
           }));
  }
  return 0;
}

}  // namespace plx::bench
