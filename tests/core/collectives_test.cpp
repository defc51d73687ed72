#include <parallax/core/collectives.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "../support/mpi_test.hpp"

namespace {

using plx::testing_support::rt;

// Chunk limits far below the sizes used, so every transfer takes several messages; the default takes one.
const std::vector<std::size_t> chunk_limits = {1, 2, 3, 7, plx::detail::max_mpi_count};

// A type without a predefined MPI type: it travels as raw bytes, counted in elements.
struct record {
  std::int32_t rank;
  std::int32_t index;
  double value;
  bool operator==(const record&) const = default;
};

record make_record(int rank, std::size_t index) {
  return {rank, static_cast<std::int32_t>(index), 0.25 * rank + 1e-3 * static_cast<double>(index)};
}

TEST(BroadcastChunked, every_rank_gets_the_root_data_for_any_chunk_and_root) {
  const int size = rt().size();
  for (const std::size_t chunk : chunk_limits) {
    for (const int root : {0, size - 1}) {
      for (const std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{13}, std::size_t{100}}) {
        std::vector<double> data(n, -1.0);
        if (rt().rank() == root) {
          for (std::size_t i = 0; i < n; ++i) data[i] = 0.5 * static_cast<double>(i) + root;
        }
        plx::detail::broadcast_chunked(rt().world(), std::span<double>(data), root, chunk);
        for (std::size_t i = 0; i < n; ++i) {
          EXPECT_EQ(data[i], 0.5 * static_cast<double>(i) + root) << "chunk " << chunk << " root " << root;
        }
      }
    }
  }
}

TEST(BroadcastChunked, vectors_and_strings_take_root_size_and_contents) {
  for (const std::size_t chunk : chunk_limits) {
    std::vector<std::uint64_t> ids;
    std::string text = "not root";
    std::vector<record> records(rt().rank() + 2);  // root's size wins
    if (rt().is_root()) {
      for (std::uint64_t i = 0; i < 29; ++i) ids.push_back(i * i + (std::uint64_t{1} << 40));
      text = "a message longer than the chunk";
      records.clear();
      for (std::size_t i = 0; i < 5; ++i) records.push_back(make_record(0, i));
    }
    plx::detail::broadcast_from_root(rt().world(), ids, chunk);
    plx::detail::broadcast_from_root(rt().world(), text, chunk);
    plx::detail::broadcast_from_root(rt().world(), records, chunk);
    ASSERT_EQ(ids.size(), 29u);
    for (std::uint64_t i = 0; i < 29; ++i) EXPECT_EQ(ids[i], i * i + (std::uint64_t{1} << 40));
    EXPECT_EQ(text, "a message longer than the chunk");
    ASSERT_EQ(records.size(), 5u);
    for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(records[i], make_record(0, i));
  }
}

TEST(AllgatherVarying, parts_arrive_in_rank_order_with_64_bit_counts_and_offsets) {
  // Rank r gives 3r + 1 elements, except rank 1, which gives none: odd sizes and an empty part.
  const auto part_size = [](int r) { return r == 1 ? std::size_t{0} : static_cast<std::size_t>(3 * r + 1); };
  for (const std::size_t chunk : chunk_limits) {
    std::vector<record> mine;
    for (std::size_t i = 0; i < part_size(rt().rank()); ++i) mine.push_back(make_record(rt().rank(), i));
    const auto all = plx::detail::allgather_varying<record>(rt().world(), mine, chunk);
    ASSERT_EQ(all.counts.size(), static_cast<std::size_t>(rt().size()));
    std::size_t offset = 0;
    for (int r = 0; r < rt().size(); ++r) {
      EXPECT_EQ(all.counts[static_cast<std::size_t>(r)], part_size(r));
      EXPECT_EQ(all.offsets[static_cast<std::size_t>(r)], offset);
      const auto part = all.part(static_cast<std::size_t>(r));
      ASSERT_EQ(part.size(), part_size(r));
      for (std::size_t i = 0; i < part.size(); ++i) EXPECT_EQ(part[i], make_record(r, i)) << "chunk " << chunk;
      offset += part_size(r);
    }
    EXPECT_EQ(all.values.size(), offset);
  }
}

TEST(AllgatherVarying, nothing_from_anyone_is_an_empty_result) {
  const auto all = plx::detail::allgather_varying<char>(rt().world(), std::span<const char>(), 1);
  EXPECT_TRUE(all.values.empty());
  EXPECT_EQ(all.counts, std::vector<std::size_t>(static_cast<std::size_t>(rt().size()), 0));
}

TEST(AlltoallvChunked, every_pair_exchanges_its_part_in_source_rank_order) {
  // Rank r sends (r + 2s) % 5 records to rank s (some parts empty, its own part included).
  const auto count = [](int from, int to) { return static_cast<std::size_t>((from + 2 * to) % 5); };
  for (const std::size_t chunk : chunk_limits) {
    std::vector<record> send;
    std::vector<std::size_t> counts;
    for (int s = 0; s < rt().size(); ++s) {
      counts.push_back(count(rt().rank(), s));
      for (std::size_t i = 0; i < counts.back(); ++i) send.push_back(make_record(rt().rank(), 100 * s + i));
    }
    const auto got = plx::detail::alltoallv_chunked<record>(rt().world(), send, counts, 5, chunk);
    std::size_t expected_total = 0;
    for (int r = 0; r < rt().size(); ++r) {
      const std::size_t n = count(r, rt().rank());
      expected_total += n;
      ASSERT_EQ(got.counts[static_cast<std::size_t>(r)], n);
      const auto part = got.part(static_cast<std::size_t>(r));
      for (std::size_t i = 0; i < n; ++i) {
        EXPECT_EQ(part[i], make_record(r, 100 * static_cast<std::size_t>(rt().rank()) + i)) << "chunk " << chunk;
      }
    }
    EXPECT_EQ(got.values.size(), expected_total);
  }
}

TEST(SendSized, a_ring_passes_parts_larger_than_the_chunk) {
  const int size = rt().size();
  const int next = (rt().rank() + 1) % size;
  const int previous = (rt().rank() + size - 1) % size;
  for (const std::size_t chunk : chunk_limits) {
    std::vector<double> mine(static_cast<std::size_t>(2 * rt().rank() + 5));
    for (std::size_t i = 0; i < mine.size(); ++i) mine[i] = rt().rank() + 0.01 * static_cast<double>(i);
    // Receive first on odd ranks so a 1-rank ring (send to self) is the only case needing buffering.
    std::vector<double> got;
    if (size == 1) {
      got = mine;
    } else if (rt().rank() % 2 == 1) {
      got = plx::detail::recv_sized<double>(rt().world(), previous, 3, chunk);
      plx::detail::send_sized(rt().world(), std::span<const double>(mine), next, 3, chunk);
    } else {
      plx::detail::send_sized(rt().world(), std::span<const double>(mine), next, 3, chunk);
      got = plx::detail::recv_sized<double>(rt().world(), previous, 3, chunk);
    }
    ASSERT_EQ(got.size(), static_cast<std::size_t>(2 * previous + 5));
    for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], previous + 0.01 * static_cast<double>(i));
  }
}

}  // namespace
