// The last step of map_reduce: one value per rank, folded in rank order, the result on every rank.
//
// The op is associative but need not be commutative (string concatenation), and a floating-point fold
// must come out the same on every rank, so the values are combined in one place and in one order:
// root folds identity op v_0 op v_1 ... op v_{P-1}, receiving one rank's value at a time, and broadcasts
// the result. Root holds one value from the others at a time, and no rank holds every rank's value (an
// allgather would put P values on each of P ranks). Every message is split into chunks of at most
// `max_chunk` bytes, so values beyond 2 GiB travel too.
#pragma once

#include <algorithm>
#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <parallax/core/collectives.hpp>
#include <parallax/core/communicator.hpp>
#include <parallax/core/error.hpp>
#include <parallax/dist/payload.hpp>

namespace plx::detail {

/// Collective over `comm`, which must carry no other traffic with the same tag meanwhile (map_reduce
/// passes the library's internal communicator). `local()` gives this rank's value (it may call the op);
/// returns identity op v_0 op ... op v_{P-1} on every rank, v_r being rank r's value. If `local()` or the
/// op throws on any rank, every rank throws: that rank (or root, for a failing fold) rethrows its own
/// exception, the others a plx::error naming the rank and its message.
template <class Value, class Local, class Op>
Value reduce_in_rank_order(const communicator& comm, const Value& identity, Local&& local, Op& op,
                           const std::string& label, std::size_t max_chunk) {
  constexpr int tag = 37;
  constexpr char holds_value = 'v';
  constexpr char holds_failure = 'f';
  std::exception_ptr own_failure;
  std::string failure;  // on root: the first failure, in rank order ("" if none)
  std::optional<Value> mine;
  try {
    mine.emplace(local());
  } catch (const std::exception& e) {
    own_failure = std::current_exception();
    failure = "rank " + std::to_string(comm.rank()) + ": " + e.what();
  }

  Value total = identity;
  if (comm.is_root()) {
    try {
      if (mine) total = std::invoke(op, std::move(total), std::move(*mine));
    } catch (const std::exception& e) {
      own_failure = std::current_exception();
      failure = "rank 0: " + std::string(e.what());
    }
    // Every other rank is sending: receive each message even after a failure, so none is left blocked.
    for (int r = 1; r < comm.size(); ++r) {
      const std::vector<char> bytes = recv_sized<char>(comm, r, tag, max_chunk);
      if (!failure.empty() || bytes.empty()) continue;
      const std::span<const char> body(bytes.data() + 1, bytes.size() - 1);
      if (bytes.front() == holds_failure) {
        failure = std::string(body.begin(), body.end());
        continue;
      }
      try {
        total = std::invoke(op, std::move(total), decode_from<Value>(body));
      } catch (const std::exception& e) {
        own_failure = std::current_exception();
        failure = "rank 0: " + std::string(e.what());
      }
    }
  } else {
    std::vector<char> bytes;  // a marker byte, then the encoded value or the failure message
    if (mine) {
      bytes.push_back(holds_value);
      encode_into(bytes, *mine);
    } else {
      bytes.assign(failure.size() + 1, holds_failure);
      std::copy(failure.begin(), failure.end(), bytes.begin() + 1);
    }
    send_sized(comm, std::span<const char>(bytes), 0, tag, max_chunk);
  }

  broadcast_from_root(comm, failure, max_chunk);
  if (!failure.empty()) {
    // The rank named (the first failure in rank order; rank 0 for a failing fold) rethrows its own exception.
    const bool named_here = failure.starts_with("rank " + std::to_string(comm.rank()) + ": ");
    if (own_failure && named_here) std::rethrow_exception(own_failure);
    throw error("map '" + label + "': the reduction failed on " + failure);
  }
  std::vector<char> result;
  if (comm.is_root()) encode_into(result, total);
  broadcast_from_root(comm, result, max_chunk);
  if (comm.is_root()) return total;
  return decode_from<Value>(result);
}

}  // namespace plx::detail
