// Test helper: a distributed real-space field gathered on root, unpadded, in global row-major order.
#pragma once

#include <mpi.h>

#include <numeric>
#include <vector>

#include <parallax/fft/field.hpp>
#include <parallax/fft/modes.hpp>

namespace plx::testing_support {

/// Collective: every rank's `mine`, concatenated on root in rank order (empty elsewhere).
inline std::vector<double> gather_on_root(const communicator& comm, const std::vector<double>& mine) {
  const int count = static_cast<int>(mine.size());
  std::vector<int> counts(static_cast<std::size_t>(comm.size()));
  MPI_Gather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, comm.native());
  std::vector<int> offsets(counts.size(), 0);
  std::exclusive_scan(counts.begin(), counts.end(), offsets.begin(), 0);
  std::vector<double> all(comm.is_root() ? static_cast<std::size_t>(offsets.back() + counts.back()) : 0);
  MPI_Gatherv(mine.data(), count, MPI_DOUBLE, all.data(), counts.data(), offsets.data(), MPI_DOUBLE, 0, comm.native());
  return all;
}

/// Collective: the whole field on root (empty elsewhere).
inline std::vector<double> gather_real(const communicator& comm, const fft::field& f) {
  const fft::slab_geometry& g = f.geometry();
  std::vector<double> mine;
  mine.reserve(static_cast<std::size_t>(g.real_count * g.rows_per_plane() * g.n));
  for (std::ptrdiff_t plane = 0; plane < g.real_count; ++plane) {
    fft::for_each_cell_in_plane(g, plane, [&](std::ptrdiff_t offset, auto, auto, auto) { mine.push_back(f.real()[offset]); });
  }
  return gather_on_root(comm, mine);
}

}  // namespace plx::testing_support
