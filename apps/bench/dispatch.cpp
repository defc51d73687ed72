#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <mpi.h>

#include <parallax/app/json_line.hpp>
#include <parallax/core/collectives.hpp>
#include <parallax/core/error.hpp>
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

namespace {

/// Microseconds per call of `call` over `count` calls, after a warm-up of a tenth as many (the first call
/// on a communicator makes its counter window and courier). Collective over `comm`.
template <class Call>
double us_per_call(const communicator& comm, int count, Call&& call) {
  const auto time_calls = [&](int calls) {
    comm.barrier();
    const auto start = std::chrono::steady_clock::now();
    for (int c = 0; c < calls; ++c) call();
    return seconds_since(start) / calls;
  };
  time_calls(std::max(1, count / 10));
  return time_calls(count) * 1e6;
}

}  // namespace

std::vector<calls_layout> parse_calls_layouts(const std::string& text, int ranks, int threads) {
  std::vector<calls_layout> layouts;
  std::size_t at = 0;
  while (at <= text.size()) {
    const std::size_t comma = std::min(text.find(',', at), text.size());
    const std::string entry = text.substr(at, comma - at);
    at = comma + 1;
    calls_layout layout;
    char x = 0;
    char rest = 0;
    if (std::sscanf(entry.c_str(), "%d%c%d%c", &layout.ranks, &x, &layout.threads, &rest) != 3 || (x != 'x' && x != 'X') ||
        layout.ranks < 1 || layout.threads < 1) {
      throw config_error("--layouts: '" + entry + "' is not RANKSxTHREADS (e.g. 2x1,3x2)");
    }
    if (layout.ranks > ranks || layout.threads > threads) {
      throw config_error("--layouts: " + entry + " needs " + std::to_string(layout.ranks) + " ranks x " +
                         std::to_string(layout.threads) + " threads, but this run has " + std::to_string(ranks) +
                         " x " + std::to_string(threads) + " (start it with more ranks or --threads)");
    }
    if (std::ranges::find(layouts, layout) == layouts.end()) layouts.push_back(layout);
  }
  return layouts;
}

int run_calls(runtime& rt, const calls_options& options) {
  // Default: the uncrowded baseline and the run's own layout, side by side.
  const std::string wanted = options.layouts.empty()
                                 ? fmt::format("{}x1,{}x{}", std::min(2, rt.size()), rt.size(), rt.threads())
                                 : options.layouts;
  const std::vector<calls_layout> layouts = parse_calls_layouts(wanted, rt.size(), rt.threads());
  if (rt.is_root() && !options.json) {
    std::printf("calls: one small map call (4 items per rank), %d calls per layout%s; floor: MPI_Allgather + "
                "MPI_Allreduce, what every call agrees on\n",
                options.calls, rt.passive_wait() ? "; crowded node: ranks restarted with passive wait" : "");
    std::printf("%5s  %7s  %5s  %12s  %9s\n", "ranks", "threads", "items", "us per call", "floor us");
  }
  for (const calls_layout& layout : layouts) {
    // The layout's ranks are the first ones; the others wait in a barrier that sleeps, off the cores.
    const bool in_layout = rt.rank() < layout.ranks;
    communicator split;
    if (layout.ranks < rt.size()) split = rt.world().split(in_layout ? 0 : 1, rt.rank());
    const communicator& part = layout.ranks < rt.size() ? split : rt.world();
    const std::size_t items = 4 * static_cast<std::size_t>(layout.ranks);
    double per_call = 0;
    double floor = 0;
    // A failure among the layout's ranks is theirs alone until the others leave the sleeping barrier; then
    // every rank throws it.
    std::exception_ptr failure;
    if (in_layout) {
      try {
        map_options mo;
        mo.threads = layout.threads;
        per_call = us_per_call(part, options.calls, [&] {
          (void)map(part, items, [](std::size_t i) { return static_cast<int>(i); }, mo);
        });
        floor = us_per_call(part, options.calls, [&] {
          std::uint64_t mine[3] = {items, 1, 0};
          std::vector<std::uint64_t> all(3 * static_cast<std::size_t>(part.size()));
          detail::check_mpi(MPI_Allgather(mine, 3, MPI_UINT64_T, all.data(), 3, MPI_UINT64_T, part.native()),
                            "MPI_Allgather");
          std::uint64_t local[6] = {}, total[6] = {};
          detail::check_mpi(MPI_Allreduce(local, total, 6, MPI_UINT64_T, MPI_SUM, part.native()), "MPI_Allreduce");
        });
      } catch (...) {
        failure = std::current_exception();
      }
    }
    sleeping_barrier(rt.world());
    detail::on_all_ranks(rt.world(), [&] {
      if (failure) std::rethrow_exception(failure);
    });
    if (!rt.is_root()) continue;
    if (options.json) {
      print_json_line({{"benchmark", "calls"},
                       {"ranks", layout.ranks},
                       {"threads", layout.threads},
                       {"items", items},
                       {"calls", options.calls},
                       {"passive_wait", rt.passive_wait()},
                       {"us_per_call", rounded(per_call, 2)},
                       {"floor_us", rounded(floor, 2)}});
    } else {
      std::printf("%5d  %7d  %5zu  %12.2f  %9.2f\n", layout.ranks, layout.threads, items, per_call, floor);
    }
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace plx::bench
