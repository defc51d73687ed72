// The loop every map call runs: OpenMP threads draw chunks, run tasks, and hand results to a
// `delivery` (on root, or on the computing rank for reductions). Non-root ranks encode their results
// in chunk records and stream them to root while they work; root's result courier receives them and
// delivers them while root's own threads compute.
//
// Failures: a task that throws is a task failure (the error policy decides). Anything else that fails
// on a rank (the sink, encoding or decoding, an input fetch, an MPI call, memory) is a failure of the
// call: it is recorded, the call is stopped on every rank, and the engine still completes its side of
// the protocol (root drains every rank's results, every rank closes its side), so that the collective
// in call_context::finish() is reached by every rank and no message is left behind for the next call.
//
// A delivery provides
//   void value(int thread, std::size_t index, Result&& value);
//   void failure(int thread, task_failure&& failure);     // collect policy only
//   static constexpr bool thread_safe;                    // false: the engine calls it one at a time
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <omp.h>

#include <parallax/core/wait_policy.hpp>
#include <parallax/dist/detail/call_context.hpp>
#include <parallax/dist/payload.hpp>

namespace plx::detail {

/// A result that can say its task failed without throwing (the task farm's commands that exit non-zero):
/// it is delivered like any value and also counts as a failure (fail-fast, map_options::max_failures).
template <class Result>
concept reports_failure = requires(const Result& result) {
  { result.counts_as_failure() } -> std::convertible_to<bool>;
};

/// The first failure of the call itself on this rank, described for call_context::finish(). Thread-safe.
class call_failure_record {
 public:
  void record(std::exception_ptr failure, const std::string& where) {
    std::lock_guard lock(mutex_);
    if (description_.empty()) description_ = describe_call_failure(failure, where);
  }
  [[nodiscard]] std::string take() {
    std::lock_guard lock(mutex_);
    return std::move(description_);
  }

 private:
  std::mutex mutex_;
  std::string description_;
};

/// Results of one chunk on a non-root rank, waiting to be encoded.
template <class Result>
struct chunk_results {
  std::size_t begin = 0;
  std::size_t ran = 0;
  std::vector<Result> values;          // successful items, in index order
  std::vector<task_failure> failures;  // failed items (collect policy)

  void reset(std::size_t first) {
    begin = first;
    ran = 0;
    values.clear();
    failures.clear();
  }
};

/// Record layout (cereal binary): begin, ran, failures, then the values of the items that did not fail.
template <class Result>
void encode_chunk(std::vector<char>& out, const chunk_results<Result>& results) {
  vector_writer_buf buffer(out);
  std::ostream stream(&buffer);
  cereal::BinaryOutputArchive archive(stream);
  archive(static_cast<std::uint64_t>(results.begin), static_cast<std::uint64_t>(results.ran), results.failures);
  if constexpr (std::is_trivially_copyable_v<Result>) {
    // Same executable on every rank, so the bytes of a trivially copyable value are its encoding.
    archive(cereal::binary_data(results.values.data(), results.values.size() * sizeof(Result)));
  } else {
    for (const Result& value : results.values) archive(value);
  }
}

/// Decodes every record of a piece and hands each item to `on_value(index, Result&&)` or
/// `on_failure(task_failure&&)`.
template <class Result, class OnValue, class OnFailure>
void decode_piece(const std::vector<char>& piece, OnValue&& on_value, OnFailure&& on_failure) {
  span_reader_buf buffer(piece);
  std::istream stream(&buffer);
  cereal::BinaryInputArchive archive(stream);
  std::vector<task_failure> failures;
  std::vector<Result> values;
  while (buffer.remaining() > 0) {
    std::uint64_t begin = 0;
    std::uint64_t ran = 0;
    archive(begin, ran, failures);
    const std::size_t succeeded = static_cast<std::size_t>(ran) - failures.size();
    if constexpr (std::is_trivially_copyable_v<Result>) {
      values.resize(succeeded);
      archive(cereal::binary_data(values.data(), succeeded * sizeof(Result)));
    } else {
      values.clear();
      values.reserve(succeeded);
      for (std::size_t k = 0; k < succeeded; ++k) {
        Result value{};
        archive(value);
        values.push_back(std::move(value));
      }
    }
    // Failures are sorted by index; walk the chunk and skip their slots.
    std::size_t next_failure = 0;
    std::size_t next_value = 0;
    for (std::uint64_t i = begin; i < begin + ran; ++i) {
      if (next_failure < failures.size() && failures[next_failure].index == i) {
        on_failure(std::move(failures[next_failure++]));
      } else {
        on_value(static_cast<std::size_t>(i), std::move(values[next_value++]));
      }
    }
  }
}

/// How long a map call's master thread works alone before it wakes sleeping team threads
/// (lazy_team_wake): 100 us, about what waking them costs on a crowded node, and the length of an auto
/// chunk. A setting for tests (which pin either phase); thread-safe.
[[nodiscard]] std::chrono::nanoseconds lazy_wake_grace() noexcept;
std::chrono::nanoseconds set_lazy_wake_grace(std::chrono::nanoseconds grace) noexcept;  ///< returns the old one

/// While it lives, parallel regions that the calling thread opens outside the team (in tasks the master runs
/// alone) get the threads they would get nested inside the team: one less active level allowed, so with
/// libgomp's default of one active level they run single-threaded there too, and results that depend on
/// a task's inner thread count do not depend on which phase ran the task.
class team_nesting {
 public:
  team_nesting() : levels_(omp_get_max_active_levels()) { omp_set_max_active_levels(std::max(0, levels_ - 1)); }
  ~team_nesting() { omp_set_max_active_levels(levels_); }
  team_nesting(const team_nesting&) = delete;
  team_nesting& operator=(const team_nesting&) = delete;

 private:
  int levels_;
};

/// Runs the call. `prepare(chunk, scratch)` returns a callable `item(i) -> Result` for that chunk (it may
/// fetch the chunk's inputs into the thread's `Prepare::scratch_type`). Never throws: returns this rank's
/// failure of the call (see call_failure_record), "" if none, for ctx.finish(), which every rank must call.
template <class Result, class Prepare, class Delivery>
std::string run_engine(call_context& ctx, Prepare& prepare, Delivery& delivery, bool collect) noexcept {
  const bool stream_to_root = ctx.results_to_root() && !ctx.is_root();
  const std::string on_this_rank = " on rank " + std::to_string(ctx.rank()) + ": ";
  call_failure_record call_failure;
  std::mutex delivery_mutex;
  std::atomic<bool> delivery_failed{false};

  // Hands one item to the delivery, unless an earlier delivery failed: the call is then being stopped
  // and will throw on every rank, so later items are discarded, not lost silently.
  // The failure is marked before the delivery lock is released, so that no other thread calls a sink
  // that has thrown (a journal append after a failed one, say).
  const auto deliver = [&](auto&& hand_over) {
    std::exception_ptr failed;
    const auto hand_over_once = [&] {
      if (delivery_failed.load(std::memory_order_relaxed)) return;
      try {
        hand_over();
      } catch (...) {
        delivery_failed.store(true);
        failed = std::current_exception();
      }
    };
    if constexpr (Delivery::thread_safe) {
      hand_over_once();
    } else {
      std::lock_guard lock(delivery_mutex);
      hand_over_once();
    }
    if (failed) {
      call_failure.record(failed, "the result sink failed" + on_this_rank);
      ctx.abandon();
    }
  };
  const auto deliver_value = [&](int thread, std::size_t index, Result&& value) {
    deliver([&] { delivery.value(thread, index, std::move(value)); });
  };
  const auto deliver_failure = [&](int thread, task_failure&& failure) {
    deliver([&] { delivery.failure(thread, std::move(failure)); });
  };

  // Root: other ranks' results, from the courier's thread (and at the end from the master thread).
  const auto receive = [&](result_courier::pieces&& pieces) {
    try {
      for (const auto& piece : pieces) {
        decode_piece<Result>(
            piece, [&](std::size_t index, Result&& value) { deliver_value(0, index, std::move(value)); },
            [&](task_failure&& failure) {
              if (collect) deliver_failure(0, std::move(failure));
            });
      }
    } catch (...) {
      delivery_failed.store(true);
      call_failure.record(std::current_exception(), "decoding results from another rank failed" + on_this_rank);
      ctx.abandon();
    }
  };
  try {
    if (ctx.results_to_root()) ctx.start_results(receive);
  } catch (...) {
    call_failure.record(std::current_exception(), "starting the result courier failed" + on_this_rank);
    ctx.abandon();
  }

  // One worker's loop: draws its chunks and runs them, until it has none left (true) or, when `until` is
  // given, that time has passed (false: it may have more).
  struct thread_locals {
    chunk_results<Result> pending;
    std::vector<char> record;
    typename Prepare::scratch_type scratch{};
  };
  const auto drain = [&](int thread, worker_state& worker, thread_locals& locals,
                         std::optional<std::chrono::steady_clock::time_point> until) {
    while (!until || std::chrono::steady_clock::now() < *until) {
      const auto work = ctx.next_chunk(worker);
      if (!work) return true;
      auto item = prepare(*work, locals.scratch);
      const auto started = std::chrono::steady_clock::now();
      if (stream_to_root) locals.pending.reset(work->begin);
      std::size_t ran = 0;
      for (std::size_t i = work->begin; i < work->end; ++i) {
        if (!ctx.keep_going()) break;
        ++ran;
        std::optional<Result> value;
        std::optional<task_failure> failed;
        try {
          value.emplace(item(i));
        } catch (const std::exception& e) {
          failed = task_failure{i, ctx.rank(), e.what()};
        } catch (...) {
          failed = task_failure{i, ctx.rank(), "unknown exception (not derived from std::exception)"};
        }
        if (failed) {
          ctx.record_failure(*failed);
          // A record lists its failures under either policy, so root can tell which values it holds.
          if (stream_to_root) {
            locals.pending.failures.push_back(std::move(*failed));
          } else if (collect) {
            deliver_failure(thread, std::move(*failed));
          }
          continue;
        }
        if constexpr (reports_failure<Result>) {
          if (value->counts_as_failure()) ctx.record_failure(task_failure{i, ctx.rank(), "its result reports a failure"});
        }
        if (stream_to_root) {
          locals.pending.values.push_back(std::move(*value));
        } else {
          deliver_value(thread, i, std::move(*value));
        }
      }
      ctx.chunk_done(worker, ran, std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      if (stream_to_root && ran > 0) {
        locals.pending.ran = ran;
        locals.record.clear();
        encode_chunk(locals.record, locals.pending);
        ctx.stage_result(locals.record);
      }
    }
    return false;
  };

  const int threads = ctx.threads();
  std::vector<worker_state> workers;
  std::vector<char> drained(static_cast<std::size_t>(threads), 0);  // the worker has no chunk left
  thread_locals master;
  bool done = false;
  try {
    workers.reserve(static_cast<std::size_t>(threads));
    for (int t = 0; t < threads; ++t) workers.push_back(ctx.make_worker(t));
    if (threads == 1) {
      // No team to wake: the master is the only worker.
      drain(0, workers[0], master, std::nullopt);
      done = true;
    } else if (lazy_team_wake() && !ctx.options().wake_team_at_once) {
      // The other threads sleep, and waking them costs more than a small call (wait_policy.hpp): the master
      // runs the workers' chunks in turn, each for the thread it stands in for, and opens the team only
      // for what is left after lazy_wake_grace(). Delivering as thread 0 is right: only the master runs now.
      // Parallel regions that tasks open get the threads they would get nested inside the team.
      const team_nesting nesting;
      const auto until = std::chrono::steady_clock::now() + lazy_wake_grace();
      done = true;
      for (int t = 0; t < threads; ++t) {
        if (!drain(0, workers[static_cast<std::size_t>(t)], master, until)) {
          done = false;
          break;
        }
        drained[static_cast<std::size_t>(t)] = 1;
        // One shared counter: when the master's draw finds it empty, every worker would.
        if (ctx.options().schedule.kind == schedule_kind::dynamic) break;
      }
    }
  } catch (...) {
    call_failure.record(std::current_exception(), "a worker thread failed" + on_this_rank);
    ctx.abandon();
    done = true;
  }

  if (!done) {
#pragma omp parallel num_threads(threads)
    {
      const int thread = omp_get_thread_num();
      try {
        const auto t = static_cast<std::size_t>(thread);
        if (thread < threads && !drained[t]) {
          if (thread == 0) {
            drain(thread, workers[0], master, std::nullopt);
          } else {
            thread_locals locals;
            drain(thread, workers[t], locals, std::nullopt);
          }
          drained[t] = 1;  // each thread writes its own slot
        }
      } catch (...) {
        call_failure.record(std::current_exception(), "a worker thread failed" + on_this_rank);
        ctx.abandon();
      }
    }
    // A team smaller than asked for (OMP_THREAD_LIMIT, say) leaves workers nobody ran: their items (a
    // static block) would be missing. The master runs them (after a failure they find the call stopped).
    try {
      for (int t = 1; t < threads; ++t) {
        if (!drained[static_cast<std::size_t>(t)]) drain(0, workers[static_cast<std::size_t>(t)], master, std::nullopt);
      }
    } catch (...) {
      call_failure.record(std::current_exception(), "a worker thread failed" + on_this_rank);
      ctx.abandon();
    }
  }

  // Master thread only from here: results still on their way to root.
  try {
    ctx.finish_results();
  } catch (...) {
    call_failure.record(std::current_exception(), "passing results to root failed" + on_this_rank);
  }
  return call_failure.take();
}

}  // namespace plx::detail
