/// @file
/// plx::communicator: an owning, move-only handle to an MPI communicator.
///
/// It frees what it created (dup, split) and never frees MPI_COMM_WORLD or MPI_COMM_SELF. Every
/// communicator parallax creates has MPI_ERRORS_RETURN set, so a failing MPI call becomes a
/// plx::mpi_error instead of an abort. The library talks on its own duplicate of the user's
/// communicator, so its messages never mix with the user's tags.
#pragma once

#include <mpi.h>

#include <memory>

namespace plx {

/// An owning, move-only handle to an MPI communicator, with MPI_ERRORS_RETURN set on those it creates.
class communicator {
 public:
  /// Wraps `comm` without owning it (for MPI_COMM_WORLD and communicators the caller manages).
  static communicator borrow(MPI_Comm comm) noexcept { return communicator(comm, false); }

  /// Collective: a duplicate of `comm` that this object owns, with MPI_ERRORS_RETURN set.
  static communicator duplicate_of(MPI_Comm comm);

  communicator() noexcept = default;
  ~communicator();
  /// Takes over `other`'s handle; `other` is left invalid().
  communicator(communicator&& other) noexcept;
  /// Collective when this object owns a communicator (MPI_Comm_free): frees it, then takes over `other`'s.
  communicator& operator=(communicator&& other) noexcept;
  // Copying would share ownership of one MPI handle; use dup() for an independent communicator.
  communicator(const communicator&) = delete;
  communicator& operator=(const communicator&) = delete;

  /// Collective: an owned duplicate of this communicator (separate message space).
  [[nodiscard]] communicator dup() const { return duplicate_of(comm_); }

  /// Collective: split by `color`, ordered by `key` (MPI_Comm_split).
  [[nodiscard]] communicator split(int color, int key) const;

  /// Collective: the ranks that share memory with this one (one communicator per host).
  [[nodiscard]] communicator split_shared() const;

  /// Collective: the ranks of this node, ordered by rank here (so rank 0 here is rank 0 of its node). A node
  /// is a set of ranks that share memory (split_shared) and, under SLURM, run on the same SLURM node
  /// (SLURMD_NODENAME). On a real cluster both agree and the SLURM name changes nothing; where several
  /// slurmd emulate nodes on one host (tests/slurm/local_cluster.sh) it gives each emulated node its own
  /// communicator, as SLURM sees them. Outside SLURM it is split_shared().
  [[nodiscard]] communicator split_node() const;

  /// This process's rank in the communicator, 0 .. size() - 1.
  [[nodiscard]] int rank() const noexcept { return rank_; }
  /// The number of ranks in the communicator.
  [[nodiscard]] int size() const noexcept { return size_; }
  /// Whether this is rank 0, where the map layer delivers results.
  [[nodiscard]] bool is_root() const noexcept { return rank_ == 0; }
  /// The MPI handle, for calling MPI directly; still owned by this object (do not free it).
  [[nodiscard]] MPI_Comm native() const noexcept { return comm_; }
  /// False for a default-constructed or moved-from communicator (MPI_COMM_NULL).
  [[nodiscard]] bool valid() const noexcept { return comm_ != MPI_COMM_NULL; }

  /// Collective: MPI_Barrier.
  void barrier() const;

  /// Collective on first use: parallax's private duplicate of this communicator, made once and freed with
  /// it. The map layer sends its messages there, so they never match a receive the user posted here.
  [[nodiscard]] const communicator& internal() const;

 private:
  communicator(MPI_Comm comm, bool owned) noexcept;
  void release() noexcept;

  MPI_Comm comm_ = MPI_COMM_NULL;
  bool owned_ = false;
  int rank_ = 0;
  int size_ = 0;
  mutable std::unique_ptr<communicator> internal_;
};

namespace detail {
/// This process's rank in MPI_COMM_WORLD, or 0 before MPI_Init and after MPI_Finalize (error reports).
int world_rank_or_zero() noexcept;
}  // namespace detail

}  // namespace plx
