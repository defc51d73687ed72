/// @file
/// Monte Carlo estimate of pi (the classic calc_pi): the fraction of uniform points of the unit square
/// that fall in the quarter disc, times 4.
///
/// Reproducible to the last digit for any ranks x threads: samples are cut into fixed chunks, chunk c
/// draws from Random123's Philox4x32-10 keyed by (seed, c) and countered by sample number, and the
/// per-chunk hit counts are integers, so their sum does not depend on who computed what.
#pragma once

#include <cstdint>

#include <parallax/core/communicator.hpp>
#include <parallax/dist/options.hpp>

namespace plx::mc {

/// Samples per chunk: large enough that drawing a chunk (~1 ms) hides scheduling, small enough that
/// 2 ranks x threads have many chunks to balance at 10^8 samples.
inline constexpr std::uint64_t pi_samples_per_chunk = std::uint64_t{1} << 20;

/// The result of estimate_pi(): the estimate, its error and the counts it comes from.
struct pi_estimate {
  double pi = 0;           ///< 4 * hits / samples
  double std_error = 0;    ///< binomial standard error of `pi`
  std::uint64_t samples = 0;  ///< points drawn, over all ranks
  std::uint64_t hits = 0;     ///< points inside the quarter disc
};

/// Points that chunk `chunk` puts in the quarter disc, of its `count` samples (pure, no MPI).
[[nodiscard]] std::uint64_t count_hits(std::uint64_t seed, std::uint64_t chunk, std::uint64_t count);

/// Collective: the estimate from `samples` points, on every rank. Throws plx::config_error if samples is 0.
[[nodiscard]] pi_estimate estimate_pi(const communicator& comm, std::uint64_t samples, std::uint64_t seed,
                                      const map_options& options = {});

}  // namespace plx::mc
