#include <parallax/dist/detail/call_context.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include <mpi.h>
#include <omp.h>

#include <fmt/format.h>

#include <parallax/core/collectives.hpp>
#include <parallax/core/error.hpp>
#include <parallax/dist/payload.hpp>

namespace plx::detail {

namespace {

using clock = std::chrono::steady_clock;
// Static schedules have no counter to draw from; they look for a stop from other ranks this often.
constexpr auto remote_check_period = std::chrono::milliseconds(1);

// Throws `failure` (a kind letter and a message, see describe_call_failure) as the matching type, on
// every rank alike.
[[noreturn]] void raise_call_failure(const std::string& label, const std::string& failure) {
  const std::string message = "map '" + label + "': " + failure.substr(1);
  switch (failure.front()) {
    case 'c': throw collective(config_error(message));
    case 'i': throw collective(io_error(message));
    default: throw collective(error(message));
  }
}

int granted_thread_level() {
  int level = MPI_THREAD_SINGLE;
  MPI_Query_thread(&level);
  return level;
}

}  // namespace

call_context::call_context(const communicator& comm, std::size_t items, const map_options& options,
                           bool results_to_root, bool fail_fast, std::exception_ptr setup_failure)
    : comm_(comm.internal()),
      items_(items),
      options_(options),
      results_to_root_(results_to_root && comm.size() > 1),
      fail_fast_(fail_fast),
      progress_(options.label, items, options.progress && comm.is_root(), stderr, options.progress_interval) {
  threads_ = options.threads > 0 ? options.threads : omp_get_max_threads();
  if (threads_ > 1 && granted_thread_level() < MPI_THREAD_SERIALIZED) threads_ = 1;

  // The previous call on this communicator ended with a collective after its last use of the counter,
  // and the Allgather below orders this reset before anyone's first draw.
  counter_ = &cached_work_counter(comm_);
  counter_->reset();

  // One exchange answers four questions: do all ranks agree on the size, did every rank prepare the call,
  // how many workers are there, and where do this rank's workers start.
  const std::uint64_t mine[3] = {items, static_cast<std::uint64_t>(threads_), setup_failure ? 1u : 0u};
  std::vector<std::uint64_t> all(3 * static_cast<std::size_t>(comm_.size()));
  check_mpi(MPI_Allgather(mine, 3, MPI_UINT64_T, all.data(), 3, MPI_UINT64_T, comm_.native()), "MPI_Allgather");
  workers_ = 0;
  bool any_setup_failure = false;
  std::string mismatch;
  for (int r = 0; r < comm_.size(); ++r) {
    const std::size_t at = 3 * static_cast<std::size_t>(r);
    if (all[at] != all[0] && mismatch.empty()) {
      mismatch = "map '" + options.label + "': rank 0 has " + std::to_string(all[0]) + " items but rank " +
                 std::to_string(r) + " has " + std::to_string(all[at]) + "; every rank must describe the same work";
    }
    if (r == comm_.rank()) worker_offset_ = workers_;
    workers_ += all[at + 1];
    any_setup_failure = any_setup_failure || all[at + 2] != 0;
  }
  if (any_setup_failure) {
    const std::string local = setup_failure ? describe_call_failure(setup_failure, "preparing the call failed on rank " +
                                                                                       std::to_string(comm_.rank()) + ": ")
                                            : std::string();
    raise_call_failure(options.label, agree_on_failure(comm_, local));
  }
  if (!mismatch.empty()) throw collective(config_error(mismatch));
  if (items > work_counter::max_items) {
    throw collective(config_error("map '" + options.label + "': " + std::to_string(items) +
                                  " items exceed the limit of " + std::to_string(work_counter::max_items) +
                                  " per call"));
  }

  if (results_to_root_) channel_ = std::make_unique<result_channel>(comm_, options.max_fragment_bytes);
  if (options.timeout) {
    has_deadline_ = true;
    deadline_ = clock::now() + std::chrono::duration_cast<clock::duration>(*options.timeout);
  }
}

call_context::~call_context() {
  // Only when the call unwound between start_results() and finish_results(): free the courier for the
  // next call (no MPI here; the channel is about to go).
  if (courier_serving_) static_cast<void>(courier_->stop_serving());
}

worker_state call_context::make_worker(int thread) const {
  const std::size_t id = worker_offset_ + static_cast<std::size_t>(thread);
  const schedule& s = options_.schedule;
  if (s.kind == schedule_kind::dynamic) {
    return {id, chunk_sizer(s.chunk, workers_, target_chunk_seconds), 0, 0, {}};
  }
  if (!s.is_auto()) return {id, chunk_sizer(s.chunk, 1, target_chunk_seconds), id, 0, {}};
  // Static blocks: worker w owns [n*w/W, n*(w+1)/W); it walks it in slices so that it can notice a stop.
  const auto block_edge = [&](std::size_t w) {
    // floor(n*w/W) without overflowing n*w: n = qW + r gives q*w + floor(r*w/W).
    return (items_ / workers_) * w + (items_ % workers_) * w / workers_;
  };
  return {id, chunk_sizer(0, 1, target_chunk_seconds), block_edge(id), block_edge(id + 1), {}};
}

std::optional<chunk> call_context::next_chunk(worker_state& worker) {
  if (stop_.load(std::memory_order_relaxed)) return std::nullopt;
  const schedule& s = options_.schedule;

  if (s.kind == schedule_kind::dynamic) {
    const std::size_t undealt = items_ - std::min(items_, worker.static_next);
    const std::size_t size = worker.sizer.next(std::max<std::size_t>(undealt, 1));
    std::uint64_t start = 0;
    {
      std::lock_guard lock(mpi_mutex_);
      start = counter_->fetch_add_next(size);
    }
    if (start >= work_counter::stop_mark) {
      stop_.store(true, std::memory_order_relaxed);
      return std::nullopt;
    }
    if (start >= items_) return std::nullopt;
    worker.static_next = start + size;  // remembered only to estimate what is left
    return chunk{start, std::min<std::size_t>(start + size, items_)};
  }

  const auto now = clock::now();
  if (now >= worker.next_remote_check && comm_.size() > 1) {
    worker.next_remote_check = now + remote_check_period;
    std::uint64_t next = 0;
    {
      std::lock_guard lock(mpi_mutex_);
      next = counter_->load_next();
    }
    if (next >= work_counter::stop_mark) {
      stop_.store(true, std::memory_order_relaxed);
      return std::nullopt;
    }
  }
  if (!s.is_auto()) {
    const std::size_t begin = worker.static_next * s.chunk;
    if (worker.static_next >= (items_ + s.chunk - 1) / s.chunk) return std::nullopt;
    worker.static_next += workers_;
    return chunk{begin, std::min(begin + s.chunk, items_)};
  }
  if (worker.static_next >= worker.static_end) return std::nullopt;
  const std::size_t size = worker.sizer.next(worker.static_end - worker.static_next);
  const chunk slice{worker.static_next, std::min(worker.static_next + size, worker.static_end)};
  worker.static_next = slice.end;
  return slice;
}

bool call_context::keep_going() {
  if (stop_.load(std::memory_order_relaxed)) return false;
  if (options_.stop != nullptr && options_.stop->load(std::memory_order_relaxed)) {
    stop_seen_.store(true, std::memory_order_relaxed);
    stop_.store(true, std::memory_order_relaxed);
    std::lock_guard lock(mpi_mutex_);
    request_stop_locked();
    return false;
  }
  if (has_deadline_ && clock::now() >= deadline_) {
    deadline_passed_.store(true, std::memory_order_relaxed);
    stop_.store(true, std::memory_order_relaxed);
    std::lock_guard lock(mpi_mutex_);
    request_stop_locked();
    return false;
  }
  return true;
}

void call_context::request_stop_locked() {
  if (stop_published_) return;
  stop_published_ = true;
  counter_->fetch_add_next(work_counter::stop_mark);
}

void call_context::record_failure(const task_failure& failure) {
  {
    std::lock_guard lock(failure_mutex_);
    ++failures_;
    if (!first_failure_ || failure.index < first_failure_->index) first_failure_ = failure;
  }
  if (fail_fast_) {
    stop_.store(true, std::memory_order_relaxed);
    std::lock_guard lock(mpi_mutex_);
    request_stop_locked();
  } else if (options_.max_failures > 0) {
    // Counted where it happened, before this worker draws again: a rank whose results reach root late
    // cannot run past the limit meanwhile.
    std::lock_guard lock(mpi_mutex_);
    if (counter_->fetch_add_failed() + 1 >= options_.max_failures) {
      failure_limit_.store(true, std::memory_order_relaxed);
      stop_.store(true, std::memory_order_relaxed);
      request_stop_locked();
    }
  }
}

void call_context::abandon() {
  stop_.store(true, std::memory_order_relaxed);
  std::lock_guard lock(mpi_mutex_);
  request_stop_locked();
}

void call_context::chunk_done(worker_state& worker, std::size_t ran, double seconds) {
  ran_.fetch_add(ran, std::memory_order_relaxed);
  worker.sizer.observe(ran, seconds);
  if (!options_.progress || ran == 0) return;
  std::lock_guard lock(mpi_mutex_);
  counter_->add_done(ran);
  if (progress_.due()) progress_.update(counter_->load_done());
}

void call_context::start_results(result_courier::receive_fn receive) {
  if (!channel_) return;
  courier_ = &cached_result_courier(comm_);
  courier_->start(*channel_, mpi_mutex_, is_root(), options_.message_bytes, std::move(receive));
  courier_serving_ = true;
}

void call_context::stage_result(const std::vector<char>& record) { courier_->stage(record); }

void call_context::finish_results() {
  if (!courier_serving_) return;
  courier_serving_ = false;
  courier_->finish();
  if (courier_->failure()) std::rethrow_exception(courier_->failure());
}

call_summary call_context::finish(const std::string& call_failure) {
  // A receive that failed here leaves senders waiting for it: no agreement can reach them, so this rank
  // ends on its own (run_app's rank-local ending: one line, MPI_Abort).
  if (!call_failure.empty() && call_failure.front() == 'x') {
    throw error("map '" + options_.label + "': " + call_failure.substr(1));
  }
  std::uint64_t local[6] = {ran_.load(),           0, deadline_passed_.load() ? 1u : 0u, stop_seen_.load() ? 1u : 0u,
                            failure_limit_.load() ? 1u : 0u, call_failure.empty() ? 0u : 1u};
  {
    std::lock_guard lock(failure_mutex_);
    local[1] = failures_;
  }
  std::uint64_t total[6] = {};
  check_mpi(MPI_Allreduce(local, total, 6, MPI_UINT64_T, MPI_SUM, comm_.native()), "MPI_Allreduce");

  call_summary summary;
  summary.finished = total[0];
  summary.failures = total[1];
  summary.timed_out = total[2] > 0;
  summary.stopped = total[3] > 0;
  summary.failure_limit = total[4] > 0;
  if (total[5] > 0) summary.call_failure = agree_on_failure(comm_, call_failure);

  if (summary.failures > 0) {
    // Every rank learns every rank's first failure and picks the same one: the lowest index.
    std::vector<char> mine;
    encode_into(mine, first_failure_);
    const auto all = allgather_varying<char>(comm_, mine);
    for (std::size_t r = 0; r < all.counts.size(); ++r) {
      const auto failure = decode_from<std::optional<task_failure>>(all.part(r));
      if (failure && (!summary.first_failure || failure->index < summary.first_failure->index)) {
        summary.first_failure = failure;
      }
    }
  }
  progress_.finish(summary.finished);
  return summary;
}

namespace {
std::atomic<std::int64_t> lazy_grace_ns{100'000};
}  // namespace

std::chrono::nanoseconds lazy_wake_grace() noexcept { return std::chrono::nanoseconds(lazy_grace_ns.load(std::memory_order_relaxed)); }

std::chrono::nanoseconds set_lazy_wake_grace(std::chrono::nanoseconds grace) noexcept {
  return std::chrono::nanoseconds(lazy_grace_ns.exchange(grace.count()));
}

std::string describe_call_failure(std::exception_ptr failure, const std::string& where) {
  try {
    std::rethrow_exception(failure);
  } catch (const mpi_exchange_error& e) {
    // Root's receive failed (the senders may wait for it: a large message, MPI_Wait), or this rank could not
    // set up its side of the results' exchange (root waits for its messages): out of any agreement. A send
    // that failed before it started (MPI_Isend) or a one-sided read (MPI_Get) leaves nobody waiting.
    const std::string_view text = e.what();
    const bool agreeable = text.starts_with("MPI_Isend failed") || text.starts_with("MPI_Get failed");
    return (agreeable ? "e" : "x") + where + e.what();
  } catch (const config_error& e) {
    return "c" + where + e.what();
  } catch (const io_error& e) {
    return "i" + where + e.what();
  } catch (const std::bad_alloc&) {
    return "e" + where + "out of memory (std::bad_alloc)";
  } catch (const std::exception& e) {
    return "e" + where + e.what();
  } catch (...) {
    return "e" + where + "unknown exception (not derived from std::exception)";
  }
}

void raise_for(const call_summary& summary, const map_options& options, std::size_t items, bool fail_fast) {
  if (!summary.call_failure.empty()) raise_call_failure(options.label, summary.call_failure);
  if ((fail_fast || summary.failure_limit) && summary.failures > 0 && summary.first_failure) {
    const task_failure& first = *summary.first_failure;
    std::string message = "map '" + options.label + "': " + describe(first);
    if (summary.failures > 1) {
      message += " (" + std::to_string(summary.failures) + " tasks failed in all)";
    }
    if (!fail_fast) message += "; max_failures (" + std::to_string(options.max_failures) + ") reached";
    message += "; stopped after " + std::to_string(summary.finished) + " of " + std::to_string(items) + " items";
    throw collective(task_error(message, first.index, first.rank, summary.failures));
  }
  if (summary.timed_out) {
    const double limit = options.timeout ? options.timeout->count() : 0.0;
    throw collective(timeout_error("map '" + options.label + "' timed out after " + fmt::format("{:g}", limit) +
                                       " s: " + std::to_string(summary.finished) + " of " + std::to_string(items) +
                                       " items finished",
                                   summary.finished, items));
  }
  if (summary.stopped) {
    throw collective(stopped_error("map '" + options.label + "' stopped on request: " +
                                       std::to_string(summary.finished) + " of " + std::to_string(items) +
                                       " items finished",
                                   summary.finished, items));
  }
}

}  // namespace plx::detail
