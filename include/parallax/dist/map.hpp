/// @file
/// The scatter/map/gather layer: parallel maps over MPI ranks, with OpenMP threads inside each rank.
///
/// Every function here is collective: all ranks of `comm` call it with the same item count (checked)
/// and the same options. Tasks are plain C++ callables that exist on every rank (SPMD), so nothing is
/// pickled: only indices, inputs held by root, and results travel. Results land on root unless said
/// otherwise; other ranks get an empty vector.
///
/// @code
///   plx::runtime rt(argc, argv);
///   auto squares = plx::map(rt.world(), 1000, [](std::size_t i) { return double(i) * i; });
///   // root: squares[i] == i*i, in order
/// @endcode
///
/// Scheduling (plx::schedule): dynamic with auto chunks by default. Errors: under `map` a task that
/// throws stops the call on every rank (fail fast) and every rank throws plx::task_error naming the task
/// index, the rank and the original what(); `map_collect` returns each item's value or failure instead
/// (map_options::max_failures bounds how many may fail). A deadline (map_options::timeout) makes every
/// rank throw plx::timeout_error. A failure of the call itself on any rank (a sink that throws, an MPI
/// error, memory) ends the call on every rank with the same exception, named after the rank and step
/// (plx::io_error when the original was one, e.g. a full disk under the sink). No failure hangs the call
/// or aborts the job, and every collective of the call completes first, so the next call works. A task
/// that never returns cannot be interrupted, though (use the task farm, which runs processes, for that).
///
/// A result type with a member `bool counts_as_failure() const` is delivered like any value, and an item
/// whose result says true also counts as a failed task (fail-fast, map_options::max_failures).
///
/// Thread safety of the task: it is called concurrently from the OpenMP threads of each rank, each on
/// its own index. Nested OpenMP inside a task runs on one thread (the runtime's threads are already busy).
/// A task must make no MPI calls at all, on any communicator, nor start another map: the rank's threads
/// make MPI calls of their own meanwhile (one at a time under parallax's lock, as MPI_THREAD_SERIALIZED
/// requires), which a task's call would run beside; and ranks run different tasks at different times, so
/// a collective (or a matching send and receive) inside a task would not line up across ranks.
#pragma once

#include <concepts>
#include <cstddef>
#include <exception>
#include <functional>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include <parallax/core/collectives.hpp>
#include <parallax/core/communicator.hpp>
#include <parallax/core/error.hpp>
#include <parallax/dist/detail/call_context.hpp>
#include <parallax/dist/detail/engine.hpp>
#include <parallax/dist/detail/ordered_reduce.hpp>
#include <parallax/dist/detail/root_inputs.hpp>
#include <parallax/dist/options.hpp>
#include <parallax/dist/outcome.hpp>
#include <parallax/dist/payload.hpp>

namespace plx {

namespace detail {

template <class Result>
constexpr void require_result_payload() {
  static_assert(!std::is_void_v<Result>,
                "plx: a map task must return a value (for side effects only, return e.g. a bool)");
  static_assert(payload<Result>,
                "plx: the task's result type cannot travel between ranks. Use an arithmetic type, a trivially "
                "copyable struct without pointers, std::string, std::vector/array/pair/tuple/optional/variant of "
                "those, a dense Eigen matrix, or give the type a cereal serialize() function "
                "(see <parallax/dist/payload.hpp>)");
  static_assert(std::default_initializable<Result> && std::movable<Result>,
                "plx: a map result type must be default-constructible and movable");
}

template <class Input>
constexpr void require_input_payload() {
  static_assert(payload<Input>,
                "plx: the input type cannot travel between ranks (see the list in <parallax/dist/payload.hpp>)");
  static_assert(std::default_initializable<Input>, "plx: a map input type must be default-constructible");
}

struct no_scratch {};

template <class Fn>
struct index_tasks {
  using scratch_type = no_scratch;
  Fn& fn;
  auto operator()(const chunk&, no_scratch&) const {
    return [this](std::size_t i) { return std::invoke(fn, i); };
  }
};

template <class Input, class Fn>
struct input_tasks {
  using scratch_type = std::vector<Input>;
  root_inputs<Input>& inputs;
  Fn& fn;
  std::mutex& mpi_mutex;
  auto operator()(const chunk& work, std::vector<Input>& scratch) const {
    const std::span<const Input> local = inputs.fetch(work, scratch, mpi_mutex);
    return [this, local, first = work.begin](std::size_t i) { return std::invoke(fn, local[i - first]); };
  }
};

template <class Result>
struct ordered_delivery {
  static constexpr bool thread_safe = true;  // each index is written once, by one thread
  std::vector<Result>& out;
  void value(int, std::size_t index, Result&& v) { out[index] = std::move(v); }
  void failure(int, task_failure&&) {}
};

template <class Result>
struct outcome_delivery {
  static constexpr bool thread_safe = true;
  std::vector<outcome<Result>>& out;
  void value(int, std::size_t index, Result&& v) { out[index] = outcome<Result>(std::move(v)); }
  void failure(int, task_failure&& f) {
    const std::size_t index = f.index;
    out[index] = outcome<Result>(std::move(f));
  }
};

template <class Result, class Sink, bool Outcomes>
struct sink_delivery {
  static constexpr bool thread_safe = false;  // the user's sink is called one at a time
  Sink& sink;
  void value(int, std::size_t index, Result&& v) {
    if constexpr (Outcomes) {
      std::invoke(sink, index, outcome<Result>(std::move(v)));
    } else {
      std::invoke(sink, index, std::move(v));
    }
  }
  void failure(int, task_failure&& f) {
    if constexpr (Outcomes) {
      const std::size_t index = f.index;
      std::invoke(sink, index, outcome<Result>(std::move(f)));
    }
  }
};

template <class Value, class Op>
struct reduce_delivery {
  static constexpr bool thread_safe = true;  // one accumulator per thread
  struct alignas(64) slot {  // own cache line: no false sharing between threads
    Value value;
  };
  std::vector<slot> partial;
  Op& op;
  void value(int thread, std::size_t, Value&& v) {
    Value& acc = partial[static_cast<std::size_t>(thread)].value;
    acc = std::invoke(op, std::move(acc), std::move(v));
  }
  void failure(int, task_failure&&) {}
};

/// Runs one call end to end; throws (on every rank) per the policy.
template <class Result, class Tasks, class Delivery>
void run_call(call_context& ctx, Tasks& tasks, Delivery& delivery, bool fail_fast) {
  const std::string call_failure = run_engine<Result>(ctx, tasks, delivery, !fail_fast);
  raise_for(ctx.finish(call_failure), ctx.options(), ctx.items(), fail_fast);
}

/// Sizes root's result vector; a failure (memory) is returned, to be shared with every rank by the
/// call_context, rather than thrown on root alone while the others wait in a collective.
template <class Value>
std::exception_ptr size_on_root(const communicator& comm, std::vector<Value>& values, std::size_t n) noexcept {
  try {
    if (comm.is_root()) values.resize(n);
  } catch (...) {
    return std::current_exception();
  }
  return nullptr;
}

template <class Fn>
using index_result_t = std::remove_cvref_t<std::invoke_result_t<Fn&, std::size_t>>;
template <class Fn, class Input>
using input_result_t = std::remove_cvref_t<std::invoke_result_t<Fn&, const Input&>>;

}  // namespace detail

/// Collective. Ordered map over the indices [0, n): each rank computes the items it draws (nothing is
/// scattered); results on root in index order (`Pool.map` over `range(n)`).
/// @throws plx::task_error, plx::timeout_error (on every rank), plx::config_error if ranks disagree on n.
template <class Fn>
auto map(const communicator& comm, std::size_t n, Fn&& fn, const map_options& options = {}) {
  static_assert(std::invocable<Fn&, std::size_t>, "plx::map: the task must be callable as fn(std::size_t index)");
  using Result = detail::index_result_t<Fn>;
  detail::require_result_payload<Result>();
  std::vector<Result> results;
  detail::call_context ctx(comm, n, options, true, true, detail::size_on_root(comm, results, n));
  detail::index_tasks<Fn> tasks{fn};
  detail::ordered_delivery<Result> delivery{results};
  detail::run_call<Result>(ctx, tasks, delivery, true);
  return results;
}

/// Collective. Ordered map over inputs that live on root (`inputs` is ignored elsewhere); other ranks
/// fetch the inputs of the chunks they draw. Results on root in input order (`executor.map`).
template <class Input, class Fn>
auto map(const communicator& comm, const std::vector<Input>& inputs, Fn&& fn, const map_options& options = {}) {
  static_assert(std::invocable<Fn&, const Input&>, "plx::map: the task must be callable as fn(const Input&)");
  using Result = detail::input_result_t<Fn, Input>;
  detail::require_input_payload<Input>();
  detail::require_result_payload<Result>();
  detail::root_inputs<Input> shared(comm, inputs);
  std::vector<Result> results;
  detail::call_context ctx(comm, shared.size(), options, true, true,
                           detail::size_on_root(comm, results, shared.size()));
  detail::input_tasks<Input, Fn> tasks{shared, fn, ctx.mpi_mutex()};
  detail::ordered_delivery<Result> delivery{results};
  detail::run_call<Result>(ctx, tasks, delivery, true);
  return results;
}

/// Collective. Like map over [0, n), under the `collect` error policy: every item yields its value or
/// its failure (plx::outcome); the call itself throws only on timeout.
template <class Fn>
auto map_collect(const communicator& comm, std::size_t n, Fn&& fn, const map_options& options = {}) {
  static_assert(std::invocable<Fn&, std::size_t>,
                "plx::map_collect: the task must be callable as fn(std::size_t index)");
  using Result = detail::index_result_t<Fn>;
  detail::require_result_payload<Result>();
  std::vector<outcome<Result>> results;
  detail::call_context ctx(comm, n, options, true, false, detail::size_on_root(comm, results, n));
  detail::index_tasks<Fn> tasks{fn};
  detail::outcome_delivery<Result> delivery{results};
  detail::run_call<Result>(ctx, tasks, delivery, false);
  return results;
}

/// Collective. map over root-held inputs under the `collect` error policy.
template <class Input, class Fn>
auto map_collect(const communicator& comm, const std::vector<Input>& inputs, Fn&& fn,
                 const map_options& options = {}) {
  static_assert(std::invocable<Fn&, const Input&>, "plx::map_collect: the task must be callable as fn(const Input&)");
  using Result = detail::input_result_t<Fn, Input>;
  detail::require_input_payload<Input>();
  detail::require_result_payload<Result>();
  detail::root_inputs<Input> shared(comm, inputs);
  std::vector<outcome<Result>> results;
  detail::call_context ctx(comm, shared.size(), options, true, false,
                           detail::size_on_root(comm, results, shared.size()));
  detail::input_tasks<Input, Fn> tasks{shared, fn, ctx.mpi_mutex()};
  detail::outcome_delivery<Result> delivery{results};
  detail::run_call<Result>(ctx, tasks, delivery, false);
  return results;
}

/// Collective. Unordered streaming over [0, n) (`imap_unordered`, `as_completed`): on root, `sink` is
/// called with each item as soon as root has it, in completion order, one call at a time. It is never
/// called on other ranks. Other ranks' items reach it from root's result courier, a thread that is not
/// one of OpenMP's, within milliseconds of their tasks' end even while root's own tasks run; like a task,
/// the sink makes no MPI calls. If it throws, the call ends on every rank with that exception (see above).
///   - sink(std::size_t index, Result&& value): fail-fast policy (a failure throws plx::task_error);
///   - sink(std::size_t index, plx::outcome<Result>&& outcome): collect policy.
template <class Fn, class Sink>
void map_unordered(const communicator& comm, std::size_t n, Fn&& fn, Sink&& sink, const map_options& options = {}) {
  static_assert(std::invocable<Fn&, std::size_t>,
                "plx::map_unordered: the task must be callable as fn(std::size_t index)");
  using Result = detail::index_result_t<Fn>;
  detail::require_result_payload<Result>();
  constexpr bool takes_value = std::invocable<Sink&, std::size_t, Result&&>;
  constexpr bool takes_outcome = std::invocable<Sink&, std::size_t, outcome<Result>&&>;
  static_assert(takes_value || takes_outcome,
                "plx::map_unordered: the sink must be callable as sink(std::size_t index, Result&& value) or "
                "sink(std::size_t index, plx::outcome<Result>&& outcome)");
  constexpr bool fail_fast = takes_value;
  detail::call_context ctx(comm, n, options, true, fail_fast);
  detail::index_tasks<Fn> tasks{fn};
  detail::sink_delivery<Result, std::remove_reference_t<Sink>, !fail_fast> delivery{sink};
  detail::run_call<Result>(ctx, tasks, delivery, fail_fast);
}

/// Collective. Map-reduce over [0, n): `op` combines the task values; the reduced value on every rank.
/// `identity` must be op's identity (0 for +, 1 for *) and `op` associative; values are combined in an
/// unspecified grouping, so floating-point sums may differ in the last bits between layouts (reduce
/// integers, or use map and fold on root, where that matters). Each rank folds its threads' values, then
/// root folds the ranks' values in rank order and sends the result to every rank.
template <class Fn, class Value, class Op>
Value map_reduce(const communicator& comm, std::size_t n, Fn&& fn, Value identity, Op op,
                 const map_options& options = {}) {
  static_assert(std::invocable<Fn&, std::size_t>,
                "plx::map_reduce: the task must be callable as fn(std::size_t index)");
  static_assert(std::convertible_to<detail::index_result_t<Fn>, Value>,
                "plx::map_reduce: the task's result must convert to the type of `identity`");
  static_assert(std::is_invocable_r_v<Value, Op&, Value, Value>,
                "plx::map_reduce: `op` must be callable as op(Value, Value) -> Value");
  detail::require_result_payload<Value>();
  detail::call_context ctx(comm, n, options, false, true);
  auto as_value = [&fn](std::size_t i) -> Value { return std::invoke(fn, i); };
  detail::index_tasks<decltype(as_value)> tasks{as_value};
  detail::reduce_delivery<Value, Op> delivery{{}, op};
  delivery.partial.resize(static_cast<std::size_t>(ctx.threads()), {identity});
  detail::run_call<Value>(ctx, tasks, delivery, true);

  // Messages no bigger than max_fragment_bytes; no rank holds every rank's value.
  const auto fold_threads = [&] {
    Value local = identity;
    for (auto& part : delivery.partial) local = std::invoke(op, std::move(local), std::move(part.value));
    return local;
  };
  return detail::reduce_in_rank_order(comm.internal(), identity, fold_threads, op, options.label,
                                      options.max_fragment_bytes);
}

}  // namespace plx
