#include <parallax/core/layout.hpp>

#include <gtest/gtest.h>

namespace {

plx::rank_placement placement(int rank, const std::string& host, int threads, std::vector<int> cpus, int cores) {
  plx::rank_placement p;
  p.rank = rank;
  p.host = host;
  p.threads = threads;
  p.cpus = std::move(cpus);
  p.node_cores = cores;
  return p;
}

TEST(CpuList, compresses_ranges) {
  EXPECT_EQ(plx::format_cpu_list({0, 1, 2, 3, 8, 10, 11}), "0-3,8,10-11");
  EXPECT_EQ(plx::format_cpu_list({5}), "5");
  EXPECT_EQ(plx::format_cpu_list({3, 1, 2, 2}), "1-3");
  EXPECT_EQ(plx::format_cpu_list({}), "-");
}

TEST(LayoutTable, has_one_line_per_rank_with_host_and_cores) {
  const std::vector<plx::rank_placement> layout = {placement(0, "node-a", 2, {0, 1}, 4),
                                                   placement(1, "node-a", 2, {2, 3}, 4)};
  const std::string table = plx::layout_table(layout);
  EXPECT_NE(table.find("node-a"), std::string::npos);
  EXPECT_NE(table.find("2-3 (2 of 4)"), std::string::npos) << table;
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 3);
}

TEST(LayoutTable, shows_the_slurm_node_only_where_it_differs_from_the_host) {
  std::vector<plx::rank_placement> layout = {placement(0, "c12.cluster.org", 2, {0, 1}, 4),
                                             placement(1, "c13.cluster.org", 2, {0, 1}, 4)};
  layout[0].slurm_node = "c12";
  layout[1].slurm_node = "c13";
  EXPECT_EQ(plx::layout_table(layout).find("slurm-node"), std::string::npos) << plx::layout_table(layout);

  // Two slurmd emulating two nodes on one host: the column is what tells the ranks apart.
  layout[0].host = layout[1].host = "vm";
  layout[0].slurm_node = "node1";
  layout[1].slurm_node = "node2";
  const std::string table = plx::layout_table(layout);
  EXPECT_NE(table.find("slurm-node"), std::string::npos) << table;
  EXPECT_NE(table.find("node1"), std::string::npos) << table;
  EXPECT_NE(table.find("node2"), std::string::npos) << table;
}

TEST(Oversubscription, fitting_layout_has_no_warning) {
  const std::vector<plx::rank_placement> layout = {placement(0, "a", 2, {0, 1}, 4), placement(1, "a", 2, {2, 3}, 4),
                                                   placement(2, "b", 4, {0, 1, 2, 3}, 4)};
  EXPECT_FALSE(plx::oversubscription_warning(layout).has_value());
}

TEST(Oversubscription, too_many_threads_on_a_node_is_one_warning_naming_the_node) {
  const std::vector<plx::rank_placement> layout = {placement(0, "a", 2, {0, 1}, 2), placement(1, "a", 2, {0, 1}, 2)};
  const auto warning = plx::oversubscription_warning(layout);
  ASSERT_TRUE(warning.has_value());
  EXPECT_NE(warning->find("node a runs 4 threads (2 ranks) on 2 cores"), std::string::npos) << *warning;
  EXPECT_NE(warning->find("--threads"), std::string::npos);
}

TEST(Oversubscription, ranks_of_one_thread_beyond_the_cores_are_told_to_start_fewer_ranks_not_threads) {
  const std::vector<plx::rank_placement> layout = {placement(0, "a", 1, {}, 2), placement(1, "a", 1, {}, 2),
                                                   placement(2, "a", 1, {}, 2)};
  const auto warning = plx::oversubscription_warning(layout);
  ASSERT_TRUE(warning.has_value());
  EXPECT_NE(warning->find("node a runs 3 ranks of 1 thread on 2 cores; start fewer ranks"), std::string::npos)
      << *warning;
  EXPECT_EQ(warning->find("--threads"), std::string::npos) << *warning;
}

TEST(Oversubscription, binding_narrower_than_threads_is_reported_with_a_fix) {
  const std::vector<plx::rank_placement> layout = {placement(0, "a", 2, {0}, 8)};
  const auto warning = plx::oversubscription_warning(layout);
  ASSERT_TRUE(warning.has_value());
  EXPECT_NE(warning->find("--bind-to none"), std::string::npos) << *warning;
  EXPECT_NE(warning->find("--cpus-per-task=2"), std::string::npos) << *warning;
}

}  // namespace
