#include <parallax/fft/slab.hpp>

#include <algorithm>

#include <mpi.h>

#include <fftw3-mpi.h>
#include <fmt/format.h>

#include <parallax/core/error.hpp>

namespace plx::fft {

double slab_geometry::global_cells() const {
  return dim == 3 ? static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n)
                  : static_cast<double>(n) * static_cast<double>(n);
}

slab_geometry make_slab_geometry(const communicator& comm, int dim, std::ptrdiff_t n) {
  if (dim != 2 && dim != 3) throw config_error("dim must be 2 or 3, not " + std::to_string(dim));
  if (n < 2) throw config_error("n must be at least 2, not " + std::to_string(n));
  slab_geometry g;
  g.dim = dim;
  g.n = n;
  if (dim == 3) {
    g.alloc_complex = fftw_mpi_local_size_3d_transposed(n, n, n / 2 + 1, comm.native(), &g.real_count,
                                                        &g.real_start, &g.fourier_count, &g.fourier_start);
  } else {
    g.alloc_complex = fftw_mpi_local_size_2d_transposed(n, n / 2 + 1, comm.native(), &g.real_count,
                                                        &g.real_start, &g.fourier_count, &g.fourier_start);
  }
  // FFTW may ask for nothing on a rank without planes; keep one element so buffers are never null.
  g.alloc_complex = std::max<std::ptrdiff_t>(g.alloc_complex, 1);
  return g;
}

std::vector<slab_geometry> gather_geometries(const communicator& comm, const slab_geometry& mine) {
  const std::int64_t fields[7] = {mine.dim, mine.n, mine.real_start, mine.real_count, mine.fourier_start,
                                  mine.fourier_count, mine.alloc_complex};
  std::vector<std::int64_t> all(comm.is_root() ? 7 * static_cast<std::size_t>(comm.size()) : 0);
  detail::check_mpi(MPI_Gather(fields, 7, MPI_INT64_T, all.data(), 7, MPI_INT64_T, 0, comm.native()), "MPI_Gather");
  std::vector<slab_geometry> out;
  for (std::size_t r = 0; r + 6 < all.size(); r += 7) {
    out.push_back({static_cast<int>(all[r]), all[r + 1], all[r + 2], all[r + 3], all[r + 4], all[r + 5], all[r + 6]});
  }
  return out;
}

std::string decomposition_report(const std::vector<slab_geometry>& all, int fields) {
  if (all.empty()) return {};
  std::string text = fmt::format("decomposition of {}^{} over {} ranks (x planes real, k planes Fourier), {} grids:\n",
                                 all.front().n, all.front().dim, all.size(), fields);
  double total = 0;
  for (std::size_t r = 0; r < all.size(); ++r) {
    const slab_geometry& g = all[r];
    const double bytes = static_cast<double>(g.alloc_doubles()) * sizeof(double) * fields;
    total += bytes;
    text += fmt::format("  rank {:>3}: x {:>5} + {:<5} k {:>5} + {:<5} {:8.1f} MiB\n", r, g.real_start, g.real_count,
                        g.fourier_start, g.fourier_count, bytes / (1 << 20));
  }
  text += fmt::format("  total {:.1f} MiB\n", total / (1 << 20));
  return text;
}

}  // namespace plx::fft
