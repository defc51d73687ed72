// Unordered streaming: root's sink sees every item once, as items complete.
#include <parallax/dist/map.hpp>

#include <chrono>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "../support/mpi_test.hpp"

namespace {

using plx::testing_support::rt;

TEST(Unordered, sink_on_root_sees_every_item_exactly_once) {
  for (const plx::schedule s : {plx::schedule::static_blocks(), plx::schedule::dynamic(), plx::schedule::dynamic(1)}) {
    for (const int threads : {1, 2}) {
      plx::map_options options;
      options.schedule = s;
      options.threads = threads;
      std::vector<int> seen(1000, 0);
      std::size_t calls = 0;
      plx::map_unordered(rt().world(), 1000, [](std::size_t i) { return 3 * i; },
                         [&](std::size_t i, std::size_t&& value) {
                           ++calls;
                           ++seen.at(i);
                           EXPECT_EQ(value, 3 * i);
                         },
                         options);
      if (rt().is_root()) {
        EXPECT_EQ(calls, 1000u);
        for (int count : seen) ASSERT_EQ(count, 1);
      } else {
        EXPECT_EQ(calls, 0u) << "the sink is called on root only";
      }
    }
  }
}

TEST(Unordered, results_arrive_in_completion_order) {
  // Item 0 is slow; with dynamic chunk 1 and 2+ workers, other items reach root before it does.
  if (rt().size() == 1) GTEST_SKIP() << "needs a second rank to overtake item 0";
  plx::map_options options;
  options.schedule = plx::schedule::dynamic(1);
  options.threads = 1;
  std::vector<std::size_t> order;
  plx::map_unordered(rt().world(), 40, [](std::size_t i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(i == 0 ? 300 : 2));
    return i;
  }, [&](std::size_t i, std::size_t&&) { order.push_back(i); }, options);
  if (rt().is_root()) {
    ASSERT_EQ(order.size(), 40u);
    EXPECT_NE(order.front(), 0u) << "item 0 took longest and should not arrive first";
  }
}

TEST(Unordered, outcome_sink_selects_the_collect_policy) {
  std::size_t failures = 0;
  std::size_t values = 0;
  plx::map_unordered(rt().world(), 30, [](std::size_t i) {
    if (i % 3 == 0) throw std::runtime_error("third");
    return double(i);
  }, [&](std::size_t i, plx::outcome<double>&& o) {
    if (o.ok()) {
      ++values;
      EXPECT_EQ(o.value(), double(i));
    } else {
      ++failures;
      EXPECT_EQ(o.failure().index, i);
    }
  });
  if (rt().is_root()) {
    EXPECT_EQ(failures, 10u);
    EXPECT_EQ(values, 20u);
  }
}

TEST(Unordered, value_sink_fails_fast_on_an_error_from_any_rank) {
  plx::map_options options;
  options.schedule = plx::schedule::static_blocks();
  EXPECT_THROW(plx::map_unordered(rt().world(), 20, [](std::size_t i) -> int {
    if (i == 19) throw std::runtime_error("last");
    return 0;
  }, [](std::size_t, int&&) {}, options), plx::task_error);
}

TEST(Progress, a_call_with_progress_completes_and_reports_on_root) {
  plx::map_options options;
  options.progress = true;
  options.progress_interval = std::chrono::milliseconds(1);
  options.label = "progress-test";
  testing::internal::CaptureStderr();
  const auto r = plx::map(rt().world(), 200, [](std::size_t i) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    return i;
  }, options);
  const std::string err = testing::internal::GetCapturedStderr();
  if (rt().is_root()) {
    EXPECT_EQ(r.size(), 200u);
    EXPECT_NE(err.find("progress-test  200/200  100.0%"), std::string::npos) << err;
  } else {
    EXPECT_EQ(err.find("progress-test"), std::string::npos) << "progress is printed on root only";
  }
}

}  // namespace
