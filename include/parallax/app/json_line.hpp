/// @file
/// Machine-readable output of the apps: with --json each result is one JSON object on one line. The JSON
/// library encodes every key and value (a path with a quote, a backslash or a control character stays valid
/// JSON); the line has ", " and ": " between items, as Python's json.dumps writes it, and keys in the order
/// they were added.
///
/// @code
///   plx::print_json_line({{"benchmark", "calls"}, {"ranks", 2}, {"us_per_call", plx::rounded(us, 2)}});
/// @endcode
///
/// Field names and their values are an interface (scripts read them): change neither lightly.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace plx {

/// A JSON value that keeps its keys in insertion order.
using json = nlohmann::ordered_json;

/// `value` encoded on one line. Text that is not valid UTF-8 is written with U+FFFD in place of the bad
/// bytes (JSON text is Unicode); numbers that are not finite are written as null.
[[nodiscard]] std::string json_line(const json& value);

/// Prints json_line(value) and a newline on stdout, and flushes.
void print_json_line(const json& value);

/// `value` rounded to `decimals` places after the point, as printf's "%.*f" shows it: the number the JSON
/// line carries when more digits would only be noise (timings). Not finite: returned unchanged.
[[nodiscard]] double rounded(double value, int decimals);

/// `value` rounded to `digits` significant digits, as printf's "%.*g" shows it.
[[nodiscard]] double rounded_significant(double value, int digits);

}  // namespace plx
