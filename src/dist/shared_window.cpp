#include <parallax/dist/detail/shared_window.hpp>

#include <unistd.h>

#include <cstdio>
#include <exception>
#include <string>
#include <utility>

#include <fmt/format.h>

#include <parallax/core/collectives.hpp>
#include <parallax/core/error.hpp>

namespace plx::detail {

namespace {

double gib(double bytes) { return bytes / double(1ULL << 30); }

std::size_t physical_memory_bytes() {
  return static_cast<std::size_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<std::size_t>(sysconf(_SC_PAGE_SIZE));
}

}  // namespace

shared_window::shared_window(const communicator& comm, std::size_t bytes)
    : bytes_(bytes), uncaught_at_creation_(std::uncaught_exceptions()) {
  on_all_ranks(comm, [&] {
    node_ = comm.split_node();
    leaders_ = comm.split(is_leader() ? 0 : MPI_UNDEFINED, comm.rank());
  });

  // Asked for more than the node has, MPI may still succeed (the backing file is sparse) and the job then
  // dies of SIGBUS or the OOM killer while the leader fills it: refuse first, as bad input.
  const std::size_t memory = physical_memory_bytes();
  on_all_ranks(comm, [&] {
    if (is_leader() && bytes > memory) {
      throw config_error(fmt::format("node_shared: {:.2f} GiB of input exceed the {:.2f} GiB of memory of a node "
                                     "(rank {} of {})",
                                     gib(double(bytes)), gib(double(memory)), comm.rank(), comm.size()));
    }
  });

  std::string failure;
  try {
    // The leader allocates the whole segment, the others none; each then asks for the leader's part.
    void* base = nullptr;
    const auto mine = static_cast<MPI_Aint>(is_leader() ? bytes : 0);
    check_mpi(MPI_Win_allocate_shared(mine, 1, MPI_INFO_NULL, node_.native(), &base, &window_),
              "MPI_Win_allocate_shared");
    // A window's default handler aborts the job; parallax reports every MPI failure by exception.
    check_mpi(MPI_Win_set_errhandler(window_, MPI_ERRORS_RETURN), "MPI_Win_set_errhandler");
    MPI_Aint size = 0;
    int unit = 0;
    check_mpi(MPI_Win_shared_query(window_, 0, &size, &unit, &base), "MPI_Win_shared_query");
    base_ = static_cast<std::byte*>(base);
    check_mpi(MPI_Win_lock_all(MPI_MODE_NOCHECK, window_), "MPI_Win_lock_all");
    locked_ = true;
  } catch (const std::exception& e) {
    failure = fmt::format("node_shared: allocating {} bytes per node failed on rank {} of {}: {}", bytes,
                          comm.rank(), comm.size(), e.what());
  }
  const std::string message = agree_on_failure(comm, failure);
  if (message.empty()) return;

  // Free the window together where every rank of the node has one (an injected failure, or a query that
  // failed); where MPI failed to make it on some rank, the others cannot free it collectively: let it go.
  const int mine = window_ != MPI_WIN_NULL ? 1 : 0;
  int everywhere = 0;
  if (MPI_Allreduce(&mine, &everywhere, 1, MPI_INT, MPI_MIN, node_.native()) == MPI_SUCCESS && everywhere == 1) {
    release();
  } else {
    window_ = MPI_WIN_NULL;
  }
  throw collective(io_error(message));
}

void shared_window::publish() const {
  // Rank-local: where it fails here alone, the other ranks of the node wait in the barrier.
  check_mpi_alone(MPI_Win_sync(window_), "MPI_Win_sync");
  node_.barrier();
  check_mpi(MPI_Win_sync(window_), "MPI_Win_sync");
}

shared_window::~shared_window() { release(); }

shared_window::shared_window(shared_window&& other) noexcept
    : node_(std::move(other.node_)),
      leaders_(std::move(other.leaders_)),
      window_(std::exchange(other.window_, MPI_WIN_NULL)),
      locked_(std::exchange(other.locked_, false)),
      base_(std::exchange(other.base_, nullptr)),
      bytes_(std::exchange(other.bytes_, 0)),
      uncaught_at_creation_(other.uncaught_at_creation_) {}

shared_window& shared_window::operator=(shared_window&& other) noexcept {
  if (this != &other) {
    release();
    node_ = std::move(other.node_);
    leaders_ = std::move(other.leaders_);
    window_ = std::exchange(other.window_, MPI_WIN_NULL);
    locked_ = std::exchange(other.locked_, false);
    base_ = std::exchange(other.base_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
    uncaught_at_creation_ = other.uncaught_at_creation_;
  }
  return *this;
}

void shared_window::release() noexcept {
  base_ = nullptr;
  if (window_ == MPI_WIN_NULL) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  // See the destructor's docs: no collective free after MPI_Finalize, nor while an exception of this rank's
  // own unwinds the stack, nor in a handler of an MPI failure of this rank alone that no agreement followed
  // (node_shared frees its window in a handler, expecting an agreed failure; the others never join).
  if (finalized || std::uncaught_exceptions() > uncaught_at_creation_ || mpi_out_of_step()) {
    window_ = MPI_WIN_NULL;
    return;
  }
  if (locked_ && MPI_Win_unlock_all(window_) != MPI_SUCCESS) {
    std::fprintf(stderr, "parallax: warning: MPI_Win_unlock_all of a node-shared input failed (rank %d)\n",
                 world_rank_or_zero());
  }
  locked_ = false;
  if (MPI_Win_free(&window_) != MPI_SUCCESS) {
    std::fprintf(stderr, "parallax: warning: MPI_Win_free of a node-shared input failed (rank %d)\n",
                 world_rank_or_zero());
  }
  window_ = MPI_WIN_NULL;
}

}  // namespace plx::detail
