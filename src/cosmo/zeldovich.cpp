#include <parallax/cosmo/zeldovich.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>

#include <mpi.h>

#include <parallax/core/collectives.hpp>
#include <parallax/core/error.hpp>
#include <parallax/fft/modes.hpp>

namespace plx::cosmo {

namespace {

// Point-to-point tags on the caller's communicator (MPI guarantees tags up to 32767).
constexpr int tag_spill = 0;
constexpr int tag_particles = 31;

// Which rank owns each real-space plane of dimension 0.
std::vector<int> plane_owners(const fft::slab_ranks& ranks, const fft::slab_geometry& g) {
  const communicator& comm = ranks.comm();
  const std::int64_t mine[2] = {g.real_start, g.real_count};
  std::vector<std::int64_t> all(2 * static_cast<std::size_t>(comm.size()));
  detail::check_mpi(MPI_Allgather(mine, 2, MPI_INT64_T, all.data(), 2, MPI_INT64_T, comm.native()), "MPI_Allgather");
  std::vector<int> owner(static_cast<std::size_t>(g.n), 0);
  for (int r = 0; r < comm.size(); ++r) {
    const auto start = all[2 * static_cast<std::size_t>(r)];
    const auto count = all[2 * static_cast<std::size_t>(r) + 1];
    for (std::int64_t p = start; p < start + count; ++p) owner[static_cast<std::size_t>(p)] = r;
  }
  return owner;
}

// The particle and plane buffers of one distributed call, freed when it returns: plx-cosmo holds them only
// while it deposits.
struct deposit_buffers {
  std::vector<particle_position> moved;
  std::vector<int> destination;
  std::vector<std::array<double, 3>> recv;
  std::vector<std::size_t> plane_count;
  std::vector<std::size_t> order;
  std::vector<double> spill;
  std::vector<double> incoming;
};

}  // namespace

void zeldovich_density(const fft::slab_ranks& ranks, std::span<const fft::field* const> displacement, double growth,
                       double box, fft::field& out, std::size_t max_chunk) {
  const fft::slab_geometry& g = out.geometry();
  const std::ptrdiff_t n = g.n;
  const int dim = g.dim;
  if (static_cast<int>(displacement.size()) != dim) throw error("zeldovich_density: need one displacement field per axis");
  if (ranks.is_serial()) {
    detail::zeldovich_density_serial(displacement, growth, box, out);
    return;
  }
  const double to_cells = static_cast<double>(n) / box;
  const std::vector<int> owner = plane_owners(ranks, g);
  deposit_buffers buffers;

  // 1. Move this rank's particles (one per owned grid point, in global index order).
  const std::size_t local_particles = static_cast<std::size_t>(g.real_count * g.rows_per_plane() * n);
  std::vector<particle_position>& moved = buffers.moved;
  std::vector<int>& destination = buffers.destination;
  std::vector<std::array<double, 3>>& recv = buffers.recv;
  moved.resize(local_particles);
  destination.resize(local_particles);
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t plane = 0; plane < g.real_count; ++plane) {
    std::size_t k = static_cast<std::size_t>(plane * g.rows_per_plane() * n);
    fft::for_each_cell_in_plane(g, plane, [&](std::ptrdiff_t offset, std::ptrdiff_t x, std::ptrdiff_t y, std::ptrdiff_t z) {
      particle_position p(static_cast<double>(x), static_cast<double>(y), static_cast<double>(z));
      for (int a = 0; a < dim; ++a) p[a] = wrap(p[a] + growth * to_cells * displacement[static_cast<std::size_t>(a)]->real()[offset], n);
      moved[k] = p;
      destination[k] = owner[static_cast<std::size_t>(cic_split(p[0], n).cell)];
      ++k;
    });
  }

  // 2. Send each particle to the owner of its plane, keeping index order (a stable bucket by rank). Counts
  //    and offsets are 64-bit: one rank may hold more than 2^31 particles (3D N = 2048 on a few ranks).
  {
    const auto rank_count = static_cast<std::size_t>(ranks.comm().size());
    std::vector<std::size_t> send_counts(rank_count, 0);
    for (const int d : destination) ++send_counts[static_cast<std::size_t>(d)];
    std::vector<std::size_t> send_offsets(rank_count, 0);
    std::exclusive_scan(send_counts.begin(), send_counts.end(), send_offsets.begin(), std::size_t{0});
    std::vector<std::array<double, 3>> send(local_particles);
    {
      std::vector<std::size_t> cursor = send_offsets;
      for (std::size_t i = 0; i < local_particles; ++i) {
        const std::size_t at = cursor[static_cast<std::size_t>(destination[i])]++;
        std::copy_n(moved[i].data(), 3, send[at].data());
      }
    }
    moved = {};
    destination = {};
    recv = detail::alltoallv_chunked<std::array<double, 3>>(ranks.comm(), send, send_counts, tag_particles, max_chunk)
               .values;
  }
  const std::size_t received = recv.size();

  // 3. Bucket the arrivals by plane, stably: each plane then sees its particles in global index order.
  std::vector<std::size_t>& plane_count = buffers.plane_count;
  plane_count.assign(static_cast<std::size_t>(g.real_count) + 1, 0);
  const auto plane_of = [&](std::size_t i) { return static_cast<std::size_t>(cic_split(recv[i][0], n).cell - g.real_start); };
  for (std::size_t i = 0; i < received; ++i) ++plane_count[plane_of(i) + 1];
  std::partial_sum(plane_count.begin(), plane_count.end(), plane_count.begin());
  std::vector<std::size_t>& order = buffers.order;
  order.resize(received);  // a permutation: every element is written below
  {
    std::vector<std::size_t> cursor(plane_count.begin(), plane_count.end() - 1);
    for (std::size_t i = 0; i < received; ++i) order[cursor[plane_of(i)]++] = i;
  }

  // 4. Deposit: `own` gets each particle's share of its plane, `spill` its share of the next plane (stored
  //    at the particle's plane). Threads own disjoint planes of both.
  const std::ptrdiff_t padded = g.padded();
  const std::ptrdiff_t plane_size = g.rows_per_plane() * padded;
  double* own = out.real();
  std::fill(own, own + out.size(), 0.0);
  std::vector<double>& spill = buffers.spill;
  spill.assign(static_cast<std::size_t>(std::max<std::ptrdiff_t>(g.real_count, 1) * plane_size), 0.0);
#pragma omp parallel for schedule(dynamic, 1)
  for (std::ptrdiff_t plane = 0; plane < g.real_count; ++plane) {
    double* a = own + plane * plane_size;
    double* b = spill.data() + plane * plane_size;
    for (std::size_t s = plane_count[static_cast<std::size_t>(plane)]; s < plane_count[static_cast<std::size_t>(plane) + 1]; ++s) {
      const double* p = recv[order[s]].data();
      const double w0 = p[0] - std::floor(p[0]);
      const cic_axis cy = cic_split(p[1], n);
      const std::ptrdiff_t y1 = cy.cell + 1 == n ? 0 : cy.cell + 1;
      if (dim == 2) {
        a[cy.cell] += (1 - w0) * (1 - cy.upper);
        a[y1] += (1 - w0) * cy.upper;
        b[cy.cell] += w0 * (1 - cy.upper);
        b[y1] += w0 * cy.upper;
        continue;
      }
      const cic_axis cz = cic_split(p[2], n);
      const std::ptrdiff_t z1 = cz.cell + 1 == n ? 0 : cz.cell + 1;
      const std::ptrdiff_t r0 = cy.cell * padded;
      const std::ptrdiff_t r1 = y1 * padded;
      const double wy[2] = {1 - cy.upper, cy.upper};
      const double wz[2] = {1 - cz.upper, cz.upper};
      a[r0 + cz.cell] += (1 - w0) * wy[0] * wz[0];
      a[r0 + z1] += (1 - w0) * wy[0] * wz[1];
      a[r1 + cz.cell] += (1 - w0) * wy[1] * wz[0];
      a[r1 + z1] += (1 - w0) * wy[1] * wz[1];
      b[r0 + cz.cell] += w0 * wy[0] * wz[0];
      b[r0 + z1] += w0 * wy[0] * wz[1];
      b[r1 + cz.cell] += w0 * wy[1] * wz[0];
      b[r1 + z1] += w0 * wy[1] * wz[1];
    }
  }

  // 5. The spill of the last owned plane belongs to the next plane's owner; ours comes from the previous one.
  std::vector<double>& incoming = buffers.incoming;
  incoming.assign(static_cast<std::size_t>(plane_size), 0.0);
  int next = MPI_PROC_NULL;
  int previous = MPI_PROC_NULL;
  if (g.real_count > 0) {
    next = owner[static_cast<std::size_t>((g.real_start + g.real_count) % n)];
    previous = owner[static_cast<std::size_t>((g.real_start - 1 + n) % n)];
  }
  const double* last_spill = spill.data() + (std::max<std::ptrdiff_t>(g.real_count, 1) - 1) * plane_size;
  {
    const communicator& comm = ranks.comm();
    // A plane is N^2 + 2N doubles in 3D: past 2^31 for N > 46340, hence chunks here too.
    const auto count = static_cast<std::size_t>(plane_size);
    const std::size_t chunk = detail::clamp_chunk(max_chunk);
    detail::request_set requests;
    for (std::size_t done = 0; previous != MPI_PROC_NULL && done < count; done += chunk) {
      detail::check_mpi(MPI_Irecv(incoming.data() + done, static_cast<int>(std::min(chunk, count - done)), MPI_DOUBLE,
                                  previous, tag_spill, comm.native(), requests.add()),
                        "MPI_Irecv");
    }
    for (std::size_t done = 0; next != MPI_PROC_NULL && done < count; done += chunk) {
      detail::check_mpi(MPI_Isend(last_spill + done, static_cast<int>(std::min(chunk, count - done)), MPI_DOUBLE, next,
                                  tag_spill, comm.native(), requests.add()),
                        "MPI_Isend");
    }
    requests.wait_all();
  }
  // density(p) = own(p) + spill(p - 1), in that order on every layout.
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t plane = 0; plane < g.real_count; ++plane) {
    const double* from = plane == 0 ? incoming.data() : spill.data() + (plane - 1) * plane_size;
    double* to = own + plane * plane_size;
    for (std::ptrdiff_t i = 0; i < plane_size; ++i) to[i] += from[i];
  }
}

}  // namespace plx::cosmo
