// Failures and deadlines end a call promptly on every rank, with an error that names the task and rank.
// No test here measures speed: "promptly" is checked by counting how many tasks ran.
#include <parallax/dist/map.hpp>

#include <mpi.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include <parallax/dist/task_list.hpp>

#include "../support/mpi_test.hpp"

namespace {

using plx::testing_support::rt;

std::size_t sum_over_ranks(std::size_t local) {
  std::uint64_t mine = local;
  std::uint64_t total = 0;
  MPI_Allreduce(&mine, &total, 1, MPI_UINT64_T, MPI_SUM, rt().world().native());
  return static_cast<std::size_t>(total);
}

void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

TEST(FailFast, error_on_the_last_rank_is_thrown_on_every_rank_with_index_rank_and_message) {
  // Static blocks put the last item on the last rank, so with 2+ ranks the failure is not on root.
  const std::size_t n = 64;
  plx::map_options options;
  options.schedule = plx::schedule::static_blocks();
  options.threads = 1;
  options.label = "squares";
  bool thrown = false;
  try {
    (void)plx::map(rt().world(), n, [](std::size_t i) {
      if (i == n - 1) throw std::runtime_error("bad input 63");
      return i * i;
    }, options);
  } catch (const plx::task_error& e) {
    thrown = true;
    EXPECT_EQ(e.index(), n - 1);
    EXPECT_EQ(e.rank(), rt().size() - 1);
    const std::string what = e.what();
    EXPECT_NE(what.find("map 'squares': task 63 failed on rank " + std::to_string(rt().size() - 1) + ": bad input 63"),
              std::string::npos) << what;
  }
  EXPECT_TRUE(thrown);
}

TEST(FailFast, error_on_root_is_thrown_everywhere) {
  plx::map_options options;
  options.schedule = plx::schedule::static_blocks();
  EXPECT_THROW((void)plx::map(rt().world(), 40, [](std::size_t i) {
    if (i == 0) throw std::invalid_argument("zero");
    return i;
  }, options), plx::task_error);
}

TEST(FailFast, stops_handing_out_work_after_a_failure) {
  std::atomic<std::size_t> ran{0};
  const std::size_t n = 2000;
  plx::map_options options;
  options.schedule = plx::schedule::dynamic(1);
  try {
    (void)plx::map(rt().world(), n, [&](std::size_t i) {
      ran.fetch_add(1);
      if (i == 3) throw std::runtime_error("boom");
      sleep_ms(2);
      return i;
    }, options);
    ADD_FAILURE() << "expected task_error";
  } catch (const plx::task_error& e) {
    EXPECT_EQ(e.index(), 3u);
    EXPECT_NE(std::string(e.what()).find("boom"), std::string::npos);
  }
  const std::size_t total = sum_over_ranks(ran.load());
  EXPECT_LT(total, n / 4) << "the call kept running after the failure";
}

TEST(FailFast, static_schedule_also_stops_other_ranks) {
  std::atomic<std::size_t> ran{0};
  const std::size_t n = 4000;
  plx::map_options options;
  options.schedule = plx::schedule::static_blocks();
  options.threads = 1;
  EXPECT_THROW((void)plx::map(rt().world(), n, [&](std::size_t i) {
    ran.fetch_add(1);
    if (i == 0) throw std::runtime_error("first item fails");
    sleep_ms(1);
    return i;
  }, options), plx::task_error);
  EXPECT_LT(sum_over_ranks(ran.load()), n / 2);
}

TEST(FailFast, lowest_failing_index_is_reported_with_the_count) {
  try {
    (void)plx::map(rt().world(), 100, [](std::size_t i) -> int {
      if (i % 10 == 9) throw std::runtime_error("nine");
      return 1;
    });
    ADD_FAILURE() << "expected task_error";
  } catch (const plx::task_error& e) {
    EXPECT_EQ(e.index() % 10, 9u);
    EXPECT_GE(e.failures(), 1u);
  }
}

TEST(FailFast, exceptions_not_derived_from_std_exception_are_caught) {
  try {
    (void)plx::map(rt().world(), 10, [](std::size_t i) -> int {
      if (i == 5) throw 42;
      return 0;
    });
    ADD_FAILURE() << "expected task_error";
  } catch (const plx::task_error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown exception"), std::string::npos);
  }
}

TEST(FailFast, map_reduce_and_task_lists_fail_the_same_way) {
  EXPECT_THROW((void)plx::map_reduce(rt().world(), 50, [](std::size_t i) -> int {
    if (i == 49) throw std::runtime_error("last");
    return 1;
  }, 0, std::plus<>{}), plx::task_error);
  plx::task_list<int> tasks;
  tasks.add([] { return 1; }).add([]() -> int { throw std::runtime_error("second task"); });
  EXPECT_THROW((void)plx::run_tasks(rt().world(), tasks), plx::task_error);
}

TEST(FailFast, the_runtime_is_usable_after_a_failed_call) {
  EXPECT_THROW((void)plx::map(rt().world(), 8, [](std::size_t) -> int { throw std::runtime_error("all fail"); }),
               plx::task_error);
  const auto ok = plx::map(rt().world(), 8, [](std::size_t i) { return int(i); });
  if (rt().is_root()) {
    EXPECT_EQ(ok.back(), 7);
  }
}

TEST(Collect, every_item_yields_its_value_or_its_failure) {
  std::vector<int> inputs;
  if (rt().is_root()) {
    for (int i = 0; i < 100; ++i) inputs.push_back(i);
  }
  for (const plx::schedule s : {plx::schedule::static_blocks(), plx::schedule::dynamic(), plx::schedule::dynamic(1)}) {
    plx::map_options options;
    options.schedule = s;
    const auto by_index = plx::map_collect(rt().world(), 100, [](std::size_t i) {
      if (i % 7 == 0) throw std::runtime_error("multiple of seven: " + std::to_string(i));
      return int(i);
    }, options);
    const auto by_input = plx::map_collect(rt().world(), inputs, [](const int& x) {
      if (x % 7 == 0) throw std::runtime_error("seven");
      return x * 2;
    }, options);
    if (!rt().is_root()) continue;
    ASSERT_EQ(by_index.size(), 100u);
    for (std::size_t i = 0; i < 100; ++i) {
      if (i % 7 == 0) {
        ASSERT_FALSE(by_index[i].ok());
        EXPECT_EQ(by_index[i].failure().index, i);
        EXPECT_EQ(by_index[i].failure().message, "multiple of seven: " + std::to_string(i));
        EXPECT_GE(by_index[i].failure().rank, 0);
        EXPECT_THROW((void)by_index[i].value(), plx::task_error);
        EXPECT_FALSE(by_input[i].ok());
      } else {
        ASSERT_TRUE(by_index[i].ok());
        EXPECT_EQ(by_index[i].value(), int(i));
        EXPECT_EQ(by_input[i].value(), int(i) * 2);
      }
    }
  }
}

TEST(Stop, an_outside_request_on_one_rank_stops_every_rank) {
  // As a signal handler would: the flag is set on the last rank only, while its tasks run.
  std::atomic<bool> stop{false};
  std::atomic<std::size_t> ran{0};
  plx::map_options options;
  options.stop = &stop;
  options.schedule = plx::schedule::dynamic(1);
  const int signalled = rt().size() - 1;
  try {
    (void)plx::map(rt().world(), 2000, [&](std::size_t) {
      if (ran.fetch_add(1) == 3 && rt().rank() == signalled) stop.store(true);
      sleep_ms(1);
      return 0;
    }, options);
    ADD_FAILURE() << "expected stopped_error";
  } catch (const plx::stopped_error& e) {
    EXPECT_LT(e.finished(), e.total());
    EXPECT_NE(std::string(e.what()).find("stopped on request"), std::string::npos) << e.what();
  }
  EXPECT_LT(sum_over_ranks(ran.load()), 1000u);
  stop.store(false);
  const auto again = plx::map(rt().world(), 10, [](std::size_t i) { return i; }, options);
  if (rt().is_root()) {
    EXPECT_EQ(again.size(), 10u);
  }
}

TEST(Timeout, deadline_stops_the_call_and_every_rank_throws_with_the_count) {
  const std::size_t n = 10'000;
  plx::map_options options;
  options.timeout = std::chrono::milliseconds(200);
  options.label = "slow";
  try {
    (void)plx::map(rt().world(), n, [](std::size_t i) {
      sleep_ms(5);
      return i;
    }, options);
    ADD_FAILURE() << "expected timeout_error";
  } catch (const plx::timeout_error& e) {
    EXPECT_EQ(e.total(), n);
    EXPECT_LT(e.finished(), n);
    EXPECT_NE(std::string(e.what()).find("map 'slow' timed out after 0.2 s: " + std::to_string(e.finished()) +
                                         " of 10000 items finished"),
              std::string::npos)
        << e.what();
  }
}

TEST(Timeout, applies_to_collect_and_static_schedules_too) {
  plx::map_options options;
  options.timeout = std::chrono::milliseconds(100);
  options.schedule = plx::schedule::static_blocks();
  EXPECT_THROW((void)plx::map_collect(rt().world(), 5000, [](std::size_t i) {
    sleep_ms(5);
    return i;
  }, options), plx::timeout_error);
}

TEST(Timeout, a_call_that_finishes_in_time_returns_normally) {
  plx::map_options options;
  options.timeout = std::chrono::seconds(60);
  const auto r = plx::map(rt().world(), 100, [](std::size_t i) { return i; }, options);
  if (rt().is_root()) {
    EXPECT_EQ(r.size(), 100u);
  }
}

}  // namespace
