#include <parallax/core/layout.hpp>

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <sstream>
#include <string_view>

#include <mpi.h>
#include <omp.h>

#include <fmt/format.h>

#include <parallax/core/error.hpp>

namespace plx {

std::vector<int> bound_cpus() {
  std::vector<int> cpus;
  // With OMP_PROC_BIND set, the OpenMP runtime pins the initial thread to the first place at start-up, so
  // this thread's mask shows one core where the rank's threads have all of them: the places (built from the
  // mask the rank started with) are the truth then.
  if (const int places = omp_get_num_places(); places > 0 && omp_get_proc_bind() != omp_proc_bind_false) {
    for (int place = 0; place < places; ++place) {
      std::vector<int> ids(static_cast<std::size_t>(omp_get_place_num_procs(place)));
      omp_get_place_proc_ids(place, ids.data());
      cpus.insert(cpus.end(), ids.begin(), ids.end());
    }
    std::sort(cpus.begin(), cpus.end());
    cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
    return cpus;
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

namespace {

std::string host_name() {
  char name[MPI_MAX_PROCESSOR_NAME] = {};
  int length = 0;
  detail::check_mpi(MPI_Get_processor_name(name, &length), "MPI_Get_processor_name");
  return std::string(name, static_cast<std::size_t>(length));
}

// Fixed-size record so that one MPI_Gather moves every rank's placement.
constexpr std::size_t host_chars = MPI_MAX_PROCESSOR_NAME;
constexpr std::size_t max_cpus = 1024;
constexpr std::size_t slurm_node_chars = 256;
struct placement_record {
  int numbers[6];  // rank, node_rank, node_size, node_cores, threads, cpu count
  char host[host_chars];
  char slurm_node[slurm_node_chars];
  int cpus[max_cpus];
};

}  // namespace

rank_placement local_placement(int rank, int node_rank, int node_size, int threads) {
  rank_placement p;
  p.rank = rank;
  p.host = host_name();
  if (const char* node = std::getenv("SLURMD_NODENAME")) p.slurm_node = node;
  p.node_rank = node_rank;
  p.node_size = node_size;
  p.node_cores = static_cast<int>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
  p.threads = threads;
  p.cpus = bound_cpus();
  return p;
}

std::vector<rank_placement> gather_layout(const communicator& comm, const rank_placement& mine) {
  placement_record record{};
  record.numbers[0] = mine.rank;
  record.numbers[1] = mine.node_rank;
  record.numbers[2] = mine.node_size;
  record.numbers[3] = mine.node_cores;
  record.numbers[4] = mine.threads;
  const std::size_t ncpus = std::min(mine.cpus.size(), max_cpus);
  record.numbers[5] = static_cast<int>(ncpus);
  std::strncpy(record.host, mine.host.c_str(), host_chars - 1);
  std::strncpy(record.slurm_node, mine.slurm_node.c_str(), slurm_node_chars - 1);
  std::copy_n(mine.cpus.begin(), ncpus, record.cpus);

  std::vector<placement_record> all(comm.is_root() ? static_cast<std::size_t>(comm.size()) : 0);
  detail::check_mpi(MPI_Gather(&record, sizeof(record), MPI_BYTE, all.data(), sizeof(record), MPI_BYTE, 0,
                               comm.native()),
                    "MPI_Gather");
  std::vector<rank_placement> layout;
  layout.reserve(all.size());
  for (const placement_record& r : all) {
    rank_placement p;
    p.rank = r.numbers[0];
    p.node_rank = r.numbers[1];
    p.node_size = r.numbers[2];
    p.node_cores = r.numbers[3];
    p.threads = r.numbers[4];
    p.host = r.host;
    p.slurm_node = r.slurm_node;
    p.cpus.assign(r.cpus, r.cpus + r.numbers[5]);
    layout.push_back(std::move(p));
  }
  return layout;
}

std::string format_cpu_list(std::vector<int> cpus) {
  std::sort(cpus.begin(), cpus.end());
  cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
  std::string out;
  for (std::size_t i = 0; i < cpus.size();) {
    std::size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(cpus[i]);
    if (j > i) out += '-' + std::to_string(cpus[j]);
    i = j + 1;
  }
  return out.empty() ? "-" : out;
}

std::string layout_table(const std::vector<rank_placement>& layout) {
  std::size_t host_width = 4;
  for (const auto& p : layout) host_width = std::max(host_width, p.host.size());
  // The host's short name is the usual SLURM node name: the column is shown only when it tells more.
  const bool show_node = std::any_of(layout.begin(), layout.end(), [](const rank_placement& p) {
    return !p.slurm_node.empty() && p.slurm_node != p.host.substr(0, p.host.find('.'));
  });
  std::size_t node_width = std::string_view("slurm-node").size();
  for (const auto& p : layout) node_width = std::max(node_width, p.slurm_node.size());
  const auto node_cell = [&](const std::string& text) {
    return show_node ? fmt::format("  {:<{}}", text, node_width) : std::string();
  };
  std::string out = fmt::format("{:>5}  {:<{}}{}  {:>9}  {:>7}  {}\n", "rank", "host", host_width,
                                node_cell("slurm-node"), "node-rank", "threads", "cores");
  for (const auto& p : layout) {
    out += fmt::format("{:>5}  {:<{}}{}  {:>5}/{:<3}  {:>7}  {} ({} of {})\n", p.rank, p.host, host_width,
                       node_cell(p.slurm_node.empty() ? "-" : p.slurm_node), p.node_rank, p.node_size, p.threads,
                       format_cpu_list(p.cpus), p.cpus.size(), p.node_cores);
  }
  return out;
}

std::optional<std::string> oversubscription_warning(const std::vector<rank_placement>& layout) {
  struct node_load {
    int threads = 0;
    int ranks = 0;
    int cores = 0;
  };
  std::map<std::string, node_load> nodes;
  std::vector<std::string> problems;
  for (const auto& p : layout) {
    auto& n = nodes[p.host];
    n.threads += p.threads;
    n.ranks += 1;
    n.cores = p.node_cores;
  }
  for (const auto& [host, n] : nodes) {
    if (n.threads > n.cores && n.threads > n.ranks) {
      problems.push_back(fmt::format(
          "node {} runs {} threads ({} ranks) on {} cores; lower --threads (or OMP_NUM_THREADS / "
          "--cpus-per-task) so that ranks x threads <= cores",
          host, n.threads, n.ranks, n.cores));
    } else if (n.threads > n.cores) {  // one thread per rank already: only fewer ranks help
      problems.push_back(fmt::format("node {} runs {} ranks of 1 thread on {} cores; start fewer ranks per node "
                                     "(mpirun -n, srun --ntasks-per-node) so that ranks <= cores",
                                     host, n.ranks, n.cores));
    }
  }
  std::size_t narrow = 0;
  const rank_placement* first_narrow = nullptr;
  for (const auto& p : layout) {
    if (!p.cpus.empty() && static_cast<int>(p.cpus.size()) < p.threads) {
      ++narrow;
      if (first_narrow == nullptr) first_narrow = &p;
    }
  }
  if (first_narrow != nullptr) {
    problems.push_back(fmt::format(
        "{} rank(s) are bound to fewer cores than their threads (rank {} runs {} threads on cores {}); "
        "with mpirun use --bind-to none or --map-by slot:PE={}, with srun pass --cpus-per-task={}",
        narrow, first_narrow->rank, first_narrow->threads, format_cpu_list(first_narrow->cpus),
        first_narrow->threads, first_narrow->threads));
  }
  if (problems.empty()) return std::nullopt;
  std::string text = "warning: oversubscribed layout, threads will compete for cores:";
  for (const auto& line : problems) text += "\n  - " + line;
  return text;
}

}  // namespace plx
