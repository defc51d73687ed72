// The untyped part of plx::node_shared: one MPI shared-memory window per node and the communicators that
// fill it. Not for direct use; see <parallax/dist/node_shared.hpp>.
#pragma once

#include <mpi.h>

#include <cstddef>

#include <parallax/core/communicator.hpp>

namespace plx::detail {

/// `bytes` bytes of memory per node, allocated once on the node's first rank (MPI_Win_allocate_shared over
/// communicator::split_node) and mapped by every rank of the node. Move-only.
///
/// Memory model: the window stays in one passive-target epoch (MPI_Win_lock_all) for its whole life, so
/// publish() can order the writers' stores before the readers' loads with MPI_Win_sync and a barrier, the
/// "unified model" recipe of MPI 3 for load/store access to shared windows.
class shared_window {
 public:
  shared_window() noexcept = default;
  /// Collective over `comm`. Splits it into nodes and node leaders (the first rank of each node) and
  /// allocates the window. Every rank throws the same error together when any rank fails: plx::config_error
  /// when `bytes` exceed a node's physical memory (checked before asking MPI), else plx::io_error with the
  /// failing rank's MPI error (e.g. MPI_Win_allocate_shared).
  shared_window(const communicator& comm, std::size_t bytes);
  /// Collective over the node (MPI_Win_free): every rank of the node destroys its object together. While an
  /// exception unwinds the stack that did not unwind it when the window was made, the window is let go
  /// without the collective free instead (that exception may have reached this rank only, and the others
  /// would never join the free); MPI frees it at MPI_Finalize or the job's end.
  ~shared_window();
  shared_window(shared_window&& other) noexcept;
  shared_window& operator=(shared_window&& other) noexcept;
  // One owner of the MPI window: a copy would free it twice.
  shared_window(const shared_window&) = delete;
  shared_window& operator=(const shared_window&) = delete;

  /// The node's memory, the same bytes on every rank of the node (at another address in each process).
  [[nodiscard]] std::byte* data() const noexcept { return base_; }
  [[nodiscard]] std::size_t bytes() const noexcept { return bytes_; }
  /// The ranks of this node (communicator::split_node of the communicator the window was made on).
  [[nodiscard]] const communicator& node() const noexcept { return node_; }
  /// The first rank of every node, ordered by rank (rank 0 there is rank 0 of the whole communicator);
  /// invalid on the other ranks.
  [[nodiscard]] const communicator& leaders() const noexcept { return leaders_; }
  [[nodiscard]] bool is_leader() const noexcept { return node_.rank() == 0; }

  /// Collective over the node: what any rank of the node stored into data() before the call is visible to
  /// every rank of the node after it (MPI_Win_sync, barrier, MPI_Win_sync).
  void publish() const;

 private:
  void release() noexcept;

  communicator node_;
  communicator leaders_;
  MPI_Win window_ = MPI_WIN_NULL;
  bool locked_ = false;  // inside MPI_Win_lock_all
  std::byte* base_ = nullptr;
  std::size_t bytes_ = 0;
  int uncaught_at_creation_ = 0;
};

}  // namespace plx::detail
