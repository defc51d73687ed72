#include <parallax/dist/detail/result_channel.hpp>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <exception>

#include <parallax/core/error.hpp>

namespace plx::detail {

namespace {
constexpr int tag_piece = 1;     // last (often only) fragment of a piece
constexpr int tag_fragment = 2;  // more fragments of the same piece follow
constexpr int tag_closed = 3;    // the sender has no more pieces
constexpr std::size_t max_in_flight = 4;
constexpr std::size_t poll_budget_bytes = std::size_t{8} << 20;
}  // namespace

result_channel::result_channel(const communicator& comm, std::size_t max_fragment_bytes)
    : comm_(comm),
      max_fragment_(std::clamp<std::size_t>(max_fragment_bytes, 1, INT_MAX)),
      open_senders_(comm.size() - 1) {}

result_channel::~result_channel() {
  // Only reached with sends in flight when the call is being unwound by an exception.
  for (auto& send : sends_) {
    // A send whose MPI_Wait completed it and then reported an error has a null request: cancelling that is
    // erroneous, and MPI_COMM_WORLD's fatal handler ended the job (exit 7, found by the fault sweep).
    if (send.request == MPI_REQUEST_NULL) continue;
    if (MPI_Cancel(&send.request) == MPI_SUCCESS) MPI_Request_free(&send.request);
  }
}

void result_channel::post(std::vector<char>&& piece) {
  if (piece.empty()) return;
  std::size_t offset = 0;
  do {
    const std::size_t count = std::min(max_fragment_, piece.size() - offset);
    const bool last = offset + count == piece.size();
    while (sends_.size() >= max_in_flight) reap(true);
    in_flight send{MPI_REQUEST_NULL, {}};
    if (offset == 0 && last) {
      send.bytes = std::move(piece);
    } else {
      send.bytes.assign(piece.begin() + static_cast<std::ptrdiff_t>(offset),
                        piece.begin() + static_cast<std::ptrdiff_t>(offset + count));
    }
    check_mpi_before("MPI_Isend");
    sends_.push_back(std::move(send));
    in_flight& queued = sends_.back();
    check_mpi(MPI_Isend(queued.bytes.data(), static_cast<int>(queued.bytes.size()), MPI_BYTE, 0,
                        last ? tag_piece : tag_fragment, comm_.native(), &queued.request),
              "MPI_Isend");
    offset += count;
  } while (offset < piece.size() && !piece.empty());
  reap(false);
}

void result_channel::reap(bool wait_oldest) {
  if (wait_oldest && !sends_.empty()) {
    check_mpi(MPI_Wait(&sends_.front().request, MPI_STATUS_IGNORE), "MPI_Wait");
    sends_.pop_front();
  }
  while (!sends_.empty()) {
    int done = 0;
    check_mpi(MPI_Test(&sends_.front().request, &done, MPI_STATUS_IGNORE), "MPI_Test");
    if (!done) break;
    sends_.pop_front();
  }
}

void result_channel::close() {
  // Root counts closed senders to know when it has everything: the "closed" message goes out even when
  // a send failed, or root would wait for this rank forever.
  std::exception_ptr failure;
  try {
    while (!sends_.empty()) reap(true);
  } catch (...) {
    failure = std::current_exception();
  }
  check_mpi(MPI_Send(nullptr, 0, MPI_BYTE, 0, tag_closed, comm_.native()), "MPI_Send");
  if (failure) std::rethrow_exception(failure);
}

void result_channel::receive(MPI_Message message, const MPI_Status& status,
                             std::vector<std::vector<char>>& ready) {
  int count = 0;
  check_mpi_alone(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count");
  if (status.MPI_TAG == tag_closed) {
    check_mpi_alone(MPI_Mrecv(nullptr, 0, MPI_BYTE, &message, MPI_STATUS_IGNORE), "MPI_Mrecv");
    --open_senders_;
    return;
  }
  // Messages from one sender arrive in order, so fragments append to that sender's partial piece.
  std::vector<char>& piece = partial_[status.MPI_SOURCE];
  const std::size_t offset = piece.size();
  piece.resize(offset + static_cast<std::size_t>(count));
  check_mpi_alone(MPI_Mrecv(piece.data() + offset, count, MPI_BYTE, &message, MPI_STATUS_IGNORE), "MPI_Mrecv");
  if (status.MPI_TAG == tag_piece) {
    ready.push_back(std::move(piece));
    partial_.erase(status.MPI_SOURCE);
  }
}

std::vector<std::vector<char>> result_channel::poll() {
  std::vector<std::vector<char>> ready;
  std::size_t ready_bytes = 0;
  // Open MPI's probe looks at what it has already pulled in and only then progresses the transport, so
  // after a quiet spell the first miss is not an answer: ask once more before giving up.
  // At most `poll_budget_bytes` per poll: every receive frees a sender to send the next message, so a
  // poll that drained until quiet held every remote result of a fast map at once (205 MB on root for
  // 27 million 8-byte results at 2 ranks); the caller delivers what it got and polls again.
  int misses = 0;
  while (open_senders_ > 0 && misses < 2 && ready_bytes < poll_budget_bytes) {
    int found = 0;
    MPI_Message message = MPI_MESSAGE_NULL;
    MPI_Status status;
    check_mpi_before("MPI_Improbe");
    check_mpi(MPI_Improbe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm_.native(), &found, &message, &status),
              "MPI_Improbe");
    if (!found) {
      ++misses;
      continue;
    }
    misses = 0;
    const std::size_t pieces = ready.size();
    receive(message, status, ready);
    if (ready.size() > pieces) ready_bytes += ready.back().size();
  }
  return ready;
}

std::vector<std::vector<char>> result_channel::wait() {
  std::vector<std::vector<char>> ready;
  while (ready.empty() && open_senders_ > 0) {
    MPI_Message message = MPI_MESSAGE_NULL;
    MPI_Status status;
    check_mpi_before("MPI_Mprobe");
    check_mpi(MPI_Mprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm_.native(), &message, &status), "MPI_Mprobe");
    receive(message, status, ready);
  }
  return ready;
}

}  // namespace plx::detail
