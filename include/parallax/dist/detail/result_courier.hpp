// Moves a call's results between its workers and the result channel on a thread of its own, so that a
// result reaches root's sink within milliseconds of its task ending, whatever the rank's worker threads
// are doing (a task of an hour on root must not hold back every other rank's finished work: a crash in
// that hour would lose it).
//
// - Non-root: workers stage encoded chunk records; the courier sends what is staged once it is
//   `max_result_delay` old (batching small results into one message), or at once when a worker has
//   staged `message_bytes`. Between sends it keeps MPI progressing the ones in flight.
// - Root: the courier polls the channel about once a millisecond and hands whole pieces to `receive`,
//   which decodes them and calls the sink.
//
// One courier per communicator, cached on it (like the work counter) and serving one call at a time: its
// thread is started once and sleeps between calls, so a small call does not pay for a thread start
// (about 25 us here), nor for waking it (see courier_grace). Every MPI call holds the call's MPI mutex (MPI_THREAD_SERIALIZED). The thread makes
// no OpenMP calls, so it adds no thread to the rank's OpenMP team.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include <parallax/core/communicator.hpp>
#include <parallax/dist/detail/result_channel.hpp>

namespace plx::detail {

// Items left in the outgoing buffer longer than this are sent, so root sees results soon after they
// complete while tiny results still travel in batches.
inline constexpr auto max_result_delay = std::chrono::milliseconds(10);
inline constexpr auto result_poll_period = std::chrono::milliseconds(1);
// The courier starts serving a call this long after it began: the many short calls of a loop never
// need it. Between calls it looks for the next one every `courier_grace` for `courier_linger`, then
// parks until a call wakes it: a loop of small calls pays no thread wake-up per call.
inline constexpr auto courier_grace = std::chrono::milliseconds(2);
inline constexpr auto courier_linger = std::chrono::milliseconds(200);

class result_courier {
 public:
  using pieces = std::vector<std::vector<char>>;
  /// Root: decodes and delivers pieces. Must not throw (it records its own failures).
  using receive_fn = std::function<void(pieces&&)>;

  /// Starts the (idle) courier thread.
  result_courier();
  /// Stops and joins the thread.
  ~result_courier();
  // Owns a thread that refers to this object.
  result_courier(const result_courier&) = delete;
  result_courier& operator=(const result_courier&) = delete;
  result_courier(result_courier&&) = delete;
  result_courier& operator=(result_courier&&) = delete;

  /// Master thread, before the workers: serves one call on `channel` (root: hands arrivals to `receive`).
  void start(result_channel& channel, std::mutex& mpi_mutex, bool is_root, std::size_t message_bytes,
             receive_fn receive);

  /// Non-root, thread-safe, between start() and finish(): queues one encoded record for the next message.
  void stage(const std::vector<char>& record);

  /// Master thread, after the workers: waits until the thread has stopped serving the call, then on
  /// non-root sends what is left and closes this rank's side; on root receives until every other rank
  /// has closed. Throws plx::mpi_error. Always leaves the courier idle, ready for the next call.
  void finish();

  /// Ends the call's service without any MPI (a call unwound before finish()); returns what was staged.
  std::vector<char> stop_serving() noexcept;

  /// The failure of the courier thread while serving the call (an MPI error), or null. Valid after finish().
  [[nodiscard]] std::exception_ptr failure() const noexcept { return failure_; }

 private:
  void run();
  void serve_root(std::unique_lock<std::mutex>& lock, std::uint64_t call);
  void serve_sender(std::unique_lock<std::mutex>& lock, std::uint64_t call);
  // Holds mutex_: `call` is still the one in progress.
  [[nodiscard]] bool serving_call(std::uint64_t call) const noexcept { return active_ && call_ == call && !shutdown_; }
  // Sends `bytes` (holding the MPI mutex).
  void send(std::vector<char>&& bytes);

  // The call being served; set by start() while the thread is idle.
  result_channel* channel_ = nullptr;
  std::mutex* mpi_mutex_ = nullptr;
  bool is_root_ = false;
  std::size_t message_bytes_ = 0;
  receive_fn receive_;

  std::mutex mutex_;
  std::condition_variable wake_;   // the thread: a call started or ended, something was staged, shutdown
  std::condition_variable idle_;   // finish(): the thread stopped serving
  std::vector<char> outbox_;                           // guarded by mutex_
  std::chrono::steady_clock::time_point staged_at_{};  // when the outbox became non-empty
  bool active_ = false;    // guarded by mutex_: between start() and finish()
  std::uint64_t call_ = 0; // guarded by mutex_: counts start()s
  std::chrono::steady_clock::time_point started_at_{};  // guarded by mutex_: the current call's start()
  bool parked_ = false;    // guarded by mutex_: the thread waits for start() to wake it
  bool serving_ = false;   // guarded by mutex_: the thread is inside serve_*()
  bool shutdown_ = false;  // guarded by mutex_

  std::exception_ptr failure_;
  std::thread thread_;  // last: starts once everything above exists
};

/// The courier cached on `comm` (an MPI attribute; made on first use, not collective), freed (its thread
/// joined) with the communicator.
result_courier& cached_result_courier(const communicator& comm);

}  // namespace plx::detail
