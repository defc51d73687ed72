// Faults that are not a task's own: a sink that throws, a result that cannot be encoded, an MPI call
// that fails on one rank, a full disk under a checkpoint. Each must end the call on every rank with the
// same exception, after the call's collectives, and leave the communicator fit for the next call. None of
// these tests measures speed; a hang is caught by the ctest timeout.
#include <parallax/dist/checkpoint.hpp>
#include <parallax/dist/map.hpp>

#include <mpi.h>
#include <omp.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <parallax/core/detail/fault_injection.hpp>

#include "../support/mpi_test.hpp"
#include "../support/temp_files.hpp"

namespace {

using plx::testing_support::rt;

std::uint64_t sum_over_ranks(std::uint64_t local) {
  std::uint64_t total = 0;
  MPI_Allreduce(&local, &total, 1, MPI_UINT64_T, MPI_SUM, rt().world().native());
  return total;
}

// True on every rank when every rank passed the same text.
bool same_on_every_rank(const std::string& text) {
  const plx::communicator& world = rt().world();
  std::string root_text = text;
  int length = static_cast<int>(root_text.size());
  MPI_Bcast(&length, 1, MPI_INT, 0, world.native());
  root_text.resize(static_cast<std::size_t>(length));
  MPI_Bcast(root_text.data(), length, MPI_CHAR, 0, world.native());
  const int mine = root_text == text ? 1 : 0;
  int all = 0;
  MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, world.native());
  return all == 1;
}

// A call after a failed one works and sees none of its messages.
void expect_next_call_works() {
  const auto squares = plx::map(rt().world(), 500, [](std::size_t i) { return static_cast<std::uint64_t>(i * i); });
  if (rt().is_root()) {
    ASSERT_EQ(squares.size(), 500u);
    for (std::size_t i = 0; i < squares.size(); ++i) ASSERT_EQ(squares[i], i * i) << i;
  }
}

TEST(CallFailure, a_sink_that_throws_under_fail_fast_ends_the_call_on_every_rank) {
  plx::map_options options;
  options.label = "sink";
  std::size_t delivered = 0;
  std::string message;
  bool thrown = false;
  try {
    plx::map_unordered(
        rt().world(), 400, [](std::size_t i) { return static_cast<double>(i); },
        [&](std::size_t, double&&) {
          if (++delivered == 7) throw std::runtime_error("journal full");
        },
        options);
  } catch (const plx::error& e) {
    thrown = true;
    message = e.what();
    EXPECT_TRUE(e.is_collective());
    EXPECT_EQ(dynamic_cast<const plx::task_error*>(&e), nullptr) << "a sink's failure is not a task's";
  }
  EXPECT_TRUE(thrown);
  EXPECT_NE(message.find("map 'sink': the result sink failed on rank 0: journal full"), std::string::npos) << message;
  EXPECT_TRUE(same_on_every_rank(message));
  expect_next_call_works();
}

TEST(CallFailure, a_sink_that_throws_once_under_collect_is_not_blamed_on_a_task_and_nothing_is_dropped) {
  plx::map_options options;
  options.label = "collect";
  std::size_t delivered = 0;
  bool returned = false;
  std::string message;
  try {
    plx::map_unordered(
        rt().world(), 40, [](std::size_t i) { return static_cast<int>(i); },
        [&](std::size_t, plx::outcome<int>&& result) {
          EXPECT_TRUE(result.ok()) << "no task fails here";
          if (++delivered == 3) throw plx::io_error("cannot append: No space left on device");
        },
        options);
    returned = true;
  } catch (const plx::io_error& e) {
    message = e.what();
  }
  // The call must not return normally with items missing: it throws, the original type kept.
  EXPECT_FALSE(returned);
  EXPECT_NE(message.find("No space left on device"), std::string::npos) << message;
  EXPECT_TRUE(same_on_every_rank(message));
  expect_next_call_works();
}

struct fragile {
  int value = 0;
  std::string name;  // not trivially copyable: encoded through save()
  template <class Archive>
  void save(Archive& archive) const {
    if (value == 13) throw std::runtime_error("cannot encode 13");
    archive(value, name);
  }
  template <class Archive>
  void load(Archive& archive) {
    archive(value, name);
  }
};

TEST(CallFailure, a_result_that_cannot_be_encoded_on_another_rank_fails_every_rank) {
  if (rt().size() < 2) GTEST_SKIP() << "results are encoded only on their way to root";
  plx::map_options options;
  options.schedule = plx::schedule::static_blocks();  // item 13 of 40 on a rank other than root
  options.threads = 1;
  std::string message;
  try {
    (void)plx::map(rt().world(), 16, [](std::size_t i) { return fragile{static_cast<int>(i), "x"}; }, options);
  } catch (const plx::error& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("cannot encode 13"), std::string::npos) << message;
  EXPECT_TRUE(same_on_every_rank(message));
  expect_next_call_works();
}

TEST(CallFailure, an_mpi_error_fetching_inputs_on_the_last_rank_fails_every_rank) {
  if (rt().size() < 2) GTEST_SKIP() << "root reads its inputs in place";
  std::vector<double> inputs(300);
  for (std::size_t i = 0; i < inputs.size(); ++i) inputs[i] = static_cast<double>(i);
  // The flush that completes a fetch (or a draw: both are a worker's MPI calls). Not MPI_Get itself: an
  // injected failure comes after the real call, and a Get left in flight would write into freed memory.
  if (rt().rank() == rt().size() - 1) plx::detail::arm_fault("MPI_Win_flush");
  plx::map_options options;
  options.label = "fetch";
  std::string message;
  try {
    (void)plx::map(rt().world(), inputs, [](const double& x) { return 2 * x; }, options);
  } catch (const plx::error& e) {
    message = e.what();
  }
  plx::detail::disarm_faults();
  EXPECT_NE(message.find("map 'fetch': a worker thread failed on rank " + std::to_string(rt().size() - 1) +
                         ": MPI_Win_flush failed"),
            std::string::npos)
      << message;
  EXPECT_TRUE(same_on_every_rank(message));
  // The inputs' windows were freed by every rank together; the next call over inputs works too.
  const auto doubled = plx::map(rt().world(), inputs, [](const double& x) { return 2 * x; });
  if (rt().is_root()) {
    EXPECT_EQ(doubled.at(299), 598.0);
  }
  expect_next_call_works();
}

TEST(CallFailure, an_mpi_error_sending_results_on_one_rank_fails_every_rank) {
  if (rt().size() < 2) GTEST_SKIP() << "root sends nothing";
  if (rt().rank() == 1) plx::detail::arm_fault("MPI_Isend");
  plx::map_options options;
  options.schedule = plx::schedule::static_blocks();  // rank 1 surely has results to send
  std::string message;
  try {
    (void)plx::map(rt().world(), 2000, [](std::size_t i) { return static_cast<double>(i); }, options);
  } catch (const plx::error& e) {
    message = e.what();
  }
  plx::detail::disarm_faults();
  EXPECT_NE(message.find("on rank 1: MPI_Isend failed"), std::string::npos) << message;
  EXPECT_TRUE(same_on_every_rank(message));
  expect_next_call_works();
}

TEST(CallFailure, a_full_disk_under_a_checkpoint_fails_every_rank_and_keeps_whole_records) {
  const plx::communicator& world = rt().world();
  const std::string path = plx::testing_support::temp_path("faults_checkpoint.ckpt");
  if (world.is_root()) std::filesystem::remove(path);
  const std::size_t n = 60;
  const auto task = [](std::size_t i) { return static_cast<double>(i) + 0.5; };
  if (world.is_root()) plx::detail::arm_fault("checkpoint.write", 1, 21);  // header + 20 records, then a full disk
  // One write per record (no group commit), so the fault lands after exactly 20 of them; a full disk under
  // group commit is checkpoint_test.cpp's.
  plx::map_options one_by_one;
  one_by_one.commit_window = std::chrono::seconds(0);
  std::string message;
  try {
    (void)plx::checkpointed_map(world, n, task, path, one_by_one);
  } catch (const plx::io_error& e) {
    message = e.what();
  }
  plx::detail::disarm_faults();
  EXPECT_NE(message.find("No space left on device"), std::string::npos) << message;
  if (world.is_root()) {
    EXPECT_NE(message.find(path), std::string::npos) << message;  // root's checkpoint (other ranks' paths differ)
  }
  EXPECT_TRUE(same_on_every_rank(message));

  // Space is back: the rerun computes only what the file lacks, and the file then holds every item.
  std::atomic<std::size_t> computed{0};
  const auto results = plx::checkpointed_map(world, n, [&](std::size_t i) {
    computed.fetch_add(1);
    return task(i);
  }, path);
  const std::uint64_t recomputed = sum_over_ranks(computed.load());
  if (world.is_root()) {
    ASSERT_EQ(results.size(), n);
    for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(results[i], task(i)) << i;
    EXPECT_EQ(recomputed, n - 20) << "the 20 durable records are not computed again";
    std::filesystem::remove(path);
  }
}

TEST(ResultCourier, root_receives_other_ranks_results_while_its_own_task_runs) {
  if (rt().size() < 2) GTEST_SKIP() << "needs a rank other than root";
  // Root's first task waits until the sink has seen a result from another rank. Before the courier,
  // root read other ranks' results only between its own tasks, so this wait could only time out.
  std::atomic<std::size_t> remote_seen{0};
  std::atomic<bool> waited{false};
  std::atomic<bool> seen_while_busy{false};
  plx::map_options options;
  options.schedule = plx::schedule::dynamic(1);
  options.threads = 1;
  const int my_rank = rt().rank();
  plx::map_unordered(
      rt().world(), 64,
      [&](std::size_t) {
        if (my_rank == 0 && !waited.exchange(true)) {
          const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
          while (remote_seen.load() == 0 && std::chrono::steady_clock::now() < give_up) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
          }
          seen_while_busy.store(remote_seen.load() > 0);
        }
        if (my_rank != 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // root gets to draw
        return my_rank;
      },
      [&](std::size_t, int&& rank) {
        if (rank != 0) remote_seen.fetch_add(1);
      },
      options);
  if (rt().is_root()) {
    EXPECT_TRUE(seen_while_busy.load());
  }
}

TEST(MaxFailures, failures_stop_at_the_limit_plus_the_tasks_already_running) {
  plx::map_options options;
  options.schedule = plx::schedule::dynamic(1);
  options.max_failures = 3;
  options.label = "doomed";
  std::atomic<std::size_t> ran{0};
  std::string message;
  std::size_t failures = 0;
  try {
    (void)plx::map_collect(rt().world(), 400, [&](std::size_t i) -> int {
      ran.fetch_add(1);
      throw std::runtime_error("exit 1 (" + std::to_string(i) + ")");
    }, options);
  } catch (const plx::task_error& e) {
    message = e.what();
    failures = e.failures();
  }
  const std::uint64_t workers = sum_over_ranks(static_cast<std::uint64_t>(omp_get_max_threads()));
  const std::uint64_t total_ran = sum_over_ranks(ran.load());
  EXPECT_NE(message.find("max_failures (3) reached"), std::string::npos) << message;
  EXPECT_GE(failures, 3u);
  EXPECT_LE(total_ran, 3 + workers) << "at most the limit plus one running task per worker";
  EXPECT_TRUE(same_on_every_rank(message));
}

struct command_like {
  int exit_code = 0;
  [[nodiscard]] bool counts_as_failure() const { return exit_code != 0; }
};

TEST(MaxFailures, results_that_report_a_failure_count_and_are_still_delivered) {
  plx::map_options options;
  options.schedule = plx::schedule::dynamic(1);
  options.max_failures = 2;
  std::atomic<std::size_t> ran{0};
  std::size_t delivered_failures = 0;
  bool limit = false;
  try {
    plx::map_unordered(
        rt().world(), 300,
        [&](std::size_t) {
          ran.fetch_add(1);
          return command_like{1};
        },
        [&](std::size_t, plx::outcome<command_like>&& result) {
          if (result.ok() && result.value().counts_as_failure()) ++delivered_failures;
        },
        options);
  } catch (const plx::task_error& e) {
    limit = true;
    EXPECT_NE(std::string(e.what()).find("its result reports a failure"), std::string::npos) << e.what();
  }
  const std::uint64_t workers = sum_over_ranks(static_cast<std::uint64_t>(omp_get_max_threads()));
  const std::uint64_t total_ran = sum_over_ranks(ran.load());
  EXPECT_TRUE(limit);
  EXPECT_LE(total_ran, 2 + workers);
  if (rt().is_root()) {
    EXPECT_EQ(delivered_failures, total_ran) << "every result reached the sink";
  }
  expect_next_call_works();
}

}  // namespace
