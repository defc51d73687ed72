/// @file
/// Visiting the cells and Fourier modes a rank owns (see slab.hpp for the layouts), and sums over them
/// that come out bitwise the same whatever the number of ranks and threads.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include <parallax/core/collectives.hpp>
#include <parallax/core/communicator.hpp>
#include <parallax/fft/slab.hpp>

namespace plx::fft {

/// One Fourier mode: unsigned indices g (the last dimension halved, g[dim-1] in [0, N/2]) and signed
/// integer frequencies k, both in dimension order (x, y[, z]); unused entries are 0.
struct mode {
  std::ptrdiff_t g[3] = {0, 0, 0};  ///< storage indices, global: g[i] in [0, N), the halved one in [0, N/2]
  std::ptrdiff_t k[3] = {0, 0, 0};  ///< integer frequencies in (-N/2, N/2]; the wave vector is 2 pi / L * k
  /// 1 on the self-conjugate planes of the halved dimension (index 0, and N/2 for even N), else 2: how
  /// many modes of the full spectrum this stored mode stands for.
  int weight = 2;
  /// |k|^2 in integer frequency units (multiply by (2 pi / L)^2 for wave numbers).
  [[nodiscard]] double k2() const {
    return static_cast<double>(k[0] * k[0] + k[1] * k[1] + k[2] * k[2]);
  }
};

/// Calls fn(offset, const mode&) for every mode of the rank's Fourier plane `plane` (local index), in a
/// fixed order. `offset` indexes the field's complex values.
template <class Fn>
void for_each_mode_in_plane(const slab_geometry& g, std::ptrdiff_t plane, Fn&& fn) {
  const std::ptrdiff_t n = g.n;
  const std::ptrdiff_t half = g.half();
  const bool even = n % 2 == 0;
  mode m;
  if (g.dim == 3) {
    m.g[1] = g.fourier_start + plane;  // transposed: planes of y
    m.k[1] = frequency(m.g[1], n);
    for (std::ptrdiff_t x = 0; x < n; ++x) {
      m.g[0] = x;
      m.k[0] = frequency(x, n);
      const std::ptrdiff_t row = (plane * n + x) * half;
      for (std::ptrdiff_t z = 0; z < half; ++z) {
        m.g[2] = z;
        m.k[2] = z;
        m.weight = (z == 0 || (even && z == n / 2)) ? 1 : 2;
        fn(row + z, m);
      }
    }
  } else {
    m.g[1] = g.fourier_start + plane;  // the halved dimension y is the distributed one
    m.k[1] = m.g[1];
    m.weight = (m.g[1] == 0 || (even && m.g[1] == n / 2)) ? 1 : 2;
    for (std::ptrdiff_t x = 0; x < n; ++x) {
      m.g[0] = x;
      m.k[0] = frequency(x, n);
      fn(plane * n + x, m);
    }
  }
}

/// Every mode of the rank, OpenMP threads sharing the planes.
template <class Fn>
void for_each_mode(const slab_geometry& g, Fn&& fn) {
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t plane = 0; plane < g.fourier_count; ++plane) for_each_mode_in_plane(g, plane, fn);
}

/// Calls fn(offset, x, y, z) for every real cell of the rank's plane `plane` (local index); `offset` indexes
/// the field's doubles (padding skipped). z = 0 in 2D.
template <class Fn>
void for_each_cell_in_plane(const slab_geometry& g, std::ptrdiff_t plane, Fn&& fn) {
  const std::ptrdiff_t n = g.n;
  const std::ptrdiff_t padded = g.padded();
  const std::ptrdiff_t x = g.real_start + plane;
  if (g.dim == 3) {
    for (std::ptrdiff_t y = 0; y < n; ++y) {
      const std::ptrdiff_t row = (plane * n + y) * padded;
      for (std::ptrdiff_t z = 0; z < n; ++z) fn(row + z, x, y, z);
    }
  } else {
    const std::ptrdiff_t row = plane * padded;
    for (std::ptrdiff_t y = 0; y < n; ++y) fn(row + y, x, y, std::ptrdiff_t{0});
  }
}

/// Every real cell of the rank, OpenMP threads sharing the planes: fn(offset, x, y, z) as in for_each_cell_in_plane.
template <class Fn>
void for_each_cell(const slab_geometry& g, Fn&& fn) {
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t plane = 0; plane < g.real_count; ++plane) for_each_cell_in_plane(g, plane, fn);
}

/// Collective. Sums per-plane partial sums in global plane order, so the result is bitwise the same for
/// any decomposition: `local` holds `width` values for each of this rank's planes (in order); planes are
/// distributed contiguously in rank order, as FFTW does. Returns `width` totals on every rank.
///
/// The running totals pass from rank to rank (rank r adds its planes to what rank r - 1 sent, the last
/// rank broadcasts the result), so no rank holds more than `width` values of the others, and the
/// additions happen in exactly the order of a serial loop over the planes. Messages carry at most
/// `max_chunk` doubles (tests pass a few). Its point-to-point messages use tag 29 on `comm`.
[[nodiscard]] std::vector<double> ordered_plane_sum(const communicator& comm, std::span<const double> local,
                                                    std::size_t width,
                                                    std::size_t max_chunk = detail::max_mpi_count);

}  // namespace plx::fft
