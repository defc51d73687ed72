#include <parallax/dist/detail/work_counter.hpp>

#include <cstdio>
#include <memory>

#include <parallax/core/detail/cached_on.hpp>
#include <parallax/core/error.hpp>

namespace plx::detail {

namespace {
constexpr int slot_next = 0;
constexpr int slot_done = 1;
constexpr int slot_failed = 2;
constexpr int slot_count = 3;
}  // namespace

work_counter::work_counter(const communicator& comm) {
  std::uint64_t* base = nullptr;
  root_ = comm.is_root();
  const MPI_Aint bytes = comm.is_root() ? static_cast<MPI_Aint>(slot_count * sizeof(std::uint64_t)) : 0;
  const int code = MPI_Win_allocate(bytes, sizeof(std::uint64_t), MPI_INFO_NULL, comm.native(), &base, &window_);
  if (code != MPI_SUCCESS) {
    // Which one-sided component works depends on the network; say how to choose another.
    throw mpi_error("MPI_Win_allocate (the map layer's shared counter; with Open MPI, OMPI_MCA_osc selects the "
                    "one-sided component: try ucx or pt2pt)",
                    code);
  }
  base_ = base;
  if (comm.is_root()) {
    base[slot_next] = 0;
    base[slot_done] = 0;
    base[slot_failed] = 0;
  }
  // The zeroing above must be visible before anyone draws: the barrier orders it.
  check_mpi(MPI_Win_lock_all(MPI_MODE_NOCHECK, window_), "MPI_Win_lock_all");
  check_mpi_alone(MPI_Win_sync(window_), "MPI_Win_sync");  // failed here alone, the others wait in the barrier
  comm.barrier();
}

work_counter::~work_counter() {
  if (window_ == MPI_WIN_NULL) return;
  // MPI_Win_free is collective: after this rank's own MPI failure the others may never join it.
  if (skip_collective_free()) return;
  if (MPI_Win_unlock_all(window_) != MPI_SUCCESS || MPI_Win_free(&window_) != MPI_SUCCESS) {
    std::fprintf(stderr, "parallax: warning: freeing the work counter window failed\n");
  }
}

std::uint64_t work_counter::fetch_op(int slot, std::uint64_t operand, MPI_Op op) {
  std::uint64_t previous = 0;
  check_mpi(MPI_Fetch_and_op(&operand, &previous, MPI_UINT64_T, 0, slot, op, window_), "MPI_Fetch_and_op");
  check_mpi(MPI_Win_flush(0, window_), "MPI_Win_flush");
  return previous;
}

std::uint64_t work_counter::fetch_add_next(std::uint64_t amount) { return fetch_op(slot_next, amount, MPI_SUM); }
std::uint64_t work_counter::load_next() { return fetch_op(slot_next, 0, MPI_NO_OP); }
void work_counter::add_done(std::uint64_t amount) { fetch_op(slot_done, amount, MPI_SUM); }
std::uint64_t work_counter::load_done() { return fetch_op(slot_done, 0, MPI_NO_OP); }
std::uint64_t work_counter::fetch_add_failed() { return fetch_op(slot_failed, 1, MPI_SUM); }

void work_counter::reset() {
  if (!root_) return;
  base_[slot_next] = 0;
  base_[slot_done] = 0;
  base_[slot_failed] = 0;
  // Rank-local: root alone syncs, and the others go on into the call's first exchange (an Allgather).
  check_mpi_alone(MPI_Win_sync(window_), "MPI_Win_sync");
}

work_counter& cached_work_counter(const communicator& comm) {
  return cached_on<work_counter>(comm, [&] { return std::make_unique<work_counter>(comm); });
}

}  // namespace plx::detail
