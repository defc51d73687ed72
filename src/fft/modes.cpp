#include <parallax/fft/modes.hpp>

#include <numeric>

#include <mpi.h>

#include <parallax/core/error.hpp>

namespace plx::fft {

std::vector<double> ordered_plane_sum(const communicator& comm, std::span<const double> local, std::size_t width) {
  const int mine = static_cast<int>(local.size());
  std::vector<int> counts(static_cast<std::size_t>(comm.size()));
  detail::check_mpi(MPI_Allgather(&mine, 1, MPI_INT, counts.data(), 1, MPI_INT, comm.native()), "MPI_Allgather");
  std::vector<int> offsets(counts.size());
  std::exclusive_scan(counts.begin(), counts.end(), offsets.begin(), 0);
  std::vector<double> all(static_cast<std::size_t>(offsets.back() + counts.back()));
  detail::check_mpi(MPI_Allgatherv(local.data(), mine, MPI_DOUBLE, all.data(), counts.data(), offsets.data(),
                                   MPI_DOUBLE, comm.native()),
                    "MPI_Allgatherv");
  std::vector<double> total(width, 0.0);
  for (std::size_t at = 0; at < all.size(); at += width) {
    for (std::size_t w = 0; w < width; ++w) total[w] += all[at + w];
  }
  return total;
}

}  // namespace plx::fft
