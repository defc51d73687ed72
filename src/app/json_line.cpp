#include <parallax/app/json_line.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace plx {

namespace {

std::string encode(const json& value) {
  // replace: a file name need not be UTF-8, and an exception at the end of a finished run helps nobody.
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

void append(std::string& out, const json& value) {
  if (value.is_object()) {
    out += '{';
    bool first = true;
    for (const auto& [key, item] : value.items()) {
      if (!first) out += ", ";
      first = false;
      out += encode(json(key));
      out += ": ";
      append(out, item);
    }
    out += '}';
  } else if (value.is_array()) {
    out += '[';
    for (std::size_t i = 0; i < value.size(); ++i) {
      if (i > 0) out += ", ";
      append(out, value[i]);
    }
    out += ']';
  } else {
    out += encode(value);
  }
}

}  // namespace

std::string json_line(const json& value) {
  std::string out;
  append(out, value);
  return out;
}

void print_json_line(const json& value) {
  const std::string line = json_line(value) + "\n";
  std::fputs(line.c_str(), stdout);
  std::fflush(stdout);
}

// printf's text read back: the nearest double to the number printed.
double rounded(double value, int decimals) {
  if (!std::isfinite(value)) return value;
  std::string text(static_cast<std::size_t>(std::snprintf(nullptr, 0, "%.*f", decimals, value)) + 1, '\0');
  std::snprintf(text.data(), text.size(), "%.*f", decimals, value);
  return std::strtod(text.c_str(), nullptr);
}

double rounded_significant(double value, int digits) {
  if (!std::isfinite(value)) return value;
  std::string text(static_cast<std::size_t>(std::snprintf(nullptr, 0, "%.*g", digits, value)) + 1, '\0');
  std::snprintf(text.data(), text.size(), "%.*g", digits, value);
  return std::strtod(text.c_str(), nullptr);
}

}  // namespace plx
