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
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <parallax/core/collectives.hpp>
#include <parallax/core/communicator.hpp>
#include <parallax/core/error.hpp>
#include <parallax/dist/detail/call_context.hpp>
#include <parallax/dist/payload.hpp>

namespace plx::detail {

/// Collective over `comm`, which must carry no other traffic with the same tag meanwhile (map_reduce
/// passes the library's internal communicator). `local()` gives this rank's value (it may call the op);
/// returns identity op v_0 op ... op v_{P-1} on every rank, v_r being rank r's value. If `local()` or the
/// op throws on any rank, every rank throws the same exception, after every message is received:
/// "map '<label>': the reduction failed on rank r: <what>", of the failure's type where that is
/// plx::config_error or plx::io_error, else plx::error (as other failures of a map call, see
/// describe_call_failure; the first failure in rank order, rank 0's fold counting as rank 0's).
template <class Value, class Local, class Op>
Value reduce_in_rank_order(const communicator& comm, const Value& identity, Local&& local, Op& op,
                           const std::string& label, std::size_t max_chunk) {
  constexpr int tag = 37;
  constexpr char holds_value = 'v';
  constexpr char holds_failure = 'f';
  const std::string here = "the reduction failed on rank " + std::to_string(comm.rank()) + ": ";
  std::string failure;  // as describe_call_failure gives it (a kind letter, then the message), "" if none
  std::optional<Value> mine;
  try {
    mine.emplace(local());
  } catch (...) {
    failure = describe_call_failure(std::current_exception(), here);
  }

  Value total = identity;
  if (comm.is_root()) {
    try {
      if (mine) total = std::invoke(op, std::move(total), std::move(*mine));
    } catch (...) {
      failure = describe_call_failure(std::current_exception(), here);
    }
    // Every other rank is sending: receive each message even after a failure, so none is left blocked.
    for (int r = 1; r < comm.size(); ++r) {
      const std::vector<char> bytes = recv_sized<char>(comm, r, tag, max_chunk);
      if (!failure.empty() || bytes.empty()) continue;
      const std::span<const char> body(bytes.data() + 1, bytes.size() - 1);
      if (bytes.front() == holds_failure) {
        failure.assign(body.begin(), body.end());
        continue;
      }
      try {
        total = std::invoke(op, std::move(total), decode_from<Value>(body));
      } catch (...) {
        failure = describe_call_failure(std::current_exception(), here);
      }
    }
  } else {
    std::vector<char> bytes;  // a marker byte, then the encoded value or the failure
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
    const std::string message = "map '" + label + "': " + failure.substr(1);
    switch (failure.front()) {
      case 'c': throw collective(config_error(message));
      case 'i': throw collective(io_error(message));
      default: throw collective(error(message));
    }
  }
  std::vector<char> result;
  if (comm.is_root()) encode_into(result, total);
  broadcast_from_root(comm, result, max_chunk);
  if (comm.is_root()) return total;
  return decode_from<Value>(result);
}

}  // namespace plx::detail
