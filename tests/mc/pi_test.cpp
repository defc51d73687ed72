#include <parallax/mc/pi.hpp>

#include <algorithm>
#include <cmath>

#include <gtest/gtest.h>

#include <parallax/core/error.hpp>

#include "../support/mpi_test.hpp"

namespace {

using plx::testing_support::rt;

// The serial reference: the same chunks, summed by one process.
std::uint64_t serial_hits(std::uint64_t samples, std::uint64_t seed) {
  std::uint64_t hits = 0;
  for (std::uint64_t first = 0, c = 0; first < samples; first += plx::mc::pi_samples_per_chunk, ++c) {
    hits += plx::mc::count_hits(seed, c, std::min(plx::mc::pi_samples_per_chunk, samples - first));
  }
  return hits;
}

TEST(Pi, identical_to_the_last_digit_for_any_layout) {
  const std::uint64_t samples = 5 * plx::mc::pi_samples_per_chunk + 12345;  // a ragged last chunk
  const std::uint64_t expected = serial_hits(samples, 7);
  for (const plx::schedule s : {plx::schedule::static_blocks(), plx::schedule::dynamic(), plx::schedule::dynamic(1)}) {
    for (const int threads : {1, 2}) {
      plx::map_options options;
      options.schedule = s;
      options.threads = threads;
      const auto e = plx::mc::estimate_pi(rt().world(), samples, 7, options);
      EXPECT_EQ(e.hits, expected);
      EXPECT_EQ(e.samples, samples);
      EXPECT_EQ(e.pi, 4.0 * double(expected) / double(samples));
    }
  }
}

TEST(Pi, estimate_is_within_its_statistical_error) {
  const auto e = plx::mc::estimate_pi(rt().world(), 4'000'000, 1);
  EXPECT_NEAR(e.pi, M_PI, 6 * e.std_error);
  EXPECT_GT(e.std_error, 0.0);
  EXPECT_LT(e.std_error, 0.01);
}

TEST(Pi, zero_samples_is_a_config_error_on_every_rank) {
  EXPECT_THROW((void)plx::mc::estimate_pi(rt().world(), 0, 1), plx::config_error);
}

}  // namespace
