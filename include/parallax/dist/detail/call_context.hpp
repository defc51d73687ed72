// The state of one map call on one rank, shared by its OpenMP threads: who draws which chunk, when to
// stop, failures seen, results on their way to root, progress. Non-template, so the per-call machinery
// is compiled once in src/ and the templates in map.hpp stay thin.
//
// Thread safety: methods marked "thread-safe" may be called from the call's worker threads; every MPI
// call among them holds `mpi_mutex()` (the runtime asks for MPI_THREAD_SERIALIZED).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <parallax/core/communicator.hpp>
#include <parallax/dist/chunk_sizer.hpp>
#include <parallax/dist/detail/result_channel.hpp>
#include <parallax/dist/detail/result_courier.hpp>
#include <parallax/dist/detail/work_counter.hpp>
#include <parallax/dist/options.hpp>
#include <parallax/dist/outcome.hpp>
#include <parallax/dist/progress.hpp>

namespace plx::detail {

/// Items [begin, end).
struct chunk {
  std::size_t begin = 0;
  std::size_t end = 0;
  [[nodiscard]] std::size_t size() const { return end - begin; }
};

/// What the whole call did, the same on every rank.
struct call_summary {
  std::size_t finished = 0;  ///< items that ran (succeeded or failed), all ranks
  std::size_t failures = 0;
  bool timed_out = false;
  bool stopped = false;  ///< map_options::stop was seen on some rank
  bool failure_limit = false;  ///< map_options::max_failures was reached
  std::optional<task_failure> first_failure;  ///< the failure with the lowest index
  /// A failure of the call itself on some rank (a sink, encoding, an MPI error, memory), not of a task:
  /// the lowest such rank's, as a kind letter ('c' config_error, 'i' io_error, else 'e') and a message.
  std::string call_failure;
};

/// One worker thread's cursor.
struct worker_state {
  std::size_t worker = 0;  ///< global worker id: threads of lower ranks first
  chunk_sizer sizer;
  std::size_t static_next = 0;  ///< static schedule: next chunk number (round-robin) or next item (blocks)
  std::size_t static_end = 0;   ///< static blocks: end of this worker's block
  std::chrono::steady_clock::time_point next_remote_check{};
};

class call_context {
 public:
  /// Collective over `comm`. Checks that every rank passed the same `items`; throws plx::config_error
  /// on every rank if not. `setup_failure`: what went wrong on this rank while preparing the call (say,
  /// allocating root's result vector), or null; if any rank has one, every rank throws it.
  call_context(const communicator& comm, std::size_t items, const map_options& options, bool results_to_root,
               bool fail_fast, std::exception_ptr setup_failure = nullptr);
  ~call_context();
  call_context(const call_context&) = delete;
  call_context& operator=(const call_context&) = delete;
  call_context(call_context&&) = delete;
  call_context& operator=(call_context&&) = delete;

  [[nodiscard]] const communicator& comm() const noexcept { return comm_; }
  [[nodiscard]] int rank() const noexcept { return comm_.rank(); }
  [[nodiscard]] bool is_root() const noexcept { return comm_.is_root(); }
  [[nodiscard]] std::size_t items() const noexcept { return items_; }
  [[nodiscard]] int threads() const noexcept { return threads_; }
  [[nodiscard]] bool results_to_root() const noexcept { return results_to_root_; }
  [[nodiscard]] const map_options& options() const noexcept { return options_; }
  [[nodiscard]] std::mutex& mpi_mutex() noexcept { return mpi_mutex_; }

  /// Thread-safe. Cursor for thread `thread` of this rank.
  [[nodiscard]] worker_state make_worker(int thread) const;
  /// Thread-safe. The next chunk for this worker, or nullopt when there is none or the call stops.
  std::optional<chunk> next_chunk(worker_state& worker);
  /// Thread-safe, cheap (checked before every task): false once the call must stop.
  [[nodiscard]] bool keep_going();
  /// Thread-safe. Records a failed task; under fail_fast, or once map_options::max_failures tasks have
  /// failed across ranks, stops the call on every rank.
  void record_failure(const task_failure& failure);
  /// Thread-safe. `ran` items of the worker's chunk ran in `seconds`.
  void chunk_done(worker_state& worker, std::size_t ran, double seconds);
  /// Thread-safe. Stops the call on every rank after an internal error on this one.
  void abandon();

  /// Master thread, before the workers: starts the result courier when results travel to root (root
  /// hands what arrives to `receive`, from the courier's thread).
  void start_results(result_courier::receive_fn receive);
  /// Non-root, thread-safe: queues an encoded chunk record for root.
  void stage_result(const std::vector<char>& record);
  /// Master thread, after the workers: sends the rest and closes (non-root) or receives until every rank
  /// has closed (root). Throws on an MPI failure (the courier's own included).
  void finish_results();

  /// Collective: totals, the first failure, whether the deadline passed, and the lowest rank's
  /// `call_failure` (this rank's failure outside the tasks as describe_call_failure gives it, or ""),
  /// the same on every rank.
  call_summary finish(const std::string& call_failure);

 private:
  void request_stop_locked();  // holds mpi_mutex_
  std::size_t workers_total() const noexcept { return workers_; }

  const communicator& comm_;
  std::size_t items_;
  map_options options_;
  bool results_to_root_;
  bool fail_fast_;
  int threads_ = 1;
  std::size_t workers_ = 1;        // all threads of all ranks
  std::size_t worker_offset_ = 0;  // global id of this rank's thread 0

  std::mutex mpi_mutex_;
  work_counter* counter_ = nullptr;  // cached on the communicator, reused by every call
  std::unique_ptr<result_channel> channel_;
  result_courier* courier_ = nullptr;  // cached on the communicator; serves this call between start and finish
  bool courier_serving_ = false;
  progress_meter progress_;

  std::atomic<bool> stop_{false};
  std::atomic<bool> deadline_passed_{false};
  std::atomic<bool> stop_seen_{false};
  std::atomic<bool> failure_limit_{false};
  bool stop_published_ = false;  // guarded by mpi_mutex_
  bool has_deadline_ = false;
  std::chrono::steady_clock::time_point deadline_{};

  std::atomic<std::size_t> ran_{0};
  std::mutex failure_mutex_;
  std::size_t failures_ = 0;
  std::optional<task_failure> first_failure_;
};

/// "k" plus the message of the exception in `failure`, where k is 'c' (config_error), 'i' (io_error) or
/// 'e' (anything else), prefixed with `where` (e.g. "the result sink failed on rank 0: ").
std::string describe_call_failure(std::exception_ptr failure, const std::string& where);

/// Throws, on every rank alike (marked collective): the call's own failure if some rank had one, else
/// plx::task_error when a task failed under fail_fast or max_failures was reached, else
/// plx::timeout_error when the deadline passed, else plx::stopped_error when a stop was requested.
void raise_for(const call_summary& summary, const map_options& options, std::size_t items, bool fail_fast);

}  // namespace plx::detail
