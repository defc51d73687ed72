// The part every resumable map shares (checkpointed_map, map_to_h5): root knows which items are already
// durable, every rank learns the missing ones as ranges (not one entry per item: 10^8 items would be
// 800 MB), and the map runs over the missing items only, under their own indices.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include <parallax/core/collectives.hpp>
#include <parallax/core/communicator.hpp>
#include <parallax/dist/detail/index_ranges.hpp>
#include <parallax/dist/map.hpp>

namespace plx::detail {

/// Collective: root's `missing` (ignored elsewhere) on every rank. An MPI failure on any rank throws on
/// every rank (the next step is the map's own collectives, which a rank that threw alone would skip).
inline index_ranges share_missing(const communicator& comm, const index_ranges& missing) {
  std::vector<std::uint64_t> flat;
  if (comm.is_root()) flat = missing.flat();
  on_all_ranks(comm, [&] { broadcast_from_root(comm, flat); });
  return index_ranges::from_flat(flat);
}

/// Collective: map_unordered over the items of `missing` (the same on every rank). `fn(index)` computes
/// item `index`; on root, `sink(index, Result&&)` receives it, one call at a time (fail-fast policy).
template <class Fn, class Sink>
void map_missing(const communicator& comm, const index_ranges& missing, Fn&& fn, Sink&& sink,
                 const map_options& options) {
  using Result = index_result_t<Fn>;
  map_unordered(
      comm, static_cast<std::size_t>(missing.count()),
      [&](std::size_t k) { return std::invoke(fn, static_cast<std::size_t>(missing.at(k))); },
      [&](std::size_t k, Result&& value) { std::invoke(sink, static_cast<std::size_t>(missing.at(k)), std::move(value)); },
      options);
}

}  // namespace plx::detail
