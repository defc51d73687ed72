#include <parallax/app/number_option.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace plx {

namespace detail {

namespace {

// Plain decimal notation only: [+-]digits[.digits][e[+-]digits], digits on at least one side of the point.
// strtold alone would also take leading spaces, "inf", "nan" and hexadecimal.
bool is_decimal(const std::string& text) {
  std::size_t i = 0;
  const auto digits = [&] {
    const std::size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    return i - start;
  };
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
  std::size_t mantissa = digits();
  if (i < text.size() && text[i] == '.') {
    ++i;
    mantissa += digits();
  }
  if (mantissa == 0) return false;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    if (digits() == 0) return false;
  }
  return i == text.size();
}

// A bound as a person writes it: 1, 0.5, 9.2e+18, 18446744073709551615.
std::string bound_text(long double value) {
  char buffer[64];
  if (value == std::floor(value) && std::fabs(value) < 1e20L) {
    std::snprintf(buffer, sizeof buffer, "%.0Lf", value);
  } else {
    std::snprintf(buffer, sizeof buffer, "%.17Lg", value);
    // Shortest form that reads back the same: try fewer digits first.
    for (int digits = 1; digits < 17; ++digits) {
      char shorter[64];
      std::snprintf(shorter, sizeof shorter, "%.*Lg", digits, value);
      if (std::strtold(shorter, nullptr) == value) {
        std::snprintf(buffer, sizeof buffer, "%s", shorter);
        break;
      }
    }
  }
  return buffer;
}

}  // namespace

void check_number_text(const std::string& name, std::string& text, const number_range& range) {
  if (!is_decimal(text)) throw number_option_error(name + ": '" + text + "' is not a number");
  const long double value = std::strtold(text.c_str(), nullptr);
  if (!std::isfinite(value)) throw number_option_error(name + ": '" + text + "' is not a finite number");
  if (range.whole && value != std::floor(value)) {
    throw number_option_error(name + ": '" + text + "' is not a whole number");
  }
  if (range.above_min && !(value > range.min)) {
    throw number_option_error(name + (range.min == 0 ? " must be positive" : " must be greater than " + bound_text(range.min)) +
                              ", not " + text);
  }
  if (value < range.min) throw number_option_error(name + " must be at least " + bound_text(range.min) + ", not " + text);
  if (value > range.max) throw number_option_error(name + " must be at most " + bound_text(range.max) + ", not " + text);
  // Whole numbers go on as plain digits: CLI11 converts "1e6" to a double but not to an integer. long double
  // holds every 64-bit integer exactly (a 64-bit mantissa on x86-64), so the digits are the value given.
  if (range.whole) text = bound_text(value);
}

std::string describe(const number_range& range) {
  const bool low = std::isfinite(range.min);
  const bool high = std::isfinite(range.max);
  if (low && high) return "in [" + bound_text(range.min) + ", " + bound_text(range.max) + "]";
  if (low) return (range.above_min ? "> " : ">= ") + bound_text(range.min);
  if (high) return "<= " + bound_text(range.max);
  return {};
}

}  // namespace detail

}  // namespace plx
