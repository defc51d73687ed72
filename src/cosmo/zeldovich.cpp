#include <parallax/cosmo/zeldovich.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>

#include <mpi.h>

#include <parallax/core/error.hpp>
#include <parallax/fft/modes.hpp>

namespace plx::cosmo {

double wrap(double value, std::ptrdiff_t n) {
  const double size = static_cast<double>(n);
  double w = value - size * std::floor(value / size);
  if (w >= size) w -= size;  // rounding can land exactly on the upper edge
  if (w < 0) w = 0;
  return w;
}

cic_axis cic_split(double u, std::ptrdiff_t n) {
  const double lower = std::floor(u);
  auto cell = static_cast<std::ptrdiff_t>(lower);
  if (cell >= n) cell -= n;
  return {cell, u - lower};
}

namespace {

// Which rank owns each real-space plane of dimension 0.
std::vector<int> plane_owners(const communicator& comm, const fft::slab_geometry& g) {
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

}  // namespace

void zeldovich_density(const communicator& comm, std::span<const fft::field* const> displacement, double growth,
                       double box, fft::field& out) {
  const fft::slab_geometry& g = out.geometry();
  const std::ptrdiff_t n = g.n;
  const int dim = g.dim;
  if (static_cast<int>(displacement.size()) != dim) throw error("zeldovich_density: need one displacement field per axis");
  const double to_cells = static_cast<double>(n) / box;
  const std::vector<int> owner = plane_owners(comm, g);

  // 1. Move this rank's particles (one per owned grid point, in global index order).
  const std::size_t local_particles = static_cast<std::size_t>(g.real_count * g.rows_per_plane() * n);
  std::vector<particle_position> moved(local_particles);
  std::vector<int> destination(local_particles);
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

  // 2. Send each particle to the owner of its plane, keeping index order (a stable bucket by rank).
  const auto ranks = static_cast<std::size_t>(comm.size());
  std::vector<int> send_counts(ranks, 0);
  for (const int d : destination) ++send_counts[static_cast<std::size_t>(d)];
  std::vector<int> send_offsets(ranks, 0);
  std::exclusive_scan(send_counts.begin(), send_counts.end(), send_offsets.begin(), 0);
  std::vector<double> send(3 * local_particles);
  {
    std::vector<int> cursor = send_offsets;
    for (std::size_t i = 0; i < local_particles; ++i) {
      const int at = cursor[static_cast<std::size_t>(destination[i])]++;
      std::copy_n(moved[i].data(), 3, send.begin() + 3 * at);
    }
  }
  moved = {};
  destination = {};
  std::vector<int> recv_counts(ranks, 0);
  detail::check_mpi(MPI_Alltoall(send_counts.data(), 1, MPI_INT, recv_counts.data(), 1, MPI_INT, comm.native()),
                    "MPI_Alltoall");
  std::vector<int> recv_offsets(ranks, 0);
  std::exclusive_scan(recv_counts.begin(), recv_counts.end(), recv_offsets.begin(), 0);
  const auto received = static_cast<std::size_t>(recv_offsets.back() + recv_counts.back());
  // Three doubles per particle: a contiguous MPI type keeps the counts in particles.
  MPI_Datatype triple = MPI_DATATYPE_NULL;
  detail::check_mpi(MPI_Type_contiguous(3, MPI_DOUBLE, &triple), "MPI_Type_contiguous");
  detail::check_mpi(MPI_Type_commit(&triple), "MPI_Type_commit");
  std::vector<double> recv(3 * received);
  const int rc = MPI_Alltoallv(send.data(), send_counts.data(), send_offsets.data(), triple, recv.data(),
                               recv_counts.data(), recv_offsets.data(), triple, comm.native());
  MPI_Type_free(&triple);
  detail::check_mpi(rc, "MPI_Alltoallv");
  send = {};

  // 3. Bucket the arrivals by plane, stably: each plane then sees its particles in global index order.
  std::vector<std::size_t> plane_count(static_cast<std::size_t>(g.real_count) + 1, 0);
  const auto plane_of = [&](std::size_t i) { return static_cast<std::size_t>(cic_split(recv[3 * i], n).cell - g.real_start); };
  for (std::size_t i = 0; i < received; ++i) ++plane_count[plane_of(i) + 1];
  std::partial_sum(plane_count.begin(), plane_count.end(), plane_count.begin());
  std::vector<std::size_t> order(received);
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
  std::vector<double> spill(static_cast<std::size_t>(std::max<std::ptrdiff_t>(g.real_count, 1) * plane_size), 0.0);
#pragma omp parallel for schedule(dynamic, 1)
  for (std::ptrdiff_t plane = 0; plane < g.real_count; ++plane) {
    double* a = own + plane * plane_size;
    double* b = spill.data() + plane * plane_size;
    for (std::size_t s = plane_count[static_cast<std::size_t>(plane)]; s < plane_count[static_cast<std::size_t>(plane) + 1]; ++s) {
      const double* p = &recv[3 * order[s]];
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
  std::vector<double> incoming(static_cast<std::size_t>(plane_size), 0.0);
  int next = MPI_PROC_NULL;
  int previous = MPI_PROC_NULL;
  if (g.real_count > 0) {
    next = owner[static_cast<std::size_t>((g.real_start + g.real_count) % n)];
    previous = owner[static_cast<std::size_t>((g.real_start - 1 + n) % n)];
  }
  const double* last_spill = spill.data() + (std::max<std::ptrdiff_t>(g.real_count, 1) - 1) * plane_size;
  detail::check_mpi(MPI_Sendrecv(last_spill, static_cast<int>(plane_size), MPI_DOUBLE, next, 0, incoming.data(),
                                 static_cast<int>(plane_size), MPI_DOUBLE, previous, 0, comm.native(), MPI_STATUS_IGNORE),
                    "MPI_Sendrecv");
  // density(p) = own(p) + spill(p - 1), in that order on every layout.
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t plane = 0; plane < g.real_count; ++plane) {
    const double* from = plane == 0 ? incoming.data() : spill.data() + (plane - 1) * plane_size;
    double* to = own + plane * plane_size;
    for (std::ptrdiff_t i = 0; i < plane_size; ++i) to[i] += from[i];
  }
}

}  // namespace plx::cosmo
