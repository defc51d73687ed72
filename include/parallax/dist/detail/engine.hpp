// The loop every map call runs: OpenMP threads draw chunks, run tasks, and hand results to a
// `delivery` (on root, or on the computing rank for reductions). Non-root ranks encode their results
// in chunk records and stream them to root while they work.
//
// A delivery provides
//   void value(int thread, std::size_t index, Result&& value);
//   void failure(int thread, task_failure&& failure);     // collect policy only
//   static constexpr bool thread_safe;                    // false: the engine calls it one at a time
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <mutex>
#include <type_traits>
#include <utility>
#include <vector>

#include <omp.h>

#include <parallax/dist/detail/call_context.hpp>
#include <parallax/dist/payload.hpp>

namespace plx::detail {

// Items left in the outgoing buffer longer than this are sent anyway, so streaming callbacks on root see
// results soon after they complete.
inline constexpr auto max_result_delay = std::chrono::milliseconds(10);
inline constexpr auto result_poll_period = std::chrono::milliseconds(1);

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

/// Runs the call. `prepare(chunk, scratch)` returns a callable `item(i) -> Result` for that chunk (it may
/// fetch the chunk's inputs into the thread's `Prepare::scratch_type`). Must be followed by ctx.finish()
/// on every rank.
template <class Result, class Prepare, class Delivery>
void run_engine(call_context& ctx, Prepare& prepare, Delivery& delivery, bool collect) {
  using clock = std::chrono::steady_clock;
  const bool stream_to_root = ctx.results_to_root() && !ctx.is_root();
  const bool root_receives = ctx.results_to_root() && ctx.is_root();
  std::mutex delivery_mutex;
  std::exception_ptr internal_error;
  std::mutex internal_error_mutex;

  const auto deliver_value = [&](int thread, std::size_t index, Result&& value) {
    if constexpr (Delivery::thread_safe) {
      delivery.value(thread, index, std::move(value));
    } else {
      std::lock_guard lock(delivery_mutex);
      delivery.value(thread, index, std::move(value));
    }
  };
  const auto deliver_failure = [&](int thread, task_failure&& failure) {
    if constexpr (Delivery::thread_safe) {
      delivery.failure(thread, std::move(failure));
    } else {
      std::lock_guard lock(delivery_mutex);
      delivery.failure(thread, std::move(failure));
    }
  };
  const auto deliver_pieces = [&](int thread, std::vector<std::vector<char>>&& pieces) {
    for (const auto& piece : pieces) {
      decode_piece<Result>(
          piece, [&](std::size_t index, Result&& value) { deliver_value(thread, index, std::move(value)); },
          [&](task_failure&& failure) {
            if (collect) deliver_failure(thread, std::move(failure));
          });
    }
  };

#pragma omp parallel num_threads(ctx.threads())
  {
    const int thread = omp_get_thread_num();
    try {
      worker_state worker = ctx.make_worker(thread);
      chunk_results<Result> pending;
      std::vector<char> outgoing;
      auto last_post = clock::now();
      auto next_poll = last_post;
      // Root looks for other ranks' results about once a millisecond, and before it delivers each of
      // its own, so a streaming sink sees items in the order they completed.
      const auto poll_if_due = [&] {
        if (!root_receives) return;
        const auto now = clock::now();
        if (now < next_poll) return;
        next_poll = now + result_poll_period;
        deliver_pieces(thread, ctx.poll_results());
      };
      typename Prepare::scratch_type scratch{};

      while (const auto work = ctx.next_chunk(worker)) {
        auto item = prepare(*work, scratch);
        const auto started = clock::now();
        if (stream_to_root) pending.reset(work->begin);
        std::size_t ran = 0;
        for (std::size_t i = work->begin; i < work->end; ++i) {
          if (!ctx.keep_going()) break;
          ++ran;
          std::optional<task_failure> failed;
          try {
            if (stream_to_root) {
              pending.values.push_back(item(i));
            } else {
              Result value = item(i);
              poll_if_due();
              deliver_value(thread, i, std::move(value));
            }
          } catch (const std::exception& e) {
            failed = task_failure{i, ctx.rank(), e.what()};
          } catch (...) {
            failed = task_failure{i, ctx.rank(), "unknown exception (not derived from std::exception)"};
          }
          if (failed) {
            ctx.record_failure(*failed);
            // A record lists its failures under either policy, so root can tell which values it holds.
            if (stream_to_root) {
              pending.failures.push_back(std::move(*failed));
            } else if (collect) {
              deliver_failure(thread, std::move(*failed));
            }
          }
        }
        const auto finished = clock::now();
        ctx.chunk_done(worker, ran, std::chrono::duration<double>(finished - started).count());
        if (stream_to_root && ran > 0) {
          pending.ran = ran;
          encode_chunk(outgoing, pending);
          if (outgoing.size() >= ctx.options().message_bytes || finished - last_post >= max_result_delay) {
            ctx.post(std::move(outgoing));
            outgoing = {};
            last_post = finished;
          }
        }
        poll_if_due();
      }
      if (stream_to_root && !outgoing.empty()) ctx.post(std::move(outgoing));
    } catch (...) {
      {
        std::lock_guard lock(internal_error_mutex);
        if (!internal_error) internal_error = std::current_exception();
      }
      ctx.abandon();
    }
  }

  // Master thread only from here: results still on their way to root.
  if (stream_to_root) ctx.close_results();
  if (root_receives) {
    for (auto pieces = ctx.wait_results(); !pieces.empty(); pieces = ctx.wait_results()) {
      deliver_pieces(0, std::move(pieces));
    }
  }
  if (internal_error) std::rethrow_exception(internal_error);
}

}  // namespace plx::detail
