// The shared counters of a map call: an MPI window on root holding "next undealt item", "items
// done" and "tasks failed", updated with one-sided atomics (MPI_Fetch_and_op) so that no rank's CPU serves the others.
// On one node Open MPI maps the window to shared memory (about 0.2 us per update here).
//
// Stopping: a rank that must stop the call (a failed task under fail_fast, the deadline) adds
// `stop_mark` to "next"; every later draw then sees a value >= stop_mark and stops. Each rank adds it at
// most once, so "next" stays below 2^64 for up to 2^23 ranks.
#pragma once

#include <cstdint>

#include <mpi.h>

#include <parallax/core/communicator.hpp>

namespace plx::detail {

class work_counter {
 public:
  static constexpr std::uint64_t stop_mark = std::uint64_t{1} << 40;
  /// Largest item count a call may have, so that counts never reach stop_mark.
  static constexpr std::uint64_t max_items = stop_mark / 2;

  /// Collective over `comm`.
  explicit work_counter(const communicator& comm);
  /// Collective (MPI_Win_free).
  ~work_counter();
  // Owns an MPI window.
  work_counter(const work_counter&) = delete;
  work_counter& operator=(const work_counter&) = delete;
  work_counter(work_counter&&) = delete;
  work_counter& operator=(work_counter&&) = delete;

  /// Atomically adds `amount` to "next" and returns its previous value. Not thread-safe: callers
  /// serialise (MPI_THREAD_SERIALIZED).
  std::uint64_t fetch_add_next(std::uint64_t amount);
  /// Current value of "next".
  std::uint64_t load_next();
  /// Adds to "items done" (progress).
  void add_done(std::uint64_t amount);
  std::uint64_t load_done();
  /// Adds one to "tasks failed" and returns its previous value (map_options::max_failures).
  std::uint64_t fetch_add_failed();
  /// Root only, no communication: zeroes the counters for the next call. Callers must make sure no
  /// rank still uses the counter, and synchronise (any collective) before anyone draws again.
  void reset();

 private:
  std::uint64_t fetch_op(int slot, std::uint64_t operand, MPI_Op op);

  MPI_Win window_ = MPI_WIN_NULL;
  std::uint64_t* base_ = nullptr;  // root: the counters themselves
  bool root_ = false;
};

/// Collective on first use for each communicator: the counter cached on `comm` (an MPI attribute), so a
/// map call does not pay for a new window (about 300 us here). It is freed with the communicator.
work_counter& cached_work_counter(const communicator& comm);

}  // namespace plx::detail
