#include <parallax/core/wait_policy.hpp>

#include <gtest/gtest.h>

namespace {

plx::crowding_facts facts(int ranks, int threads, int bound_cpus, int node_cpus) {
  return {ranks, threads, bound_cpus, node_cpus};
}

TEST(Crowding, unbound_ranks_crowd_when_their_threads_exceed_the_cores) {
  EXPECT_TRUE(plx::is_crowded(facts(3, 2, 2, 2)));   // the case: 6 threads on 2 cores
  EXPECT_TRUE(plx::is_crowded(facts(2, 2, 2, 2)));
  EXPECT_FALSE(plx::is_crowded(facts(2, 2, 4, 4)));
  EXPECT_FALSE(plx::is_crowded(facts(1, 2, 2, 2)));
}

TEST(Crowding, one_thread_per_rank_is_never_changed) {
  EXPECT_FALSE(plx::is_crowded(facts(2, 1, 2, 2)));
  EXPECT_FALSE(plx::is_crowded(facts(3, 1, 2, 2)));  // crowded, but no OpenMP worker exists to spin
}

TEST(Crowding, a_rank_bound_to_fewer_cores_than_threads_is_crowded) {
  EXPECT_TRUE(plx::is_crowded(facts(2, 2, 1, 2)));  // mpirun's default binding at 2 ranks
  EXPECT_TRUE(plx::is_crowded(facts(1, 4, 2, 16)));
}

TEST(Crowding, ranks_bound_to_their_own_cores_are_not_crowded) {
  // 4 ranks with 4 cores each on a 16-core node: the masks may be disjoint, so this is not known crowded.
  EXPECT_FALSE(plx::is_crowded(facts(4, 4, 4, 16)));
  // 3 ranks sharing one 2-core socket mask cannot have more than the node's 2 cores.
  EXPECT_TRUE(plx::is_crowded(facts(3, 2, 2, 2)));
}

TEST(CrowdingLauncher, open_mpi_then_mpich_then_slurm) {
  EXPECT_EQ(plx::ranks_on_node_from_launcher("3", "5", "7"), 3);
  EXPECT_EQ(plx::ranks_on_node_from_launcher(std::nullopt, "5", "7"), 5);
  EXPECT_EQ(plx::ranks_on_node_from_launcher(std::nullopt, std::nullopt, "7"), 7);
  EXPECT_EQ(plx::ranks_on_node_from_launcher(std::nullopt, std::nullopt, std::nullopt), std::nullopt);
}

TEST(CrowdingLauncher, slurm_task_lists_give_their_largest_count) {
  EXPECT_EQ(plx::ranks_on_node_from_launcher(std::nullopt, std::nullopt, "2(x3),1"), 2);
  EXPECT_EQ(plx::ranks_on_node_from_launcher(std::nullopt, std::nullopt, "1,4(x2)"), 4);
}

TEST(CrowdingLauncher, unreadable_values_say_nothing) {
  EXPECT_EQ(plx::ranks_on_node_from_launcher("three", std::nullopt, std::nullopt), std::nullopt);
  EXPECT_EQ(plx::ranks_on_node_from_launcher("0", std::nullopt, std::nullopt), std::nullopt);
  EXPECT_EQ(plx::ranks_on_node_from_launcher(std::nullopt, std::nullopt, "x,2"), std::nullopt);
}

plx::wait_policy_inputs crowded() {
  plx::wait_policy_inputs inputs;
  inputs.facts = facts(3, 2, 2, 2);
  return inputs;
}

TEST(PassiveWaitRestart, a_crowded_node_restarts_once) {
  EXPECT_TRUE(plx::should_restart_with_passive_wait(crowded()));
  auto again = crowded();
  again.restarted = true;
  EXPECT_FALSE(plx::should_restart_with_passive_wait(again));
}

TEST(PassiveWaitRestart, the_users_choice_wins) {
  auto active = crowded();
  active.omp_wait_policy = "active";
  EXPECT_FALSE(plx::should_restart_with_passive_wait(active));
  auto empty = crowded();
  empty.omp_wait_policy = "";
  EXPECT_FALSE(plx::should_restart_with_passive_wait(empty));
  auto spin = crowded();
  spin.gomp_spincount = "1000";
  EXPECT_FALSE(plx::should_restart_with_passive_wait(spin));
}

TEST(PassiveWaitRestart, never_after_mpi_started_or_without_launcher_facts) {
  auto late = crowded();
  late.mpi_initialized = true;
  EXPECT_FALSE(plx::should_restart_with_passive_wait(late));
  auto unknown = crowded();
  unknown.facts.reset();
  EXPECT_FALSE(plx::should_restart_with_passive_wait(unknown));
}

TEST(PassiveWaitRestart, a_rank_with_fewer_cores_than_threads_is_left_to_libgomp) {
  plx::wait_policy_inputs inputs;
  inputs.facts = facts(2, 2, 1, 2);  // 2 x 2, mpirun's default binding: libgomp throttles its spin itself
  EXPECT_FALSE(plx::should_restart_with_passive_wait(inputs));
  inputs.facts = facts(1, 4, 2, 2);  // one process, 4 threads on 2 cores
  EXPECT_FALSE(plx::should_restart_with_passive_wait(inputs));
}

TEST(PassiveWaitRestart, an_uncrowded_node_is_left_alone) {
  plx::wait_policy_inputs inputs;
  inputs.facts = facts(2, 1, 1, 2);  // 2 x 1, mpirun's default binding
  EXPECT_FALSE(plx::should_restart_with_passive_wait(inputs));
}

TEST(PassiveWaitRestart, the_command_line_comes_from_the_kernel) {
  const auto arguments = plx::detail::process_command_line();
  ASSERT_FALSE(arguments.empty());
  EXPECT_NE(arguments.front().find("plx_unit_tests"), std::string::npos);
}

}  // namespace

TEST(LazyTeamWake, pays_where_the_ranks_alone_keep_every_core_busy) {
  EXPECT_TRUE(plx::detail::lazy_team_wake_pays(3, 2, 2));   // 3 ranks sharing 2 cores
  EXPECT_TRUE(plx::detail::lazy_team_wake_pays(2, 2, 2));   // 2 ranks, 2 cores
  EXPECT_TRUE(plx::detail::lazy_team_wake_pays(2, 1, 16));  // each rank bound to one core
  EXPECT_FALSE(plx::detail::lazy_team_wake_pays(2, 4, 4));  // the masters alone would leave 2 cores idle
  EXPECT_FALSE(plx::detail::lazy_team_wake_pays(1, 2, 2));
}

TEST(LazyTeamWake, passive_policy_is_read_as_libgomp_reads_it) {
  EXPECT_TRUE(plx::detail::is_passive_wait_policy("passive"));
  EXPECT_TRUE(plx::detail::is_passive_wait_policy("PASSIVE"));
  EXPECT_FALSE(plx::detail::is_passive_wait_policy("active"));
  EXPECT_FALSE(plx::detail::is_passive_wait_policy(""));
  EXPECT_FALSE(plx::detail::is_passive_wait_policy(nullptr));
}
