#include <parallax/fft/modes.hpp>

#include <parallax/core/collectives.hpp>
#include <parallax/fft/slab_ranks.hpp>

namespace plx::fft {

namespace {
constexpr int tag_plane_sum = 29;  // the running totals (MPI guarantees tags up to 32767 only)
}  // namespace

std::vector<double> ordered_plane_sum(const communicator& comm, std::span<const double> local, std::size_t width,
                                      std::size_t max_chunk) {
  std::vector<double> total(width, 0.0);
  const int rank = comm.rank();
  const int last = comm.size() - 1;
  // Rank r continues the serial loop where rank r - 1 stopped: the same additions in the same order as
  // one rank adding every plane, whatever the layout (ranks without planes pass the totals on).
  if (rank > 0) detail::recv_chunked(comm, std::span<double>(total), rank - 1, tag_plane_sum, max_chunk);
  add_planes(total, local);
  if (rank < last) detail::send_chunked(comm, std::span<const double>(total), rank + 1, tag_plane_sum, max_chunk);
  detail::broadcast_chunked(comm, std::span<double>(total), last, max_chunk);
  return total;
}

void add_planes(std::span<double> total, std::span<const double> local) {
  const std::size_t width = total.size();
  for (std::size_t at = 0; width > 0 && at + width <= local.size(); at += width) {
    for (std::size_t w = 0; w < width; ++w) total[w] += local[at + w];
  }
}

std::vector<double> serial_plane_sum(std::span<const double> local, std::size_t width) {
  std::vector<double> total(width, 0.0);
  add_planes(total, local);
  return total;
}

std::vector<double> ordered_plane_sum(const slab_ranks& ranks, std::span<const double> local, std::size_t width,
                                      std::size_t max_chunk) {
  return ranks.is_serial() ? serial_plane_sum(local, width) : ordered_plane_sum(ranks.comm(), local, width, max_chunk);
}

}  // namespace plx::fft
