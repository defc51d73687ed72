// Map calls with the lazy team wake of a crowded node (wait_policy.hpp): the master runs the call alone for a
// grace period and wakes the team only for what is left (engine.hpp). The grace is pinned per test (huge:
// everything in the master's phase; zero: everything in the team's), so no assertion depends on how fast
// anything runs.
#include <parallax/dist/map.hpp>

#include <omp.h>

#include <chrono>
#include <cstdint>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <parallax/core/error.hpp>
#include <parallax/core/wait_policy.hpp>
#include <parallax/dist/detail/engine.hpp>

#include "../support/mpi_test.hpp"

namespace {

using plx::testing_support::rt;
using namespace std::chrono_literals;

/// Sets the lazy wake and its grace for one test, and puts both back.
class lazy_wake {
 public:
  lazy_wake(bool sleeping, std::chrono::nanoseconds grace)
      : sleeping_(plx::detail::lazy_team_wake()), grace_(plx::detail::set_lazy_wake_grace(grace)) {
    plx::detail::set_lazy_team_wake(sleeping);
  }
  ~lazy_wake() {
    plx::detail::set_lazy_team_wake(sleeping_);
    plx::detail::set_lazy_wake_grace(grace_);
  }
  lazy_wake(const lazy_wake&) = delete;
  lazy_wake& operator=(const lazy_wake&) = delete;

 private:
  bool sleeping_;
  std::chrono::nanoseconds grace_;
};

const plx::schedule all_schedules[] = {plx::schedule::static_blocks(), plx::schedule::static_blocks(3),
                                       plx::schedule::dynamic(), plx::schedule::dynamic(2)};

/// The OpenMP thread that ran each item, gathered on root.
std::vector<int> threads_that_ran(std::size_t n, const plx::map_options& options, std::chrono::microseconds work) {
  return plx::map(rt().world(), n,
                  [work](std::size_t) {
                    if (work.count() > 0) std::this_thread::sleep_for(work);
                    return omp_get_thread_num();
                  },
                  options);
}

TEST(LazyWake, a_call_within_the_grace_runs_on_the_master_alone_with_the_same_results) {
  const lazy_wake settings(true, std::chrono::hours(1));
  for (const plx::schedule schedule : all_schedules) {
    plx::map_options options;
    options.schedule = schedule;
    options.threads = 3;
    const std::size_t n = 200;
    const auto ran_on = threads_that_ran(n, options, 0us);
    const auto squares =
        plx::map(rt().world(), n, [](std::size_t i) { return std::int64_t(i) * std::int64_t(i); }, options);
    if (!rt().is_root()) continue;
    ASSERT_EQ(ran_on.size(), n);
    for (std::size_t i = 0; i < n; ++i) {
      EXPECT_EQ(ran_on[i], 0) << "item " << i;
      ASSERT_EQ(squares[i], std::int64_t(i * i));
    }
  }
}

TEST(LazyWake, work_beyond_the_grace_wakes_the_team_and_every_static_block_runs_on_its_thread) {
  // Grace zero: the team opens at once. Static blocks fix which thread runs which item: thread t of rank r
  // runs block r * threads + t, whatever the master did before.
  const lazy_wake settings(true, 0ns);
  plx::map_options options;
  options.schedule = plx::schedule::static_blocks();
  options.threads = 2;
  const std::size_t workers = 2 * static_cast<std::size_t>(rt().size());
  const std::size_t n = 3 * workers;
  const auto ran_on = threads_that_ran(n, options, 200us);
  if (!rt().is_root()) return;
  for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(ran_on[i], static_cast<int>((i / 3) % 2)) << "item " << i;
}

TEST(LazyWake, a_grace_that_ends_mid_call_hands_the_rest_to_the_team_without_losing_or_repeating_items) {
  for (const plx::schedule schedule : all_schedules) {
    for (const auto grace : {0ns, std::chrono::nanoseconds(300us), std::chrono::nanoseconds(2ms)}) {
      const lazy_wake settings(true, grace);
      plx::map_options options;
      options.schedule = schedule;
      options.threads = 2;
      const std::size_t n = 40;
      std::vector<std::int64_t> counts;
      const auto values = plx::map(rt().world(), n,
                                   [](std::size_t i) {
                                     std::this_thread::sleep_for(50us);
                                     return std::int64_t(i) + 7;
                                   },
                                   options);
      const auto sum = plx::map_reduce(rt().world(), n, [](std::size_t i) { return std::int64_t(i); }, std::int64_t{0},
                                       std::plus<>(), options);
      EXPECT_EQ(sum, std::int64_t(n * (n - 1) / 2));
      if (!rt().is_root()) continue;
      ASSERT_EQ(values.size(), n);
      for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(values[i], std::int64_t(i) + 7);
    }
  }
}

TEST(LazyWake, a_task_failure_in_the_masters_phase_names_the_task_and_rank_on_every_rank) {
  const lazy_wake settings(true, std::chrono::hours(1));
  const int failing_rank = rt().size() - 1;
  const std::size_t n = 8 * static_cast<std::size_t>(rt().size());
  plx::map_options options;
  options.schedule = plx::schedule::static_blocks();
  options.threads = 2;
  // Static blocks: the last item belongs to the last rank.
  try {
    (void)plx::map(rt().world(), n,
                   [n](std::size_t i) {
                     if (i == n - 1) throw std::runtime_error("bad item");
                     return 1;
                   },
                   options);
    FAIL() << "no exception";
  } catch (const plx::task_error& e) {
    EXPECT_EQ(e.index(), n - 1);
    EXPECT_EQ(e.rank(), failing_rank);
    EXPECT_NE(std::string(e.what()).find("bad item"), std::string::npos) << e.what();
  }
}

TEST(LazyWake, nested_regions_in_tasks_get_the_threads_they_get_inside_the_team) {
  // A task that opens its own parallel region: as many threads whether the master ran it alone or the team did.
  const auto inner_threads = [](bool sleeping, std::chrono::nanoseconds grace) {
    const lazy_wake settings(sleeping, grace);
    plx::map_options options;
    options.threads = 2;
    options.schedule = plx::schedule::static_blocks();
    return plx::map(rt().world(), 4 * static_cast<std::size_t>(rt().size()),
                    [](std::size_t) {
                      int inner = 0;
#pragma omp parallel num_threads(2)
                      {
#pragma omp single
                        inner = omp_get_num_threads();
                      }
                      return inner;
                    },
                    options);
  };
  const auto in_team = inner_threads(false, 0ns);
  const auto by_master = inner_threads(true, std::chrono::hours(1));
  EXPECT_EQ(by_master, in_team);
}

}  // namespace
