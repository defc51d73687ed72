#include <parallax/fft/modes.hpp>

#include <parallax/core/collectives.hpp>

namespace plx::fft {

std::vector<double> ordered_plane_sum(const communicator& comm, std::span<const double> local, std::size_t width) {
  const auto all = detail::allgather_varying<double>(comm, local);
  std::vector<double> total(width, 0.0);
  for (std::size_t at = 0; at < all.values.size(); at += width) {
    for (std::size_t w = 0; w < width; ++w) total[w] += all.values[at + w];
  }
  return total;
}

}  // namespace plx::fft
