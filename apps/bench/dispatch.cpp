#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <parallax/app/json_line.hpp>
#include <parallax/dist/map.hpp>

#include "bench.hpp"

namespace plx::bench {

int run_dispatch(runtime& rt, const dispatch_options& options) {
  struct bench_case {
    plx::schedule schedule;
    const char* name;
  };
  const bench_case cases[] = {
      {plx::schedule::static_blocks(1), "static"},
      {plx::schedule::static_blocks(), "static"},
      {plx::schedule::dynamic(1), "dynamic"},
      {plx::schedule::dynamic(), "dynamic"},
  };
  if (rt.is_root() && !options.json) {
    std::printf("dispatch: %zu empty tasks (ordered map, results gathered on root), %d ranks x %d threads, "
                "median of %d\n",
                options.tasks, rt.size(), rt.threads(), options.repeats);
    std::printf("%-8s  %6s  %12s\n", "schedule", "chunk", "us/task");
  }
  for (const bench_case& c : cases) {
    map_options mo;
    mo.schedule = c.schedule;
    mo.label = "dispatch";
    std::vector<double> seconds;
    for (int r = 0; r < options.repeats + 1; ++r) {  // the first run warms up pages and the window
      rt.world().barrier();
      const auto start = std::chrono::steady_clock::now();
      const auto results =
          map(rt.world(), options.tasks, [](std::size_t i) { return static_cast<std::uint8_t>(i); }, mo);
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (r > 0) seconds.push_back(elapsed);
    }
    const double us_per_task = median(seconds) * 1e6 / static_cast<double>(options.tasks);
    const std::string chunk = c.schedule.is_auto() ? "auto" : std::to_string(c.schedule.chunk);
    if (!rt.is_root()) continue;
    if (options.json) {
      print_json_line({{"benchmark", "dispatch"},
                       {"schedule", c.name},
                       {"chunk", c.schedule.is_auto() ? json("auto") : json(c.schedule.chunk)},
                       {"ranks", rt.size()},
                       {"threads", rt.threads()},
                       {"tasks", options.tasks},
                       {"us_per_task", rounded(us_per_task, 4)}});
    } else {
      std::printf("%-8s  %6s  %12.4f\n", c.name, chunk.c_str(), us_per_task);
    }
    std::fflush(stdout);
  }
  return 0;
}

int run_calls(runtime& rt, const calls_options& options) {
  const std::size_t items = 4 * static_cast<std::size_t>(rt.size());
  const auto time_calls = [&](int count) {
    rt.world().barrier();
    const auto start = std::chrono::steady_clock::now();
    for (int c = 0; c < count; ++c) {
      (void)map(rt.world(), items, [](std::size_t i) { return static_cast<int>(i); });
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / count;
  };
  time_calls(std::max(1, options.calls / 10));  // warm-up
  const double per_call_us = time_calls(options.calls) * 1e6;
  if (rt.is_root()) {
    if (options.json) {
      print_json_line({{"benchmark", "calls"},
                       {"ranks", rt.size()},
                       {"threads", rt.threads()},
                       {"items", items},
                       {"calls", options.calls},
                       {"passive_wait", rt.passive_wait()},
                       {"us_per_call", rounded(per_call_us, 2)}});
    } else {
      std::printf("calls: one map call of %zu items on %d ranks x %d threads%s: %.2f us\n", items, rt.size(),
                  rt.threads(), rt.passive_wait() ? " (crowded: passive wait)" : "", per_call_us);
    }
  }
  return 0;
}

}  // namespace plx::bench
