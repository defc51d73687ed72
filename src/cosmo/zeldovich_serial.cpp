// zeldovich_density for a serial box (fft::slab_ranks::serial(): one map task's whole box, on one thread).
//
// The distributed deposit moves the particles, buckets them by destination plane (stably, so each plane sees
// its particles in global index order), deposits each plane's share into `own` and the next plane's share
// into `spill`, and adds spill(p - 1) to own(p) last. With the whole box in one place no bucketing is needed:
// walking the particles in global index order and depositing each at once adds the same terms to every cell
// in the same order, so the bits are those of any distributed run. It skips writing and re-reading every
// particle twice, which was half of a realization's deposit time.
#include <parallax/cosmo/zeldovich.hpp>

#include <algorithm>
#include <vector>

#include <parallax/fft/modes.hpp>

namespace plx::detail {

using cosmo::cic_axis;
using cosmo::cic_deposit;
using cosmo::cic_split;
using cosmo::particle_position;
using cosmo::wrap;


void zeldovich_density_serial(std::span<const fft::field* const> displacement, double growth, double box,
                              fft::field& out) {
  const fft::slab_geometry& g = out.geometry();
  const std::ptrdiff_t n = g.n;
  const int dim = g.dim;
  const double to_cells = static_cast<double>(n) / box;
  const std::ptrdiff_t padded = g.padded();
  const std::ptrdiff_t plane_size = g.rows_per_plane() * padded;

  double* own = out.real();
  std::fill(own, own + out.size(), 0.0);
  // Kept per thread between calls: a map task deposits again and again, and a fresh grid-sized buffer each
  // time costs more in page faults than the deposit itself.
  thread_local std::vector<double> spill;
  spill.assign(static_cast<std::size_t>(std::max<std::ptrdiff_t>(g.real_count, 1) * plane_size), 0.0);

  const double* psi[3] = {nullptr, nullptr, nullptr};
  for (int a = 0; a < dim; ++a) psi[a] = displacement[static_cast<std::size_t>(a)]->real();
  for (std::ptrdiff_t plane = 0; plane < g.real_count; ++plane) {
    fft::for_each_cell_in_plane(g, plane, [&](std::ptrdiff_t offset, std::ptrdiff_t x, std::ptrdiff_t y, std::ptrdiff_t z) {
      // The same arithmetic as the distributed step 1, term by term.
      particle_position p(static_cast<double>(x), static_cast<double>(y), static_cast<double>(z));
      for (int a = 0; a < dim; ++a) p[a] = wrap(p[a] + growth * to_cells * psi[a][offset], n);
      const cic_axis cx = cic_split(p[0], n);
      cic_deposit(own + cx.cell * plane_size, spill.data() + cx.cell * plane_size, p[0], p[1], p[2], n, padded, dim);
    });
  }
  // density(p) = own(p) + spill(p - 1), plane 0 taking the last plane's spill (periodic), as distributed.
  for (std::ptrdiff_t plane = 0; plane < g.real_count; ++plane) {
    const double* from = spill.data() + ((plane - 1 + g.real_count) % g.real_count) * plane_size;
    double* to = own + plane * plane_size;
    for (std::ptrdiff_t i = 0; i < plane_size; ++i) to[i] += from[i];
  }
}

}  // namespace plx::detail
