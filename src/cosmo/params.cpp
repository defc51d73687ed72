#include <parallax/cosmo/params.hpp>

#include <cmath>
#include <numbers>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include <parallax/core/error.hpp>

namespace plx::cosmo {

std::vector<double> pipeline_params::default_times() { return parse_times("0:4:10"); }

std::vector<double> parse_times(const std::string& text) {
  const auto number = [&](const std::string& item) {
    std::size_t used = 0;
    double value = 0;
    try {
      value = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || !std::isfinite(value)) {
      throw config_error("--times: '" + item + "' is not a number (in '" + text + "')");
    }
    return value;
  };
  std::vector<std::string> parts;
  const char separator = text.find(':') != std::string::npos ? ':' : ',';
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, separator);) parts.push_back(item);
  if (separator == ':') {
    if (parts.size() != 3) throw config_error("--times: '" + text + "' is not start:stop:count");
    const double start = number(parts[0]);
    const double stop = number(parts[1]);
    const double count = number(parts[2]);
    if (count < 1 || count != std::floor(count)) throw config_error("--times: count in '" + text + "' must be a whole number >= 1");
    std::vector<double> times;
    const auto steps = static_cast<int>(count);
    for (int i = 0; i < steps; ++i) times.push_back(steps == 1 ? start : start + (stop - start) * i / (steps - 1));
    return times;
  }
  std::vector<double> times;
  for (const auto& item : parts) times.push_back(number(item));
  if (times.empty()) throw config_error("--times: empty list");
  return times;
}

namespace {

std::string where(const std::string& path, const toml::node& node) {
  return path + ":" + std::to_string(node.source().begin.line);
}

template <class T>
void read_value(const toml::table& table, const std::string& path, const std::string& key, T& target) {
  const toml::node* node = table.get(key);
  if (node == nullptr) return;
  if constexpr (std::is_same_v<T, std::string>) {
    if (const auto v = node->value<std::string>()) {
      target = *v;
      return;
    }
  } else if constexpr (std::is_floating_point_v<T>) {
    if (const auto v = node->value<double>()) {  // toml++ also converts integers here
      target = *v;
      return;
    }
  } else {
    if (const auto v = node->value<std::int64_t>()) {
      target = static_cast<T>(*v);
      return;
    }
  }
  throw config_error(where(path, *node) + ": '" + key + "' has the wrong type");
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
  read_value(root, path, "dim", p.dim);
  read_value(root, path, "n", p.n);
  read_value(root, path, "box", p.box);
  std::int64_t seed = static_cast<std::int64_t>(p.seed);
  read_value(root, path, "seed", seed);
  p.seed = static_cast<std::uint64_t>(seed);
  read_value(root, path, "normalisation", p.normalisation);
  read_value(root, path, "out", p.out);
  if (const toml::node* times = root.get("times")) {
    if (const auto* list = times->as_array()) {
      p.times.clear();
      for (const auto& item : *list) {
        const auto v = item.value<double>();
        if (!v) throw config_error(where(path, item) + ": 'times' must hold numbers");
        p.times.push_back(*v);
      }
    } else if (const auto text = times->value<std::string>()) {
      p.times = parse_times(*text);
    } else {
      throw config_error(where(path, *times) + ": 'times' must be a list of numbers or \"start:stop:count\"");
    }
  }
  if (const toml::node* node = root.get("spectrum")) {
    const toml::table* s = node->as_table();
    if (s == nullptr) throw config_error(where(path, *node) + ": 'spectrum' must be a table ([spectrum])");
    reject_unknown(*s, path, {"model", "amplitude", "index", "omega_m", "omega_b", "h", "n_s", "sigma_8", "table"},
                   "spectrum.");
    read_value(*s, path, "model", p.spectrum.model);
    read_value(*s, path, "amplitude", p.spectrum.amplitude);
    read_value(*s, path, "index", p.spectrum.index);
    read_value(*s, path, "omega_m", p.spectrum.omega_m);
    read_value(*s, path, "omega_b", p.spectrum.omega_b);
    read_value(*s, path, "h", p.spectrum.h);
    read_value(*s, path, "n_s", p.spectrum.n_s);
    read_value(*s, path, "sigma_8", p.spectrum.sigma_8);
    read_value(*s, path, "table", p.spectrum.table_path);
  }
  if (const toml::node* node = root.get("fft")) {
    const toml::table* f = node->as_table();
    if (f == nullptr) throw config_error(where(path, *node) + ": 'fft' must be a table ([fft])");
    reject_unknown(*f, path, {"plan", "wisdom"}, "fft.");
    read_value(*f, path, "plan", p.plan);
    read_value(*f, path, "wisdom", p.wisdom);
  }
  return p;
}

void validate(const pipeline_params& p) {
  if (p.dim != 2 && p.dim != 3) throw config_error("--dim must be 2 or 3, not " + std::to_string(p.dim));
  if (p.n < 2) throw config_error("--n must be at least 2, not " + std::to_string(p.n));
  if (!(p.box > 0) || !std::isfinite(p.box)) throw config_error("--box must be positive, not " + std::to_string(p.box));
  if (p.times.empty()) throw config_error("--times: at least one time is needed");
  for (std::size_t i = 0; i < p.times.size(); ++i) {
    if (!(p.times[i] >= 0)) throw config_error("--times must be >= 0, not " + std::to_string(p.times[i]));
    if (i > 0 && !(p.times[i] > p.times[i - 1])) {
      throw config_error("--times must be increasing: " + std::to_string(p.times[i - 1]) + " is followed by " +
                         std::to_string(p.times[i]));
    }
  }
  if (p.normalisation != "unit-variance" && p.normalisation != "sigma8" && p.normalisation != "none") {
    throw config_error("normalisation '" + p.normalisation + "' is not one of: unit-variance, sigma8, none");
  }
  if (p.normalisation == "sigma8" && p.dim != 3) throw config_error("normalisation sigma8 needs dim = 3");
  if (p.plan != "estimate" && p.plan != "measure") throw config_error("plan '" + p.plan + "' is not one of: estimate, measure");
  if (p.out.empty()) throw config_error("--out must name a file");
  const auto spectrum = make_spectrum(p.spectrum);
  if (const auto range = spectrum->k_range()) {
    const double k_min = 2 * std::numbers::pi / p.box;
    const double k_max = k_min * std::sqrt(static_cast<double>(p.dim)) * static_cast<double>(p.n / 2);
    if (k_min < range->first || k_max > range->second) {
      throw config_error("the spectrum table covers k = " + std::to_string(range->first) + " .. " +
                         std::to_string(range->second) + " but the grid needs k = " + std::to_string(k_min) + " .. " +
                         std::to_string(k_max));
    }
  }
}

double memory_estimate_bytes(int dim, std::ptrdiff_t alloc_doubles, std::ptrdiff_t local_cells) {
  // Grids alive at the peak (the frames stage): density, potential, dim displacements, one frame; the
  // particles: position out and in (3 doubles each), destination and order indices.
  const double grids = 3.0 + dim;
  const double particle_bytes = 6 * sizeof(double) + sizeof(int) + sizeof(std::size_t);
  return grids * static_cast<double>(alloc_doubles) * sizeof(double) + particle_bytes * static_cast<double>(local_cells);
}

}  // namespace plx::cosmo
