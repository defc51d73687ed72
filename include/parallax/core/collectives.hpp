/// @file
/// Small collective helpers the layers above share, and the chunked transfers that keep every MPI count
/// within an int.
///
/// MPI counts and displacements are ints, so a call moves at most 2^31 - 1 elements. The helpers here take
/// sizes as std::size_t and split a transfer into chunks of at most `max_chunk` elements each (default
/// max_mpi_count); tests pass a few elements to exercise the chunking on small data. Element types are sent
/// as the matching MPI type where there is one (char, double, 64-bit integers) and as raw bytes otherwise,
/// so T must be trivially copyable.
#pragma once

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <mpi.h>

#include <parallax/core/communicator.hpp>
#include <parallax/core/error.hpp>

namespace plx::detail {

/// The most elements one MPI call moves (its counts are ints).
inline constexpr std::size_t max_mpi_count = INT_MAX;

/// The MPI datatype of one T, freed with this object: MPI_CHAR, MPI_DOUBLE, MPI_UINT64_T, MPI_INT64_T where
/// T is one of those, else sizeof(T) contiguous bytes (a type we create, so counts stay in elements).
template <class T>
class mpi_element_type {
  static_assert(std::is_trivially_copyable_v<T>, "plx: chunked transfers send raw bytes");

 public:
  mpi_element_type() {
    if constexpr (std::is_same_v<T, char>) {
      type_ = MPI_CHAR;
    } else if constexpr (std::is_same_v<T, double>) {
      type_ = MPI_DOUBLE;
    } else if constexpr (std::is_integral_v<T> && sizeof(T) == 8) {
      type_ = std::is_signed_v<T> ? MPI_INT64_T : MPI_UINT64_T;
    } else if constexpr (sizeof(T) == 1) {
      type_ = MPI_BYTE;
    } else {
      check_mpi(MPI_Type_contiguous(static_cast<int>(sizeof(T)), MPI_BYTE, &type_), "MPI_Type_contiguous");
      owned_ = true;
      const int code = MPI_Type_commit(&type_);
      if (code != MPI_SUCCESS) {
        MPI_Type_free(&type_);
        check_mpi(code, "MPI_Type_commit");
      }
    }
  }
  ~mpi_element_type() {
    if (owned_) MPI_Type_free(&type_);
  }
  // One owner of the MPI handle.
  mpi_element_type(const mpi_element_type&) = delete;
  mpi_element_type& operator=(const mpi_element_type&) = delete;

  [[nodiscard]] MPI_Datatype native() const noexcept { return type_; }

 private:
  MPI_Datatype type_ = MPI_DATATYPE_NULL;
  bool owned_ = false;
};

/// The chunk limit actually used: at least 1, at most max_mpi_count.
[[nodiscard]] inline std::size_t clamp_chunk(std::size_t max_chunk) noexcept {
  return std::clamp<std::size_t>(max_chunk, 1, max_mpi_count);
}

/// Requests in flight, waited for together. Should a post fail part-way (an MPI error, not a usage error),
/// the destructor cancels and frees what is still pending instead of leaving it to complete into a buffer
/// that is going away.
class request_set {
 public:
  request_set() = default;
  ~request_set() {
    for (MPI_Request& r : requests_) {
      if (r == MPI_REQUEST_NULL) continue;
      MPI_Cancel(&r);
      MPI_Request_free(&r);
    }
  }
  // Requests are owned once.
  request_set(const request_set&) = delete;
  request_set& operator=(const request_set&) = delete;

  MPI_Request* add() { return &requests_.emplace_back(MPI_REQUEST_NULL); }
  void reserve(std::size_t n) { requests_.reserve(n); }
  void wait_all() {
    if (requests_.empty()) return;
    check_mpi(MPI_Waitall(static_cast<int>(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
    requests_.clear();
  }

 private:
  std::vector<MPI_Request> requests_;
};

/// Collective: `data` from `root` on every rank, in chunks of at most `max_chunk` elements. Every rank
/// passes a span of the same size.
template <class T>
void broadcast_chunked(const communicator& comm, std::span<T> data, int root, std::size_t max_chunk = max_mpi_count) {
  const mpi_element_type<T> type;
  const std::size_t chunk = clamp_chunk(max_chunk);
  for (std::size_t done = 0; done < data.size(); done += chunk) {
    const int count = static_cast<int>(std::min(chunk, data.size() - done));
    const int code = MPI_Bcast(data.data() + done, count, type.native(), root, comm.native());
    // A chunk that failed on one rank while the others go on into the next chunk: no agreement can follow.
    if (done + chunk < data.size()) {
      check_mpi_alone(code, "MPI_Bcast");
    } else {
      check_mpi(code, "MPI_Bcast");
    }
  }
}

/// Collective: root's `values` (size and contents) on every rank, in chunks of at most `max_chunk` elements.
/// The size goes first: its broadcast failing on one rank (while the others go on into the contents') ends
/// that rank alone (plx::mpi_exchange_error), as no agreement can follow.
template <class T>
void broadcast_from_root(const communicator& comm, std::vector<T>& values, std::size_t max_chunk = max_mpi_count) {
  std::uint64_t size = values.size();
  check_mpi_alone(MPI_Bcast(&size, 1, MPI_UINT64_T, 0, comm.native()), "MPI_Bcast");
  values.resize(static_cast<std::size_t>(size));
  broadcast_chunked(comm, std::span<T>(values), 0, max_chunk);
}

/// Collective: root's `text` on every rank (one decision, e.g. a path or an error message, shared by all).
inline void broadcast_from_root(const communicator& comm, std::string& text, std::size_t max_chunk = max_mpi_count) {
  std::uint64_t size = text.size();
  check_mpi_alone(MPI_Bcast(&size, 1, MPI_UINT64_T, 0, comm.native()), "MPI_Bcast");  // see above
  text.resize(static_cast<std::size_t>(size));
  broadcast_chunked(comm, std::span<char>(text.data(), text.size()), 0, max_chunk);
}

/// Point-to-point: `data` to `dest`, in chunks of at most `max_chunk` elements (blocking). The receiver
/// calls recv_chunked with a span of the same size, the same tag and the same chunk limit.
template <class T>
void send_chunked(const communicator& comm, std::span<const T> data, int dest, int tag,
                  std::size_t max_chunk = max_mpi_count) {
  const mpi_element_type<T> type;
  const std::size_t chunk = clamp_chunk(max_chunk);
  for (std::size_t done = 0; done < data.size(); done += chunk) {
    const int count = static_cast<int>(std::min(chunk, data.size() - done));
    check_mpi(MPI_Send(data.data() + done, count, type.native(), dest, tag, comm.native()), "MPI_Send");
  }
}

/// Point-to-point: fills `data` from `source`, the counterpart of send_chunked.
template <class T>
void recv_chunked(const communicator& comm, std::span<T> data, int source, int tag,
                  std::size_t max_chunk = max_mpi_count) {
  const mpi_element_type<T> type;
  const std::size_t chunk = clamp_chunk(max_chunk);
  for (std::size_t done = 0; done < data.size(); done += chunk) {
    const int count = static_cast<int>(std::min(chunk, data.size() - done));
    check_mpi(MPI_Recv(data.data() + done, count, type.native(), source, tag, comm.native(), MPI_STATUS_IGNORE),
              "MPI_Recv");
  }
}

/// Point-to-point: `data` with its size first, so the receiver (recv_sized) needs not know it.
template <class T>
void send_sized(const communicator& comm, std::span<const T> data, int dest, int tag,
                std::size_t max_chunk = max_mpi_count) {
  const std::uint64_t size = data.size();
  check_mpi(MPI_Send(&size, 1, MPI_UINT64_T, dest, tag, comm.native()), "MPI_Send");
  send_chunked(comm, data, dest, tag, max_chunk);
}

/// Point-to-point: what send_sized sent from `source` with `tag`.
template <class T>
std::vector<T> recv_sized(const communicator& comm, int source, int tag, std::size_t max_chunk = max_mpi_count) {
  std::uint64_t size = 0;
  check_mpi(MPI_Recv(&size, 1, MPI_UINT64_T, source, tag, comm.native(), MPI_STATUS_IGNORE), "MPI_Recv");
  std::vector<T> values(static_cast<std::size_t>(size));
  recv_chunked(comm, std::span<T>(values), source, tag, max_chunk);
  return values;
}

/// Parts from every rank, concatenated in rank order, with where each rank's part starts.
template <class T>
struct gathered {
  std::vector<T> values;
  std::vector<std::size_t> counts;   ///< elements from each rank
  std::vector<std::size_t> offsets;  ///< where each rank's elements start in `values`

  [[nodiscard]] std::span<const T> part(std::size_t rank) const {
    return std::span<const T>(values.data() + offsets[rank], counts[rank]);
  }
};

/// Offsets of consecutive parts of the given sizes.
[[nodiscard]] inline std::vector<std::size_t> offsets_of(const std::vector<std::size_t>& counts) {
  std::vector<std::size_t> offsets(counts.size(), 0);
  for (std::size_t r = 1; r < counts.size(); ++r) offsets[r] = offsets[r - 1] + counts[r - 1];
  return offsets;
}

/// Collective: every rank's `mine`, concatenated in rank order, on every rank (MPI_Allgatherv). Sizes are
/// exchanged as 64-bit counts; the data moves in rounds in which each rank sends at most `max_chunk`
/// elements (and a round at most max_mpi_count in all), so neither a part nor the total is bounded by
/// 2^31. Every rank holds the whole result: use it for small parts (failure records, a few values).
template <class T>
gathered<T> allgather_varying(const communicator& comm, std::span<const T> mine,
                              std::size_t max_chunk = max_mpi_count) {
  const auto ranks = static_cast<std::size_t>(comm.size());
  gathered<T> out;
  const std::uint64_t my_count = mine.size();
  std::vector<std::uint64_t> all_counts(ranks);
  check_mpi(MPI_Allgather(&my_count, 1, MPI_UINT64_T, all_counts.data(), 1, MPI_UINT64_T, comm.native()),
            "MPI_Allgather");
  out.counts.assign(all_counts.begin(), all_counts.end());
  out.offsets = offsets_of(out.counts);
  out.values.resize(out.offsets.back() + out.counts.back());
  // A round's displacements index one staging buffer of at most max_mpi_count elements, so every rank's
  // share of a round is at most max_mpi_count / ranks.
  const std::size_t chunk = std::max<std::size_t>(1, std::min(clamp_chunk(max_chunk), max_mpi_count / ranks));
  const std::size_t largest = *std::max_element(out.counts.begin(), out.counts.end());
  const mpi_element_type<T> type;
  std::vector<int> round_counts(ranks);
  std::vector<int> round_offsets(ranks);
  std::vector<T> staging;
  for (std::size_t done = 0; done < largest; done += chunk) {
    int round_total = 0;
    for (std::size_t r = 0; r < ranks; ++r) {
      const std::size_t left = out.counts[r] > done ? out.counts[r] - done : 0;
      round_counts[r] = static_cast<int>(std::min(chunk, left));
      round_offsets[r] = round_total;
      round_total += round_counts[r];
    }
    staging.resize(static_cast<std::size_t>(round_total));
    const auto me = static_cast<std::size_t>(comm.rank());
    check_mpi(MPI_Allgatherv(mine.data() + std::min(done, mine.size()), round_counts[me], type.native(),
                             staging.data(), round_counts.data(), round_offsets.data(), type.native(), comm.native()),
              "MPI_Allgatherv");
    for (std::size_t r = 0; r < ranks; ++r) {
      std::copy_n(staging.data() + round_offsets[r], round_counts[r], out.values.data() + out.offsets[r] + done);
    }
  }
  return out;
}

/// Collective: the message of the lowest rank whose `local_failure` is not empty, or "" on every rank.
std::string agree_on_failure(const communicator& comm, const std::string& local_failure);

/// Collective: an all-to-all exchange of variable parts (MPI_Alltoallv without its int counts and
/// displacements). `send` holds the part for rank 0, then rank 1, ...; `send_counts[r]` elements each.
/// Returns what every rank sent this one, in source rank order. Parts travel point-to-point with `tag` in
/// chunks of at most `max_chunk` elements, and only between ranks that exchange something (this rank's
/// own part is copied), so `comm` must carry no other message with that tag meanwhile. The result goes
/// into `out`, whose storage is reused: a loop that exchanges every step allocates only when a step
/// receives more than any before. A failure on one rank before the messages (an error of the count
/// exchange, no memory for what arrives) throws plx::io_error on every rank: a rank that left would leave
/// the others waiting on its messages.
template <class T>
void alltoallv_chunked(const communicator& comm, std::span<const T> send, std::span<const std::size_t> send_counts,
                       int tag, gathered<T>& out, std::size_t max_chunk = max_mpi_count) {
  const auto ranks = static_cast<std::size_t>(comm.size());
  const auto me = static_cast<std::size_t>(comm.rank());
  std::string failure;
  try {
    std::vector<std::uint64_t> outgoing(send_counts.begin(), send_counts.end());
    std::vector<std::uint64_t> incoming(ranks, 0);
    check_mpi(MPI_Alltoall(outgoing.data(), 1, MPI_UINT64_T, incoming.data(), 1, MPI_UINT64_T, comm.native()),
              "MPI_Alltoall");
    out.counts.assign(incoming.begin(), incoming.end());
    out.offsets = offsets_of(out.counts);
    out.values.resize(out.offsets.back() + out.counts.back());
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (const std::string message = agree_on_failure(comm, failure); !message.empty()) throw collective(io_error(message));
  const std::vector<std::size_t> send_offsets = offsets_of(std::vector<std::size_t>(send_counts.begin(), send_counts.end()));

  const mpi_element_type<T> type;
  const std::size_t chunk = clamp_chunk(max_chunk);
  request_set requests;
  for (std::size_t r = 0; r < ranks; ++r) {
    if (r == me) continue;
    for (std::size_t done = 0; done < out.counts[r]; done += chunk) {
      const int count = static_cast<int>(std::min(chunk, out.counts[r] - done));
      check_mpi_before("MPI_Irecv");
      check_mpi(MPI_Irecv(out.values.data() + out.offsets[r] + done, count, type.native(), static_cast<int>(r), tag,
                          comm.native(), requests.add()),
                "MPI_Irecv");
    }
  }
  for (std::size_t r = 0; r < ranks; ++r) {
    if (r == me) continue;
    for (std::size_t done = 0; done < send_counts[r]; done += chunk) {
      const int count = static_cast<int>(std::min(chunk, send_counts[r] - done));
      check_mpi_before("MPI_Isend");
      check_mpi(MPI_Isend(send.data() + send_offsets[r] + done, count, type.native(), static_cast<int>(r), tag,
                          comm.native(), requests.add()),
                "MPI_Isend");
    }
  }
  std::copy_n(send.data() + send_offsets[me], send_counts[me], out.values.data() + out.offsets[me]);
  requests.wait_all();
}

/// Collective: the same, returning a fresh result.
template <class T>
gathered<T> alltoallv_chunked(const communicator& comm, std::span<const T> send,
                              std::span<const std::size_t> send_counts, int tag,
                              std::size_t max_chunk = max_mpi_count) {
  gathered<T> out;
  alltoallv_chunked(comm, send, send_counts, tag, out, max_chunk);
  return out;
}


/// Collective: runs `step` on every rank and makes its failure collective. A check that can fail on some
/// ranks only (a file one node cannot read) would otherwise throw there while the others go on into the
/// next collective and wait forever. If `step` throws on any rank, every rank throws: plx::config_error
/// when the lowest failing rank threw one, else plx::io_error, with that rank's message. Except a
/// plx::mpi_exchange_error: it leaves this rank at once (a peer may be waiting for it inside `step`).
template <class Step>
auto on_all_ranks(const communicator& comm, Step&& step) {
  using Result = decltype(step());
  std::string failure;
  bool config = false;
  std::optional<std::conditional_t<std::is_void_v<Result>, bool, Result>> result;
  try {
    if constexpr (std::is_void_v<Result>) {
      step();
      result = true;
    } else {
      result.emplace(step());
    }
  } catch (const mpi_exchange_error&) {
    throw;  // a peer may wait for this rank's part of an exchange: no agreement can be reached
  } catch (const config_error& e) {
    failure = e.what();
    config = true;
  } catch (const std::exception& e) {
    failure = e.what();
  }
  const std::string message = agree_on_failure(comm, failure.empty() ? failure : (config ? "c" : "i") + failure);
  if (!message.empty()) {
    if (message.front() == 'c') throw collective(config_error(message.substr(1)));
    throw collective(io_error(message.substr(1)));
  }
  if constexpr (!std::is_void_v<Result>) return std::move(*result);
}

}  // namespace plx::detail
