/// @file
/// Numeric command-line options with messages a user can act on. CLI11's own checks say "Value abc not in
/// range 0.000000 to 17976931348623157..." (309 digits); these say "--n: 'abc' is not a number" or
/// "--slots must be at least 1, not 0".
///
/// @code
///   std::size_t slots = 0;
///   plx::add_number(cli, "--slots", slots, "concurrent tasks per rank", plx::at_least(1));
///   std::optional<double> box;                          // only set when given
///   plx::add_number(cli, "--box", box, "box size L");   // any finite number
/// @endcode
///
/// The check runs on the text before CLI11 converts it. An integer option takes whole numbers within its
/// type only ("1e6" is accepted and passed on as 1000000; a negative number for an unsigned type is refused
/// instead of wrapping around to 2^64 - 3). A failed check is a CLI::ParseError, so an app exits with code 2
/// as for any bad command line, and every rank agrees (each parses the same argv).
#pragma once

#include <algorithm>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>

#include <CLI/CLI.hpp>

namespace plx {

/// The values a numeric option accepts (besides being a number its type holds).
struct number_range {
  long double min = -std::numeric_limits<long double>::infinity();  ///< smallest value accepted (see above_min)
  long double max = std::numeric_limits<long double>::infinity();   ///< largest value accepted
  bool above_min = false;  ///< min itself is refused (positive(): > 0)
  bool whole = false;      ///< whole numbers only (always so for an integer option)
};

/// min and above.
[[nodiscard]] inline number_range at_least(long double min) { return {.min = min}; }
/// Greater than 0.
[[nodiscard]] inline number_range positive() { return {.min = 0, .above_min = true}; }
/// min to max, both included.
[[nodiscard]] inline number_range between(long double min, long double max) { return {.min = min, .max = max}; }

/// The error of a bad numeric value: a CLI::ParseError (so CLI::App::exit prints it and the app exits with
/// code 2) whose message is the whole line, "--n must be at least 2, not 1", without CLI11's "--n: " prefix.
class number_option_error : public CLI::ParseError {
 public:
  /// `message` is the whole line the user sees, option name included.
  explicit number_option_error(const std::string& message)
      : CLI::ParseError("ValidationError", message, CLI::ExitCodes::ValidationError) {}
};

namespace detail {

/// Checks `text`, the value given to option `name`: returns normally when it is a number within `range`
/// (rewriting a whole number as plain digits, which CLI11 converts to any integer type), else throws
/// number_option_error.
void check_number_text(const std::string& name, std::string& text, const number_range& range);

/// How --help shows `range`: ">= 1", "> 0", "in [2, 3]", or "" for any number.
[[nodiscard]] std::string describe(const number_range& range);

template <class T>
struct number_target {
  using type = T;
};
template <class T>
struct number_target<std::optional<T>> {
  using type = T;
};

}  // namespace detail

/// Adds option `name` bound to `target` (an arithmetic type, or a std::optional of one, set only when the
/// option is given) that accepts numbers in `range` and in the range of the target's type only.
template <class Target>
CLI::Option* add_number(CLI::App& app, const std::string& name, Target& target, const std::string& description,
                        number_range range = {}) {
  using value_type = typename detail::number_target<Target>::type;
  static_assert(std::is_arithmetic_v<value_type> && !std::is_same_v<value_type, bool>,
                "add_number is for numbers; use add_option or add_flag");
  using limits = std::numeric_limits<value_type>;
  const std::string shown = detail::describe(range);
  if constexpr (std::is_integral_v<value_type>) {
    range.whole = true;
    range.min = std::max(range.min, static_cast<long double>(limits::min()));
  } else {
    range.min = std::max(range.min, static_cast<long double>(limits::lowest()));
  }
  range.max = std::min(range.max, static_cast<long double>(limits::max()));
  CLI::Option* option = app.add_option(name, target, description);
  // A transform, not a check: a check's validator sees a copy of the text, and the whole-number rewrite must
  // reach the conversion. option_name is the option's own name, e.g. "--samples" for "--samples,-n".
  option->transform(CLI::Validator(
      [range, option_name = option->get_name()](std::string& text) {
        detail::check_number_text(option_name, text, range);
        return std::string();
      },
      shown));
  return option;
}

}  // namespace plx
