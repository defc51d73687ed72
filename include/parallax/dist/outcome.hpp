/// @file
/// The result of one task under the `collect` error policy: its value, or how it failed.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <variant>

#include <parallax/core/error.hpp>

namespace plx {

/// A task that threw: which one, where, and the exception's what().
struct task_failure {
  std::size_t index = 0;  ///< global index of the task
  int rank = 0;           ///< rank that ran it
  std::string message;    ///< the exception's what(), or why a task that did not throw counts as failed

  /// cereal's hook: a failure travels between ranks as a payload.
  template <class Archive>
  void serialize(Archive& archive) {
    archive(index, rank, message);
  }
  /// Equal when index, rank and message are.
  friend bool operator==(const task_failure&, const task_failure&) = default;
};

/// "task 17 failed on rank 2: what()"
[[nodiscard]] inline std::string describe(const task_failure& f) {
  return "task " + std::to_string(f.index) + " failed on rank " + std::to_string(f.rank) + ": " + f.message;
}

/// One task's result under map_collect: a Value, or the task_failure of a task that threw.
template <class Value>
class outcome {
 public:
  outcome() = default;
  /// A task that returned `value`.
  explicit outcome(Value value) : state_(std::in_place_index<0>, std::move(value)) {}
  /// A task that failed.
  explicit outcome(task_failure failure) : state_(std::in_place_index<1>, std::move(failure)) {}

  /// Whether the task returned a value.
  [[nodiscard]] bool ok() const noexcept { return state_.index() == 0; }
  /// ok().
  explicit operator bool() const noexcept { return ok(); }

  /// The value; throws plx::task_error if the task failed.
  [[nodiscard]] const Value& value() const& {
    throw_if_failed();
    return std::get<0>(state_);
  }
  /// The value, moved out; throws plx::task_error if the task failed.
  [[nodiscard]] Value&& value() && {
    throw_if_failed();
    return std::get<0>(std::move(state_));
  }
  /// Precondition: !ok().
  [[nodiscard]] const task_failure& failure() const { return std::get<1>(state_); }

 private:
  void throw_if_failed() const {
    if (!ok()) {
      const task_failure& f = std::get<1>(state_);
      throw task_error(describe(f), f.index, f.rank, 1);
    }
  }
  std::variant<Value, task_failure> state_;
};

}  // namespace plx
