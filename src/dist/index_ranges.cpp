#include <parallax/dist/detail/index_ranges.hpp>

#include <algorithm>
#include <stdexcept>

namespace plx::detail {

index_ranges::index_ranges(std::vector<index_range> ranges) {
  std::erase_if(ranges, [](const index_range& r) { return r.end <= r.begin; });
  std::sort(ranges.begin(), ranges.end(), [](const index_range& a, const index_range& b) { return a.begin < b.begin; });
  for (const auto& r : ranges) {
    if (!ranges_.empty() && r.begin <= ranges_.back().end) {
      ranges_.back().end = std::max(ranges_.back().end, r.end);
    } else {
      ranges_.push_back(r);
    }
  }
  rebuild_prefix();
}

void index_ranges::rebuild_prefix() {
  before_.resize(ranges_.size());
  count_ = 0;
  for (std::size_t r = 0; r < ranges_.size(); ++r) {
    before_[r] = count_;
    count_ += ranges_[r].size();
  }
}

void index_ranges::add(std::uint64_t begin, std::uint64_t end) {
  if (end <= begin) return;
  // The common case: after (or touching) the last range.
  if (ranges_.empty() || begin > ranges_.back().end) {
    ranges_.push_back({begin, end});
    before_.push_back(count_);
    count_ += end - begin;
    return;
  }
  if (begin >= ranges_.back().begin) {
    const std::uint64_t old = ranges_.back().size();
    ranges_.back().end = std::max(ranges_.back().end, end);
    count_ += ranges_.back().size() - old;
    return;
  }
  std::vector<index_range> all(ranges_);
  all.push_back({begin, end});
  *this = index_ranges(std::move(all));
}

void index_ranges::add(const index_ranges& other) {
  std::vector<index_range> all(ranges_);
  all.insert(all.end(), other.ranges_.begin(), other.ranges_.end());
  *this = index_ranges(std::move(all));
}

index_ranges index_ranges::complement(std::uint64_t n) const {
  std::vector<index_range> gaps;
  std::uint64_t next = 0;
  for (const auto& r : ranges_) {
    if (r.begin >= n) break;
    if (r.begin > next) gaps.push_back({next, r.begin});
    next = std::max(next, r.end);
  }
  if (next < n) gaps.push_back({next, n});
  return index_ranges(std::move(gaps));
}

bool index_ranges::contains(std::uint64_t index) const noexcept {
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), index,
                             [](std::uint64_t i, const index_range& r) { return i < r.begin; });
  return it != ranges_.begin() && index < std::prev(it)->end;
}

std::uint64_t index_ranges::at(std::uint64_t k) const {
  if (k >= count_) throw std::out_of_range("index_ranges::at: " + std::to_string(k) + " of " + std::to_string(count_));
  const auto it = std::upper_bound(before_.begin(), before_.end(), k) - 1;
  const auto r = static_cast<std::size_t>(it - before_.begin());
  return ranges_[r].begin + (k - before_[r]);
}

std::vector<std::uint64_t> index_ranges::flat() const {
  std::vector<std::uint64_t> out;
  out.reserve(2 * ranges_.size());
  for (const auto& r : ranges_) {
    out.push_back(r.begin);
    out.push_back(r.end);
  }
  return out;
}

index_ranges index_ranges::from_flat(std::span<const std::uint64_t> flat) {
  std::vector<index_range> ranges;
  ranges.reserve(flat.size() / 2);
  for (std::size_t i = 0; i + 1 < flat.size(); i += 2) ranges.push_back({flat[i], flat[i + 1]});
  return index_ranges(std::move(ranges));
}

index_ranges index_ranges::of_indices(std::vector<std::uint64_t> indices) {
  std::sort(indices.begin(), indices.end());
  index_ranges out;
  for (const std::uint64_t i : indices) out.add(i, i + 1);
  return out;
}

}  // namespace plx::detail
