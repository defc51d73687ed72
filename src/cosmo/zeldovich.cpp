#include <parallax/cosmo/zeldovich.hpp>

#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <exception>
#include <utility>

#include <mpi.h>

#include <parallax/core/collectives.hpp>
#include <parallax/core/error.hpp>
#include <parallax/fft/modes.hpp>

namespace plx::cosmo {

namespace {

// Point-to-point tags on the caller's communicator (MPI guarantees tags up to 32767).
constexpr int tag_spill = 0;
constexpr int tag_particles = 31;

// A moved particle in a message: its position in cell units, wrapped into [0, N).
using position = std::array<double, 3>;

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

// Consecutive items [begin, end) of `items` split over `parts`: part `index`'s share.
struct item_range {
  std::ptrdiff_t begin = 0;
  std::ptrdiff_t end = 0;
  [[nodiscard]] std::ptrdiff_t size() const { return end - begin; }
};
item_range share_of(std::ptrdiff_t items, int parts, int index) {
  return {items * index / parts, items * (index + 1) / parts};
}

// Runs fn(thread, threads) on every thread of one parallel region and returns the thread count. An
// exception (bad_alloc) may not leave a region: the first one is rethrown after it.
template <class Fn>
int on_threads(Fn&& fn) {
  std::exception_ptr failure;
  int used = 1;
#pragma omp parallel
  {
    const int thread = omp_get_thread_num();
    const int threads = omp_get_num_threads();
    if (thread == 0) used = threads;
    try {
      fn(thread, threads);
    } catch (...) {
#pragma omp critical(plx_zeldovich_failure)
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
  return used;
}

// Spill planes of one thread: taken and given back during a frame, kept across frames, so only a frame
// that needs more planes at once than any before allocates.
class plane_pool {
 public:
  explicit plane_pool(std::size_t plane_doubles) : plane_doubles_(plane_doubles) {}
  double* take() {
    if (free_.empty()) return planes_.emplace_back(std::make_unique<double[]>(plane_doubles_)).get();  // zeroed
    double* plane = free_.back();
    free_.pop_back();
    std::fill_n(plane, plane_doubles_, 0.0);
    return plane;
  }
  void give_back(double* plane) { free_.push_back(plane); }
  [[nodiscard]] std::size_t bytes() const { return planes_.size() * plane_doubles_ * sizeof(double); }

 private:
  std::size_t plane_doubles_;
  std::vector<std::unique_ptr<double[]>> planes_;
  std::vector<double*> free_;
};

// What one thread keeps between frames; everything is reused (assign/clear keep the capacity).
struct thread_space {
  explicit thread_space(std::size_t plane_doubles) : pool(plane_doubles) {}
  plane_pool pool;
  std::vector<std::pair<int, position>> leaving;  // this thread's share of the leaving particles, in order
  item_range block;                               // its planes of the slab (local indices)
  std::vector<std::ptrdiff_t> walk;               // the local source planes that can reach the block, in order
  std::vector<std::ptrdiff_t> last_step;          // per block plane: the last step that can add to it
  std::vector<std::ptrdiff_t> retire_at;          // per block plane c: the step after which spill(c) joins c + 1
  std::vector<std::ptrdiff_t> retire_start;       // per step: where its planes start in retire_order
  std::vector<std::ptrdiff_t> retire_order;       // block planes by retire_at
  std::vector<double*> spill;                     // per block plane: its spill plane, or null (no term yet)
};

}  // namespace

struct zeldovich_frames::state {
  fft::slab_ranks ranks = fft::slab_ranks::serial();
  std::vector<const fft::field*> fields;  // the displacement, dim components
  std::vector<const double*> psi;         // their values
  double box = 1;
  fft::slab_geometry g;
  double to_cells = 1;
  std::size_t max_chunk = detail::max_mpi_count;
  std::vector<int> owner;           // per global plane
  std::vector<double> largest_psi;  // per local plane: max |Psi_x| over its cells (box units)
  std::vector<std::unique_ptr<thread_space>> threads;
  std::vector<std::ptrdiff_t> edge_planes;  // this frame: the local planes whose particles may leave
  std::vector<position> send;
  std::vector<std::size_t> send_counts;
  detail::gathered<position> received;
  std::vector<double> incoming;  // the previous rank's last spill plane

  [[nodiscard]] std::ptrdiff_t plane_size() const { return g.rows_per_plane() * g.padded(); }
  void prepare_threads();
  void find_leaving(double step);
  int deposit_blocks(double step, double* out, std::size_t first_after);
  void walk_block(thread_space& ts, double step, double* out, std::size_t first_after) const;
  void schedule_block(thread_space& ts, double step, std::size_t first_after) const;
  void add_boundary_spills(int used, double* out);
};

namespace {

// How many planes a particle of a plane whose largest |Psi_x| is `largest` can move at `step` cells per
// box unit, with a margin for rounding: its lower CIC plane is within [q - reach, q + reach] (circular).
std::ptrdiff_t reach_of(double step, double largest, std::ptrdiff_t n) {
  const double planes = std::abs(step) * largest;  // a negative growth moves them the other way
  return planes < static_cast<double>(n) ? static_cast<std::ptrdiff_t>(planes) + 2 : n;  // NaN: everything
}

// Does [lo, hi] (absolute planes, possibly past 0 or n) meet [begin, end) on the periodic axis?
bool meets(std::ptrdiff_t lo, std::ptrdiff_t hi, std::ptrdiff_t begin, std::ptrdiff_t end, std::ptrdiff_t n) {
  if (hi - lo + 1 >= n) return true;
  for (const std::ptrdiff_t shift : {-n, std::ptrdiff_t{0}, n}) {
    if (lo + shift < end && hi + shift >= begin) return true;
  }
  return false;
}

}  // namespace

void zeldovich_frames::state::prepare_threads() {
  const auto wanted = static_cast<std::size_t>(std::max(1, omp_get_max_threads()));
  while (threads.size() < wanted) {
    threads.push_back(std::make_unique<thread_space>(static_cast<std::size_t>(plane_size())));
  }
}

// 1. The particles that land outside the slab, sorted by the rank that owns their plane, each rank's in
//    global index order. Only the edge planes can hold them; a single rank holds the whole box.
void zeldovich_frames::state::find_leaving(double step) {
  const std::ptrdiff_t n = g.n;
  const std::ptrdiff_t count = g.real_count;
  edge_planes.clear();
  if (count < n) {
    for (std::ptrdiff_t q = 0; q < count; ++q) {
      const std::ptrdiff_t reach = reach_of(step, largest_psi[static_cast<std::size_t>(q)], n);
      if (q - reach < 0 || q + reach >= count) edge_planes.push_back(q);
    }
  }
  const int used = on_threads([&](int thread, int threads_used) {
    thread_space& ts = *threads[static_cast<std::size_t>(thread)];
    ts.leaving.clear();
    const item_range mine = share_of(static_cast<std::ptrdiff_t>(edge_planes.size()), threads_used, thread);
    for (std::ptrdiff_t e = mine.begin; e < mine.end; ++e) {
      const std::ptrdiff_t q = edge_planes[static_cast<std::size_t>(e)];
      const auto x = static_cast<double>(g.real_start + q);
      fft::for_each_cell_in_plane(g, q, [&](std::ptrdiff_t offset, std::ptrdiff_t, std::ptrdiff_t y, std::ptrdiff_t z) {
        const double p0 = wrap(x + step * psi[0][offset], n);
        const std::ptrdiff_t lower = cic_split(p0, n).cell;
        if (lower >= g.real_start && lower < g.real_start + count) return;
        const double p1 = wrap(static_cast<double>(y) + step * psi[1][offset], n);
        const double p2 = g.dim == 3 ? wrap(static_cast<double>(z) + step * psi[2][offset], n) : 0.0;
        ts.leaving.push_back({owner[static_cast<std::size_t>(lower)], {p0, p1, p2}});
      });
    }
  });
  send_counts.assign(static_cast<std::size_t>(ranks.comm().size()), 0);
  for (int t = 0; t < used; ++t) {
    for (const auto& [rank, p] : threads[static_cast<std::size_t>(t)]->leaving) ++send_counts[static_cast<std::size_t>(rank)];
  }
  std::vector<std::size_t> cursor = detail::offsets_of(send_counts);
  send.resize(cursor.back() + send_counts.back());
  for (int t = 0; t < used; ++t) {  // threads hold consecutive edge planes: thread order is index order
    for (const auto& [rank, p] : threads[static_cast<std::size_t>(t)]->leaving) send[cursor[static_cast<std::size_t>(rank)]++] = p;
  }
}

// The walk of one thread's block: the local source planes that can reach it, in order, and the step after
// which each plane's spill is complete and joins the next plane: step k is walk[k], step -1 the arrivals
// from lower ranks (all before the walk), step walk.size() those from higher ranks (all after).
void zeldovich_frames::state::schedule_block(thread_space& ts, double step, std::size_t first_after) const {
  const std::ptrdiff_t n = g.n;
  const std::ptrdiff_t begin = g.real_start + ts.block.begin;  // absolute planes of the block
  const std::ptrdiff_t end = g.real_start + ts.block.end;
  const std::ptrdiff_t planes = ts.block.size();
  ts.walk.clear();
  ts.last_step.assign(static_cast<std::size_t>(planes), -1);
  for (std::ptrdiff_t q = 0; q < g.real_count; ++q) {
    const std::ptrdiff_t reach = reach_of(step, largest_psi[static_cast<std::size_t>(q)], n);
    const std::ptrdiff_t x = g.real_start + q;
    if (!meets(x - reach, x + reach, begin, end, n)) continue;
    const auto k = static_cast<std::ptrdiff_t>(ts.walk.size());
    ts.walk.push_back(q);
    if (2 * reach + 1 >= n) {
      std::fill(ts.last_step.begin(), ts.last_step.end(), k);
      continue;
    }
    for (const std::ptrdiff_t shift : {-n, std::ptrdiff_t{0}, n}) {
      const std::ptrdiff_t from = std::max(x - reach + shift, begin);
      const std::ptrdiff_t to = std::min(x + reach + shift, end - 1);
      for (std::ptrdiff_t c = from; c <= to; ++c) ts.last_step[static_cast<std::size_t>(c - begin)] = k;
    }
  }
  const auto steps = static_cast<std::ptrdiff_t>(ts.walk.size());
  for (std::size_t i = first_after; i < received.values.size(); ++i) {
    const std::ptrdiff_t c = cic_split(received.values[i][0], n).cell - begin;
    if (c >= 0 && c < planes) ts.last_step[static_cast<std::size_t>(c)] = steps;
  }
  // Spill(c) joins plane c + 1 once neither can get another term; the block's last spill waits for the
  // next block (add_boundary_spills). A counting sort by step, steps -1 .. steps as buckets 0 .. steps + 1.
  ts.retire_at.resize(static_cast<std::size_t>(std::max<std::ptrdiff_t>(planes - 1, 0)));
  ts.retire_start.assign(static_cast<std::size_t>(steps) + 3, 0);
  for (std::size_t c = 0; c < ts.retire_at.size(); ++c) {
    ts.retire_at[c] = std::max(ts.last_step[c], ts.last_step[c + 1]) + 1;
    ++ts.retire_start[static_cast<std::size_t>(ts.retire_at[c]) + 1];
  }
  for (std::size_t s = 1; s < ts.retire_start.size(); ++s) ts.retire_start[s] += ts.retire_start[s - 1];
  ts.retire_order.resize(ts.retire_at.size());
  ts.last_step.assign(ts.retire_start.begin(), ts.retire_start.end() - 1);  // reused as the sort's cursors
  for (std::size_t c = 0; c < ts.retire_at.size(); ++c) {
    ts.retire_order[static_cast<std::size_t>(ts.last_step[static_cast<std::size_t>(ts.retire_at[c])]++)] =
        static_cast<std::ptrdiff_t>(c);
  }
}

// 2. One thread deposits into its block, in global index order per cell: the arrivals from lower ranks,
//    the walk, the arrivals from higher ranks.
void zeldovich_frames::state::walk_block(thread_space& ts, double step, double* out, std::size_t first_after) const {
  const std::ptrdiff_t n = g.n;
  const std::ptrdiff_t padded = g.padded();
  const std::ptrdiff_t size = plane_size();
  const std::ptrdiff_t begin = g.real_start + ts.block.begin;
  const std::ptrdiff_t planes = ts.block.size();
  double* own = out + ts.block.begin * size;
  std::fill(own, own + planes * size, 0.0);
  if (planes == 0) return;
  schedule_block(ts, step, first_after);
  ts.spill.assign(static_cast<std::size_t>(planes), nullptr);
  ts.spill.back() = ts.pool.take();  // always there: the next block or rank adds it

  const auto add = [&](std::ptrdiff_t c, double p0, double p1, double p2) {
    double*& spill = ts.spill[static_cast<std::size_t>(c)];
    if (spill == nullptr) spill = ts.pool.take();
    cic_deposit(own + c * size, spill, p0, p1, p2, n, padded, g.dim);
  };
  const auto add_arrivals = [&](std::size_t from, std::size_t to) {
    for (std::size_t i = from; i < to; ++i) {
      const position& p = received.values[i];
      const std::ptrdiff_t c = cic_split(p[0], n).cell - begin;
      if (c >= 0 && c < planes) add(c, p[0], p[1], p[2]);
    }
  };
  const auto retire = [&](std::ptrdiff_t bucket) {
    for (std::ptrdiff_t r = ts.retire_start[static_cast<std::size_t>(bucket)];
         r < ts.retire_start[static_cast<std::size_t>(bucket) + 1]; ++r) {
      const std::ptrdiff_t c = ts.retire_order[static_cast<std::size_t>(r)];
      double*& spill = ts.spill[static_cast<std::size_t>(c)];
      if (spill == nullptr) continue;  // no term: adding its zeros would change no bit (own is never -0)
      double* to = own + (c + 1) * size;
      for (std::ptrdiff_t i = 0; i < size; ++i) to[i] += spill[i];
      ts.pool.give_back(spill);
      spill = nullptr;
    }
  };

  add_arrivals(0, first_after);
  retire(0);
  for (std::size_t k = 0; k < ts.walk.size(); ++k) {
    const std::ptrdiff_t q = ts.walk[k];
    const auto x = static_cast<double>(g.real_start + q);
    fft::for_each_cell_in_plane(g, q, [&](std::ptrdiff_t offset, std::ptrdiff_t, std::ptrdiff_t y, std::ptrdiff_t z) {
      // The serial deposit's arithmetic: p[a] + growth * to_cells * psi, with step = growth * to_cells.
      const double p0 = wrap(x + step * psi[0][offset], n);
      const std::ptrdiff_t c = cic_split(p0, n).cell - begin;
      if (c < 0 || c >= planes) return;  // another block's, or another rank's (sent in step 1)
      const double p1 = wrap(static_cast<double>(y) + step * psi[1][offset], n);
      const double p2 = g.dim == 3 ? wrap(static_cast<double>(z) + step * psi[2][offset], n) : 0.0;
      add(c, p0, p1, p2);
    });
    retire(static_cast<std::ptrdiff_t>(k) + 1);
  }
  add_arrivals(first_after, received.values.size());
  retire(static_cast<std::ptrdiff_t>(ts.walk.size()) + 1);
}

// Returns the threads used.
int zeldovich_frames::state::deposit_blocks(double step, double* out, std::size_t first_after) {
  return on_threads([&](int thread, int threads_used) {
    thread_space& ts = *threads[static_cast<std::size_t>(thread)];
    ts.block = share_of(g.real_count, threads_used, thread);
    walk_block(ts, step, out, first_after);
  });
}

// 3. density(p) = own(p) + spill(p - 1) at the blocks' first planes: the previous block's last spill, or
//    for the slab's first plane the previous rank's (or, alone, our own last: the box is periodic).
void zeldovich_frames::state::add_boundary_spills(int used, double* out) {
  const std::ptrdiff_t n = g.n;
  const std::ptrdiff_t size = plane_size();
  const double* last_spill = nullptr;  // the slab's last plane's
  for (int t = 0; t < used; ++t) {
    const thread_space& ts = *threads[static_cast<std::size_t>(t)];
    if (ts.block.size() > 0) last_spill = ts.spill.back();
  }
  int next = MPI_PROC_NULL;
  int previous = MPI_PROC_NULL;
  if (g.real_count > 0) {
    next = owner[static_cast<std::size_t>((g.real_start + g.real_count) % n)];
    previous = owner[static_cast<std::size_t>((g.real_start - 1 + n) % n)];
  }
  const communicator& comm = ranks.comm();
  const double* first_incoming = last_spill;
  if (next != comm.rank()) {
    incoming.resize(static_cast<std::size_t>(size));
    // A plane is N^2 + 2N doubles in 3D: past 2^31 for N > 46340, hence chunks here too.
    const auto count = static_cast<std::size_t>(size);
    const std::size_t chunk = detail::clamp_chunk(max_chunk);
    detail::request_set requests;
    for (std::size_t done = 0; previous != MPI_PROC_NULL && done < count; done += chunk) {
      detail::check_mpi_before("MPI_Irecv");
      detail::check_mpi(MPI_Irecv(incoming.data() + done, static_cast<int>(std::min(chunk, count - done)), MPI_DOUBLE,
                                  previous, tag_spill, comm.native(), requests.add()),
                        "MPI_Irecv");
    }
    for (std::size_t done = 0; next != MPI_PROC_NULL && done < count; done += chunk) {
      detail::check_mpi_before("MPI_Isend");
      detail::check_mpi(MPI_Isend(last_spill + done, static_cast<int>(std::min(chunk, count - done)), MPI_DOUBLE, next,
                                  tag_spill, comm.native(), requests.add()),
                        "MPI_Isend");
    }
    requests.wait_all();
    first_incoming = incoming.data();
  }
  const double* from = first_incoming;
  for (int t = 0; t < used; ++t) {
    thread_space& ts = *threads[static_cast<std::size_t>(t)];
    if (ts.block.size() == 0) continue;
    double* to = out + ts.block.begin * size;
    for (std::ptrdiff_t i = 0; i < size; ++i) to[i] += from[i];
    from = ts.spill.back();
  }
  for (int t = 0; t < used; ++t) {
    thread_space& ts = *threads[static_cast<std::size_t>(t)];
    if (ts.block.size() > 0) ts.pool.give_back(std::exchange(ts.spill.back(), nullptr));
  }
}

zeldovich_frames::zeldovich_frames(const fft::slab_ranks& ranks, std::span<const fft::field* const> displacement,
                                   double box, std::size_t max_chunk)
    : state_(std::make_unique<state>()) {
  if (displacement.empty()) throw error("zeldovich_frames: no displacement fields");
  state& s = *state_;
  s.ranks = ranks;
  s.g = displacement.front()->geometry();
  if (static_cast<int>(displacement.size()) != s.g.dim) {
    throw error("zeldovich_frames: need one displacement field per axis");
  }
  s.fields.assign(displacement.begin(), displacement.end());
  for (const fft::field* f : displacement) s.psi.push_back(f->real());
  s.box = box;
  s.to_cells = static_cast<double>(s.g.n) / box;
  s.max_chunk = max_chunk;
  if (ranks.is_serial()) return;  // the serial deposit needs none of the rest
  s.owner = plane_owners(ranks.comm(), s.g);
  s.largest_psi.assign(static_cast<std::size_t>(s.g.real_count), 0.0);
  const fft::slab_geometry& g = s.g;
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t q = 0; q < g.real_count; ++q) {
    double largest = 0;
    fft::for_each_cell_in_plane(g, q, [&](std::ptrdiff_t offset, auto, auto, auto) {
      const double value = std::abs(s.psi[0][offset]);
      largest = value > largest || std::isnan(value) ? value : largest;  // NaN sticks: reach_of says everywhere
    });
    s.largest_psi[static_cast<std::size_t>(q)] = largest;
  }
}

zeldovich_frames::~zeldovich_frames() = default;
zeldovich_frames::zeldovich_frames(zeldovich_frames&&) noexcept = default;
zeldovich_frames& zeldovich_frames::operator=(zeldovich_frames&&) noexcept = default;

void zeldovich_frames::density(double growth, fft::field& out) {
  state& s = *state_;
  const fft::slab_geometry& og = out.geometry();
  if (og.dim != s.g.dim || og.n != s.g.n || og.real_start != s.g.real_start || og.real_count != s.g.real_count) {
    throw error("zeldovich_frames::density: the output field's geometry is not the displacement's");
  }
  if (s.ranks.is_serial()) {
    detail::zeldovich_density_serial(s.fields, growth, s.box, out);
    return;
  }
  // The serial deposit's p[a] + growth * to_cells * psi evaluates growth * to_cells first: the same step.
  const double step = growth * s.to_cells;
  const communicator& comm = s.ranks.comm();
  // Each step that can fail on one rank alone (no memory for a buffer, an MPI error) is agreed before the
  // next exchange, so every rank throws together instead of waiting on the messages of one that left.
  detail::on_all_ranks(comm, [&] {
    s.prepare_threads();
    s.find_leaving(step);
  });
  detail::alltoallv_chunked<position>(comm, s.send, s.send_counts, tag_particles, s.received, s.max_chunk);
  // Arrivals from ranks below this one come before its own particles in global index order, the rest after.
  const std::size_t first_after = s.received.offsets[static_cast<std::size_t>(comm.rank())];
  double* field = out.real();
  const auto cells = static_cast<std::size_t>(s.g.real_count * s.plane_size());
  std::fill(field + cells, field + out.size(), 0.0);  // FFTW's extra room, if any
  const int used = detail::on_all_ranks(comm, [&] { return s.deposit_blocks(step, field, first_after); });
  detail::on_all_ranks(comm, [&] { s.add_boundary_spills(used, field); });
}

std::size_t zeldovich_frames::buffer_bytes() const {
  const state& s = *state_;
  std::size_t bytes = (s.send.capacity() + s.received.values.capacity()) * sizeof(position) +
                      s.incoming.capacity() * sizeof(double);
  for (const auto& ts : s.threads) bytes += ts->pool.bytes() + ts->leaving.capacity() * sizeof(ts->leaving[0]);
  return bytes;
}

void zeldovich_density(const fft::slab_ranks& ranks, std::span<const fft::field* const> displacement, double growth,
                       double box, fft::field& out, std::size_t max_chunk) {
  if (static_cast<int>(displacement.size()) != out.geometry().dim) {
    throw error("zeldovich_density: need one displacement field per axis");
  }
  zeldovich_frames(ranks, displacement, box, max_chunk).density(growth, out);
}

}  // namespace plx::cosmo
