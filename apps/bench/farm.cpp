#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <mpi.h>

#include <fmt/format.h>

#include <parallax/app/json_line.hpp>
#include <parallax/core/collectives.hpp>
#include <parallax/farm/farm.hpp>

#include "bench.hpp"

namespace plx::bench {

namespace {

// `extra_json`: the fields after tasks_per_s, in order.
void report(bool as_json, const char* tool, std::size_t tasks, double seconds, const json& extra_json,
            const std::string& extra_text) {
  const double rate = static_cast<double>(tasks) / seconds;
  if (as_json) {
    json line = {{"benchmark", "farm"},
                 {"tool", tool},
                 {"tasks", tasks},
                 {"seconds", rounded(seconds, 3)},
                 {"tasks_per_s", rounded(rate, 1)}};
    for (const auto& [key, value] : extra_json.items()) line[key] = value;
    print_json_line(line);
  } else {
    std::printf("  %-14s %8.3f s  %9.1f tasks/s%s\n", tool, seconds, rate, extra_text.c_str());
  }
  std::fflush(stdout);
}

}  // namespace

int run_farm_bench(runtime& rt, const farm_bench_options& options) {
  const communicator& comm = rt.world();
  const std::string dir = scratch_directory(comm, "farm");
  if (comm.is_root()) {
    std::ofstream out(dir + "/tasks.txt");
    for (std::size_t i = 0; i < options.tasks; ++i) out << "true\n";
  }
  comm.barrier();  // the task file is complete before any rank loads it

  const int workers = comm.size() * rt.threads();
  if (comm.is_root() && !options.json) {
    std::printf("farm: %zu 'true' commands, %d ranks x %d slots; peers with %d workers\n", options.tasks, comm.size(),
                rt.threads(), workers);
  }
  const farm::task_set tasks = farm::task_set::load(dir + "/tasks.txt");
  farm::farm_options fo;
  fo.workdir = dir + "/work";
  comm.barrier();
  const auto start = std::chrono::steady_clock::now();
  const farm::farm_summary s = farm::run_farm(comm, tasks, fo);
  comm.barrier();
  const double farm_s = seconds_since(start);
  if (comm.is_root()) {
    const double journal_us = s.journal_seconds * 1e6 / static_cast<double>(options.tasks);
    report(options.json, "plx-run", options.tasks, farm_s,
           json{{"ranks", comm.size()}, {"slots", rt.threads()}, {"journal_us_per_task", rounded(journal_us, 1)}},
           fmt::format("  (journal {:.1f} us/task on root)", journal_us));
    // The peers run on one node only, from root, with the same number of workers.
    const auto peer = [&](const char* tool, const std::string& command) {
      const auto t0 = std::chrono::steady_clock::now();
      const int code = std::system(command.c_str());
      const double seconds = seconds_since(t0);
      if (code != 0) {
        std::fprintf(stderr, "plx-bench: %s failed (%d): is it installed? %s\n", tool, code, command.c_str());
        return;
      }
      report(options.json, tool, options.tasks, seconds, json{{"workers", workers}}, "");
    };
    peer("gnu-parallel", fmt::format("parallel --will-cite -j {} < {}/tasks.txt", workers, dir));
    peer("xargs", fmt::format("xargs -d '\\n' -P {} -n 1 sh -c < {}/tasks.txt", workers, dir));
    std::filesystem::remove_all(dir);
  }
  return 0;
}

}  // namespace plx::bench
