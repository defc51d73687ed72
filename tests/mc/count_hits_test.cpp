#include <parallax/mc/pi.hpp>

#include <cmath>

#include <gtest/gtest.h>

namespace {

TEST(CountHits, is_a_pure_function_of_seed_chunk_and_count) {
  EXPECT_EQ(plx::mc::count_hits(1, 5, 1000), plx::mc::count_hits(1, 5, 1000));
  EXPECT_NE(plx::mc::count_hits(1, 5, 100000), plx::mc::count_hits(2, 5, 100000));
  EXPECT_NE(plx::mc::count_hits(1, 5, 100000), plx::mc::count_hits(1, 6, 100000));
}

TEST(CountHits, counts_only_the_requested_samples) {
  EXPECT_EQ(plx::mc::count_hits(3, 0, 0), 0u);
  EXPECT_LE(plx::mc::count_hits(3, 0, 1), 1u);
  // An odd count uses half of the last Philox draw: the prefix property must hold.
  const auto h101 = plx::mc::count_hits(3, 0, 101);
  const auto h100 = plx::mc::count_hits(3, 0, 100);
  EXPECT_TRUE(h101 == h100 || h101 == h100 + 1);
}

TEST(CountHits, fraction_is_close_to_pi_over_four) {
  const double n = 1 << 20;
  const double p = static_cast<double>(plx::mc::count_hits(42, 0, 1 << 20)) / n;
  EXPECT_NEAR(4 * p, 3.14159265, 6 * 4 * std::sqrt(p * (1 - p) / n));
}

}  // namespace
