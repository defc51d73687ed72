// Small collective helpers the layers above share.
#pragma once

#include <exception>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <type_traits>
#include <vector>

#include <mpi.h>

#include <parallax/core/communicator.hpp>
#include <parallax/core/error.hpp>

namespace plx::detail {

/// Everything every rank contributed, concatenated in rank order, with where each rank's part starts.
template <class T>
struct gathered {
  std::vector<T> values;
  std::vector<int> counts;   ///< elements from each rank
  std::vector<int> offsets;  ///< where each rank's elements start in `values`

  [[nodiscard]] std::span<const T> part(std::size_t rank) const {
    return std::span<const T>(values.data() + offsets[rank], static_cast<std::size_t>(counts[rank]));
  }
};

/// Collective: MPI_Allgatherv of trivially copyable values, sizes exchanged first. Each rank's part must
/// stay below 2^31 elements (MPI's int counts).
template <class T>
gathered<T> allgather_varying(const communicator& comm, std::span<const T> mine) {
  static_assert(std::is_trivially_copyable_v<T>, "allgather_varying sends raw bytes");
  gathered<T> out;
  const int bytes = static_cast<int>(mine.size_bytes());
  std::vector<int> byte_counts(static_cast<std::size_t>(comm.size()));
  check_mpi(MPI_Allgather(&bytes, 1, MPI_INT, byte_counts.data(), 1, MPI_INT, comm.native()), "MPI_Allgather");
  std::vector<int> byte_offsets(byte_counts.size());
  std::exclusive_scan(byte_counts.begin(), byte_counts.end(), byte_offsets.begin(), 0);
  out.values.resize(static_cast<std::size_t>(byte_offsets.back() + byte_counts.back()) / sizeof(T));
  check_mpi(MPI_Allgatherv(mine.data(), bytes, MPI_BYTE, out.values.data(), byte_counts.data(), byte_offsets.data(),
                           MPI_BYTE, comm.native()),
            "MPI_Allgatherv");
  for (std::size_t r = 0; r < byte_counts.size(); ++r) {
    out.counts.push_back(byte_counts[r] / static_cast<int>(sizeof(T)));
    out.offsets.push_back(byte_offsets[r] / static_cast<int>(sizeof(T)));
  }
  return out;
}

/// Collective: root's `text` on every rank (one decision, e.g. a path or an error message, shared by all).
inline void broadcast_from_root(const communicator& comm, std::string& text) {
  int length = static_cast<int>(text.size());
  check_mpi(MPI_Bcast(&length, 1, MPI_INT, 0, comm.native()), "MPI_Bcast");
  text.resize(static_cast<std::size_t>(length));
  check_mpi(MPI_Bcast(text.data(), length, MPI_CHAR, 0, comm.native()), "MPI_Bcast");
}

/// Collective: the message of the lowest rank whose `local_failure` is not empty, or "" on every rank.
std::string agree_on_failure(const communicator& comm, const std::string& local_failure);

/// Collective: runs `step` on every rank and makes its failure collective. A check that can fail on some
/// ranks only (a file one node cannot read) would otherwise throw there while the others go on into the
/// next collective and wait forever. If `step` throws on any rank, every rank throws: plx::config_error
/// when the lowest failing rank threw one, else plx::io_error, with that rank's message.
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
