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

TEST(ReduceInRankOrder, a_failing_value_on_one_rank_fails_every_rank) {
  const int failing = rt().size() - 1;
  auto add = [](int a, int b) { return a + b; };
  bool threw_original = false;
  std::string message;
  try {
    (void)plx::detail::reduce_in_rank_order(
        rt().world(), 0,
        [&] {
          if (rt().rank() == failing) throw std::invalid_argument("no value here");
          return 1;
        },
        add, "sum", 2);
  } catch (const std::invalid_argument&) {
    threw_original = true;
  } catch (const plx::error& e) {
    message = e.what();
  }
  if (rt().rank() == failing) {
    EXPECT_TRUE(threw_original);
  } else {
    EXPECT_EQ(message, "map 'sum': the reduction failed on rank " + std::to_string(failing) + ": no value here");
  }
}

TEST(ReduceInRankOrder, a_failing_op_on_root_fails_every_rank) {
  auto picky = [](int a, int b) {
    if (b == 2) throw std::domain_error("two is not allowed");
    return a + b;
  };
  bool threw_original = false;
  std::string message;
  try {
    (void)plx::detail::reduce_in_rank_order(rt().world(), 0, [] { return rt().rank() + 1; }, picky, "picky", 1);
  } catch (const std::domain_error&) {
    threw_original = true;
  } catch (const plx::error& e) {
    message = e.what();
  }
  if (rt().size() < 2) {
    EXPECT_FALSE(threw_original);
  } else if (rt().is_root()) {
    EXPECT_TRUE(threw_original);
  } else {
    EXPECT_EQ(message, "map 'picky': the reduction failed on rank 0: two is not allowed");
  }
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
