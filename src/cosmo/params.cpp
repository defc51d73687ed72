#include <parallax/cosmo/params.hpp>

#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <numbers>
#include <set>
#include <sstream>
#include <utility>

#include <fmt/format.h>
#include <toml++/toml.h>

#include <parallax/core/error.hpp>

namespace plx::cosmo {

std::vector<double> pipeline_params::default_times() { return parse_times("0:4:10"); }

std::vector<double> parse_times(const std::string& text, const std::string& name) {
  const auto number = [&](const std::string& item) {
    std::size_t used = 0;
    double value = 0;
    try {
      value = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || !std::isfinite(value)) {
      throw config_error(name + ": '" + item + "' is not a number (in '" + text + "')");
    }
    return value;
  };
  std::vector<std::string> parts;
  const char separator = text.find(':') != std::string::npos ? ':' : ',';
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, separator);) parts.push_back(item);
  if (separator == ':') {
    if (parts.size() != 3) throw config_error(name + ": '" + text + "' is not start:stop:count");
    const double start = number(parts[0]);
    const double stop = number(parts[1]);
    const double count = number(parts[2]);
    if (count < 1 || count != std::floor(count)) throw config_error(name + ": count in '" + text + "' must be a whole number >= 1");
    // Before any cast: a count past INT_MAX would wrap (3e9 became "no times at all").
    if (count > static_cast<double>(max_times)) {
      throw config_error(fmt::format("{}: count in '{}' is too large: at most {} times", name, text, max_times));
    }
    std::vector<double> times;
    const auto steps = static_cast<std::size_t>(count);
    for (std::size_t i = 0; i < steps; ++i) times.push_back(steps == 1 ? start : start + (stop - start) * i / (steps - 1));
    return times;
  }
  std::vector<double> times;
  for (const auto& item : parts) times.push_back(number(item));
  if (times.empty()) throw config_error(name + ": empty list");
  return times;
}

void check_times(const std::vector<double>& times, const std::string& name) {
  if (times.empty()) throw config_error(name + ": at least one time is needed");
  if (times.size() > max_times) {
    throw config_error(fmt::format("{}: {} times are too many: at most {}", name, times.size(), max_times));
  }
  for (std::size_t i = 0; i < times.size(); ++i) {
    if (!(times[i] >= 0)) throw config_error(name + " must be >= 0, not " + std::to_string(times[i]));
    if (i > 0 && !(times[i] > times[i - 1])) {
      throw config_error(name + " must be increasing: " + std::to_string(times[i - 1]) + " is followed by " +
                         std::to_string(times[i]));
    }
  }
}

namespace {

// The command-line flag of each key that has one: a value not read from the file is named by its flag.
const std::map<std::string, std::string>& flag_of_key() {
  static const std::map<std::string, std::string> flags = {
      {"dim", "--dim"},
      {"n", "--n"},
      {"box", "--box"},
      {"seed", "--seed"},
      {"times", "--times"},
      {"normalisation", "--normalisation"},
      {"out", "--out"},
      {"spectrum.model", "--spectrum"},
      {"spectrum.table", "--table"},
      {"fft.plan", "--plan"},
      {"fft.wisdom", "--wisdom"},
  };
  return flags;
}

// How an error names parameter `key`: "p.toml:3: 'n'" when the value came from a file, else "--n" (or the
// key itself for a parameter without a flag, e.g. "spectrum.h").
std::string name_of(const pipeline_params& p, const std::string& key) {
  if (const auto at = p.file_origin.find(key); at != p.file_origin.end()) return at->second + ": '" + key + "'";
  if (const auto flag = flag_of_key().find(key); flag != flag_of_key().end()) return flag->second;
  return key;
}

std::string where(const std::string& path, const toml::node& node) {
  return path + ":" + std::to_string(node.source().begin.line);
}

// Reads `key` of `table` (in `section`, "" or "spectrum.") into `target` if present, and records its origin.
template <class T>
void read_value(const toml::table& table, const std::string& path, const std::string& section, const std::string& key,
                T& target, pipeline_params& p) {
  const toml::node* node = table.get(key);
  if (node == nullptr) return;
  const std::string full_key = section + key;
  bool read = false;
  if constexpr (std::is_same_v<T, std::string>) {
    if (const auto v = node->value<std::string>()) {
      target = *v;
      read = true;
    }
  } else if constexpr (std::is_floating_point_v<T>) {
    if (const auto v = node->value<double>()) {  // toml++ also converts integers here
      target = *v;
      read = true;
    }
  } else {
    if (const auto v = node->value<std::int64_t>()) {
      if (!std::in_range<T>(*v)) {
        throw config_error(where(path, *node) + ": '" + full_key + "' = " + std::to_string(*v) + " is out of range");
      }
      target = static_cast<T>(*v);
      read = true;
    }
  }
  if (!read) throw config_error(where(path, *node) + ": '" + full_key + "' has the wrong type");
  p.file_origin[full_key] = where(path, *node);
}

// The seed is unsigned 64-bit; TOML's integers are signed 64-bit, so a seed above 2^63 - 1 is written as a
// string of digits.
void read_seed(const toml::table& root, const std::string& path, pipeline_params& p) {
  const toml::node* node = root.get("seed");
  if (node == nullptr) return;
  const std::string name = where(path, *node) + ": 'seed'";
  if (const auto v = node->value_exact<std::int64_t>()) {
    if (*v < 0) throw config_error(name + " must be at least 0, not " + std::to_string(*v));
    p.seed = static_cast<std::uint64_t>(*v);
  } else if (const auto text = node->value_exact<std::string>()) {
    std::uint64_t value = 0;
    const char* end = text->data() + text->size();
    const auto [stop, error] = std::from_chars(text->data(), end, value);
    if (text->empty() || error != std::errc{} || stop != end) {
      throw config_error(name + ": \"" + *text + "\" is not a whole number from 0 to " +
                         std::to_string(std::numeric_limits<std::uint64_t>::max()));
    }
    p.seed = value;
  } else {
    throw config_error(name + " has the wrong type (a whole number >= 0, or one in a string above 2^63 - 1)");
  }
  p.file_origin["seed"] = where(path, *node);
}

void reject_unknown(const toml::table& table, const std::string& path, const std::set<std::string>& known,
                    const std::string& section) {
  for (const auto& [key, node] : table) {
    if (known.count(std::string(key.str())) == 0) {
      throw config_error(where(path, node) + ": unknown key '" + section + std::string(key.str()) + "'");
    }
  }
}

}  // namespace

pipeline_params load_params(const std::string& path, pipeline_params p) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& source = e.source();
    if (source.begin.line == 0) throw config_error("cannot read parameter file " + path + ": " + std::string(e.description()));
    throw config_error(path + ":" + std::to_string(source.begin.line) + ": " + std::string(e.description()));
  }
  reject_unknown(root, path, {"dim", "n", "box", "seed", "times", "normalisation", "out", "spectrum", "fft"}, "");
  read_value(root, path, "", "dim", p.dim, p);
  read_value(root, path, "", "n", p.n, p);
  read_value(root, path, "", "box", p.box, p);
  read_seed(root, path, p);
  read_value(root, path, "", "normalisation", p.normalisation, p);
  read_value(root, path, "", "out", p.out, p);
  if (const toml::node* times = root.get("times")) {
    const std::string origin = where(path, *times);
    if (const auto* list = times->as_array()) {
      p.times.clear();
      for (const auto& item : *list) {
        const auto v = item.value<double>();
        if (!v) throw config_error(where(path, item) + ": 'times' must hold numbers");
        p.times.push_back(*v);
      }
    } else if (const auto text = times->value<std::string>()) {
      p.times = parse_times(*text, origin + ": 'times'");
    } else {
      throw config_error(origin + ": 'times' must be a list of numbers or \"start:stop:count\"");
    }
    p.file_origin["times"] = origin;
  }
  if (const toml::node* node = root.get("spectrum")) {
    const toml::table* s = node->as_table();
    if (s == nullptr) throw config_error(where(path, *node) + ": 'spectrum' must be a table ([spectrum])");
    p.file_origin["spectrum"] = where(path, *node);
    reject_unknown(*s, path, {"model", "amplitude", "index", "omega_m", "omega_b", "h", "n_s", "sigma_8", "table"},
                   "spectrum.");
    read_value(*s, path, "spectrum.", "model", p.spectrum.model, p);
    read_value(*s, path, "spectrum.", "amplitude", p.spectrum.amplitude, p);
    read_value(*s, path, "spectrum.", "index", p.spectrum.index, p);
    read_value(*s, path, "spectrum.", "omega_m", p.spectrum.omega_m, p);
    read_value(*s, path, "spectrum.", "omega_b", p.spectrum.omega_b, p);
    read_value(*s, path, "spectrum.", "h", p.spectrum.h, p);
    read_value(*s, path, "spectrum.", "n_s", p.spectrum.n_s, p);
    read_value(*s, path, "spectrum.", "sigma_8", p.spectrum.sigma_8, p);
    read_value(*s, path, "spectrum.", "table", p.spectrum.table_path, p);
  }
  if (const toml::node* node = root.get("fft")) {
    const toml::table* f = node->as_table();
    if (f == nullptr) throw config_error(where(path, *node) + ": 'fft' must be a table ([fft])");
    reject_unknown(*f, path, {"plan", "wisdom"}, "fft.");
    read_value(*f, path, "fft.", "plan", p.plan, p);
    read_value(*f, path, "fft.", "wisdom", p.wisdom, p);
  }
  return p;
}

void apply_flags(pipeline_params& p, const pipeline_flags& flags) {
  // Each flag given takes its key's value, and errors about it name the flag from now on.
  const auto set = [&p](const auto& flag, auto& target, const char* key) {
    if (!flag) return;
    target = *flag;
    p.file_origin.erase(key);
  };
  set(flags.dim, p.dim, "dim");
  set(flags.n, p.n, "n");
  set(flags.box, p.box, "box");
  set(flags.seed, p.seed, "seed");
  set(flags.spectrum, p.spectrum.model, "spectrum.model");
  set(flags.table, p.spectrum.table_path, "spectrum.table");
  set(flags.normalisation, p.normalisation, "normalisation");
  set(flags.out, p.out, "out");
  set(flags.plan, p.plan, "fft.plan");
  set(flags.wisdom, p.wisdom, "fft.wisdom");
  if (flags.times) {
    p.times = parse_times(*flags.times);
    p.file_origin.erase("times");
  }
  p.force = p.force || flags.force;
}

void validate(const pipeline_params& p) {
  const auto name = [&p](const std::string& key) { return name_of(p, key); };
  if (p.dim != 2 && p.dim != 3) throw config_error(name("dim") + " must be 2 or 3, not " + std::to_string(p.dim));
  if (p.n < 2) throw config_error(name("n") + " must be at least 2, not " + std::to_string(p.n));
  if (!(p.box > 0) || !std::isfinite(p.box)) throw config_error(name("box") + " must be positive, not " + std::to_string(p.box));
  check_times(p.times, name("times"));
  if (p.normalisation != "unit-variance" && p.normalisation != "sigma8" && p.normalisation != "none") {
    throw config_error(name("normalisation") + ": '" + p.normalisation + "' is not one of: unit-variance, sigma8, none");
  }
  if (p.normalisation == "sigma8" && p.dim != 3) {
    throw config_error(name("normalisation") + ": sigma8 needs dim = 3 (" + name("dim") + " is " + std::to_string(p.dim) + ")");
  }
  if (p.plan != "estimate" && p.plan != "measure") {
    throw config_error(name("fft.plan") + ": '" + p.plan + "' is not one of: estimate, measure");
  }
  if (p.out.empty()) throw config_error(name("out") + " must name a file");
  if (!is_spectrum_model(p.spectrum.model)) {
    throw config_error(name("spectrum.model") + ": unknown spectrum model '" + p.spectrum.model +
                       "' (known: workshop, powerlaw, eisenstein-hu, table)");
  }
  const bool table = p.spectrum.model == "table";
  if (table && p.spectrum.table_path.empty()) {
    throw config_error(name("spectrum.model") + ": the table spectrum needs a \"k P\" file (--table, or table in [spectrum])");
  }
  // A table's errors are the file's (unreadable, not increasing); the other models' are their parameters', all
  // in the [spectrum] table when they come from a file.
  const std::string spectrum_name = table ? name("spectrum.table") : name("spectrum");
  std::unique_ptr<power_spectrum> spectrum;
  try {
    spectrum = make_spectrum(p.spectrum);
  } catch (const config_error& e) {
    throw config_error(spectrum_name + ": " + e.what());
  }
  if (const auto range = spectrum->k_range()) {
    const double k_min = 2 * std::numbers::pi / p.box;
    const double k_max = k_min * std::sqrt(static_cast<double>(p.dim)) * static_cast<double>(p.n / 2);
    if (k_min < range->first || k_max > range->second) {
      throw config_error(spectrum_name + ": the spectrum table covers k = " + std::to_string(range->first) + " .. " +
                         std::to_string(range->second) + " but the grid needs k = " + std::to_string(k_min) + " .. " +
                         std::to_string(k_max) + " (" + name("box") + ", " + name("n") + ")");
    }
  }
}

}  // namespace plx::cosmo
