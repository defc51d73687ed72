// Collective HDF5 output on 1-4 ranks: slab writes with padded rows and an uneven split (the last rank holds
// no planes when there are several), root-only datasets, attributes, groups, collective failures (a write
// that fails on one rank only, injected) and the atomic output file. Every test finishes its collective
// calls before it asserts.
//
// Set PLX_IO_TEST_KEEP=1 to keep the files (root prints where), e.g. to look at them with h5dump.
#include <parallax/core/detail/fault_injection.hpp>
#include <parallax/core/detail/removal_on_signal.hpp>
#include <parallax/io/atomic_output.hpp>
#include <parallax/io/hdf5_file.hpp>
#include <parallax/io/slab_io.hpp>

#include <stdlib.h>  // mkdtemp (POSIX)
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <mpi.h>

#include <parallax/core/communicator.hpp>
#include <parallax/core/error.hpp>

#include "../support/mpi_test.hpp"

namespace {

namespace fs = std::filesystem;
using plx::testing_support::rt;

const plx::communicator& world() { return rt().world(); }

std::string broadcast_from_root(std::string text) {
  int length = static_cast<int>(text.size());
  MPI_Bcast(&length, 1, MPI_INT, 0, world().native());
  text.resize(static_cast<std::size_t>(length));
  MPI_Bcast(text.data(), length, MPI_CHAR, 0, world().native());
  return text;
}

/// True on every rank when `value` is true on every rank.
bool all_ranks(bool value) {
  int mine = value ? 1 : 0;
  int all = 0;
  MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, world().native());
  return all == 1;
}

/// Planes [offset, offset + count) of this rank: uneven, and none on the last rank when there are several.
struct plane_range {
  hsize_t offset = 0;
  hsize_t count = 0;
};

plane_range split_planes(hsize_t planes, int rank, int size) {
  if (size == 1) return {0, planes};
  const auto holders = static_cast<hsize_t>(size - 1);
  const auto r = static_cast<hsize_t>(rank);
  if (r == holders) return {planes, 0};
  const hsize_t base = planes / holders;
  const hsize_t extra = planes % holders;  // the first `extra` ranks get one more
  return {r * base + std::min(r, extra), base + (r < extra ? 1 : 0)};
}

/// A value that differs for every global index (exactly representable).
double value_at(hsize_t flat) { return 0.25 + static_cast<double>(flat); }

class Hdf5Io : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string dir;
    if (world().is_root()) {
      std::string pattern = (fs::temp_directory_path() / "plx_io_test.XXXXXX").string();
      if (mkdtemp(pattern.data()) != nullptr) dir = pattern;
    }
    dir_ = broadcast_from_root(dir);
  }
  static void TearDownTestSuite() {
    world().barrier();
    if (world().is_root() && !dir_.empty()) {
      if (std::getenv("PLX_IO_TEST_KEEP") != nullptr) {
        std::printf("[ io_hdf5 ] files kept in %s\n", dir_.c_str());
      } else {
        std::error_code ignored;
        fs::remove_all(dir_, ignored);
      }
    }
  }
  void SetUp() override { ASSERT_FALSE(dir_.empty()) << "root could not create a temporary directory"; }

  static std::string path(const std::string& name) { return dir_ + "/" + name; }

  static inline std::string dir_;
};

TEST_F(Hdf5Io, split_gives_the_last_rank_no_planes) {
  hsize_t covered = 0;
  for (int r = 0; r < world().size(); ++r) {
    const plane_range range = split_planes(7, r, world().size());
    EXPECT_EQ(range.offset, covered);
    covered += range.count;
  }
  EXPECT_EQ(covered, 7U);
  if (world().size() > 1) {
    EXPECT_EQ(split_planes(7, world().size() - 1, world().size()).count, 0U);
  }
}

TEST_F(Hdf5Io, padded_3d_slabs_round_trip_exactly) {
  const std::vector<hsize_t> dims = {7, 5, 6};
  const hsize_t stride = 2 * (dims[2] / 2 + 1);  // FFTW's in-place r2c padding: 8 for 6
  const plane_range mine = split_planes(dims[0], world().rank(), world().size());
  const plx::io::slab_block block{.global_dims = dims, .offset0 = mine.offset, .count0 = mine.count,
                                  .row_stride = stride};
  constexpr double padding = -999.0;
  std::vector<double> local(plx::io::local_buffer_size(block), padding);
  for (hsize_t i = 0; i < mine.count; ++i) {
    for (hsize_t j = 0; j < dims[1]; ++j) {
      for (hsize_t k = 0; k < dims[2]; ++k) {
        local[(i * dims[1] + j) * stride + k] = value_at(((mine.offset + i) * dims[1] + j) * dims[2] + k);
      }
    }
  }

  const std::string file_path = path("slab3d.h5");
  {
    auto file = plx::io::h5_file::create(world(), file_path);
    plx::io::write_distributed(file, "/density", block, local);
    // The raw-pointer form (FFTW arrays) writes the same thing.
    plx::io::write_distributed(file, "/density_raw", dims, mine.offset, mine.count,
                               local.empty() ? nullptr : local.data(), stride);
    file.close();
  }
  auto file = plx::io::h5_file::open_read(world(), file_path);
  const std::vector<double> contiguous = plx::io::read_distributed(file, "/density", mine.offset, mine.count);
  const std::vector<double> raw = plx::io::read_distributed(file, "/density_raw", mine.offset, mine.count);
  std::vector<double> padded(local.size(), padding);
  plx::io::read_distributed(file, "/density", block, padded);
  const std::vector<double> whole = plx::io::read_all(file, "/density");
  const std::vector<hsize_t> shape = plx::io::dataset_dims(file, "/density");
  file.close();

  EXPECT_EQ(shape, dims);
  ASSERT_EQ(contiguous.size(), mine.count * dims[1] * dims[2]);
  for (std::size_t n = 0; n < contiguous.size(); ++n) {
    ASSERT_EQ(contiguous[n], value_at(mine.offset * dims[1] * dims[2] + n)) << "element " << n;
  }
  EXPECT_EQ(raw, contiguous);
  EXPECT_EQ(padded, local) << "strided read fills the rows and leaves the padding alone";
  ASSERT_EQ(whole.size(), dims[0] * dims[1] * dims[2]);
  for (std::size_t n = 0; n < whole.size(); ++n) ASSERT_EQ(whole[n], value_at(n)) << "element " << n;
}

// write_distributed hands a rank's planes over in pieces (of 64 MiB; here of one plane, 8 KiB), and a rank
// with fewer planes (or none) joins the other ranks' later collective writes selecting nothing.
TEST_F(Hdf5Io, slabs_larger_than_a_write_piece_round_trip_exactly) {
  struct piece_size {  // restored however the test ends
    hsize_t saved = plx::io::detail::set_write_piece_bytes(8192);
    ~piece_size() { plx::io::detail::set_write_piece_bytes(saved); }
  } one_plane;
  const std::vector<hsize_t> dims = {5, 32, 30};
  const hsize_t stride = 2 * (dims[2] / 2 + 1);
  const plane_range mine = split_planes(dims[0], world().rank(), world().size());
  const plx::io::slab_block block{.global_dims = dims, .offset0 = mine.offset, .count0 = mine.count,
                                  .row_stride = stride};
  std::vector<double> local(plx::io::local_buffer_size(block), -1.0);
  for (hsize_t row = 0; row < mine.count * dims[1]; ++row) {
    for (hsize_t k = 0; k < dims[2]; ++k) local[row * stride + k] = value_at((mine.offset * dims[1] + row) * dims[2] + k);
  }
  const std::string file_path = path("pieces.h5");
  {
    auto file = plx::io::h5_file::create(world(), file_path);
    plx::io::write_distributed(file, "/big", block, local);
    file.close();
  }
  auto file = plx::io::h5_file::open_read(world(), file_path);
  const std::vector<double> whole = world().is_root() ? plx::io::read_all(file, "/big") : std::vector<double>();
  file.close();
  bool exact = true;
  for (std::size_t n = 0; n < whole.size(); ++n) exact = exact && whole[n] == value_at(n);
  EXPECT_TRUE(exact);
  if (world().is_root()) {
    EXPECT_EQ(whole.size(), dims[0] * dims[1] * dims[2]);
  }

  // A failure in a piece on one rank (the last: it holds the fewest planes) fails the write on every rank.
  const int failing = world().size() - 1;
  std::string message;
  {
    auto failed_file = plx::io::h5_file::create(world(), path("pieces_failing.h5"));
    if (world().rank() == failing) plx::detail::arm_fault("hdf5.write");
    try {
      plx::io::write_distributed(failed_file, "/big", block, local);
    } catch (const plx::io_error& error) {
      message = error.what();
    }
    failed_file.close();
  }
  plx::detail::disarm_faults();
  EXPECT_TRUE(all_ranks(!message.empty()));
  EXPECT_TRUE(all_ranks(broadcast_from_root(message) == message)) << message;
  EXPECT_NE(message.find("rank " + std::to_string(failing) + " of"), std::string::npos) << message;
}

TEST_F(Hdf5Io, vector_field_keeps_components_last) {
  const std::vector<hsize_t> dims = {5, 4, 3, 3};
  const plane_range mine = split_planes(dims[0], world().rank(), world().size());
  const hsize_t per_plane = dims[1] * dims[2] * dims[3];
  std::vector<double> local(mine.count * per_plane);
  for (std::size_t n = 0; n < local.size(); ++n) local[n] = value_at(mine.offset * per_plane + n);

  const std::string file_path = path("vector4d.h5");
  {
    auto file = plx::io::h5_file::create(world(), file_path);
    plx::io::write_distributed(file, "/displacement",
                               {.global_dims = dims, .offset0 = mine.offset, .count0 = mine.count}, local);
  }  // the destructor closes (collectively) too
  auto file = plx::io::h5_file::open_read(world(), file_path);
  const std::vector<double> back = plx::io::read_distributed(file, "/displacement", mine.offset, mine.count);
  const std::vector<double> whole = plx::io::read_all(file, "/displacement");
  const std::vector<hsize_t> shape = plx::io::dataset_dims(file, "/displacement");
  file.close();

  EXPECT_EQ(shape, dims);
  EXPECT_EQ(back, local);
  ASSERT_EQ(whole.size(), dims[0] * per_plane);
  // Component c of cell (i, j, k) sits at ((i * 4 + j) * 3 + k) * 3 + c.
  EXPECT_EQ(whole[((2 * 4 + 1) * 3 + 2) * 3 + 1], value_at(((2 * 4 + 1) * 3 + 2) * 3 + 1));
  for (std::size_t n = 0; n < whole.size(); ++n) ASSERT_EQ(whole[n], value_at(n));
}

TEST_F(Hdf5Io, root_data_is_written_once_and_read_everywhere) {
  std::vector<double> k;
  std::vector<double> table;
  if (world().is_root()) {
    k = {0.1, 0.2, 0.3, 0.4};
    table = {1, 2, 3, 4, 5, 6};
  }
  const std::vector<hsize_t> table_dims = {2, 3};
  const std::vector<hsize_t> ignored = {99};  // other ranks' shapes do not matter
  const std::string file_path = path("root_data.h5");
  {
    auto file = plx::io::h5_file::create(world(), file_path);
    plx::io::write_from_root(file, "/power_spectrum/k", k);
    plx::io::write_from_root(file, "/power_spectrum/table", world().is_root() ? table_dims : ignored, table);
    plx::io::write_from_root(file, "/power_spectrum/empty", std::vector<double>{});
    file.close();
  }
  auto file = plx::io::h5_file::open_read(world(), file_path);
  const std::vector<double> k_back = plx::io::read_all(file, "/power_spectrum/k");
  const std::vector<double> table_back = plx::io::read_all(file, "/power_spectrum/table");
  const std::vector<hsize_t> table_shape = plx::io::dataset_dims(file, "/power_spectrum/table");
  const std::vector<double> empty_back = plx::io::read_all(file, "/power_spectrum/empty");
  const std::vector<hsize_t> empty_shape = plx::io::dataset_dims(file, "/power_spectrum/empty");
  file.close();

  EXPECT_EQ(k_back, (std::vector<double>{0.1, 0.2, 0.3, 0.4}));
  EXPECT_EQ(table_back, (std::vector<double>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(table_shape, table_dims);
  EXPECT_TRUE(empty_back.empty());
  EXPECT_EQ(empty_shape, (std::vector<hsize_t>{0}));
}

TEST_F(Hdf5Io, attributes_of_every_type_round_trip) {
  const std::string file_path = path("attributes.h5");
  const std::vector<double> times = {0.1, 0.5, 1.0};
  {
    auto file = plx::io::h5_file::create(world(), file_path);
    plx::io::set_attribute(file, "/", "box_size_mpc_h", 500.0);
    plx::io::set_attribute(file, "/", "seed", std::int64_t{-1234567890123});
    plx::io::set_attribute(file, "/", "ranks", world().size());  // int, stored as int64
    plx::io::set_attribute(file, "/", "cells", std::size_t{128});
    plx::io::set_attribute(file, "/", "spectrum", "eisenstein_hu");
    plx::io::set_attribute(file, "/", "empty_text", std::string());
    plx::io::set_attribute(file, "/", "times", std::span<const double>(times));
    plx::io::set_attribute(file, "/", "no_times", std::span<const double>());
    plx::io::set_attribute(file, "/", "replaced", 1.5);
    plx::io::set_attribute(file, "/", "replaced", std::string("now a string"));
    plx::io::write_from_root(file, "/power_spectrum/k", std::vector<double>{1.0});
    plx::io::set_attribute(file, "/power_spectrum/k", "unit", "h/Mpc");
    plx::io::set_attribute(file, "/power_spectrum", "bins", 1);
    file.close();
  }
  auto file = plx::io::h5_file::open_read(world(), file_path);
  const double box = plx::io::get_attribute_double(file, "/", "box_size_mpc_h");
  const std::int64_t seed = plx::io::get_attribute_int64(file, "/", "seed");
  const std::int64_t ranks = plx::io::get_attribute_int64(file, "/", "ranks");
  const double ranks_as_double = plx::io::get_attribute_double(file, "/", "ranks");
  const std::int64_t cells = plx::io::get_attribute_int64(file, "/", "cells");
  const std::string spectrum = plx::io::get_attribute_string(file, "/", "spectrum");
  const std::string empty_text = plx::io::get_attribute_string(file, "/", "empty_text");
  const std::vector<double> times_back = plx::io::get_attribute_doubles(file, "/", "times");
  const std::vector<double> no_times = plx::io::get_attribute_doubles(file, "/", "no_times");
  const std::string replaced = plx::io::get_attribute_string(file, "/", "replaced");
  const std::string unit = plx::io::get_attribute_string(file, "/power_spectrum/k", "unit");
  const std::int64_t bins = plx::io::get_attribute_int64(file, "/power_spectrum", "bins");
  const bool has_seed = plx::io::has_attribute(file, "/", "seed");
  const bool has_other = plx::io::has_attribute(file, "/", "other");
  bool missing_throws = false;
  try {
    static_cast<void>(plx::io::get_attribute_double(file, "/", "other"));
  } catch (const plx::io_error& error) {
    missing_throws = std::string(error.what()).find("other") != std::string::npos;
  }
  bool wrong_type_throws = false;
  try {
    static_cast<void>(plx::io::get_attribute_int64(file, "/", "spectrum"));
  } catch (const plx::io_error&) {
    wrong_type_throws = true;
  }
  bool read_only_throws = false;
  try {
    plx::io::set_attribute(file, "/", "late", 1.0);  // the same failure on every rank, before any collective
  } catch (const plx::io_error&) {
    read_only_throws = true;
  }
  file.close();

  EXPECT_EQ(box, 500.0);
  EXPECT_EQ(seed, -1234567890123);
  EXPECT_EQ(ranks, world().size());
  EXPECT_EQ(ranks_as_double, static_cast<double>(world().size()));
  EXPECT_EQ(cells, 128);
  EXPECT_EQ(spectrum, "eisenstein_hu");
  EXPECT_EQ(empty_text, "");
  EXPECT_EQ(times_back, times);
  EXPECT_TRUE(no_times.empty());
  EXPECT_EQ(replaced, "now a string");
  EXPECT_EQ(unit, "h/Mpc");
  EXPECT_EQ(bins, 1);
  EXPECT_TRUE(has_seed);
  EXPECT_FALSE(has_other);
  EXPECT_TRUE(missing_throws);
  EXPECT_TRUE(wrong_type_throws);
  EXPECT_TRUE(read_only_throws);
}

// Seeds use the whole unsigned 64-bit range: stored as H5T_STD_U64LE, read back unchanged; a signed attribute
// reads back when it is not negative.
TEST_F(Hdf5Io, unsigned_64_bit_attributes_keep_every_value) {
  const std::string file_path = path("uint64.h5");
  const std::uint64_t largest = UINT64_MAX;
  const std::uint64_t above_int64 = 10000000000000000000ULL;
  {
    auto file = plx::io::h5_file::create(world(), file_path);
    plx::io::set_attribute_uint64(file, "/", "largest", largest);
    plx::io::set_attribute_uint64(file, "/", "above_int64", above_int64);
    plx::io::set_attribute(file, "/", "signed", std::int64_t{42});
    plx::io::set_attribute(file, "/", "negative", std::int64_t{-1});
    file.close();
  }
  auto file = plx::io::h5_file::open_read(world(), file_path);
  const std::uint64_t largest_back = plx::io::get_attribute_uint64(file, "/", "largest");
  const std::uint64_t above_back = plx::io::get_attribute_uint64(file, "/", "above_int64");
  const std::uint64_t signed_back = plx::io::get_attribute_uint64(file, "/", "signed");
  bool negative_throws = false;
  try {
    static_cast<void>(plx::io::get_attribute_uint64(file, "/", "negative"));
  } catch (const plx::io_error&) {
    negative_throws = true;
  }
  file.close();
  EXPECT_EQ(largest_back, largest);
  EXPECT_EQ(above_back, above_int64);
  EXPECT_EQ(signed_back, 42u);
  EXPECT_TRUE(negative_throws);
}

TEST_F(Hdf5Io, nested_groups_are_created_on_the_way) {
  const std::vector<hsize_t> dims = {6, 4};
  const plane_range mine = split_planes(dims[0], world().rank(), world().size());
  std::vector<double> local(mine.count * dims[1]);
  for (std::size_t n = 0; n < local.size(); ++n) local[n] = value_at(mine.offset * dims[1] + n);
  const std::string file_path = path("groups.h5");
  {
    auto file = plx::io::h5_file::create(world(), file_path);
    for (int frame = 0; frame < 2; ++frame) {
      char name[32];
      std::snprintf(name, sizeof name, "/frames/%03d/density", frame);
      plx::io::write_distributed(file, name, {.global_dims = dims, .offset0 = mine.offset, .count0 = mine.count},
                                 local);
      plx::io::set_attribute(file, name, "time", 0.5 * frame);
    }
    file.create_group("/meta/run/info");
    file.create_group("/meta/run");  // exists already: fine
    file.close();
  }
  auto file = plx::io::h5_file::open_read(world(), file_path);
  const bool frame = file.exists("/frames/001");
  const bool dataset = file.exists("/frames/001/density");
  const bool group = file.exists("/meta/run/info");
  const bool missing = file.exists("/frames/002/density");
  const bool below_dataset = file.exists("/frames/001/density/x");
  const bool root = file.exists("/");
  const double time = plx::io::get_attribute_double(file, "/frames/001/density", "time");
  const std::vector<double> back = plx::io::read_distributed(file, "/frames/001/density", mine.offset, mine.count);
  file.close();

  EXPECT_TRUE(frame);
  EXPECT_TRUE(dataset);
  EXPECT_TRUE(group);
  EXPECT_FALSE(missing);
  EXPECT_FALSE(below_dataset);
  EXPECT_TRUE(root);
  EXPECT_EQ(time, 0.5);
  EXPECT_EQ(back, local);
}

TEST_F(Hdf5Io, bad_blocks_fail_on_every_rank) {
  const std::vector<hsize_t> dims = {5, 3};
  const plane_range mine = split_planes(dims[0], world().rank(), world().size());
  std::vector<double> local(mine.count * dims[1], 1.0);
  auto file = plx::io::h5_file::create(world(), path("bad_blocks.h5"));

  auto throws_here = [&](const plx::io::slab_block& block, std::span<const double> data, const std::string& expected) {
    try {
      plx::io::write_distributed(file, "/bad", block, data);
    } catch (const plx::io_error& error) {
      const std::string text = error.what();
      if (text.find(expected) == std::string::npos) {
        ADD_FAILURE() << "message '" << text << "' lacks '" << expected << "'";
      }
      return true;
    }
    return false;
  };
  // Rank 0 alone claims one plane too many: an overlap with rank 1, or beyond dim 0 when it holds all.
  const plx::io::slab_block overlapping{.global_dims = dims, .offset0 = mine.offset,
                                        .count0 = mine.count + (world().is_root() ? 1 : 0)};
  const bool overlap =
      throws_here(overlapping, std::vector<double>(plx::io::local_buffer_size(overlapping)), "dim 0");
  // Rank 0 alone passes a buffer one element short: every rank reports rank 0's reason.
  const plx::io::slab_block whole{.global_dims = dims, .offset0 = mine.offset, .count0 = mine.count};
  const std::span<const double> data(local);
  const bool small = throws_here(whole, world().is_root() ? data.first(data.size() - 1) : data, "buffer");
  // Rank 0 disagrees with the others on the shape.
  bool shape = true;
  if (world().size() > 1) {
    const plx::io::slab_block reshaped{.global_dims = {dims[0], world().is_root() ? dims[1] : dims[1] + 1},
                                       .offset0 = mine.offset, .count0 = mine.count};
    shape = throws_here(reshaped, std::vector<double>(plx::io::local_buffer_size(reshaped)),
                        "another path or global_dims");
  }
  // Nothing was created on the way: the file still takes a good write.
  plx::io::write_distributed(file, "/good", whole, local);
  const bool bad_exists = file.exists("/bad");
  file.close();

  EXPECT_TRUE(all_ranks(overlap)) << "every rank throws, not just rank 0";
  EXPECT_TRUE(all_ranks(small));
  EXPECT_TRUE(all_ranks(shape));
  EXPECT_FALSE(bad_exists);
}

TEST_F(Hdf5Io, open_failures_are_collective_and_name_the_file) {
  std::string create_message;
  try {
    static_cast<void>(plx::io::h5_file::create(world(), path("no_such_dir/out.h5")));
  } catch (const plx::io_error& error) {
    create_message = error.what();
  }
  std::string open_message;
  try {
    static_cast<void>(plx::io::h5_file::open_read(world(), path("missing.h5")));
  } catch (const plx::io_error& error) {
    open_message = error.what();
  }
  std::string not_hdf5_message;
  if (world().is_root()) std::ofstream(path("text.h5")) << "not an HDF5 file\n";
  world().barrier();
  try {
    static_cast<void>(plx::io::h5_file::open_read(world(), path("text.h5")));
  } catch (const plx::io_error& error) {
    not_hdf5_message = error.what();
  }

  EXPECT_NE(create_message.find("H5Fcreate"), std::string::npos) << create_message;
  EXPECT_NE(create_message.find("no_such_dir/out.h5"), std::string::npos) << create_message;
  EXPECT_NE(open_message.find("missing.h5"), std::string::npos) << open_message;
  EXPECT_NE(not_hdf5_message.find("H5Fopen"), std::string::npos) << not_hdf5_message;
  if (world().rank() == 0) std::printf("[ io_hdf5 ] e.g. %s\n", create_message.c_str());
}

// --- atomic_output ---------------------------------------------------------------------------------

bool exists_on_root(const std::string& file) {
  int found = world().is_root() && fs::exists(file) ? 1 : 0;
  MPI_Bcast(&found, 1, MPI_INT, 0, world().native());
  return found == 1;
}

void write_marker(const std::string& file_path, double marker) {
  auto file = plx::io::h5_file::create(world(), file_path);
  plx::io::set_attribute(file, "/", "marker", marker);
  file.close();
}

double read_marker(const std::string& file_path) {
  auto file = plx::io::h5_file::open_read(world(), file_path);
  return plx::io::get_attribute_double(file, "/", "marker");
}

TEST_F(Hdf5Io, atomic_output_appears_on_commit_only) {
  const std::string final_path = path("run.h5");
  plx::io::atomic_output output(world(), final_path, false);
  const std::string temporary = output.temporary_path();
  const bool same_name_everywhere = all_ranks(broadcast_from_root(temporary) == temporary);
  const bool temporary_exists = exists_on_root(temporary);
  write_marker(temporary, 1.0);
  const bool final_before = exists_on_root(final_path);
  output.commit();
  const bool final_after = exists_on_root(final_path);
  const bool temporary_after = exists_on_root(temporary);
  const double marker = read_marker(final_path);

  EXPECT_TRUE(same_name_everywhere);
  EXPECT_EQ(temporary.rfind(final_path + ".tmp.", 0), 0U) << temporary;
  EXPECT_TRUE(temporary_exists);
  EXPECT_FALSE(final_before);
  EXPECT_TRUE(final_after);
  EXPECT_FALSE(temporary_after);
  EXPECT_EQ(marker, 1.0);
  EXPECT_TRUE(output.is_committed());
}

TEST_F(Hdf5Io, atomic_output_leaves_its_temporary_to_a_signal_until_committed) {
  // The apps' SIGINT/SIGTERM handler removes what is registered (detail::remove_registered_files).
  const std::string final_path = path("signalled.h5");
  int removed_by_signal = 0;
  bool temporary_after_signal = true;
  {
    plx::io::atomic_output output(world(), final_path, false);
    write_marker(output.temporary_path(), 4.0);
    if (world().is_root()) {
      removed_by_signal = plx::detail::remove_registered_files();
      temporary_after_signal = fs::exists(output.temporary_path());
    }
  }
  plx::io::atomic_output committed(world(), final_path, false);
  write_marker(committed.temporary_path(), 5.0);
  committed.commit();
  const int removed_after_commit = world().is_root() ? plx::detail::remove_registered_files() : 0;
  const bool final_after = exists_on_root(final_path);

  if (world().is_root()) {
    EXPECT_EQ(removed_by_signal, 1);
    EXPECT_FALSE(temporary_after_signal);
    EXPECT_EQ(removed_after_commit, 0);
  }
  EXPECT_TRUE(final_after);
}

// Whether `pid` (a child of this process) has exited and waits to be reaped: state Z in /proc/<pid>/stat.
bool is_zombie(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const std::size_t close = text.rfind(')');
  return close != std::string::npos && close + 2 < text.size() && text[close + 2] == 'Z';
}

TEST_F(Hdf5Io, atomic_output_removes_stale_temporaries_of_dead_processes_on_this_host_only) {
  const std::string final_path = path("stale.h5");
  std::vector<std::string> kept;
  std::string dead_file;
  std::string zombie_file;
  pid_t zombie = 0;
  if (world().is_root()) {
    char name[256] = {};
    gethostname(name, sizeof name - 1);
    std::string host(name);
    host = host.substr(0, host.find('.'));
    const pid_t child = fork();  // a pid that surely ended: a child that exited and was reaped
    if (child == 0) _exit(0);
    waitpid(child, nullptr, 0);
    const std::string dead = std::to_string(child);
    dead_file = final_path + ".tmp." + host + "." + dead + "-1a2b3c";
    // A killed rank that its parent has not reaped yet (a zombie) can write nothing more: also stale.
    zombie = fork();
    if (zombie == 0) _exit(0);
    for (int i = 0; i < 200 && !is_zombie(zombie); ++i) usleep(10000);
    zombie_file = final_path + ".tmp." + host + "." + std::to_string(zombie) + "-5e6f";
    std::ofstream(zombie_file) << "x";
    kept = {final_path + ".tmp.another-host." + dead + "-1a2b3c",                    // may run there now
            final_path + ".tmp." + host + "." + std::to_string(getpid()) + "-4d5e",  // alive: this process
            final_path + ".tmp." + host + "." + dead + "-not-hex",                   // not a name we make
            path("other.h5") + ".tmp." + host + "." + dead + "-1a2b3c"};             // another output's
    for (const std::string& file : kept) std::ofstream(file) << "x";
    std::ofstream(dead_file) << "x";
  }
  plx::io::atomic_output output(world(), final_path, false);
  if (world().is_root()) {
    EXPECT_FALSE(fs::exists(dead_file));
    EXPECT_FALSE(fs::exists(zombie_file));
    waitpid(zombie, nullptr, 0);
    for (const std::string& file : kept) {
      EXPECT_TRUE(fs::exists(file)) << file;
      fs::remove(file);
    }
  }
}

TEST_F(Hdf5Io, atomic_output_without_commit_leaves_nothing) {
  const std::string final_path = path("abandoned.h5");
  std::string temporary;
  bool caught = false;
  try {
    plx::io::atomic_output output(world(), final_path, false);
    temporary = output.temporary_path();
    write_marker(temporary, 2.0);
    throw plx::error("the run failed");  // on every rank, like parallax's own failures
  } catch (const plx::error&) {
    caught = true;
  }
  world().barrier();  // root has removed the file in the destructor
  const bool temporary_after = exists_on_root(temporary);
  const bool final_after = exists_on_root(final_path);

  EXPECT_TRUE(caught);
  EXPECT_FALSE(temporary.empty());
  EXPECT_FALSE(temporary_after);
  EXPECT_FALSE(final_after);
}

TEST_F(Hdf5Io, atomic_output_refuses_an_existing_file_unless_overwriting) {
  const std::string final_path = path("existing.h5");
  write_marker(final_path, 3.0);
  std::string message;
  try {
    plx::io::atomic_output refused(world(), final_path, false);
  } catch (const plx::config_error& error) {
    message = error.what();
  }
  const double untouched = read_marker(final_path);

  // With overwrite, the old file stays until the commit replaces it.
  double before_commit = 0.0;
  {
    plx::io::atomic_output output(world(), final_path, true);
    write_marker(output.temporary_path(), 4.0);
    before_commit = read_marker(final_path);
    output.commit();
  }
  const double replaced = read_marker(final_path);

  EXPECT_NE(message.find("--force"), std::string::npos) << message;
  EXPECT_NE(message.find(final_path), std::string::npos) << message;
  EXPECT_EQ(untouched, 3.0);
  EXPECT_EQ(before_commit, 3.0);
  EXPECT_EQ(replaced, 4.0);
}

TEST_F(Hdf5Io, atomic_output_refuses_a_directory_it_cannot_write) {
  // Tests may run as root, for whom chmod does not make a directory unwritable: use a missing directory
  // and a regular file in place of a directory instead.
  const std::string missing_dir = path("missing_dir");
  std::string missing_message;
  try {
    plx::io::atomic_output output(world(), missing_dir + "/run.h5", false);
  } catch (const plx::config_error& error) {
    missing_message = error.what();
  }
  const std::string not_a_dir = path("plain_file");
  if (world().is_root()) std::ofstream(not_a_dir) << "x\n";
  world().barrier();
  std::string file_message;
  try {
    plx::io::atomic_output output(world(), not_a_dir + "/run.h5", true);
  } catch (const plx::config_error& error) {
    file_message = error.what();
  }

  EXPECT_NE(missing_message.find(missing_dir), std::string::npos) << missing_message;
  EXPECT_NE(file_message.find(not_a_dir), std::string::npos) << file_message;
  EXPECT_NE(file_message.find("not a directory"), std::string::npos) << file_message;
}

// --- a write that fails on one rank only ------------------------------------------------------------
// A full disk or a quota hits only the ranks that write to it (with collective MPI-IO, the aggregators).
// The fault site "hdf5.write" makes the next HDF5 write fail on one chosen rank, as ENOSPC would, after
// HDF5 carried it out. Every rank must throw the same plx::io_error, nothing may hang (not the next
// collective, not the file's close or destructor), the temporary file must go, and the next file on the
// same communicator must work.

enum class write_kind { distributed, from_root, attribute };

const char* name_of(write_kind kind) {
  switch (kind) {
    case write_kind::distributed: return "distributed";
    case write_kind::from_root: return "from_root";
    case write_kind::attribute: return "attribute";
  }
  return "?";
}

/// One write of `kind` into `file` (collective).
void write_one(plx::io::h5_file& file, write_kind kind) {
  const std::vector<hsize_t> dims = {5, 3};
  const plane_range mine = split_planes(dims[0], world().rank(), world().size());
  const std::vector<double> local(mine.count * dims[1], 1.5);
  switch (kind) {
    case write_kind::distributed:
      plx::io::write_distributed(file, "/slab", {.global_dims = dims, .offset0 = mine.offset, .count0 = mine.count},
                                 local);
      break;
    case write_kind::from_root: plx::io::write_from_root(file, "/small", std::vector<double>{1.0, 2.0, 3.0}); break;
    case write_kind::attribute: plx::io::set_attribute(file, "/", "note", std::string("hello")); break;
  }
}

/// True on every rank when every rank holds root's `text`.
bool same_everywhere(const std::string& text) { return all_ranks(broadcast_from_root(text) == text); }

/// Names of the files in `dir` that contain ".tmp.", on root (empty elsewhere).
std::vector<std::string> temporaries_in(const std::string& dir) {
  std::vector<std::string> found;
  if (!world().is_root()) return found;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.find(".tmp.") != std::string::npos) found.push_back(name);
  }
  return found;
}

TEST_F(Hdf5Io, a_write_failing_on_one_rank_throws_the_same_error_on_every_rank) {
  const int last = world().size() - 1;
  for (const int failing : {0, last}) {
    for (const write_kind kind : {write_kind::distributed, write_kind::from_root, write_kind::attribute}) {
      const std::string tag = std::string(name_of(kind)) + "_" + std::to_string(failing);
      const std::string where = std::string(name_of(kind)) + ", failing on rank " + std::to_string(failing);
      const std::string file_path = path("inject_" + tag + ".h5");
      std::string message;
      bool failed_mark = false;
      {
        auto file = plx::io::h5_file::create(world(), file_path);
        if (world().rank() == failing) plx::detail::arm_fault("hdf5.write");
        try {
          write_one(file, kind);
        } catch (const plx::io_error& error) {
          message = error.what();
        }
        failed_mark = file.failed();
        file.close();  // must return on every rank (it lets the HDF5 id go, see h5_file::close)
      }
      plx::detail::disarm_faults();  // should the write not have reached HDF5

      // The same communicator takes the next file, written and read back.
      const std::string next_path = path("after_" + tag + ".h5");
      {
        auto next = plx::io::h5_file::create(world(), next_path);
        write_one(next, kind);
        next.close();
      }
      auto reread = plx::io::h5_file::open_read(world(), next_path);
      const std::string dataset = kind == write_kind::from_root ? "/small" : "/slab";
      const bool readable = kind == write_kind::attribute
                                ? plx::io::get_attribute_string(reread, "/", "note") == "hello"
                                : !plx::io::read_all(reread, dataset).empty();
      reread.close();

      EXPECT_TRUE(all_ranks(!message.empty())) << where << ": every rank throws";
      EXPECT_TRUE(same_everywhere(message)) << where << ": '" << message << "'";
      EXPECT_NE(message.find("No space left on device"), std::string::npos) << where << ": " << message;
      EXPECT_NE(message.find(file_path), std::string::npos) << where << ": " << message;
      EXPECT_NE(message.find("rank " + std::to_string(failing) + " of"), std::string::npos) << where << ": " << message;
      EXPECT_TRUE(all_ranks(failed_mark)) << where;
      EXPECT_TRUE(all_ranks(readable)) << where;
      if (world().is_root() && kind == write_kind::distributed && failing == last) {
        std::printf("[ io_hdf5 ] e.g. %s\n", message.c_str());
      }
    }
  }
}

TEST_F(Hdf5Io, a_failed_write_unwinds_through_the_file_and_leaves_no_temporary) {
  // What the apps do: atomic_output, then the file; the failure unwinds through both destructors.
  const std::string dir = path("unwind");
  if (world().is_root()) fs::create_directory(dir);
  world().barrier();
  const int failing = world().size() - 1;
  std::string message;
  try {
    plx::io::atomic_output output(world(), dir + "/run.h5", false);
    auto file = plx::io::h5_file::create(world(), output.temporary_path());
    write_one(file, write_kind::attribute);
    if (world().rank() == failing) plx::detail::arm_fault("hdf5.write");
    write_one(file, write_kind::distributed);
    file.close();
    output.commit();
  } catch (const plx::io_error& error) {
    message = error.what();
  }
  plx::detail::disarm_faults();
  world().barrier();  // root removed the temporary file in atomic_output's destructor
  const std::vector<std::string> left = temporaries_in(dir);
  const bool final_exists = exists_on_root(dir + "/run.h5");

  // And the next output in the same place works.
  {
    plx::io::atomic_output output(world(), dir + "/run.h5", false);
    write_marker(output.temporary_path(), 5.0);
    output.commit();
  }
  const double marker = read_marker(dir + "/run.h5");

  EXPECT_TRUE(all_ranks(!message.empty()));
  EXPECT_TRUE(same_everywhere(message)) << message;
  EXPECT_NE(message.find("No space left on device"), std::string::npos) << message;
  EXPECT_TRUE(left.empty()) << left.front();
  EXPECT_FALSE(final_exists);
  EXPECT_EQ(marker, 5.0);
}

TEST_F(Hdf5Io, create_and_flush_failing_on_one_rank_fail_every_rank_and_leave_no_temporary) {
  // The fault sites hdf5.create and hdf5.flush (issue 18), each on the last rank, in what the apps do; each
  // ends every rank with the same error, and the next output in the same place works. (hdf5.close forbids
  // MPI_Finalize, as a real failed H5Fclose must, so it would end this test program with MPI_Abort: the
  // fault sweep and plx-ensemble's CLI test cover it.)
  const std::string dir = path("file-calls");
  if (world().is_root()) fs::create_directory(dir);
  world().barrier();
  const int failing = world().size() - 1;
  for (const char* site : {"hdf5.create", "hdf5.flush"}) {
    std::string message;
    try {
      plx::io::atomic_output output(world(), dir + "/run.h5", false);
      if (world().rank() == failing && std::string(site) == "hdf5.create") plx::detail::arm_fault(site);
      auto file = plx::io::h5_file::create(world(), output.temporary_path());
      write_one(file, write_kind::attribute);
      if (world().rank() == failing && std::string(site) != "hdf5.create") plx::detail::arm_fault(site);
      if (std::string(site) == "hdf5.flush") file.flush();
      file.close();
      output.commit();
    } catch (const plx::io_error& error) {
      message = error.what();
    }
    plx::detail::disarm_faults();
    world().barrier();
    const std::vector<std::string> left = temporaries_in(dir);
    const bool final_exists = exists_on_root(dir + "/run.h5");
    EXPECT_TRUE(all_ranks(!message.empty())) << site;
    EXPECT_TRUE(same_everywhere(message)) << site << ": " << message;
    EXPECT_NE(message.find("injected by a test"), std::string::npos) << site << ": " << message;
    EXPECT_TRUE(left.empty()) << site << ": " << left.front();
    EXPECT_FALSE(final_exists) << site;
  }
  {
    plx::io::atomic_output output(world(), dir + "/run.h5", false);
    write_marker(output.temporary_path(), 6.0);
    output.commit();
  }
  EXPECT_EQ(read_marker(dir + "/run.h5"), 6.0);
}

TEST_F(Hdf5Io, a_slab_written_in_parts_reads_back_whole) {
  // Every rank writes its planes two at a time (plx-cosmo packs its displacement so); ranks with fewer planes
  // take part in the later calls with none. Then one call where the ranks' planes overlap: refused on every rank.
  const std::vector<hsize_t> dims = {7, 4, 3, 3};
  const plane_range mine = split_planes(dims[0], world().rank(), world().size());
  const hsize_t per_plane = dims[1] * dims[2] * dims[3];
  std::uint64_t most = mine.count;
  MPI_Allreduce(MPI_IN_PLACE, &most, 1, MPI_UINT64_T, MPI_MAX, world().native());
  const std::string file_path = path("parts.h5");
  std::string overlap;
  {
    auto file = plx::io::h5_file::create(world(), file_path);
    for (hsize_t first = 0; first < most; first += 2) {
      const hsize_t count = first < mine.count ? std::min<hsize_t>(2, mine.count - first) : 0;
      std::vector<double> part(count * per_plane);
      for (std::size_t n = 0; n < part.size(); ++n) part[n] = value_at((mine.offset + first) * per_plane + n);
      plx::io::write_distributed_part(file, "/displacement",
                                      {.global_dims = dims, .offset0 = mine.offset + std::min(first, mine.count),
                                       .count0 = count},
                                      part);
    }
    try {
      const std::vector<double> plane(per_plane, -1.0);
      plx::io::write_distributed_part(file, "/displacement", {.global_dims = dims, .offset0 = 0, .count0 = 1}, plane);
    } catch (const plx::io_error& error) {
      overlap = error.what();
    }
  }
  auto file = plx::io::h5_file::open_read(world(), file_path);
  const std::vector<double> whole = plx::io::read_all(file, "/displacement");
  file.close();

  ASSERT_EQ(whole.size(), dims[0] * per_plane);
  const std::size_t overwritten = world().size() > 1 ? 0 : per_plane;  // alone, plane 0 took the -1s
  for (std::size_t n = overwritten; n < whole.size(); ++n) {
    ASSERT_EQ(whole[n], value_at(n)) << n;
  }
  EXPECT_TRUE(all_ranks(overlap.empty() == (world().size() == 1))) << "every rank refuses an overlap, or none";
  if (world().size() > 1) {
    EXPECT_NE(overlap.find("overlap"), std::string::npos) << overlap;
  }
}

// --- the direct path -----------------------------------------------------------------------------------
// write_distributed writes a rank's planes into the dataset's bytes itself where it can (slab_io.cpp). The
// file must hold exactly what H5Dwrite writes: padded rows with an odd N (rows of 7 doubles 8 apart), a vector
// field, a 1D array, 8-bit labels, a slab written in parts, with the last rank holding no planes, and writes
// of 1000 bytes (most cut a row in two).

/// Root's copy of each dataset of `file_path` named in `names`, flattened (empty elsewhere).
std::vector<std::vector<double>> read_on_root(const std::string& file_path, const std::vector<std::string>& names) {
  auto file = plx::io::h5_file::open_read(world(), file_path);
  std::vector<std::vector<double>> values;
  for (const std::string& name : names) {
    values.push_back(world().is_root() ? plx::io::read_all(file, name) : std::vector<double>());
  }
  file.close();
  return values;
}

/// Writes the same datasets as the direct path and as H5Dwrite; restores the switch however the test ends.
struct direct_writes {
  explicit direct_writes(bool on) : saved(plx::io::detail::set_direct_slab_writes(on)) {}
  ~direct_writes() { plx::io::detail::set_direct_slab_writes(saved); }
  direct_writes(const direct_writes&) = delete;
  direct_writes& operator=(const direct_writes&) = delete;
  bool saved;
};

TEST_F(Hdf5Io, the_direct_path_writes_the_bytes_h5dwrite_writes) {
  struct piece_size {
    hsize_t saved = plx::io::detail::set_write_piece_bytes(1000);
    ~piece_size() { plx::io::detail::set_write_piece_bytes(saved); }
  } small_writes;
  const std::vector<hsize_t> dims = {9, 5, 7};
  const hsize_t stride = 2 * (dims[2] / 2 + 1);  // 8
  const plane_range mine = split_planes(dims[0], world().rank(), world().size());
  const plx::io::slab_block padded{.global_dims = dims, .offset0 = mine.offset, .count0 = mine.count,
                                   .row_stride = stride};
  const hsize_t rows = mine.count * dims[1];
  std::vector<double> density(plx::io::local_buffer_size(padded), -999.0);
  std::vector<std::uint8_t> labels(plx::io::local_buffer_size(padded), 255);
  for (hsize_t row = 0; row < rows; ++row) {
    for (hsize_t k = 0; k < dims[2]; ++k) {
      const hsize_t flat = (mine.offset * dims[1] + row) * dims[2] + k;
      density[row * stride + k] = value_at(flat);
      labels[row * stride + k] = static_cast<std::uint8_t>(flat % 4);
    }
  }
  const std::vector<hsize_t> vector_dims = {dims[0], dims[1], dims[2], 3};
  const hsize_t per_plane = dims[1] * dims[2] * 3;
  std::vector<double> displacement(mine.count * per_plane);
  for (std::size_t n = 0; n < displacement.size(); ++n) displacement[n] = -value_at(mine.offset * per_plane + n);
  const std::vector<hsize_t> line_dims = {dims[0]};
  std::vector<double> line(mine.count);
  for (std::size_t n = 0; n < line.size(); ++n) line[n] = value_at(mine.offset + n);
  std::uint64_t most = mine.count;
  MPI_Allreduce(MPI_IN_PLACE, &most, 1, MPI_UINT64_T, MPI_MAX, world().native());

  const auto write_all = [&](const std::string& file_path) {
    auto file = plx::io::h5_file::create(world(), file_path);
    plx::io::write_distributed(file, "/density", padded, density);
    plx::io::write_distributed(file, "/labels", padded, labels);
    plx::io::write_distributed(file, "/displacement", {.global_dims = vector_dims, .offset0 = mine.offset,
                                                       .count0 = mine.count},
                               displacement);
    plx::io::write_distributed(file, "/line", {.global_dims = line_dims, .offset0 = mine.offset, .count0 = mine.count},
                               line);
    for (hsize_t first = 0; first < most; first += 2) {  // two planes at a time, as plx-cosmo does
      const hsize_t count = first < mine.count ? std::min<hsize_t>(2, mine.count - first) : 0;
      plx::io::write_distributed_part(
          file, "/parts",
          {.global_dims = vector_dims, .offset0 = mine.offset + std::min(first, mine.count), .count0 = count},
          std::span<const double>(displacement).subspan(std::min(first, mine.count) * per_plane, count * per_plane));
    }
    file.close();
  };
  {
    const direct_writes on(true);
    write_all(path("direct.h5"));
  }
  {
    const direct_writes off(false);
    write_all(path("h5dwrite.h5"));
  }
  const std::vector<std::string> names = {"/density", "/labels", "/displacement", "/line", "/parts"};
  const auto direct = read_on_root(path("direct.h5"), names);
  const auto reference = read_on_root(path("h5dwrite.h5"), names);

  if (!world().is_root()) return;
  for (std::size_t d = 0; d < names.size(); ++d) {
    ASSERT_EQ(direct[d].size(), reference[d].size()) << names[d];
    EXPECT_EQ(std::memcmp(direct[d].data(), reference[d].data(), direct[d].size() * sizeof(double)), 0) << names[d];
  }
  ASSERT_EQ(direct[0].size(), dims[0] * dims[1] * dims[2]);
  for (std::size_t n = 0; n < direct[0].size(); ++n) ASSERT_EQ(direct[0][n], value_at(n)) << "density " << n;
  for (std::size_t n = 0; n < direct[2].size(); ++n) ASSERT_EQ(direct[2][n], -value_at(n)) << "displacement " << n;
  EXPECT_EQ(direct[4], direct[2]) << "written in parts";
}

/// Collective. Creates, with HDF5's own calls, datasets of shape `dims` that write_distributed must write through
/// H5Dwrite: "/chunked" (no single address) and "/big_endian" (HDF5 converts the bytes).
void create_foreign_datasets(plx::io::h5_file& file, const std::vector<hsize_t>& dims) {
  using plx::io::h5_id;
  using plx::io::h5_kind;
  const h5_id space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), h5_kind::dataspace);
  const h5_id chunked(H5Pcreate(H5P_DATASET_CREATE), h5_kind::property_list);
  const std::vector<hsize_t> chunk(dims.size(), 2);
  H5Pset_chunk(chunked.get(), static_cast<int>(chunk.size()), chunk.data());
  const h5_id big_endian(H5Tcopy(plx::io::detail::file_double()), h5_kind::datatype);
  H5Tset_order(big_endian.get(), H5T_ORDER_BE);
  const h5_id first(H5Dcreate2(file.native(), "/chunked", plx::io::detail::file_double(), space.get(), H5P_DEFAULT,
                               chunked.get(), H5P_DEFAULT),
                    h5_kind::dataset);
  const h5_id second(H5Dcreate2(file.native(), "/big_endian", big_endian.get(), space.get(), H5P_DEFAULT,
                                H5P_DEFAULT, H5P_DEFAULT),
                     h5_kind::dataset);
  EXPECT_TRUE(first.valid() && second.valid());
}

TEST_F(Hdf5Io, datasets_the_direct_path_cannot_take_go_through_h5dwrite) {
  // Existing datasets of the right shape that are chunked, or big-endian (same class and size, so accepted):
  // write_distributed rewrites them through H5Dwrite. A fault injected on the last rank names the path that
  // failed: H5Dwrite for the chunked dataset, pwrite for a new one (each in a file of its own: a failed file
  // is let go, see h5_file::close).
  const std::vector<hsize_t> dims = {6, 4};
  const plane_range mine = split_planes(dims[0], world().rank(), world().size());
  std::vector<double> local(mine.count * dims[1]);
  for (std::size_t n = 0; n < local.size(); ++n) local[n] = value_at(mine.offset * dims[1] + n);
  const plx::io::slab_block block{.global_dims = dims, .offset0 = mine.offset, .count0 = mine.count};
  {
    auto file = plx::io::h5_file::create(world(), path("foreign.h5"));
    create_foreign_datasets(file, dims);
    plx::io::write_distributed(file, "/chunked", block, local);
    plx::io::write_distributed(file, "/big_endian", block, local);
    file.close();
  }
  const auto values = read_on_root(path("foreign.h5"), {"/chunked", "/big_endian"});

  const int failing = world().size() - 1;
  std::vector<std::string> messages;
  for (const char* name : {"/chunked", "/fresh"}) {
    auto file = plx::io::h5_file::create(world(), path(std::string("failing_") + (name + 1) + ".h5"));
    create_foreign_datasets(file, dims);
    if (world().rank() == failing) plx::detail::arm_fault("hdf5.write");
    try {
      plx::io::write_distributed(file, name, block, local);
    } catch (const plx::io_error& error) {
      messages.emplace_back(error.what());
    }
    plx::detail::disarm_faults();
    file.close();
  }

  messages.resize(2);  // (empty where a write did not throw: checked below, after the last collective call)
  const bool same[2] = {same_everywhere(messages[0]), same_everywhere(messages[1])};
  EXPECT_TRUE(same[0] && same[1]) << messages[0] << " / " << messages[1];
  EXPECT_NE(messages[0].find("H5Dwrite failed for '/chunked'"), std::string::npos) << messages[0];
  EXPECT_NE(messages[1].find("pwrite failed for '/fresh'"), std::string::npos) << messages[1];
  for (const std::string& message : messages) {
    EXPECT_NE(message.find("No space left on device"), std::string::npos) << message;
    EXPECT_NE(message.find("rank " + std::to_string(failing) + " of"), std::string::npos) << message;
  }
  if (!world().is_root()) return;
  for (const auto& written : values) {
    ASSERT_EQ(written.size(), dims[0] * dims[1]);
    for (std::size_t n = 0; n < written.size(); ++n) ASSERT_EQ(written[n], value_at(n)) << n;
  }
}

}  // namespace
