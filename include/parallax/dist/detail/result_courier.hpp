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
// Every MPI call holds the call's MPI mutex (MPI_THREAD_SERIALIZED). The courier thread makes no OpenMP
// calls, so it adds no thread to the rank's OpenMP team; it sleeps while there is nothing to do.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include <parallax/dist/detail/result_channel.hpp>

namespace plx::detail {

// Items left in the outgoing buffer longer than this are sent, so root sees results soon after they
// complete while tiny results still travel in batches.
inline constexpr auto max_result_delay = std::chrono::milliseconds(10);
inline constexpr auto result_poll_period = std::chrono::milliseconds(1);

class result_courier {
 public:
  using pieces = std::vector<std::vector<char>>;
  /// Root: decodes and delivers pieces. Must not throw (it records its own failures).
  using receive_fn = std::function<void(pieces&&)>;

  /// Starts the courier thread. `receive` is used on root only.
  result_courier(result_channel& channel, std::mutex& mpi_mutex, bool is_root, std::size_t message_bytes,
                 receive_fn receive);
  /// Stops the thread if finish() was not called (unwinding).
  ~result_courier();
  // Owns a thread that refers to this object.
  result_courier(const result_courier&) = delete;
  result_courier& operator=(const result_courier&) = delete;
  result_courier(result_courier&&) = delete;
  result_courier& operator=(result_courier&&) = delete;

  /// Non-root, thread-safe: queues one encoded record (appended to the next message).
  void stage(const std::vector<char>& record);

  /// Master thread, after the workers: stops the thread, then on non-root sends what is left and closes
  /// this rank's side; on root receives until every other rank has closed. Throws plx::mpi_error.
  void finish();

  /// The failure of the courier thread itself (an MPI error), or null. Valid after finish().
  [[nodiscard]] std::exception_ptr failure() const noexcept { return failure_; }

 private:
  void run_root();
  void run_sender();
  void stop_thread() noexcept;
  // Sends `bytes` (holding the MPI mutex).
  void send(std::vector<char>&& bytes);

  result_channel& channel_;
  std::mutex& mpi_mutex_;
  bool is_root_;
  std::size_t message_bytes_;
  receive_fn receive_;

  std::mutex outbox_mutex_;
  std::condition_variable wake_;
  std::vector<char> outbox_;                           // guarded by outbox_mutex_
  std::chrono::steady_clock::time_point staged_at_{};  // when the outbox became non-empty
  bool stopping_ = false;                              // guarded by outbox_mutex_

  std::exception_ptr failure_;
  std::thread thread_;  // last: starts once everything above exists
};

}  // namespace plx::detail
