// plx::node_shared on 1-4 ranks (one node: every rank of these tests runs on this machine): the values as
// every rank and every thread of a map see them, from a root vector, an Eigen matrix and an HDF5 dataset;
// that the ranks of a node map one copy (the same backing file, and node memory of about one copy by PSS);
// and the failure paths: an injected MPI or HDF5 failure on one rank only, an input too big for a node, a
// fill that throws, a matrix type of the wrong storage order. Every test finishes its collective calls
// before it asserts.
#include <parallax/dist/node_shared.hpp>

#include <stdlib.h>  // mkdtemp (POSIX)

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include <gtest/gtest.h>
#include <mpi.h>

#include <Eigen/Core>

#include <parallax/core/collectives.hpp>
#include <parallax/core/communicator.hpp>
#include <parallax/core/detail/fault_injection.hpp>
#include <parallax/core/error.hpp>
#include <parallax/core/memory_usage.hpp>
#include <parallax/dist/map.hpp>
#include <parallax/io/hdf5_file.hpp>
#include <parallax/io/node_shared_h5.hpp>
#include <parallax/io/slab_io.hpp>

#include "../support/mpi_test.hpp"
#include "../support/sanitizers.hpp"
#include "../support/shared_mapping.hpp"

namespace {

namespace fs = std::filesystem;
using plx::node_shared;
using plx::testing_support::rt;

const plx::communicator& world() { return rt().world(); }

/// A value that differs for every index (exactly representable).
double value_at(std::size_t i) { return 0.5 + static_cast<double>(i); }

std::vector<double> root_table(std::size_t n) {
  std::vector<double> values;
  if (world().is_root()) {
    values.resize(n);
    for (std::size_t i = 0; i < n; ++i) values[i] = value_at(i);
  }
  return values;
}

/// True on every rank when `value` is true on every rank.
bool all_ranks(bool value) {
  int mine = value ? 1 : 0;
  int all = 0;
  MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, world().native());
  return all == 1;
}

std::uint64_t sum_over(const plx::communicator& comm, std::uint64_t mine) {
  std::uint64_t total = 0;
  MPI_Allreduce(&mine, &total, 1, MPI_UINT64_T, MPI_SUM, comm.native());
  return total;
}

/// What every rank threw (the same error type and message on each, or the test fails).
template <class Error, class Step>
std::string collective_message(Step&& step) {
  std::string message = "nothing thrown";
  bool collective = false;
  try {
    step();
  } catch (const Error& e) {
    message = e.what();
    collective = e.is_collective();
  } catch (const std::exception& e) {
    message = std::string("another exception: ") + e.what();
  }
  std::string roots = message;
  plx::detail::broadcast_from_root(world(), roots);
  EXPECT_TRUE(all_ranks(message == roots && collective)) << "rank " << world().rank() << ": " << message;
  return message;
}

TEST(NodeShared, vector_from_root_is_seen_by_every_rank_and_thread) {
  const std::size_t n = 100'003;
  const auto table = node_shared<double>::from_root(world(), root_table(n));
  bool same = table.size() == n && table.rows() == n && table.cols() == 1;
  for (std::size_t i = 0; same && i < n; ++i) same = table.values()[i] == value_at(i);

  // Tasks on every rank and thread read it concurrently; each returns what it saw.
  const std::size_t tasks = 5000;
  const auto seen = plx::map(world(), tasks, [&](std::size_t t) { return table.values()[(t * 7919) % n]; });
  bool tasks_right = true;
  for (std::size_t t = 0; t < seen.size(); ++t) tasks_right = tasks_right && seen[t] == value_at((t * 7919) % n);

  EXPECT_TRUE(all_ranks(same)) << "rank " << world().rank() << " sees other values";
  EXPECT_TRUE(tasks_right);
  EXPECT_EQ(seen.size(), world().is_root() ? tasks : 0U);
}

TEST(NodeShared, ranks_of_a_node_map_one_copy) {
  const std::size_t n = 1 << 20;  // 8 MiB
  const auto table = node_shared<double>::from_root(world(), root_table(n));
  const plx::communicator& node = table.node();
  // One node here, whatever the rank count (as SLURM would see it too: no SLURM node name, or one).
  const int leaders = static_cast<int>(sum_over(world(), table.is_leader() ? 1 : 0));

  // The same backing file (device and inode) on every rank of the node, not anonymous memory.
  const auto where = plx::testing_support::mapping_of(table.data());
  std::string identity = where.device + ":" + std::to_string(where.inode);
  std::string leaders_identity = identity;
  plx::detail::broadcast_from_root(node, leaders_identity);

  EXPECT_EQ(leaders, 1);
  EXPECT_EQ(node.size(), world().size());
  EXPECT_TRUE(where.found);
  // Alone on its node a rank may get private memory (Open MPI does); else a file that every rank maps.
  if (node.size() > 1) {
    EXPECT_NE(where.inode, 0U) << "the window is not a shared file mapping: " << where.path;
  }
  EXPECT_GE(where.bytes, n * sizeof(double));
  EXPECT_TRUE(all_ranks(identity == leaders_identity)) << "rank " << world().rank() << " maps " << identity
                                                       << " (" << where.path << "), the leader " << leaders_identity;
}

TEST(NodeShared, emulated_slurm_nodes_on_one_host_each_get_one_copy) {
  if (world().size() == 1) GTEST_SKIP() << "needs two ranks";
  // As the local SLURM cluster does: two slurmd on this host, ranks alternating between them.
  const char* saved = std::getenv("SLURMD_NODENAME");
  const std::string previous = saved != nullptr ? saved : "";
  setenv("SLURMD_NODENAME", world().rank() % 2 == 0 ? "emulated-a" : "emulated-b", 1);
  std::string identity;
  int leaders = 0;
  int node_size = 0;
  bool same = true;
  {
    const std::size_t n = 1 << 16;
    const auto table = node_shared<double>::from_root(world(), root_table(n));
    for (std::size_t i = 0; same && i < n; ++i) same = table.values()[i] == value_at(i);
    leaders = static_cast<int>(sum_over(world(), table.is_leader() ? 1 : 0));
    node_size = table.node().size();
    const auto where = plx::testing_support::mapping_of(table.data());
    // A node of one rank may get private memory (no file), which is that rank's alone.
    identity = where.inode != 0 ? where.device + ":" + std::to_string(where.inode)
                                : "private to rank " + std::to_string(world().rank());
    table.node().barrier();
  }
  if (saved != nullptr) {
    setenv("SLURMD_NODENAME", previous.c_str(), 1);
  } else {
    unsetenv("SLURMD_NODENAME");
  }
  // Root gathers which copy each rank maps: one per emulated node, shared by that node's ranks.
  const auto all = plx::detail::allgather_varying(world(), std::span<const char>(identity.data(), identity.size()));
  std::vector<std::string> copies;
  for (int r = 0; r < world().size(); ++r) {
    const auto part = all.part(std::size_t(r));
    copies.emplace_back(part.begin(), part.end());
  }
  EXPECT_TRUE(all_ranks(same));
  EXPECT_EQ(leaders, 2);
  EXPECT_EQ(node_size, (world().size() + (world().rank() % 2 == 0 ? 1 : 0)) / 2);
  for (int r = 2; r < world().size(); ++r) {
    EXPECT_EQ(copies[std::size_t(r)], copies[std::size_t(r % 2)]) << "rank " << r;
  }
  EXPECT_NE(copies[0], copies[1]) << "both emulated nodes map the same memory";
}

TEST(NodeShared, node_memory_is_about_one_copy) {
  const std::size_t n = std::size_t{8} << 20;  // 64 MiB
  const std::size_t bytes = n * sizeof(double);
  const std::vector<double> source = root_table(n);  // root's own copy is there before and after
  const std::uint64_t before = plx::current_memory_usage().pss_bytes;
  std::uint64_t after = 0;
  double sum = 0;
  {
    const auto table = node_shared<double>::from_root(world(), source);
    // Touch every page on every rank, so that each maps all of them.
    for (const double v : table.values()) sum += v;
    // PSS splits a page between the processes mapping it now: measure once every rank has mapped them all.
    table.node().barrier();
    after = plx::current_memory_usage().pss_bytes;
    table.node().barrier();  // every rank measured before any frees the window
  }
  const auto node_ranks = static_cast<std::uint64_t>(world().size());  // one node (see above)
  const std::uint64_t growth = sum_over(world(), after > before ? after - before : 0);
  const double expected_sum = 0.5 * double(n) + double(n) * double(n - 1) / 2;

  EXPECT_EQ(sum, expected_sum);
  // ranks_of_a_node_map_one_copy still shows the one copy there (one backing file for the node's ranks).
  if (plx::testing_support::under_address_sanitizer) GTEST_SKIP() << plx::testing_support::memory_bound_skipped;
  // One copy, and clearly not one per rank (at 2+ ranks): PSS splits each shared page between its mappers.
  EXPECT_GE(double(growth), 0.9 * double(bytes)) << growth << " bytes of PSS for a " << bytes << "-byte input";
  EXPECT_LE(double(growth), 1.1 * double(bytes) + double(4 << 20))
      << growth << " bytes of PSS summed over " << node_ranks << " ranks for a " << bytes << "-byte input";
}

TEST(NodeShared, eigen_matrices_keep_their_storage_order) {
  Eigen::MatrixXd columns;                 // column-major, Eigen's default
  plx::row_major_matrix<double> rows_first;
  Eigen::VectorXd vector;
  if (world().is_root()) {
    columns.resize(37, 11);
    rows_first.resize(5, 9);
    vector.resize(101);
    for (Eigen::Index i = 0; i < columns.rows(); ++i)
      for (Eigen::Index j = 0; j < columns.cols(); ++j) columns(i, j) = value_at(std::size_t(i * 100 + j));
    for (Eigen::Index i = 0; i < rows_first.rows(); ++i)
      for (Eigen::Index j = 0; j < rows_first.cols(); ++j) rows_first(i, j) = -value_at(std::size_t(i * 100 + j));
    for (Eigen::Index i = 0; i < vector.size(); ++i) vector(i) = value_at(std::size_t(i));
  }
  const auto shared_columns = node_shared<double>::from_root(world(), columns);
  const auto shared_rows = node_shared<double>::from_root(world(), rows_first);
  const auto shared_vector = node_shared<double>::from_root(world(), vector);

  const auto a = shared_columns.matrix();
  const auto b = shared_rows.matrix<plx::row_major_matrix<double>>();
  const auto v = shared_vector.matrix<Eigen::VectorXd>();
  bool right = a.rows() == 37 && a.cols() == 11 && b.rows() == 5 && b.cols() == 9 && v.size() == 101;
  for (Eigen::Index i = 0; right && i < 37; ++i)
    for (Eigen::Index j = 0; j < 11; ++j) right = right && a(i, j) == value_at(std::size_t(i * 100 + j));
  for (Eigen::Index i = 0; right && i < 5; ++i)
    for (Eigen::Index j = 0; j < 9; ++j) right = right && b(i, j) == -value_at(std::size_t(i * 100 + j));
  for (Eigen::Index i = 0; right && i < 101; ++i) right = right && v(i) == value_at(std::size_t(i));
  // A product of shared matrices, on every rank: Eigen reads them in place.
  const Eigen::MatrixXd gram = a.transpose() * a;

  std::string wrong_order;
  try {
    (void)shared_columns.matrix<plx::row_major_matrix<double>>();
  } catch (const plx::config_error& e) {
    wrong_order = e.what();
  }
  EXPECT_TRUE(all_ranks(right)) << "rank " << world().rank() << " sees other values";
  EXPECT_TRUE(shared_columns.is_column_major());
  EXPECT_FALSE(shared_rows.is_column_major());
  EXPECT_DOUBLE_EQ(gram(0, 0), a.col(0).squaredNorm());
  EXPECT_NE(wrong_order.find("column-major"), std::string::npos) << wrong_order;
}

TEST(NodeShared, build_fills_rows_in_parallel) {
  const std::size_t rows = 1001;
  const std::size_t cols = 3;
  const auto table = node_shared<double>::build(world(), rows, cols, [&](std::span<double> part, std::size_t first) {
    for (std::size_t k = 0; k < part.size(); ++k) part[k] = value_at(first * cols + k);
  });
  bool same = table.rows() == rows && table.cols() == cols;
  for (std::size_t i = 0; same && i < rows * cols; ++i) same = table.values()[i] == value_at(i);
  const auto m = table.matrix<plx::row_major_matrix<double>>();
  EXPECT_TRUE(all_ranks(same)) << "rank " << world().rank() << " sees other values";
  EXPECT_EQ(m(1000, 2), value_at(3002));
}

class NodeSharedH5 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string dir;
    if (world().is_root()) {
      std::string pattern = (fs::temp_directory_path() / "plx_node_shared_test.XXXXXX").string();
      if (mkdtemp(pattern.data()) != nullptr) dir = pattern;
    }
    plx::detail::broadcast_from_root(world(), dir);
    dir_ = dir;
    if (dir_.empty()) return;
    // 1001 x 3 x 2 values: rows split unevenly over the ranks.
    const std::vector<hsize_t> dims = {1001, 3, 2};
    const hsize_t first = dims[0] * hsize_t(world().rank()) / hsize_t(world().size());
    const hsize_t last = dims[0] * hsize_t(world().rank() + 1) / hsize_t(world().size());
    std::vector<double> mine((last - first) * 6);
    for (std::size_t k = 0; k < mine.size(); ++k) mine[k] = value_at(first * 6 + k);
    auto file = plx::io::h5_file::create(world(), path());
    plx::io::write_distributed(file, "/input/table", {.global_dims = dims, .offset0 = first, .count0 = last - first},
                               mine);
    file.close();
  }
  static void TearDownTestSuite() {
    world().barrier();
    if (world().is_root() && !dir_.empty()) {
      std::error_code ignored;
      fs::remove_all(dir_, ignored);
    }
  }
  void SetUp() override { ASSERT_FALSE(dir_.empty()) << "root could not create a temporary directory"; }
  static std::string path() { return dir_ + "/input.h5"; }

  static bool holds_the_table(const node_shared<double>& table) {
    bool same = table.rows() == 1001 && table.cols() == 6;
    for (std::size_t i = 0; same && i < table.size(); ++i) same = table.values()[i] == value_at(i);
    return same;
  }

  static inline std::string dir_;
};

TEST_F(NodeSharedH5, a_dataset_read_in_parallel_into_the_node_copy) {
  auto file = plx::io::h5_file::open_read(world(), path());
  const auto table = plx::io::read_node_shared(file, "/input/table");
  // Reads of at most 5 rows per rank and call: several calls, a different number on each rank.
  const auto batched = plx::io::read_node_shared(file, "/input/table", 5 * 6 * sizeof(double));
  file.close();
  const auto m = table.matrix<plx::row_major_matrix<double>>();
  EXPECT_TRUE(all_ranks(holds_the_table(table) && holds_the_table(batched))) << "rank " << world().rank();
  EXPECT_EQ(m(1000, 5), value_at(6005));
}

TEST_F(NodeSharedH5, a_read_failing_on_one_rank_fails_on_every_rank) {
  const int failing = world().size() - 1;
  std::string message;
  {
    auto file = plx::io::h5_file::open_read(world(), path());
    if (world().rank() == failing) plx::detail::arm_fault("hdf5.read");
    message = collective_message<plx::io_error>([&] { (void)plx::io::read_node_shared(file, "/input/table"); });
    file.close();
  }
  plx::detail::disarm_faults();
  // And the next read works (the failed one freed its window on every rank together).
  auto again = plx::io::h5_file::open_read(world(), path());
  const auto table = plx::io::read_node_shared(again, "/input/table");
  again.close();
  EXPECT_NE(message.find("H5Dread"), std::string::npos) << message;
  EXPECT_NE(message.find("rank " + std::to_string(failing)), std::string::npos) << message;
  EXPECT_TRUE(all_ranks(holds_the_table(table)));
}

TEST_F(NodeSharedH5, a_missing_dataset_is_an_error_on_every_rank) {
  auto file = plx::io::h5_file::open_read(world(), path());
  const std::string message =
      collective_message<plx::io_error>([&] { (void)plx::io::read_node_shared(file, "/input/nothing"); });
  file.close();
  EXPECT_NE(message.find("/input/nothing"), std::string::npos) << message;
}

TEST(NodeSharedErrors, an_allocation_failing_on_one_rank_fails_on_every_rank) {
  const int failing = world().size() - 1;
  if (world().rank() == failing) plx::detail::arm_fault("MPI_Win_allocate_shared");
  const std::string message =
      collective_message<plx::io_error>([&] { (void)node_shared<double>::from_root(world(), root_table(1000)); });
  plx::detail::disarm_faults();
  const auto next = node_shared<double>::from_root(world(), root_table(1000));
  EXPECT_NE(message.find("MPI_Win_allocate_shared"), std::string::npos) << message;
  EXPECT_NE(message.find("rank " + std::to_string(failing)), std::string::npos) << message;
  EXPECT_TRUE(all_ranks(next.size() == 1000 && next.values()[999] == value_at(999)));
}

TEST(NodeSharedErrors, a_failed_broadcast_to_the_node_leaders_fails_on_every_rank) {
  // Root's second MPI_Bcast is the one that sends the values to the node leaders (the first sends the shape).
  if (world().is_root()) plx::detail::arm_fault("MPI_Bcast", 1, 1);
  const std::string message =
      collective_message<plx::io_error>([&] { (void)node_shared<double>::from_root(world(), root_table(1000)); });
  plx::detail::disarm_faults();
  EXPECT_NE(message.find("MPI_Bcast"), std::string::npos) << message;
}

TEST(NodeSharedErrors, an_input_bigger_than_a_node_is_refused_before_allocating) {
  bool filled = false;
  const std::string message = collective_message<plx::config_error>([&] {
    (void)node_shared<double>::build(world(), std::size_t{1} << 40, 1,
                                     [&](std::span<double>, std::size_t) { filled = true; });
  });
  EXPECT_NE(message.find("memory of a node"), std::string::npos) << message;
  EXPECT_FALSE(filled);
}

TEST(NodeSharedErrors, a_fill_throwing_on_one_rank_fails_on_every_rank) {
  const int failing = world().size() - 1;
  const std::string message = collective_message<plx::io_error>([&] {
    (void)node_shared<double>::build(world(), 100, 2, [&](std::span<double>, std::size_t) {
      if (world().rank() == failing) throw std::runtime_error("cannot read the catalogue");
    });
  });
  EXPECT_EQ(message, "cannot read the catalogue");
}

TEST(NodeSharedErrors, shapes_that_differ_between_ranks_are_refused) {
  if (world().size() == 1) GTEST_SKIP() << "needs two ranks";
  const std::string message = collective_message<plx::config_error>([&] {
    (void)node_shared<int>::build(world(), 10 + std::size_t(world().rank() == world().size() - 1 ? 1 : 0), 1,
                                  [](std::span<int>, std::size_t) {});
  });
  EXPECT_NE(message.find("different shapes"), std::string::npos) << message;
}

}  // namespace
