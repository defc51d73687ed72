// Checkpointed maps: results persist as they arrive; a rerun computes only what is missing.
#include <parallax/core/collectives.hpp>
#include <parallax/core/detail/fault_injection.hpp>
#include <parallax/core/detail/record_log.hpp>
#include <parallax/dist/checkpoint.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <typeinfo>
#include <string>

#include <gtest/gtest.h>
#include <mpi.h>

#include "../support/mpi_test.hpp"

namespace {

using plx::testing_support::rt;

std::string shared_path(const std::string& name) {
  std::string path;
  if (rt().is_root()) {
    path = ::testing::TempDir() + "/plx-ckpt-" + name + "-" + std::to_string(getpid());
    std::filesystem::remove(path);
  }
  plx::detail::broadcast_from_root(rt().world(), path);
  return path;
}

std::size_t sum_over_ranks(std::size_t local) {
  std::uint64_t mine = local;
  std::uint64_t total = 0;
  MPI_Allreduce(&mine, &total, 1, MPI_UINT64_T, MPI_SUM, rt().world().native());
  return total;
}

std::string value_of(std::size_t i) { return "result " + std::to_string(i * i); }

TEST(Checkpoint, a_second_run_computes_nothing_and_returns_the_same_results) {
  const std::string path = shared_path("again");
  std::atomic<std::size_t> calls{0};
  const auto task = [&](std::size_t i) {
    calls.fetch_add(1);
    return value_of(i);
  };
  const auto first = plx::checkpointed_map(rt().world(), 50, task, path);
  EXPECT_EQ(sum_over_ranks(calls.exchange(0)), 50u);
  const auto second = plx::checkpointed_map(rt().world(), 50, task, path);
  EXPECT_EQ(sum_over_ranks(calls.load()), 0u);
  if (rt().is_root()) {
    ASSERT_EQ(second.size(), 50u);
    EXPECT_EQ(first, second);
    EXPECT_EQ(second[7], value_of(7));
    std::filesystem::remove(path);
  }
}

TEST(Checkpoint, an_interrupted_map_rerun_computes_only_the_missing_items) {
  const std::string path = shared_path("interrupted");
  std::atomic<bool> stop{false};
  std::atomic<std::size_t> calls{0};
  plx::map_options options;
  options.stop = &stop;
  options.schedule = plx::schedule::dynamic(1);
  EXPECT_THROW((void)plx::checkpointed_map(rt().world(), 200, [&](std::size_t i) {
    if (calls.fetch_add(1) == 20) stop.store(true);  // as a signal handler would
    return value_of(i);
  }, path, options), plx::stopped_error);
  const std::size_t first = sum_over_ranks(calls.exchange(0));
  stop.store(false);
  const auto results = plx::checkpointed_map(rt().world(), 200, [&](std::size_t i) {
    calls.fetch_add(1);
    return value_of(i);
  }, path, options);
  const std::size_t second = sum_over_ranks(calls.load());
  EXPECT_LT(first, 200u);
  EXPECT_EQ(first + second, 200u) << "every item computed exactly once across both runs";
  if (rt().is_root()) {
    for (std::size_t i = 0; i < 200; ++i) ASSERT_EQ(results[i], value_of(i));
    std::filesystem::remove(path);
  }
}

TEST(Checkpoint, a_torn_last_record_is_recomputed) {
  const std::string path = shared_path("torn");
  (void)plx::checkpointed_map(rt().world(), 10, [](std::size_t i) { return double(i); }, path);
  if (rt().is_root()) std::filesystem::resize_file(path, std::filesystem::file_size(path) - 3);
  std::atomic<std::size_t> calls{0};
  const auto results = plx::checkpointed_map(rt().world(), 10, [&](std::size_t i) {
    calls.fetch_add(1);
    return double(i);
  }, path);
  EXPECT_EQ(sum_over_ranks(calls.load()), 1u);
  if (rt().is_root()) {
    for (std::size_t i = 0; i < 10; ++i) EXPECT_EQ(results[i], double(i));
    std::filesystem::remove(path);
  }
}

TEST(Checkpoint, without_a_commit_window_every_result_is_synced_on_its_own_with_the_same_file) {
  const std::string grouped = shared_path("grouped");
  const std::string synced = shared_path("synced");
  plx::map_options one_by_one;
  one_by_one.commit_window = std::chrono::seconds(0);
  const auto a = plx::checkpointed_map(rt().world(), 40, value_of, grouped);
  const auto b = plx::checkpointed_map(rt().world(), 40, value_of, synced, one_by_one);
  if (rt().is_root()) {
    EXPECT_EQ(a, b);
    EXPECT_EQ(std::filesystem::file_size(grouped), std::filesystem::file_size(synced));
    std::filesystem::remove(grouped);
    std::filesystem::remove(synced);
  }
}

TEST(Checkpoint, a_group_is_durable_within_its_window_without_a_flush_or_another_record) {
  if (!rt().is_root()) return;  // the log alone, on one process
  const std::string path = ::testing::TempDir() + "/plx-ckpt-window-" + std::to_string(getpid());
  std::filesystem::remove(path);
  {
    plx::detail::checkpoint_log log(path, 10, "double");
    const std::size_t header = std::filesystem::file_size(path);
    const std::vector<char> bytes(8, 'x');
    log.append_grouped(3, bytes, std::chrono::milliseconds(20));
    log.append_grouped(4, bytes, std::chrono::milliseconds(20));
    // Both on disk once the window has passed, written by the log's own thread (no flush, no later record).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::filesystem::file_size(path) == header && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_EQ(std::filesystem::file_size(path), header + 2 * (8 + 20));
  }
  plx::detail::checkpoint_log reopened(path, 10, "double");
  ASSERT_EQ(reopened.existing().size(), 2u);
  EXPECT_EQ(reopened.existing()[1].index, 4u);
  std::filesystem::remove(path);
}

TEST(Checkpoint, a_full_disk_during_a_group_commit_fails_every_rank_and_the_rerun_completes) {
  const std::string path = shared_path("full-disk");
  // Root's second group write fails as a full disk does (after the header's write).
  if (rt().is_root()) plx::detail::arm_fault("checkpoint.write", 1, 2);
  plx::map_options options;
  options.schedule = plx::schedule::dynamic(1);
  std::atomic<std::size_t> calls{0};
  const auto slow = [&](std::size_t i) {
    calls.fetch_add(1);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // results in several groups
    return value_of(i);
  };
  EXPECT_THROW((void)plx::checkpointed_map(rt().world(), 200, slow, path, options), plx::error);
  plx::detail::disarm_faults();
  const std::size_t first = sum_over_ranks(calls.exchange(0));
  const auto results = plx::checkpointed_map(rt().world(), 200, slow, path, options);
  const std::size_t second = sum_over_ranks(calls.load());
  EXPECT_GE(first + second, 200u);
  EXPECT_LT(second, 200u) << "the groups written before the failure are kept";
  if (rt().is_root()) {
    for (std::size_t i = 0; i < 200; ++i) ASSERT_EQ(results[i], value_of(i));
    std::filesystem::remove(path);
  }
}

TEST(Checkpoint, a_file_of_another_map_is_refused_on_every_rank) {
  const std::string path = shared_path("other");
  (void)plx::checkpointed_map(rt().world(), 10, [](std::size_t i) { return int(i); }, path);
  try {
    (void)plx::checkpointed_map(rt().world(), 11, [](std::size_t i) { return int(i); }, path);
    ADD_FAILURE() << "expected config_error";
  } catch (const plx::config_error& e) {
    // One line that names what differs (the item count), not the two headers.
    EXPECT_NE(std::string(e.what()).find("belongs to another run: different items: the file's 10, this run's 11"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW((void)plx::checkpointed_map(rt().world(), 10, [](std::size_t i) { return double(i); }, path),
               plx::config_error);
  if (rt().is_root()) std::filesystem::remove(path);
}

TEST(Checkpoint, damage_before_the_last_record_is_refused_and_left_as_it_is) {
  const std::string path = shared_path("damaged");
  (void)plx::checkpointed_map(rt().world(), 10, [](std::size_t i) { return double(i); }, path);
  std::string before;
  std::size_t first_record = 0;
  if (rt().is_root()) {
    std::ifstream in(path, std::ios::binary);
    before.assign(std::istreambuf_iterator<char>(in), {});
    first_record = before.find('\n') + 1;
    std::string bad = before;
    bad[first_record + 16] = static_cast<char>(bad[first_record + 16] ^ 0x40);  // the first result's bytes
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bad;
    before = bad;
  }
  std::atomic<std::size_t> calls{0};
  std::string message;
  try {
    (void)plx::checkpointed_map(rt().world(), 10, [&](std::size_t i) {
      calls.fetch_add(1);
      return double(i);
    }, path);
  } catch (const plx::error& e) {
    message = e.what();
  }
  EXPECT_EQ(sum_over_ranks(calls.load()), 0u) << "nothing is computed behind damage";
  EXPECT_NE(message.find("is damaged at byte"), std::string::npos) << message;
  if (rt().is_root()) {
    EXPECT_NE(message.find("truncate -s " + std::to_string(first_record) + " " + path), std::string::npos) << message;
    std::ifstream in(path, std::ios::binary);
    EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), before) << "the evidence stays";
    std::filesystem::remove(path);
  }
}

TEST(Checkpoint, a_file_another_writer_holds_is_refused_with_the_holder_named) {
  const std::string path = shared_path("locked");
  (void)plx::checkpointed_map(rt().world(), 4, [](std::size_t i) { return double(i); }, path);
  std::unique_ptr<plx::detail::checkpoint_log> holder;
  if (rt().is_root()) holder = std::make_unique<plx::detail::checkpoint_log>(path, 4, typeid(double).name());
  std::string message;
  try {
    (void)plx::checkpointed_map(rt().world(), 4, [](std::size_t i) { return double(i); }, path);
  } catch (const plx::error& e) {
    message = e.what();
  }
  holder.reset();
  EXPECT_NE(message.find("is in use by another process"), std::string::npos) << message;
  EXPECT_NE(message.find("pid "), std::string::npos) << message;
  // Released: the same call goes through, computing nothing.
  std::atomic<std::size_t> calls{0};
  (void)plx::checkpointed_map(rt().world(), 4, [&](std::size_t i) {
    calls.fetch_add(1);
    return double(i);
  }, path);
  EXPECT_EQ(sum_over_ranks(calls.load()), 0u);
  if (rt().is_root()) std::filesystem::remove(path);
}

}  // namespace
