#include <parallax/dist/map.hpp>

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <numeric>
#include <string>
#include <variant>
#include <vector>

#include <Eigen/Dense>
#include <gtest/gtest.h>

#include <parallax/dist/task_list.hpp>

#include "../support/mpi_test.hpp"

namespace {

using plx::testing_support::rt;

struct layout_case {
  plx::schedule schedule;
  int threads;
};

std::vector<layout_case> all_layouts() {
  std::vector<layout_case> cases;
  for (const plx::schedule s : {plx::schedule::static_blocks(), plx::schedule::static_blocks(1),
                                plx::schedule::static_blocks(7), plx::schedule::dynamic(),
                                plx::schedule::dynamic(1), plx::schedule::dynamic(5)}) {
    for (const int threads : {1, 2}) cases.push_back({s, threads});
  }
  return cases;
}

std::string describe(const layout_case& c) {
  return std::string(c.schedule.kind == plx::schedule_kind::dynamic ? "dynamic" : "static") + " chunk " +
         std::to_string(c.schedule.chunk) + ", " + std::to_string(c.threads) + " threads";
}

TEST(Map, ordered_results_on_root_for_every_schedule_and_thread_count) {
  for (const auto& c : all_layouts()) {
    for (const std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{3}, std::size_t{1000}}) {
      plx::map_options options;
      options.schedule = c.schedule;
      options.threads = c.threads;
      const auto squares = plx::map(rt().world(), n, [](std::size_t i) { return std::int64_t(i) * std::int64_t(i); }, options);
      if (rt().is_root()) {
        ASSERT_EQ(squares.size(), n) << describe(c);
        for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(squares[i], std::int64_t(i * i)) << describe(c) << " item " << i;
      } else {
        EXPECT_TRUE(squares.empty());
      }
    }
  }
}

TEST(Map, every_item_runs_exactly_once_and_work_is_spread) {
  const std::size_t n = 4000;
  for (const auto& c : all_layouts()) {
    plx::map_options options;
    options.schedule = c.schedule;
    options.threads = c.threads;
    const auto where = plx::map(rt().world(), n, [&](std::size_t) {
      return std::pair<int, int>{rt().rank(), omp_get_thread_num()};
    }, options);
    if (rt().is_root() && c.schedule.kind == plx::schedule_kind::static_blocks && c.schedule.is_auto()) {
      // Static blocks: contiguous, in worker order.
      EXPECT_TRUE(std::is_sorted(where.begin(), where.end())) << describe(c);
      EXPECT_EQ(where.back().first, rt().size() - 1) << describe(c);
    }
    if (rt().is_root() && c.schedule.kind == plx::schedule_kind::static_blocks && c.schedule.chunk == 1 &&
        c.threads == 1) {
      for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(where[i].first, int(i % std::size_t(rt().size())));
    }
  }
}

TEST(Map, inputs_on_root_are_fetched_by_the_ranks_that_need_them) {
  std::vector<double> inputs;
  std::vector<std::string> words;
  if (rt().is_root()) {  // elsewhere the inputs are ignored
    for (int i = 0; i < 500; ++i) {
      inputs.push_back(0.5 * i);
      words.push_back(std::string(static_cast<std::size_t>(i % 17), 'a' + char(i % 26)));
    }
  }
  for (const auto& c : all_layouts()) {
    plx::map_options options;
    options.schedule = c.schedule;
    options.threads = c.threads;
    const auto doubled = plx::map(rt().world(), inputs, [](const double& x) { return 2 * x; }, options);
    const auto lengths = plx::map(rt().world(), words, [](const std::string& w) { return w.size(); }, options);
    if (rt().is_root()) {
      ASSERT_EQ(doubled.size(), inputs.size());
      for (std::size_t i = 0; i < inputs.size(); ++i) ASSERT_EQ(doubled[i], 2 * inputs[i]) << describe(c);
      for (std::size_t i = 0; i < words.size(); ++i) ASSERT_EQ(lengths[i], words[i].size()) << describe(c);
    }
  }
}

TEST(Map, rich_payloads_travel) {
  plx::map_options options;
  options.schedule = plx::schedule::dynamic(3);
  const auto strings = plx::map(rt().world(), 50, [](std::size_t i) { return std::to_string(i) + "!"; }, options);
  const auto vectors = plx::map(rt().world(), 50, [](std::size_t i) { return std::vector<int>(i % 5, int(i)); }, options);
  const auto matrices = plx::map(rt().world(), 20, [](std::size_t i) {
    return Eigen::MatrixXd::Constant(2, int(i % 3) + 1, double(i)).eval();
  }, options);
  const auto variants = plx::map(rt().world(), 20, [](std::size_t i) -> std::variant<int, std::string> {
    if (i % 2) return int(i);
    return std::string("even");
  }, options);
  const auto optionals = plx::map(rt().world(), 20, [](std::size_t i) {
    return i % 4 == 0 ? std::optional<double>() : std::optional<double>(double(i));
  }, options);
  if (rt().is_root()) {
    for (std::size_t i = 0; i < 50; ++i) {
      EXPECT_EQ(strings[i], std::to_string(i) + "!");
      EXPECT_EQ(vectors[i], std::vector<int>(i % 5, int(i)));
    }
    for (std::size_t i = 0; i < 20; ++i) {
      EXPECT_EQ(matrices[i].cols(), int(i % 3) + 1);
      EXPECT_EQ(matrices[i](1, 0), double(i));
      if (i % 2) {
        EXPECT_EQ(std::get<int>(variants[i]), int(i));
      } else {
        EXPECT_EQ(std::get<std::string>(variants[i]), "even");
      }
      EXPECT_EQ(optionals[i].has_value(), i % 4 != 0);
    }
  }
}

TEST(Map, large_results_travel_in_bounded_fragments) {
  // The same path a > 2 GiB result takes, at test scale: every piece is split into 1000-byte messages.
  plx::map_options options;
  options.max_fragment_bytes = 1000;
  options.message_bytes = 64 * 1024;
  const std::size_t n = 40;
  const auto blocks = plx::map(rt().world(), n, [](std::size_t i) {
    std::vector<std::uint32_t> block(10'000 + i);
    std::iota(block.begin(), block.end(), std::uint32_t(i));
    return block;
  }, options);
  if (rt().is_root()) {
    ASSERT_EQ(blocks.size(), n);
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_EQ(blocks[i].size(), 10'000 + i);
      EXPECT_EQ(blocks[i].front(), i);
      EXPECT_EQ(blocks[i].back(), i + 10'000 + i - 1);
    }
  }
}

TEST(Map, ranks_that_disagree_on_the_size_all_get_a_config_error) {
  const std::size_t n = rt().rank() == rt().size() - 1 && rt().size() > 1 ? 11 : 10;
  if (rt().size() == 1) GTEST_SKIP() << "needs two ranks";
  try {
    (void)plx::map(rt().world(), n, [](std::size_t i) { return i; });
    FAIL() << "expected config_error";
  } catch (const plx::config_error& e) {
    EXPECT_NE(std::string(e.what()).find("rank 0 has 10 items but rank"), std::string::npos) << e.what();
  }
}

TEST(Map, one_runtime_serves_many_calls) {
  std::size_t total = 0;
  for (int call = 0; call < 200; ++call) {
    const auto r = plx::map(rt().world(), 16, [call](std::size_t i) { return int(i) + call; });
    if (rt().is_root()) total += std::accumulate(r.begin(), r.end(), std::size_t{0});
  }
  if (rt().is_root()) {
    EXPECT_EQ(total, 200 * (16 * 15 / 2) + 16 * (199 * 200 / 2));
  }
}

TEST(MapReduce, reduced_value_on_every_rank) {
  for (const auto& c : all_layouts()) {
    plx::map_options options;
    options.schedule = c.schedule;
    options.threads = c.threads;
    const std::uint64_t sum = plx::map_reduce(rt().world(), 10'001, [](std::size_t i) { return std::uint64_t(i); },
                                              std::uint64_t{0}, std::plus<>{}, options);
    EXPECT_EQ(sum, 10'000ull * 10'001 / 2) << describe(c);
    const double biggest = plx::map_reduce(rt().world(), 77, [](std::size_t i) { return double(i % 50); }, 0.0,
                                           [](double a, double b) { return std::max(a, b); }, options);
    EXPECT_EQ(biggest, 49.0);
    const auto nothing = plx::map_reduce(rt().world(), 0, [](std::size_t) { return 1; }, 0, std::plus<>{}, options);
    EXPECT_EQ(nothing, 0);
  }
}

TEST(TaskList, heterogeneous_tasks_return_in_order) {
  plx::task_list<double> tasks;
  tasks.add([](double a, double b) { return a + b; }, 1.0, 2.0)
      .add([] { return 42.0; })
      .add(static_cast<double (*)(double)>(std::sqrt), 16.0)
      .add([](const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0); },
           std::vector<double>{1, 2, 3, 4});
  const auto results = plx::run_tasks(rt().world(), tasks);
  if (rt().is_root()) {
    EXPECT_EQ(results, (std::vector<double>{3.0, 42.0, 4.0, 10.0}));
  }
}

TEST(TaskList, variant_results_for_tasks_of_different_types) {
  using any_result = std::variant<int, std::string, std::vector<double>>;
  plx::task_list<any_result> tasks;
  tasks.add([](int x) { return any_result(x * 2); }, 21)
      .add([](std::string s) { return any_result(s + s); }, std::string("ab"))
      .add([] { return any_result(std::vector<double>{1.5}); });
  const auto results = plx::run_tasks(rt().world(), tasks);
  if (rt().is_root()) {
    ASSERT_EQ(results.size(), 3u);
    EXPECT_EQ(std::get<int>(results[0]), 42);
    EXPECT_EQ(std::get<std::string>(results[1]), "abab");
    EXPECT_EQ(std::get<std::vector<double>>(results[2]), std::vector<double>{1.5});
  }
}

}  // namespace
