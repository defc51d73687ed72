#include <parallax/dist/detail/ordered_reduce.hpp>

#include <algorithm>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <parallax/core/error.hpp>
#include <parallax/dist/map.hpp>

#include "../support/mpi_test.hpp"

namespace {

using plx::testing_support::rt;

// Chunk limits far below the sizes used, so every message is split; the default sends one each.
const std::vector<std::size_t> chunk_limits = {1, 2, 3, 7, plx::detail::max_mpi_count};

TEST(ReduceInRankOrder, a_non_commutative_op_sees_the_ranks_in_order_for_any_chunk) {
  auto concatenate = [](std::string a, const std::string& b) { return a + b; };
  std::string expected;
  for (int r = 0; r < rt().size(); ++r) expected += "<rank " + std::to_string(r) + ">";
  for (const std::size_t chunk : chunk_limits) {
    const std::string total = plx::detail::reduce_in_rank_order(
        rt().world(), std::string(), [] { return "<rank " + std::to_string(rt().rank()) + ">"; }, concatenate,
        "test", chunk);
    EXPECT_EQ(total, expected) << "chunk " << chunk;
  }
}

TEST(ReduceInRankOrder, a_failing_value_on_one_rank_fails_every_rank_alike) {
  const int failing = rt().size() - 1;
  auto add = [](int a, int b) { return a + b; };
  std::string message;
  bool collective = false;
  try {
    (void)plx::detail::reduce_in_rank_order(
        rt().world(), 0,
        [&] {
          if (rt().rank() == failing) throw std::invalid_argument("no value here");
          return 1;
        },
        add, "sum", 2);
  } catch (const plx::error& e) {
    message = e.what();
    collective = e.is_collective();
  }
  EXPECT_EQ(message, "map 'sum': the reduction failed on rank " + std::to_string(failing) + ": no value here");
  EXPECT_TRUE(collective);
}

TEST(ReduceInRankOrder, a_failing_op_on_root_fails_every_rank_with_its_type) {
  auto picky = [](int a, int b) {
    if (b == 2) throw plx::io_error("two is not allowed");
    return a + b;
  };
  std::string message = "no exception";
  try {
    (void)plx::detail::reduce_in_rank_order(rt().world(), 0, [] { return rt().rank() + 1; }, picky, "picky", 1);
  } catch (const plx::io_error& e) {
    message = e.what();
  }
  // With one rank no value is 2 (rank r gives r + 1, and identity 0 + 1 is folded first).
  EXPECT_EQ(message, rt().size() < 2 ? "no exception" : "map 'picky': the reduction failed on rank 0: two is not allowed");
}

TEST(MapReduce, rank_values_fold_in_rank_order_with_tiny_messages) {
  // Each task returns the rank that ran it: under concatenation (associative, not commutative) the result
  // lists ranks in non-decreasing order, whichever items each rank drew, and every rank that ran a task
  // appears. Fragments of 1 and 3 bytes split every message.
  for (const std::size_t fragment : {std::size_t{1}, std::size_t{3}, std::size_t{1} << 30}) {
    plx::map_options options;
    options.max_fragment_bytes = fragment;
    options.schedule = plx::schedule::static_blocks();
    const std::string ranks = plx::map_reduce(
        rt().world(), 40, [](std::size_t) { return std::string(1, static_cast<char>('a' + rt().rank())); },
        std::string(), [](std::string a, const std::string& b) { return a + b; }, options);
    ASSERT_EQ(ranks.size(), 40u);
    EXPECT_TRUE(std::is_sorted(ranks.begin(), ranks.end())) << ranks;
    // Static blocks give every rank a contiguous share: each rank's letter appears.
    for (int r = 0; r < rt().size(); ++r) {
      EXPECT_NE(ranks.find(static_cast<char>('a' + r)), std::string::npos) << ranks;
    }
  }
}

}  // namespace
