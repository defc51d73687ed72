#include <parallax/farm/task_set.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <string_view>
#include <system_error>

#include <toml++/toml.h>

#include <parallax/core/error.hpp>

namespace plx::farm {

namespace {

// ---- files and messages ----------------------------------------------------------------------------

struct file_closer {
  void operator()(std::FILE* file) const noexcept { std::fclose(file); }  // read-only: nothing to lose
};

std::string read_whole_file(const std::string& path) {
  errno = 0;
  const std::unique_ptr<std::FILE, file_closer> file(std::fopen(path.c_str(), "rb"));
  if (!file) throw config_error("cannot read task file " + path + ": " + std::strerror(errno));
  std::string text;
  char buffer[1 << 16];
  std::size_t got = 0;
  while ((got = std::fread(buffer, 1, sizeof buffer, file.get())) > 0) text.append(buffer, got);
  // A directory opens fine on Linux and fails here, with errno = EISDIR.
  if (std::ferror(file.get()) != 0) throw config_error("cannot read task file " + path + ": " + std::strerror(errno));
  return text;
}

std::string where(const std::string& path, const toml::source_region& source) {
  return path + ":" + std::to_string(source.begin.line);
}

std::string join(const std::vector<std::string>& items, const std::string& separator) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) out += (i == 0 ? "" : separator) + items[i];
  return out;
}

// ---- fingerprint -----------------------------------------------------------------------------------

// FNV-1a, 64 bit (http://www.isthe.com/chongo/tech/comp/fnv/). Fixed constants and byte order, unlike
// std::hash, so fingerprints written by one build are understood by the next.
class fnv1a_64 {
 public:
  void add(std::string_view bytes) noexcept {
    for (const char c : bytes) {
      state_ ^= static_cast<unsigned char>(c);
      state_ *= prime;
    }
  }
  void add(std::uint64_t value) noexcept {
    for (int byte = 0; byte < 8; ++byte) {  // little-endian whatever the machine's order
      state_ ^= (value >> (8 * byte)) & 0xffU;
      state_ *= prime;
    }
  }
  [[nodiscard]] std::uint64_t value() const noexcept { return state_; }

 private:
  static constexpr std::uint64_t offset_basis = 0xcbf29ce484222325ULL;
  static constexpr std::uint64_t prime = 0x100000001b3ULL;
  std::uint64_t state_ = offset_basis;
};

// ---- values ----------------------------------------------------------------------------------------

// Python's repr(): the shortest text that reads back to the same double, fixed notation for
// 1e-4 <= |x| < 1e16 with ".0" on whole numbers, scientific outside ("1e-07", "1.5e+20").
std::string format_float(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  const double magnitude = std::fabs(value);
  const bool fixed = magnitude == 0 || (magnitude >= 1e-4 && magnitude < 1e16);
  char buffer[64];
  const auto result =
      std::to_chars(buffer, buffer + sizeof buffer, value, fixed ? std::chars_format::fixed : std::chars_format::scientific);
  std::string text(buffer, result.ptr);  // 64 chars hold any shortest form in these notations
  if (fixed && text.find('.') == std::string::npos) text += ".0";
  return text;
}

// Digits after the decimal point in the shortest fixed-notation form of `value` (0.25 -> 2, 3.0 -> 0).
int decimals_of(double value) {
  char buffer[400];  // fixed notation of a double has at most ~330 characters
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed);
  if (result.ec != std::errc()) return std::numeric_limits<int>::max();
  const std::string_view text(buffer, static_cast<std::size_t>(result.ptr - buffer));
  const auto point = text.find('.');
  return point == std::string_view::npos ? 0 : static_cast<int>(text.size() - point - 1);
}

// `value` rounded to `decimals` decimal digits: the double nearest to its decimal text.
double round_to_decimals(double value, int decimals) {
  char buffer[400];
  const auto written = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed, decimals);
  if (written.ec != std::errc()) return value;
  double rounded = value;
  const auto read = std::from_chars(buffer, written.ptr, rounded);
  return read.ec == std::errc() ? rounded : value;
}

const char* type_name(toml::node_type type) {
  switch (type) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "a list";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    case toml::node_type::none: break;
  }
  return "nothing";
}

/// A parameter of a sweep: its values already in the text they are substituted as.
struct parameter {
  std::string name;
  toml::source_region source;  // of its key, for messages and file order
  std::vector<std::string> values;
  bool used = false;
};

std::vector<std::string> read_list(const toml::array& list, const parameter& p, const std::string& path) {
  if (list.empty()) throw config_error(where(path, p.source) + ": parameter '" + p.name + "' is an empty list");
  std::vector<std::string> values;
  values.reserve(list.size());
  for (std::size_t i = 0; i < list.size(); ++i) {
    const toml::node& item = list[i];
    if (const auto* s = item.as_string()) {
      values.push_back(s->get());
    } else if (const auto* n = item.as_integer()) {
      values.push_back(std::to_string(n->get()));
    } else if (const auto* x = item.as_floating_point()) {
      values.push_back(format_float(x->get()));
    } else if (const auto* b = item.as_boolean()) {
      values.emplace_back(b->get() ? "true" : "false");
    } else {
      throw config_error(where(path, item.source()) + ": parameter '" + p.name + "': value " + std::to_string(i + 1) +
                         " is " + type_name(item.type()) + "; values must be strings, integers, floats or booleans");
    }
  }
  return values;
}

std::vector<std::string> read_range(const toml::table& range, const parameter& p, const std::string& path) {
  const std::string context = where(path, p.source) + ": range '" + p.name + "'";
  for (const auto& [key, node] : range) {
    if (key != "start" && key != "stop" && key != "step") {
      throw config_error(where(path, key.source()) + ": range '" + p.name + "': unknown key '" + std::string(key.str()) +
                         "'; a range has start, stop (exclusive) and step");
    }
    if (!node.is_integer() && !node.is_floating_point()) {
      throw config_error(where(path, node.source()) + ": range '" + p.name + "': " + std::string(key.str()) + " is " +
                         type_name(node.type()) + ", not a number");
    }
    if (const auto* x = node.as_floating_point(); x != nullptr && !std::isfinite(x->get())) {
      throw config_error(where(path, node.source()) + ": range '" + p.name + "': " + std::string(key.str()) +
                         " must be finite");
    }
  }
  if (!range.contains("start")) throw config_error(context + " has no start");
  if (!range.contains("stop")) throw config_error(context + " has no stop (exclusive)");
  const bool all_integers = range["start"].is_integer() && range["stop"].is_integer() &&
                            (!range.contains("step") || range["step"].is_integer());
  const auto too_many = [&](const std::string& count) {
    return config_error(context + " has " + count + " values, more than the " +
                        std::to_string(task_set::max_sweep_tasks) + " tasks a sweep may have");
  };
  // Both kinds are checked above, so one of the two is there.
  const auto number = [&](const char* key) {
    const toml::node& node = *range.get(key);
    if (const auto* n = node.as_integer()) return static_cast<double>(n->get());
    return node.as_floating_point()->get();
  };
  const auto integer = [&](const char* key) { return range.get(key)->as_integer()->get(); };

  std::vector<std::string> values;
  if (all_integers) {
    const std::int64_t start = integer("start");
    const std::int64_t stop = integer("stop");
    const std::int64_t step = range.contains("step") ? integer("step") : 1;
    if (step <= 0) throw config_error(context + ": step must be > 0, not " + std::to_string(step));
    if (stop <= start) {
      throw config_error(context + ": stop (" + std::to_string(stop) + ", exclusive) must be greater than start (" +
                         std::to_string(start) + ")");
    }
    // Unsigned arithmetic: stop - start may not fit in int64 (start = -2^63, stop = 2^63 - 1).
    const std::uint64_t span = static_cast<std::uint64_t>(stop) - static_cast<std::uint64_t>(start);
    const std::uint64_t count = (span - 1) / static_cast<std::uint64_t>(step) + 1;
    if (count > task_set::max_sweep_tasks) throw too_many(std::to_string(count));
    values.reserve(count);
    for (std::uint64_t i = 0; i < count; ++i) {
      const std::uint64_t offset = i * static_cast<std::uint64_t>(step);  // < span, so no wrap-around
      values.push_back(std::to_string(static_cast<std::int64_t>(static_cast<std::uint64_t>(start) + offset)));
    }
    return values;
  }

  const double start = number("start");
  const double stop = number("stop");
  const double step = range.contains("step") ? number("step") : 1.0;
  if (!(step > 0)) throw config_error(context + ": step must be > 0, not " + format_float(step));
  if (!(stop > start)) {
    throw config_error(context + ": stop (" + format_float(stop) + ", exclusive) must be greater than start (" +
                       format_float(start) + ")");
  }
  const double estimate = std::floor((stop - start) / step);
  if (estimate > static_cast<double>(task_set::max_sweep_tasks)) {
    throw too_many("about " + (estimate < 1e19 ? std::to_string(static_cast<std::uint64_t>(estimate)) : format_float(estimate)));
  }
  // start + i * step, not a running sum (no drift), rounded to the decimals the user wrote, so that
  // 3 * 0.1 is 0.3 and stops a range at 0.3 rather than giving 0.30000000000000004.
  const int decimals = std::max(decimals_of(start), decimals_of(step));
  const auto value_at = [&](std::uint64_t i) {
    const double raw = start + static_cast<double>(i) * step;
    return decimals <= 17 ? round_to_decimals(raw, decimals) : raw;
  };
  // The estimate is within one of the count; settle it on the values we will actually produce.
  auto count = static_cast<std::uint64_t>(std::max(0.0, estimate - 1));
  while (count > 0 && value_at(count - 1) >= stop) --count;
  while (count <= task_set::max_sweep_tasks && value_at(count) < stop) ++count;
  if (count > task_set::max_sweep_tasks) throw too_many(std::to_string(count));
  values.reserve(count);
  double previous = -std::numeric_limits<double>::infinity();
  for (std::uint64_t i = 0; i < count; ++i) {
    const double value = value_at(i);
    if (!(value > previous)) {
      throw config_error(context + ": step " + format_float(step) + " is too small to change a value of " +
                         format_float(previous) + " (floating-point resolution)");
    }
    values.push_back(format_float(value));
    previous = value;
  }
  return values;
}

// ---- command template ------------------------------------------------------------------------------

/// A piece of a command template: literal text, then (unless npos) the value of one parameter.
struct segment {
  std::string text;
  std::size_t parameter = no_parameter;
  static constexpr std::size_t no_parameter = static_cast<std::size_t>(-1);
};

std::vector<segment> compile_template(const std::string& command, std::vector<parameter>& parameters,
                                      const std::string& context) {
  std::vector<std::string> known;
  for (const auto& p : parameters) known.push_back(p.name);
  std::vector<segment> segments(1);
  for (std::size_t i = 0; i < command.size(); ++i) {
    const char c = command[i];
    const std::string column = "column " + std::to_string(i + 1) + " of command";
    if (c == '{' && i + 1 < command.size() && command[i + 1] == '{') {
      segments.back().text += '{';
      ++i;
    } else if (c == '}' && i + 1 < command.size() && command[i + 1] == '}') {
      segments.back().text += '}';
      ++i;
    } else if (c == '}') {
      throw config_error(context + ": lone '}' at " + column + "; write '}}' for a literal brace");
    } else if (c == '{') {
      const auto close = command.find('}', i + 1);
      const auto next_open = command.find('{', i + 1);
      if (close == std::string::npos || next_open < close) {
        throw config_error(context + ": unclosed '{' at " + column + "; write '{{' for a literal brace");
      }
      const std::string name = command.substr(i + 1, close - i - 1);
      const auto found = std::find_if(parameters.begin(), parameters.end(), [&](const parameter& p) { return p.name == name; });
      if (found == parameters.end()) {
        throw config_error(context + ": {" + name + "} in command names no parameter; known: " + join(known, ", "));
      }
      found->used = true;
      segments.back().parameter = static_cast<std::size_t>(found - parameters.begin());
      segments.emplace_back();
      i = close;
    } else {
      segments.back().text += c;
    }
  }
  return segments;
}

}  // namespace

// ---- task_set --------------------------------------------------------------------------------------

task_set task_set::from_command_file(const std::string& path) {
  const std::string text = read_whole_file(path);
  std::vector<task> tasks;
  std::size_t line_number = 0;
  for (std::size_t begin = 0; begin < text.size();) {
    auto end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(begin, end - begin);
    begin = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto first = line.find_first_not_of(" \t\v\f");
    if (first == std::string::npos || line[first] == '#') continue;
    const std::string context = path + ":" + std::to_string(line_number);
    if (line.back() == '\\') {
      throw config_error(context + ": command ends in '\\', but every line is a task of its own; put the whole "
                                   "command on one line");
    }
    if (line.find('\0') != std::string::npos) throw config_error(context + ": command holds a NUL byte (a binary file?)");
    tasks.push_back(task{tasks.size(), std::move(line), "line " + std::to_string(line_number)});
  }
  if (tasks.empty()) throw config_error("no tasks in " + path + " (only blank lines and comments)");
  return task_set(std::move(tasks));
}

task_set task_set::from_sweep_file(const std::string& path) {
  const std::string text = read_whole_file(path);
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    throw config_error(path + ":" + std::to_string(e.source().begin.line) + ": " + std::string(e.description()));
  }
  for (const auto& [key, node] : root) {
    if (key != "command" && key != "mode" && key != "parameters") {
      throw config_error(where(path, key.source()) + ": unknown key '" + std::string(key.str()) +
                         "'; a sweep has command, mode and [parameters]");
    }
  }

  const toml::node* command_node = root.get("command");
  if (command_node == nullptr) throw config_error(path + ": no 'command' (the template of the sweep's commands)");
  const auto* command = command_node->as_string();
  if (command == nullptr) {
    throw config_error(where(path, command_node->source()) + ": 'command' is " + type_name(command_node->type()) +
                       ", not a string");
  }
  if (command->get().empty()) throw config_error(where(path, command_node->source()) + ": 'command' is empty");

  bool zip = false;
  if (const toml::node* mode = root.get("mode")) {
    const auto value = mode->value<std::string>();
    if (!value || (*value != "product" && *value != "zip")) {
      throw config_error(where(path, mode->source()) + ": mode " + (value ? "'" + *value + "'" : type_name(mode->type())) +
                         " is not one of: product, zip");
    }
    zip = *value == "zip";
  }

  const toml::node* parameters_node = root.get("parameters");
  if (parameters_node == nullptr) throw config_error(path + ": no [parameters] table; a sweep needs at least one parameter");
  const toml::table* parameters_table = parameters_node->as_table();
  if (parameters_table == nullptr) {
    throw config_error(where(path, parameters_node->source()) + ": 'parameters' must be a table ([parameters])");
  }
  if (parameters_table->empty()) throw config_error(where(path, parameters_node->source()) + ": [parameters] is empty");

  // toml++ keeps tables sorted by key; sort back into the order of the file so the sweep nests as written.
  std::vector<parameter> parameters;
  for (const auto& [key, node] : *parameters_table) {
    parameter p{std::string(key.str()), key.source(), {}, false};
    if (const auto* list = node.as_array()) {
      p.values = read_list(*list, p, path);
    } else if (const auto* range = node.as_table()) {
      p.values = read_range(*range, p, path);
    } else {
      throw config_error(where(path, key.source()) + ": parameter '" + p.name + "' is " + type_name(node.type()) +
                         "; it must be a list [...] or a range { start = ..., stop = ..., step = ... }");
    }
    parameters.push_back(std::move(p));
  }
  std::stable_sort(parameters.begin(), parameters.end(), [](const parameter& a, const parameter& b) {
    const auto& x = a.source.begin;
    const auto& y = b.source.begin;
    return x.line != y.line ? x.line < y.line : x.column < y.column;
  });

  const std::vector<segment> segments =
      compile_template(command->get(), parameters, where(path, command_node->source()));
  for (const auto& p : parameters) {
    if (!p.used) {
      throw config_error(where(path, p.source) + ": parameter '" + p.name + "' is never used in the command (a typo?)");
    }
  }

  std::uint64_t count = 1;
  if (zip) {
    count = parameters.front().values.size();
    for (const auto& p : parameters) {
      if (p.values.size() != count) {
        std::vector<std::string> lengths;
        for (const auto& q : parameters) lengths.push_back(q.name + " has " + std::to_string(q.values.size()));
        throw config_error(where(path, parameters_node->source()) + ": mode = \"zip\" needs parameters of the same length, but " + join(lengths, ", "));
      }
    }
  } else {
    for (const auto& p : parameters) {
      if (count > task_set::max_sweep_tasks / p.values.size()) {
        std::vector<std::string> lengths;
        for (const auto& q : parameters) lengths.push_back(q.name + ": " + std::to_string(q.values.size()));
        throw config_error(where(path, parameters_node->source()) + ": the product of the parameters' lengths (" +
                           join(lengths, ", ") + ") is more than the " + std::to_string(task_set::max_sweep_tasks) +
                           " tasks a sweep may have");
      }
      count *= p.values.size();
    }
  }

  std::size_t fixed_length = 0;
  for (const auto& s : segments) fixed_length += s.text.size();
  std::vector<task> tasks;
  tasks.reserve(count);
  std::vector<std::size_t> index(parameters.size(), 0);  // product: an odometer, the last digit fastest
  for (std::uint64_t id = 0; id < count; ++id) {
    if (zip) std::fill(index.begin(), index.end(), id);
    task t{id, {}, {}};
    t.command.reserve(fixed_length + 16 * parameters.size());
    for (const auto& s : segments) {
      t.command += s.text;
      if (s.parameter != segment::no_parameter) t.command += parameters[s.parameter].values[index[s.parameter]];
    }
    for (std::size_t j = 0; j < parameters.size(); ++j) {
      if (j > 0) t.label += ' ';
      t.label += parameters[j].name + "=" + parameters[j].values[index[j]];
    }
    tasks.push_back(std::move(t));
    if (!zip) {
      for (std::size_t j = parameters.size(); j-- > 0;) {
        if (++index[j] < parameters[j].values.size()) break;
        index[j] = 0;
      }
    }
  }
  return task_set(std::move(tasks));
}

task_set task_set::load(const std::string& path) {
  std::string extension = std::filesystem::path(path).extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return extension == ".toml" ? from_sweep_file(path) : from_command_file(path);
}

std::string task_set::fingerprint() const {
  fnv1a_64 hash;
  hash.add(static_cast<std::uint64_t>(tasks_.size()));
  for (const auto& t : tasks_) {
    hash.add(static_cast<std::uint64_t>(t.command.size()));
    hash.add(std::string_view(t.command));
  }
  static constexpr char digits[] = "0123456789abcdef";
  std::string text(16, '0');
  for (int i = 0; i < 16; ++i) text[static_cast<std::size_t>(15 - i)] = digits[(hash.value() >> (4 * i)) & 0xfU];
  return text;
}

}  // namespace plx::farm
