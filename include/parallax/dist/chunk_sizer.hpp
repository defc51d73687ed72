/// @file
/// How many items a worker draws at a time. Pure logic, no MPI: see plx::schedule for the policy.
#pragma once

#include <cstddef>

namespace plx {

/// The chunk sizes of one call's dynamic schedule: fixed, or grown from the measured cost per item. Not thread-safe.
class chunk_sizer {
 public:
  /// @param fixed_chunk  items per chunk, or 0 for auto
  /// @param workers      all threads of all ranks in the call (> 0)
  /// @param target_s     how long an auto chunk should last (seconds)
  chunk_sizer(std::size_t fixed_chunk, std::size_t workers, double target_s);

  /// The next chunk size given roughly how many items are still undealt.
  [[nodiscard]] std::size_t next(std::size_t remaining) const;

  /// Feeds back that `count` items took `seconds` in all.
  void observe(std::size_t count, double seconds);

  /// Mean seconds per item so far (0 before any observation).
  [[nodiscard]] double seconds_per_item() const;

 private:
  std::size_t fixed_;
  std::size_t workers_;
  double target_s_;
  std::size_t observed_items_ = 0;
  double observed_seconds_ = 0;
  std::size_t last_ = 1;
};

}  // namespace plx
