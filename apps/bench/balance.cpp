#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include <parallax/app/json_line.hpp>
#include <parallax/dist/map.hpp>

#include "bench.hpp"

namespace plx::bench {

namespace {

// The tutorial workload: one task per word, each sleeping `unit` per character.
const std::vector<std::string> words = {"hello", "world", "how", "are", "you", "a", "b", "c", "d", "e", "f", "g"};

// Smallest possible makespan of `costs` on `workers` identical workers (exact: branch and bound).
int optimal_makespan(std::vector<int> costs, int workers) {
  std::sort(costs.rbegin(), costs.rend());
  const int total = std::accumulate(costs.begin(), costs.end(), 0);
  int best = total;
  std::vector<int> load(static_cast<std::size_t>(std::max(1, workers)), 0);
  const int bound = std::max(costs.empty() ? 0 : costs.front(), (total + workers - 1) / workers);
  std::function<void(std::size_t)> place = [&](std::size_t k) {
    if (best == bound) return;
    if (k == costs.size()) {
      best = std::min(best, *std::max_element(load.begin(), load.end()));
      return;
    }
    for (std::size_t w = 0; w < load.size(); ++w) {
      if (load[w] + costs[k] >= best) continue;
      if (w > 0 && load[w] == load[w - 1]) continue;  // symmetric to a worker already tried
      load[w] += costs[k];
      place(k + 1);
      load[w] -= costs[k];
    }
  };
  place(0);
  return best;
}

}  // namespace

int run_balance(runtime& rt, const balance_options& options) {
  map_options mo;
  mo.label = "balance";
  std::vector<double> makespans;
  for (int r = 0; r < options.repeats; ++r) {
    rt.world().barrier();
    const auto start = std::chrono::steady_clock::now();
    const auto lengths = map(rt.world(), words.size(), [&](std::size_t i) {
      std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(options.unit_ms * words[i].size()));
      return static_cast<int>(words[i].size());
    }, mo);
    makespans.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(makespans.begin(), makespans.end());
  const double makespan = makespans[makespans.size() / 2];

  int workers = 0;
  const int mine = rt.threads();
  MPI_Allreduce(&mine, &workers, 1, MPI_INT, MPI_SUM, rt.world().native());
  std::vector<int> costs;
  for (const auto& w : words) costs.push_back(static_cast<int>(w.size()));
  const double optimum = optimal_makespan(costs, workers) * options.unit_ms / 1000.0;
  if (rt.is_root()) {
    if (options.json) {
      print_json_line({{"benchmark", "balance"},
                       {"workers", workers},
                       {"makespan_s", rounded(makespan, 4)},
                       {"optimum_s", rounded(optimum, 4)},
                       {"ratio", rounded(makespan / optimum, 4)}});
    } else {
      std::printf("balance: 12 tasks, %d workers (%d ranks x %d threads): makespan %.3f s, best possible %.3f s, "
                  "ratio %.3f\n",
                  workers, rt.size(), rt.threads(), makespan, optimum, makespan / optimum);
    }
  }
  return 0;
}

}  // namespace plx::bench
