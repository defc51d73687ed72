#include <parallax/core/thread_count.hpp>

#include <gtest/gtest.h>

#include <parallax/core/error.hpp>

namespace {

plx::thread_sources sources(int cores, int ranks) {
  plx::thread_sources s;
  s.node_cores = cores;
  s.ranks_on_node = ranks;
  return s;
}

TEST(ThreadCount, option_wins_over_environment) {
  auto s = sources(16, 2);
  s.option = 3;
  s.omp_num_threads = "5";
  s.slurm_cpus_per_task = "7";
  const auto choice = plx::resolve_thread_count(s);
  EXPECT_EQ(choice.threads, 3);
  EXPECT_EQ(choice.source, "--threads");
}

TEST(ThreadCount, omp_num_threads_before_slurm) {
  auto s = sources(16, 2);
  s.omp_num_threads = "5";
  s.slurm_cpus_per_task = "7";
  EXPECT_EQ(plx::resolve_thread_count(s).threads, 5);
  s.omp_num_threads.reset();
  EXPECT_EQ(plx::resolve_thread_count(s).threads, 7);
  EXPECT_EQ(plx::resolve_thread_count(s).source, "SLURM_CPUS_PER_TASK");
}

TEST(ThreadCount, omp_nesting_list_uses_outer_level) {
  auto s = sources(16, 1);
  s.omp_num_threads = "4,2";
  EXPECT_EQ(plx::resolve_thread_count(s).threads, 4);
}

TEST(ThreadCount, cores_divided_by_ranks_on_node_at_least_one) {
  EXPECT_EQ(plx::resolve_thread_count(sources(16, 4)).threads, 4);
  EXPECT_EQ(plx::resolve_thread_count(sources(16, 3)).threads, 5);
  EXPECT_EQ(plx::resolve_thread_count(sources(2, 4)).threads, 1);
  EXPECT_EQ(plx::resolve_thread_count(sources(2, 4)).source, "cores/ranks");
}

TEST(ThreadCount, bad_values_name_their_source) {
  auto s = sources(16, 1);
  s.omp_num_threads = "many";
  try {
    (void)plx::resolve_thread_count(s);
    FAIL() << "expected config_error";
  } catch (const plx::config_error& e) {
    EXPECT_NE(std::string(e.what()).find("OMP_NUM_THREADS='many'"), std::string::npos) << e.what();
  }
  s.omp_num_threads.emplace("0");  // emplace: assigning a literal trips GCC 12's false -Wrestrict (PR 105329)
  EXPECT_THROW((void)plx::resolve_thread_count(s), plx::config_error);
  s.omp_num_threads.reset();
  s.slurm_cpus_per_task.emplace("-2");
  EXPECT_THROW((void)plx::resolve_thread_count(s), plx::config_error);
  s.option = 0;
  EXPECT_THROW((void)plx::resolve_thread_count(s), plx::config_error);
}

}  // namespace
