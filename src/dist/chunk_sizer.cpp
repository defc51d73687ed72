#include <parallax/dist/chunk_sizer.hpp>

#include <algorithm>
#include <cmath>

namespace plx {

namespace {
// An auto chunk grows at most this much from one draw to the next, so one misleadingly cheap first
// item cannot hand a worker a huge chunk of expensive ones.
constexpr std::size_t max_growth = 4;
}  // namespace

chunk_sizer::chunk_sizer(std::size_t fixed_chunk, std::size_t workers, double target_s)
    : fixed_(fixed_chunk), workers_(std::max<std::size_t>(1, workers)), target_s_(target_s) {}

std::size_t chunk_sizer::next(std::size_t remaining) const {
  if (fixed_ != 0) return fixed_;
  if (observed_items_ == 0) return 1;  // cost unknown: measure on one item first
  const double per_item = seconds_per_item();
  const double by_cost = per_item > 0 ? target_s_ / per_item : static_cast<double>(remaining);
  std::size_t size = by_cost >= static_cast<double>(remaining) ? remaining
                                                               : static_cast<std::size_t>(std::floor(by_cost));
  // Guided: leave enough undealt work for every worker to end at about the same time.
  size = std::min(size, remaining / (2 * workers_));
  size = std::min(size, last_ * max_growth);
  return std::max<std::size_t>(1, size);
}

void chunk_sizer::observe(std::size_t count, double seconds) {
  if (count == 0) return;
  observed_items_ += count;
  observed_seconds_ += std::max(0.0, seconds);
  last_ = std::max<std::size_t>(1, count);
}

double chunk_sizer::seconds_per_item() const {
  return observed_items_ == 0 ? 0.0 : observed_seconds_ / static_cast<double>(observed_items_);
}

}  // namespace plx
