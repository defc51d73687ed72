#include <parallax/dist/chunk_sizer.hpp>

#include <gtest/gtest.h>

namespace {

TEST(ChunkSizer, fixed_chunk_is_used_as_is) {
  plx::chunk_sizer sizer(7, 4, 100e-6);
  EXPECT_EQ(sizer.next(1000), 7u);
  sizer.observe(7, 1.0);
  EXPECT_EQ(sizer.next(3), 7u);
}

TEST(ChunkSizer, auto_starts_with_one_item_to_measure_the_cost) {
  const plx::chunk_sizer sizer(0, 2, 100e-6);
  EXPECT_EQ(sizer.next(1'000'000), 1u);
}

TEST(ChunkSizer, expensive_tasks_are_drawn_one_by_one) {
  plx::chunk_sizer sizer(0, 2, 100e-6);
  sizer.observe(1, 0.1);  // 100 ms per task
  EXPECT_EQ(sizer.next(11), 1u);
}

TEST(ChunkSizer, cheap_tasks_grow_towards_the_target_duration_but_at_most_fourfold) {
  plx::chunk_sizer sizer(0, 2, 100e-6);
  sizer.observe(1, 1e-9);
  EXPECT_EQ(sizer.next(1'000'000), 4u);
  sizer.observe(4, 4e-9);
  EXPECT_EQ(sizer.next(1'000'000), 16u);
  for (int i = 0; i < 20; ++i) sizer.observe(sizer.next(1'000'000'000), 1e-9 * static_cast<double>(sizer.next(1'000'000'000)));
  EXPECT_NEAR(double(sizer.next(1'000'000'000)), 100'000.0, 1.0);  // 100 us / 1 ns
}

TEST(ChunkSizer, guided_cap_keeps_the_tail_balanced) {
  plx::chunk_sizer sizer(0, 4, 100e-6);
  for (int i = 0; i < 20; ++i) sizer.observe(1'000'000, 1e-3);  // 1 ns per item, big chunks seen
  EXPECT_EQ(sizer.next(800), 100u);  // 800 / (2 * 4 workers)
  EXPECT_EQ(sizer.next(3), 1u);
}

}  // namespace
