// Results on their way to root, in pieces of bounded size.
//
// Non-root ranks post encoded pieces as they fill (MPI_Isend, a few in flight at most); root polls
// from its result courier (result_courier.hpp) while the call runs and, at the end, waits until every
// rank has closed its side. A piece larger
// than MPI's int count is sent as several fragments and reassembled, so a map whose results exceed
// 2 GiB works. Root holds at most the pieces in flight beyond the results themselves.
//
// Not thread-safe: callers serialise (MPI_THREAD_SERIALIZED).
#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <vector>

#include <mpi.h>

#include <parallax/core/communicator.hpp>

namespace plx::detail {

class result_channel {
 public:
  /// Not collective. `max_fragment_bytes` caps one MPI message (tests use tiny ones).
  result_channel(const communicator& comm, std::size_t max_fragment_bytes = std::size_t{1} << 30);
  ~result_channel();
  // Owns in-flight MPI requests.
  result_channel(const result_channel&) = delete;
  result_channel& operator=(const result_channel&) = delete;
  result_channel(result_channel&&) = delete;
  result_channel& operator=(result_channel&&) = delete;

  // --- non-root side
  /// Sends `piece` to root. Blocks only while too many earlier sends are still in flight.
  void post(std::vector<char>&& piece);
  /// Waits for every send, then tells root this rank has no more pieces.
  void close();
  /// Lets MPI progress the sends in flight (and forgets those that completed), without waiting.
  void progress() { reap(false); }

  // --- root side
  /// Whole pieces that have arrived, without waiting.
  std::vector<std::vector<char>> poll();
  /// Blocks until at least one whole piece arrives, or every other rank has closed (then empty).
  std::vector<std::vector<char>> wait();

 private:
  struct in_flight {
    MPI_Request request;
    std::vector<char> bytes;
  };
  void reap(bool wait_oldest);
  // Receives one matched message; returns true if it completed a piece (appended to `ready`).
  void receive(MPI_Message message, const MPI_Status& status, std::vector<std::vector<char>>& ready);

  const communicator& comm_;
  std::size_t max_fragment_;
  std::deque<in_flight> sends_;
  std::map<int, std::vector<char>> partial_;  // fragments received so far, by source rank
  int open_senders_;
};

}  // namespace plx::detail
