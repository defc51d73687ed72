#include <parallax/core/thread_count.hpp>

#include <algorithm>
#include <charconv>
#include <cstdlib>

#include <parallax/core/error.hpp>

namespace plx {

namespace {

int parse_positive(const std::string& text, const char* name) {
  // OMP_NUM_THREADS may list one count per nesting level; the outer level is ours.
  const std::string first = text.substr(0, text.find(','));
  int value = 0;
  const char* begin = first.data();
  const char* end = first.data() + first.size();
  while (begin != end && *begin == ' ') ++begin;
  const auto [stop, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc{} || stop != end || value < 1) {
    throw config_error(std::string(name) + "='" + text + "' is not a positive integer thread count");
  }
  return value;
}

std::optional<std::string> environment(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

}  // namespace

thread_choice resolve_thread_count(const thread_sources& sources) {
  if (sources.option) {
    if (*sources.option < 1) {
      throw config_error("--threads " + std::to_string(*sources.option) + " must be at least 1");
    }
    return {*sources.option, "--threads"};
  }
  if (sources.omp_num_threads) {
    return {parse_positive(*sources.omp_num_threads, "OMP_NUM_THREADS"), "OMP_NUM_THREADS"};
  }
  if (sources.slurm_cpus_per_task) {
    return {parse_positive(*sources.slurm_cpus_per_task, "SLURM_CPUS_PER_TASK"), "SLURM_CPUS_PER_TASK"};
  }
  const int ranks = std::max(1, sources.ranks_on_node);
  return {std::max(1, sources.node_cores / ranks), "cores/ranks"};
}

thread_sources thread_sources_from_environment(std::optional<int> option, int node_cores, int ranks_on_node) {
  return {option, environment("OMP_NUM_THREADS"), environment("SLURM_CPUS_PER_TASK"), node_cores,
          ranks_on_node};
}

}  // namespace plx
