/// @file
/// Slab decomposition of a periodic N^d grid (d = 2 or 3) for in-place real-to-complex FFTs with FFTW-MPI.
///
/// Index conventions (row-major, C order, dimension 0 slowest):
/// @code{.unparsed}
///   real space     this rank owns planes [real_start, real_start + real_count) of dimension 0. A plane is
///                  N^(d-2) rows of N values, each row padded to 2*(N/2+1) doubles (FFTW's in-place r2c).
///                  3D: value (x, y, z) at ((x - real_start) * N + y) * padded + z.
///   Fourier space  "transposed out" (FFTW_MPI_TRANSPOSED_OUT): dimensions 0 and 1 are swapped and the rank
///                  owns planes [fourier_start, fourier_start + fourier_count) of the new first dimension.
///                  3D: mode (kx, ky, kz), kz in [0, N/2], at ((ky - fourier_start) * N + kx) * (N/2+1) + kz.
///                  2D: mode (kx, ky), ky in [0, N/2] (the halved dimension is the distributed one), at
///                  (ky - fourier_start) * N + kx.
/// @endcode
/// Example, N = 5 on 2 ranks in 2D: real planes 3 + 2 (x = 0..2 and 3..4), Fourier planes ky = 0..1 and 2.
/// Ranks may own no plane at all (N smaller than the ranks): they still take part in every collective call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <parallax/core/communicator.hpp>

namespace plx::fft {

/// This rank's part of a slab-decomposed N^d grid, in real and in Fourier space (layouts above).
struct slab_geometry {
  int dim = 3;                       ///< 2 or 3
  std::ptrdiff_t n = 0;              ///< cells per side
  std::ptrdiff_t real_start = 0;     ///< first owned plane of dimension 0
  std::ptrdiff_t real_count = 0;     ///< owned planes of dimension 0
  std::ptrdiff_t fourier_start = 0;  ///< first owned plane of the transposed first dimension
  std::ptrdiff_t fourier_count = 0;  ///< owned planes of the transposed first dimension
  std::ptrdiff_t alloc_complex = 0;  ///< complex values this rank must allocate (FFTW may need extra room)

  /// Doubles per padded row: 2*(N/2+1).
  [[nodiscard]] std::ptrdiff_t padded() const { return 2 * (n / 2 + 1); }
  /// Complex values per row of the halved dimension: N/2+1.
  [[nodiscard]] std::ptrdiff_t half() const { return n / 2 + 1; }
  /// Rows of one real plane: N^(d-2).
  [[nodiscard]] std::ptrdiff_t rows_per_plane() const { return dim == 3 ? n : 1; }
  /// Doubles this rank allocates for one field.
  [[nodiscard]] std::ptrdiff_t alloc_doubles() const { return 2 * alloc_complex; }
  /// Cells of the whole grid: N^d.
  [[nodiscard]] double global_cells() const;
};

/// The decomposition FFTW-MPI chooses for `comm` (fftw_mpi_local_size_*_transposed). Not collective, but
/// every rank must pass the same dim and n. Throws plx::config_error for dim not 2 or 3, or n < 2.
[[nodiscard]] slab_geometry make_slab_geometry(const communicator& comm, int dim, std::ptrdiff_t n);

/// Collective: every rank's geometry, on root (empty elsewhere), for the decomposition report.
[[nodiscard]] std::vector<slab_geometry> gather_geometries(const communicator& comm, const slab_geometry& mine);

/// The report root prints before allocating: planes per rank and memory per rank for `fields` grids.
[[nodiscard]] std::string decomposition_report(const std::vector<slab_geometry>& all, int fields);

/// Signed integer frequency of index g along a dimension of n: g for g <= n/2, else g - n.
[[nodiscard]] constexpr std::ptrdiff_t frequency(std::ptrdiff_t g, std::ptrdiff_t n) { return g <= n / 2 ? g : g - n; }

}  // namespace plx::fft
