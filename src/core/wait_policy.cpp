#include <parallax/core/wait_policy.hpp>

#include <strings.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

#include <parallax/core/error.hpp>
#include <parallax/core/layout.hpp>
#include <parallax/core/thread_count.hpp>

extern "C" {
extern char** environ;  // POSIX: handed on unchanged (plus our two variables) to the restarted program
}

namespace plx {

namespace {

std::optional<int> positive(std::string_view text) {
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value < 1) return std::nullopt;
  return value;
}

/// The largest count in a SLURM task list such as "2(x3),1".
std::optional<int> largest_slurm_count(const std::string& list) {
  std::optional<int> largest;
  std::string_view rest(list);
  while (!rest.empty()) {
    const std::size_t comma = rest.find(',');
    std::string_view entry = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    if (const std::size_t repeat = entry.find('('); repeat != std::string_view::npos) entry = entry.substr(0, repeat);
    const auto count = positive(entry);
    if (!count) return std::nullopt;  // not a list we understand: say nothing rather than guess
    largest = std::max(largest.value_or(0), *count);
  }
  return largest;
}

std::optional<std::string> environment(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

std::optional<std::string> set_environment(const char* name) {
  auto value = environment(name);
  if (value && value->empty()) return std::nullopt;
  return value;
}

/// Started without any launcher (no variable of Open MPI, PMI, PMIx or SLURM's step): one rank, a singleton.
bool started_alone() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMI_RANK", "PMIX_RANK", "MPI_LOCALNRANKS", "SLURM_STEP_ID"}) {
    if (std::getenv(name) != nullptr) return false;
  }
  return true;
}

}  // namespace

bool is_crowded(const crowding_facts& facts) {
  // One thread per rank: no OpenMP worker exists to spin, so there is nothing to change.
  if (facts.threads <= 1) return false;
  const long ranks = std::max(1, facts.ranks_on_node);
  const long usable = std::min(ranks * std::max(1, facts.bound_cpus), static_cast<long>(std::max(1, facts.node_cpus)));
  return facts.threads > facts.bound_cpus || ranks * facts.threads > usable;
}

std::optional<int> ranks_on_node_from_launcher(const std::optional<std::string>& ompi_local_size,
                                               const std::optional<std::string>& mpich_local_size,
                                               const std::optional<std::string>& slurm_tasks_per_node) {
  if (ompi_local_size) return positive(*ompi_local_size);
  if (mpich_local_size) return positive(*mpich_local_size);
  if (slurm_tasks_per_node) return largest_slurm_count(*slurm_tasks_per_node);
  return std::nullopt;
}

bool should_restart_with_passive_wait(const wait_policy_inputs& inputs) {
  if (inputs.omp_wait_policy || inputs.gomp_spincount) return false;  // the user chose
  if (inputs.restarted || inputs.mpi_initialized || !inputs.facts) return false;
  // libgomp shortens its spin to 100 rounds by itself when a process has more threads than cores (2 ranks x
  // 2 threads bound to a core each: 26 us per call either way); what it cannot see is other ranks on its cores.
  const bool libgomp_throttles = inputs.facts->threads > inputs.facts->bound_cpus;
  return is_crowded(*inputs.facts) && !libgomp_throttles;
}

namespace detail {

std::vector<std::string> process_command_line() {
  std::ifstream file("/proc/self/cmdline", std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  std::vector<std::string> arguments;
  std::size_t begin = 0;
  while (begin < text.size()) {
    const std::size_t end = text.find('\0', begin);
    arguments.push_back(text.substr(begin, end == std::string::npos ? std::string::npos : end - begin));
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  return arguments;
}

bool apply_crowded_wait_policy(std::optional<int> option_threads) {
  if (std::getenv(passive_restart_marker) != nullptr) {
    // The restarted program: libgomp has read OMP_WAIT_POLICY by now (at load time). Commands this program
    // starts get the user's environment back.
    ::unsetenv("OMP_WAIT_POLICY");
    ::unsetenv(passive_restart_marker);
    return true;
  }
  wait_policy_inputs inputs;
  inputs.omp_wait_policy = environment("OMP_WAIT_POLICY");
  inputs.gomp_spincount = environment("GOMP_SPINCOUNT");
  const auto launcher_ranks = ranks_on_node_from_launcher(set_environment("OMPI_COMM_WORLD_LOCAL_SIZE"),
                                                 set_environment("MPI_LOCALNRANKS"),
                                                 set_environment("SLURM_STEP_TASKS_PER_NODE"));
  const std::optional<int> ranks = launcher_ranks ? launcher_ranks : started_alone() ? std::optional<int>(1) : std::nullopt;
  if (ranks) {
    crowding_facts facts;
    facts.ranks_on_node = *ranks;
    facts.node_cpus = static_cast<int>(std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN)));
    facts.bound_cpus = std::max(1, static_cast<int>(bound_cpus().size()));
    try {
      facts.threads = resolve_thread_count(thread_sources_from_environment(option_threads, facts.node_cpus, *ranks)).threads;
      inputs.facts = facts;
    } catch (const config_error&) {
      // A bad thread count: the runtime reports it on every rank after MPI_Init; nothing to decide here.
    }
  }
  if (!should_restart_with_passive_wait(inputs)) return false;

  std::vector<std::string> arguments = process_command_line();
  if (arguments.empty()) return false;
  std::vector<char*> argv;
  for (std::string& argument : arguments) argv.push_back(argument.data());
  argv.push_back(nullptr);
  ::setenv("OMP_WAIT_POLICY", "passive", 1);
  ::setenv(passive_restart_marker, "1", 1);
  // Buffered stdout is dropped, not flushed: the restarted program writes it again.
  ::execve("/proc/self/exe", argv.data(), environ);
  const int code = errno;
  ::unsetenv("OMP_WAIT_POLICY");
  ::unsetenv(passive_restart_marker);
  std::fprintf(stderr,
               "parallax: warning: crowded node, but restarting with OMP_WAIT_POLICY=passive failed (execve "
               "/proc/self/exe: %s); set OMP_WAIT_POLICY=passive yourself\n",
               std::strerror(code));
  return false;
}

namespace {
std::atomic<bool> lazy_wake{false};
}  // namespace

bool lazy_team_wake() noexcept { return lazy_wake.load(std::memory_order_relaxed); }
void set_lazy_team_wake(bool lazy) noexcept { lazy_wake.store(lazy, std::memory_order_relaxed); }

bool lazy_team_wake_pays(int ranks_on_node, int bound_cpus, int node_cpus) noexcept {
  return bound_cpus <= 1 || ranks_on_node >= node_cpus;
}

bool is_passive_wait_policy(const char* value) noexcept { return value != nullptr && strcasecmp(value, "passive") == 0; }

}  // namespace detail

}  // namespace plx
