#include <parallax/core/runtime.hpp>

#include <mpi.h>
#include <omp.h>

#include <gtest/gtest.h>

#include <parallax/core/collectives.hpp>
#include <parallax/core/communicator.hpp>
#include <parallax/core/error.hpp>

#include "../support/mpi_test.hpp"

namespace {

using plx::testing_support::rt;

TEST(Runtime, world_matches_mpi_comm_world) {
  int rank = -1;
  int size = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  EXPECT_EQ(rt().rank(), rank);
  EXPECT_EQ(rt().size(), size);
  EXPECT_EQ(rt().is_root(), rank == 0);
  int result = MPI_UNEQUAL;
  MPI_Comm_compare(rt().world().native(), MPI_COMM_WORLD, &result);
  EXPECT_EQ(result, MPI_CONGRUENT) << "the library talks on its own duplicate";
}

TEST(Runtime, node_communicator_covers_this_single_machine) {
  // The test runs on one machine: every rank is on the same node.
  EXPECT_EQ(rt().node_size(), rt().size());
  EXPECT_EQ(rt().node_rank(), rt().rank());
  EXPECT_FALSE(rt().processor_name().empty());
}

TEST(Runtime, thread_count_is_applied_to_openmp) {
  EXPECT_GE(rt().threads(), 1);
  EXPECT_EQ(omp_get_max_threads(), rt().threads());
  EXPECT_FALSE(rt().threads_source().empty());
}

TEST(Runtime, grants_serialized_threads) { EXPECT_GE(rt().mpi_thread_level(), MPI_THREAD_SERIALIZED); }

TEST(Runtime, layout_lists_every_rank_on_root) {
  const auto layout = rt().layout();
  if (rt().is_root()) {
    ASSERT_EQ(static_cast<int>(layout.size()), rt().size());
    for (int r = 0; r < rt().size(); ++r) {
      EXPECT_EQ(layout[static_cast<std::size_t>(r)].rank, r);
      EXPECT_EQ(layout[static_cast<std::size_t>(r)].host, rt().processor_name());
      EXPECT_FALSE(layout[static_cast<std::size_t>(r)].cpus.empty());
    }
  } else {
    EXPECT_TRUE(layout.empty());
  }
}

TEST(Runtime, provenance_names_versions_and_layout) {
  const std::string line = rt().provenance();
  EXPECT_NE(line.find("parallax"), std::string::npos);
  EXPECT_NE(line.find("Open MPI"), std::string::npos) << line;
  EXPECT_NE(line.find("fftw-3"), std::string::npos) << line;
  EXPECT_NE(line.find("HDF5 1.10"), std::string::npos) << line;
  EXPECT_NE(line.find(std::to_string(rt().size()) + " ranks x"), std::string::npos) << line;
}

TEST(Communicator, dup_is_owned_and_independent) {
  plx::communicator copy = rt().world().dup();
  EXPECT_EQ(copy.size(), rt().size());
  EXPECT_EQ(copy.rank(), rt().rank());
  EXPECT_NE(copy.native(), rt().world().native());
  plx::communicator moved = std::move(copy);
  EXPECT_FALSE(copy.valid());  // NOLINT(bugprone-use-after-move): checking the moved-from state
  EXPECT_TRUE(moved.valid());
}

TEST(Communicator, split_groups_by_color) {
  const plx::communicator halves = rt().world().split(rt().rank() % 2, rt().rank());
  const int expected = (rt().size() + (rt().rank() % 2 == 0 ? 1 : 0)) / 2;
  EXPECT_EQ(halves.size(), expected);
  EXPECT_EQ(halves.rank(), rt().rank() / 2);
}

TEST(Communicator, errors_become_exceptions_not_aborts) {
  int value = 0;
  // Root 99 does not exist: with MPI_ERRORS_RETURN this is a return code, which check_mpi throws.
  const int code = MPI_Bcast(&value, 1, MPI_INT, 99, rt().world().native());
  EXPECT_NE(code, MPI_SUCCESS);
  EXPECT_THROW(plx::detail::check_mpi(code, "MPI_Bcast"), plx::mpi_error);
}

TEST(OnAllRanks, a_failure_on_one_rank_fails_every_rank_with_its_message) {
  const int last = rt().size() - 1;
  try {
    (void)plx::detail::on_all_ranks(rt().world(), [&]() -> int {
      if (rt().rank() == last) throw plx::config_error("cannot read params.toml on rank " + std::to_string(last));
      return 1;
    });
    ADD_FAILURE() << "expected config_error on every rank";
  } catch (const plx::config_error& e) {
    EXPECT_EQ(std::string(e.what()), "cannot read params.toml on rank " + std::to_string(last));
  }
  EXPECT_THROW(plx::detail::on_all_ranks(rt().world(), [&] {
    if (rt().rank() == last) throw std::runtime_error("disk full");
  }), plx::io_error);
  EXPECT_EQ(plx::detail::on_all_ranks(rt().world(), [] { return std::string("fine"); }), "fine");
}

}  // namespace
