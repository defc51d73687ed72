#include <parallax/app/unknown_option.hpp>

#include <algorithm>
#include <cstdlib>
#include <vector>

namespace plx {

namespace {

// Every option name of `cli` and of its subcommands, with their dashes ("--n", "-h").
void collect_names(const CLI::App& cli, std::vector<std::string>& names) {
  for (const CLI::Option* option : cli.get_options()) {
    for (const std::string& name : option->get_lnames()) names.push_back("--" + name);
    for (const std::string& name : option->get_snames()) names.push_back("-" + name);
  }
  for (const CLI::App* sub : cli.get_subcommands([](const CLI::App*) { return true; })) collect_names(*sub, names);
}

bool is_number(const std::string& text) {
  if (text.empty()) return false;
  char* end = nullptr;
  std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size();
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string nearest_name(const std::string& name, std::span<const std::string> known) {
  std::string best;
  std::size_t best_distance = std::max<std::size_t>(1, name.size() / 3) + 1;
  for (const std::string& candidate : known) {
    const std::size_t distance = edit_distance(name, candidate);
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

std::optional<std::string> find_unknown_option(const CLI::App& cli, std::span<const std::string> args) {
  std::vector<std::string> names;
  collect_names(cli, names);
  for (const std::string& arg : args) {
    if (arg == "--") break;
    if (arg.size() < 2 || arg[0] != '-' || is_number(arg)) continue;
    const std::string name = arg.substr(0, arg.find('='));
    if (arg[1] != '-' && name.size() > 2) {
      // -abc: CLI11 reads a cluster of short flags, or -a with the value bc; a known first letter is enough.
      if (std::find(names.begin(), names.end(), name.substr(0, 2)) != names.end()) continue;
    }
    if (std::find(names.begin(), names.end(), name) != names.end()) continue;
    std::string message = "unknown option '" + name + "'";
    const std::string nearest = nearest_name(name, names);
    if (!nearest.empty()) message += ": did you mean '" + nearest + "'?";
    return message + " (" + cli.get_name() + " --help lists the options)";
  }
  return std::nullopt;
}

}  // namespace plx
