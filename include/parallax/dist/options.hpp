/// @file
/// How a map call runs: schedule, deadline, progress and threads. A small value type, no MPI.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

namespace plx {

/// How items are assigned to workers (see schedule).
enum class schedule_kind {
  static_blocks,  ///< fixed assignment decided up front (OpenMP's schedule(static[, chunk]))
  dynamic,        ///< self-scheduling: workers draw chunks from one shared atomic counter
};

/// Which worker runs which items. Workers are all OpenMP threads of all ranks of the call.
///
/// - static, chunk 0 ("auto"): one contiguous block per worker.
/// - static, chunk c: chunks of c items dealt round-robin to the workers.
/// - dynamic, chunk c: each worker draws c items at a time.
/// - dynamic, chunk 0 ("auto", the default): chunks start at one item and grow with the measured task
///   cost so that each chunk lasts about `target_chunk_seconds`, but never beyond a share of what is
///   left (guided), so the tail stays balanced. Expensive tasks are drawn one by one.
struct schedule {
  schedule_kind kind = schedule_kind::dynamic;  ///< static blocks or dynamic self-scheduling
  std::size_t chunk = 0;  ///< items per chunk; 0 = auto

  /// Dynamic self-scheduling, `chunk` items at a time (0: auto, growing with the measured task cost).
  static constexpr schedule dynamic(std::size_t chunk = 0) { return {schedule_kind::dynamic, chunk}; }
  /// Static assignment: one block per worker (0), or chunks of `chunk` items dealt round-robin.
  static constexpr schedule static_blocks(std::size_t chunk = 0) {
    return {schedule_kind::static_blocks, chunk};
  }
  /// Whether the chunk size is chosen by the call (chunk == 0).
  [[nodiscard]] constexpr bool is_auto() const { return chunk == 0; }
};

/// Auto chunks aim to last this long: long enough to hide the ~0.2 us of a counter update, short
/// enough that the last chunks end together.
inline constexpr double target_chunk_seconds = 100e-6;

/// How a map call runs (every field has a default: `plx::map(comm, n, fn)` needs none of them).
struct map_options {
  plx::schedule schedule{};  ///< which worker runs which items (default: dynamic, auto chunks)
  /// Overall deadline of the call, from its start. Past it no new task starts, and every rank throws
  /// plx::timeout_error saying how many items finished. A task already running is not interrupted.
  std::optional<std::chrono::duration<double>> timeout;
  /// A stop request from outside (a signal handler sets it, say): once it reads true on any rank, no new
  /// task starts anywhere, the call finishes the tasks already running, and every rank throws
  /// plx::stopped_error. The flag must outlive the call.
  const std::atomic<bool>* stop = nullptr;
  /// Collect policy (map_collect, map_unordered with an outcome sink): once this many tasks have failed
  /// across all ranks, no new task starts anywhere and every rank throws plx::task_error; 0 = no limit.
  /// Failures are counted where they happen (a shared counter), so at most `max_failures` plus the tasks
  /// already running fail. A result type can count as a failure without throwing: see map.hpp.
  std::size_t max_failures = 0;
  /// Start every thread with the call even where idle threads sleep. On a crowded node whose ranks each
  /// keep a core busy, a call otherwise starts on each rank's master thread alone and wakes the rest only
  /// for work left after 100 us (no wake-up for a small call: 90 us each at 3 ranks x 2 threads on 2
  /// cores). Set it when tasks wait rather than compute, so that more of them than cores should run at once
  /// (the task farm's commands).
  bool wake_team_at_once = false;
  /// Progress on root's stderr: a bar with done/total, rate and ETA on a terminal, plain lines at most
  /// every `progress_interval` otherwise (SLURM output files).
  bool progress = false;
  /// At most this long between two plain progress lines (not on a terminal).
  std::chrono::duration<double> progress_interval = std::chrono::seconds(5);
  std::string label = "map";  ///< names the call in progress lines and error messages
  /// Threads per rank for this call; 0 = the runtime's count (omp_get_max_threads()).
  int threads = 0;
  /// checkpointed_map's group commit: results that reach root within this window of each other are made
  /// durable together, by one write and one fdatasync (a crash loses at most this window of results, which
  /// a resume computes again). 0 syncs every result on its own.
  std::chrono::duration<double> commit_window = std::chrono::milliseconds(5);
  /// Results travel to root in messages of about this size (bytes); root holds at most a few such
  /// messages per rank beyond the results themselves.
  std::size_t message_bytes = std::size_t{1} << 20;
  /// Largest single MPI message; a bigger piece is sent as fragments (MPI counts are ints, so a piece
  /// of results beyond 2 GiB must be). Tests lower it to exercise fragmentation on small data.
  std::size_t max_fragment_bytes = std::size_t{1} << 30;
};

}  // namespace plx
