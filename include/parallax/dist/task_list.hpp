/// @file
/// Heterogeneous task lists: different callables with their own arguments (joblib's
/// `Parallel()(delayed(f)(x), delayed(g)(y, z))`), run in parallel with results in order.
///
/// In SPMD C++ every rank builds the same list by running the same code, so a task is never shipped
/// anywhere: the ranks agree on the list's size (checked) and run the tasks whose indices they draw.
/// Only results travel. For results of different types use a std::variant as Result.
///
/// @code
///   plx::task_list<double> tasks;
///   tasks.add(integrate, 0.0, 1.0).add([] { return 42.0; }).add(std::sqrt<double>, 2.0);
///   std::vector<double> r = plx::run_tasks(rt.world(), tasks);   // on root, in order
/// @endcode
#pragma once

#include <concepts>
#include <cstddef>
#include <functional>
#include <type_traits>
#include <utility>
#include <vector>

#include <parallax/dist/map.hpp>

namespace plx {

/// A list of callables with their arguments, each returning a Result; built alike on every rank, run by run_tasks().
template <class Result>
class task_list {
 public:
  /// Adds fn(args...): `fn` and the arguments are copied into the list.
  template <class Fn, class... Args>
  task_list& add(Fn fn, Args... args) {
    static_assert(std::is_invocable_v<const Fn&, const Args&...>,
                  "plx::task_list::add: fn(args...) must be callable with the given arguments");
    static_assert(std::convertible_to<std::invoke_result_t<const Fn&, const Args&...>, Result>,
                  "plx::task_list::add: fn(args...) must return something convertible to the list's Result");
    tasks_.emplace_back([fn = std::move(fn), ... args = std::move(args)]() -> Result { return std::invoke(fn, args...); });
    return *this;
  }

  /// Number of tasks added.
  [[nodiscard]] std::size_t size() const noexcept { return tasks_.size(); }
  /// Whether no task was added.
  [[nodiscard]] bool empty() const noexcept { return tasks_.empty(); }
  /// Runs task `index` here (what the map calls).
  Result operator()(std::size_t index) const { return tasks_[index](); }

 private:
  std::vector<std::function<Result()>> tasks_;
};

/// Collective: runs every task; results on root in the order they were added (fail-fast policy).
template <class Result>
std::vector<Result> run_tasks(const communicator& comm, const task_list<Result>& tasks, map_options options = {}) {
  if (options.label == "map") options.label = "tasks";
  return map(comm, tasks.size(), [&tasks](std::size_t i) { return tasks(i); }, options);
}

/// Collective: runs every task under the collect policy: each yields its value or its failure.
template <class Result>
std::vector<outcome<Result>> run_tasks_collect(const communicator& comm, const task_list<Result>& tasks,
                                               map_options options = {}) {
  if (options.label == "map") options.label = "tasks";
  return map_collect(comm, tasks.size(), [&tasks](std::size_t i) { return tasks(i); }, options);
}

}  // namespace plx
