#include <parallax/mc/pi.hpp>

#include <algorithm>
#include <cmath>
#include <functional>

#include <Random123/philox.h>

#include <parallax/core/error.hpp>
#include <parallax/dist/map.hpp>

namespace plx::mc {

std::uint64_t count_hits(std::uint64_t seed, std::uint64_t chunk, std::uint64_t count) {
  using philox = r123::Philox4x32;
  const philox generator;
  const philox::key_type key = {{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)}};
  philox::ctr_type counter = {{0, 0, static_cast<std::uint32_t>(chunk), static_cast<std::uint32_t>(chunk >> 32)}};
  // Exact integer test, no rounding: with x, y the 32-bit draws, the point is inside the disc when
  // x^2 + y^2 < 2^64, i.e. when x^2 <= (2^64 - 1) - y^2 = ~(y^2). Each Philox call yields two points.
  std::uint64_t hits = 0;
  const auto inside = [](std::uint32_t x, std::uint32_t y) {
    const std::uint64_t x2 = std::uint64_t{x} * x;
    const std::uint64_t y2 = std::uint64_t{y} * y;
    return x2 <= ~y2 ? 1u : 0u;
  };
  std::uint64_t done = 0;
  for (std::uint64_t step = 0; done < count; ++step) {
    counter[0] = static_cast<std::uint32_t>(step);
    counter[1] = static_cast<std::uint32_t>(step >> 32);
    const philox::ctr_type r = generator(counter, key);
    hits += inside(r[0], r[1]);
    if (++done < count) {
      hits += inside(r[2], r[3]);
      ++done;
    }
  }
  return hits;
}

pi_estimate estimate_pi(const communicator& comm, std::uint64_t samples, std::uint64_t seed,
                        const map_options& options) {
  if (samples == 0) throw config_error("--samples must be at least 1");
  const std::uint64_t chunks = (samples + pi_samples_per_chunk - 1) / pi_samples_per_chunk;
  map_options o = options;
  if (o.label == "map") o.label = "pi";
  const std::uint64_t hits = map_reduce(
      comm, chunks,
      [&](std::size_t c) {
        const std::uint64_t first = c * pi_samples_per_chunk;
        return count_hits(seed, c, std::min(pi_samples_per_chunk, samples - first));
      },
      std::uint64_t{0}, std::plus<>{}, o);
  pi_estimate e;
  e.samples = samples;
  e.hits = hits;
  const double p = static_cast<double>(hits) / static_cast<double>(samples);
  e.pi = 4.0 * p;
  e.std_error = 4.0 * std::sqrt(p * (1.0 - p) / static_cast<double>(samples));
  return e;
}

}  // namespace plx::mc
