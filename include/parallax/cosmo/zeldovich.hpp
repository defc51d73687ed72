// The Zel'dovich approximation: particles start on the grid points q and move to x = q + D * Psi(q), Psi the
// displacement field (-grad phi) and D the growth factor; their density follows by cloud-in-cell (CIC)
// deposit onto the grid.
//
// Distributed: each rank moves the particles of its real-space planes, sends each to the rank owning the
// plane it lands in (point-to-point, in chunks), deposits, and passes the contributions that spill into the next
// plane to that plane's owner. Summation order is fixed (by plane, then by particle index, then the
// spill-over added last), so the density is bitwise the same for any number of ranks and threads. A serial
// box (fft::slab_ranks::serial(), a map task's) deposits each particle as it moves it, on the calling thread:
// the same terms in the same order per cell, so the same bits as any distributed run.
#pragma once

#include <cmath>
#include <cstddef>
#include <span>
#include <vector>

#include <Eigen/Core>

#include <parallax/core/collectives.hpp>
#include <parallax/core/communicator.hpp>
#include <parallax/fft/field.hpp>
#include <parallax/fft/slab_ranks.hpp>

namespace plx::detail {
/// cosmo::zeldovich_density of a serial box, on the calling thread (src/cosmo/zeldovich_serial.cpp).
void zeldovich_density_serial(std::span<const fft::field* const> displacement, double growth, double box,
                              fft::field& out);
}  // namespace plx::detail

namespace plx::cosmo {

/// A particle's position in cell units (x / (L/N)), wrapped into [0, N); z = 0 in 2D.
using particle_position = Eigen::Vector3d;

/// Collective unless `ranks` is serial (then no MPI: the whole box is the caller's). Density of the moved particles, rho / mean rho (1 everywhere for D = 0), into `out` (real
/// space). `displacement` holds dim real-space fields in box units (one per axis); `box` is L. Messages
/// carry at most `max_chunk` particles (or doubles of a spilled plane), so any count per rank works; tests
/// pass a few to exercise the chunking, which never changes the result. Point-to-point on `comm` with
/// tags 0 and 31.
void zeldovich_density(const fft::slab_ranks& ranks, std::span<const fft::field* const> displacement, double growth,
                       double box, fft::field& out, std::size_t max_chunk = detail::max_mpi_count);

/// The CIC weights of a particle at `u` (cell units, in [0, N)) along one axis: lower cell and the fraction
/// that goes to the next one.
struct cic_axis {
  std::ptrdiff_t cell;
  double upper;  ///< weight of cell + 1; cell gets 1 - upper
};
/// Inline, with wrap: called a few times per particle per deposit, where a call costs as much as the work.
[[nodiscard]] inline cic_axis cic_split(double u, std::ptrdiff_t n) {
  const double lower = std::floor(u);
  auto cell = static_cast<std::ptrdiff_t>(lower);
  if (cell >= n) cell -= n;
  return {cell, u - lower};
}

/// `value` wrapped into [0, n) (periodic box in cell units).
[[nodiscard]] inline double wrap(double value, std::ptrdiff_t n) {
  const double size = static_cast<double>(n);
  // Most particles stay inside: there the general formula gives `value` itself (value - size * 0), without
  // its division. (-0.0 returns as -0.0, not +0.0: no CIC weight or cell can tell them apart.)
  if (value >= 0 && value < size) return value;
  double w = value - size * std::floor(value / size);
  if (w >= size) w -= size;  // rounding can land exactly on the upper edge
  if (w < 0) w = 0;
  return w;
}

}  // namespace plx::cosmo
