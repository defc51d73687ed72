// Sets of item indices kept as sorted, disjoint ranges [begin, end): which rows of a resumable map are
// already durable, and which are still missing. A map's items finish in chunks, so the ranges stay few
// where a list of indices would hold one entry per item (10^8 items: 800 MB).
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace plx::detail {

struct index_range {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;  ///< one past the last
  [[nodiscard]] std::uint64_t size() const noexcept { return end - begin; }
  friend bool operator==(const index_range&, const index_range&) = default;
};

class index_ranges {
 public:
  index_ranges() = default;
  /// Takes ranges in any order, overlapping or touching; they are merged.
  explicit index_ranges(std::vector<index_range> ranges);

  /// Adds [begin, end) (may overlap what is there). Amortised O(log r) when ranges arrive mostly in order.
  void add(std::uint64_t begin, std::uint64_t end);
  /// Adds every range of `other`.
  void add(const index_ranges& other);

  /// The indices of [0, n) that are not in this set.
  [[nodiscard]] index_ranges complement(std::uint64_t n) const;
  /// Number of indices in the set.
  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
  [[nodiscard]] bool empty() const noexcept { return ranges_.empty(); }
  [[nodiscard]] bool contains(std::uint64_t index) const noexcept;
  /// The k-th smallest index in the set (k < count()); O(log r).
  [[nodiscard]] std::uint64_t at(std::uint64_t k) const;
  [[nodiscard]] std::span<const index_range> ranges() const noexcept { return ranges_; }

  /// The ranges as a flat list begin0, end0, begin1, end1, ... (to broadcast or store) and back.
  [[nodiscard]] std::vector<std::uint64_t> flat() const;
  static index_ranges from_flat(std::span<const std::uint64_t> flat);

  /// Runs of consecutive indices in an arbitrary list (sorted or not), as ranges.
  static index_ranges of_indices(std::vector<std::uint64_t> indices);

 private:
  void rebuild_prefix();

  std::vector<index_range> ranges_;      // sorted, disjoint, not touching
  std::vector<std::uint64_t> before_;    // before_[r]: indices in ranges_[0..r)
  std::uint64_t count_ = 0;
};

}  // namespace plx::detail
