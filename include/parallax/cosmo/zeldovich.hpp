/// @file
/// The Zel'dovich approximation: particles start on the grid points q and move to x = q + D * Psi(q), Psi the
/// displacement field (-grad phi) and D the growth factor; their density follows by cloud-in-cell (CIC)
/// deposit onto the grid.
///
/// Summation order (the contract every layout keeps): a particle whose lower CIC plane is p adds its share of
/// plane p to `own(p)` and its share of plane p + 1 to `spill(p)`; each cell of own(p) and of spill(p) sums its
/// terms in global particle index order, from 0; the density is own(p) + spill(p - 1), the spill added last.
/// So the density is bitwise the same for any number of ranks and threads, and for a serial box.
///
/// Distributed (zeldovich_frames): particles stay where they start. A rank moves the particles of its planes;
/// only those that land in another rank's slab are sent there (point-to-point, in chunks), and only the
/// planes near the slab's edges can hold such particles (a plane's largest |Psi_x| bounds how far its
/// particles move, so the others are not even looked at). Each thread owns a block of consecutive planes of
/// the slab: it deposits the particles that arrived from lower ranks (lower indices), walks in index order
/// the source planes that can reach its block, then the particles from higher ranks, keeping each cell's
/// order. A plane's spill lives in a small pool of plane buffers from its first term until own(p + 1) is
/// complete, then is added and reused: about 2 * reach + 2 planes per thread, not a grid. The spill of a
/// block's last plane goes to the next block's thread, or the next rank. A serial box (fft::slab_ranks::
/// serial(), a map task's) deposits each particle as it moves it, on the calling thread: the same terms in
/// the same order per cell, so the same bits as any distributed run.
#pragma once

#include <cmath>
#include <cstddef>
#include <memory>
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

/// Densities of one displacement field at any number of growth factors (plx-cosmo's frames), with the
/// buffers of the deposit kept from one frame to the next: once they have grown to the largest frame's
/// needs, a frame allocates and first-touches nothing. The displacement fields must outlive this object
/// and stay unchanged.
class zeldovich_frames {
 public:
  /// Collective unless `ranks` is serial: one allgather of the slabs. `displacement` holds dim real-space
  /// fields in box units (one per axis); `box` is L. Messages carry at most `max_chunk` particles (or
  /// doubles of a spilled plane), so any count per rank works; tests pass a few to exercise the chunking,
  /// which never changes the result. Point-to-point on the ranks' communicator with tags 0 and 31.
  zeldovich_frames(const fft::slab_ranks& ranks, std::span<const fft::field* const> displacement, double box,
                   std::size_t max_chunk = detail::max_mpi_count);
  ~zeldovich_frames();
  // Holds views of the displacement and per-thread buffers; one frame at a time.
  zeldovich_frames(const zeldovich_frames&) = delete;
  zeldovich_frames& operator=(const zeldovich_frames&) = delete;
  /// Takes over the other's particles and buffers.
  zeldovich_frames(zeldovich_frames&&) noexcept;
  /// Takes over the other's particles and buffers, releasing this one's.
  zeldovich_frames& operator=(zeldovich_frames&&) noexcept;

  /// Collective unless serial. Density of the particles moved by `growth`, rho / mean rho (1 everywhere
  /// for D = 0), into `out` (real space, the displacement's geometry).
  void density(double growth, fft::field& out);

  /// Bytes of the deposit's buffers now (particles in flight, spill planes), for memory accounting.
  [[nodiscard]] std::size_t buffer_bytes() const;

 private:
  struct state;
  std::unique_ptr<state> state_;
};

/// Collective unless `ranks` is serial (then no MPI: the whole box is the caller's). One frame of
/// zeldovich_frames: the density for `growth` into `out`, with buffers that last for this call only.
void zeldovich_density(const fft::slab_ranks& ranks, std::span<const fft::field* const> displacement, double growth,
                       double box, fft::field& out, std::size_t max_chunk = detail::max_mpi_count);

/// The CIC weights of a particle at `u` (cell units, in [0, N)) along one axis: lower cell and the fraction
/// that goes to the next one.
struct cic_axis {
  std::ptrdiff_t cell;  ///< the lower cell, wrapped into [0, N)
  double upper;  ///< weight of cell + 1; cell gets 1 - upper
};
/// Inline, with wrap: called a few times per particle per deposit, where a call costs as much as the work.
[[nodiscard]] inline cic_axis cic_split(double u, std::ptrdiff_t n) {
  const double lower = std::floor(u);
  auto cell = static_cast<std::ptrdiff_t>(lower);
  if (cell >= n) cell -= n;
  return {cell, u - lower};
}

/// One particle's CIC terms, at (p0, p1, p2) in cell units (wrapped; p2 = 0 in 2D) and of lower plane p:
/// its share of plane p into `own` (that plane of the density), its share of plane p + 1 into `spill`
/// (both `padded` doubles a row). Every deposit, serial or distributed, must add exactly these terms.
inline void cic_deposit(double* own, double* spill, double p0, double p1, double p2, std::ptrdiff_t n,
                        std::ptrdiff_t padded, int dim) {
  const double w0 = p0 - std::floor(p0);
  const cic_axis cy = cic_split(p1, n);
  const std::ptrdiff_t y1 = cy.cell + 1 == n ? 0 : cy.cell + 1;
  if (dim == 2) {
    own[cy.cell] += (1 - w0) * (1 - cy.upper);
    own[y1] += (1 - w0) * cy.upper;
    spill[cy.cell] += w0 * (1 - cy.upper);
    spill[y1] += w0 * cy.upper;
    return;
  }
  const cic_axis cz = cic_split(p2, n);
  const std::ptrdiff_t z1 = cz.cell + 1 == n ? 0 : cz.cell + 1;
  const std::ptrdiff_t r0 = cy.cell * padded;
  const std::ptrdiff_t r1 = y1 * padded;
  const double wy[2] = {1 - cy.upper, cy.upper};
  const double wz[2] = {1 - cz.upper, cz.upper};
  own[r0 + cz.cell] += (1 - w0) * wy[0] * wz[0];
  own[r0 + z1] += (1 - w0) * wy[0] * wz[1];
  own[r1 + cz.cell] += (1 - w0) * wy[1] * wz[0];
  own[r1 + z1] += (1 - w0) * wy[1] * wz[1];
  spill[r0 + cz.cell] += w0 * wy[0] * wz[0];
  spill[r0 + z1] += w0 * wy[0] * wz[1];
  spill[r1 + cz.cell] += w0 * wy[1] * wz[0];
  spill[r1 + z1] += w0 * wy[1] * wz[1];
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
