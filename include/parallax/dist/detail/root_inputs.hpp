// Inputs that live on root, read by the other ranks chunk by chunk as they draw work ("scattered as
// needed"): root exposes them in an MPI window and the others fetch exactly the items of their chunks.
// Trivially copyable inputs are exposed in place; others are encoded once, with an offset table.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <mpi.h>

#include <parallax/core/collectives.hpp>
#include <parallax/core/error.hpp>
#include <parallax/dist/detail/byte_window.hpp>
#include <parallax/dist/detail/call_context.hpp>
#include <parallax/dist/payload.hpp>

namespace plx::detail {

template <class Input>
class root_inputs {
  static constexpr bool raw = std::is_trivially_copyable_v<Input>;

 public:
  /// Collective over `comm`; `inputs` matters on root only. If root cannot encode the inputs (memory, a
  /// throwing serialize()), every rank throws plx::error with root's message.
  root_inputs(const communicator& comm, const std::vector<Input>& inputs) : root_(comm.is_root()), local_(&inputs) {
    // Root prepares first and shares the count, or the news that it failed, in the same broadcast.
    std::uint64_t count = inputs.size();
    std::string failure;
    if constexpr (!raw) {
      if (root_) {
        try {
          offsets_.reserve(inputs.size() + 1);
          offsets_.push_back(0);
          for (const Input& input : inputs) {
            encode_into(bytes_, input);
            offsets_.push_back(bytes_.size());
          }
        } catch (const std::exception& e) {
          failure = e.what();
          count = failed_mark;
        }
      }
    }
    check_mpi(MPI_Bcast(&count, 1, MPI_UINT64_T, 0, comm.native()), "MPI_Bcast");
    if (count == failed_mark) {
      broadcast_from_root(comm, failure);
      throw collective(error("map: encoding the inputs on rank 0 failed: " + failure));
    }
    size_ = static_cast<std::size_t>(count);
    if constexpr (raw) {
      data_ = std::make_unique<byte_window>(comm, inputs.data(), root_ ? size_ * sizeof(Input) : 0);
    } else {
      offsets_window_ = std::make_unique<byte_window>(comm, offsets_.data(), offsets_.size() * sizeof(std::uint64_t));
      data_ = std::make_unique<byte_window>(comm, bytes_.data(), bytes_.size());
    }
  }

  [[nodiscard]] std::size_t size() const noexcept { return size_; }

  /// Thread-safe (takes `mpi_mutex` for MPI). The inputs of `work`, valid until the next fetch with the
  /// same `scratch`.
  std::span<const Input> fetch(const chunk& work, std::vector<Input>& scratch, std::mutex& mpi_mutex) {
    if (root_) return std::span<const Input>(local_->data() + work.begin, work.size());
    scratch.resize(work.size());
    if constexpr (raw) {
      std::lock_guard lock(mpi_mutex);
      data_->read(scratch.data(), work.begin * sizeof(Input), work.size() * sizeof(Input));
    } else {
      std::vector<std::uint64_t> offsets(work.size() + 1);
      std::vector<char> bytes;
      {
        std::lock_guard lock(mpi_mutex);
        offsets_window_->read(offsets.data(), work.begin * sizeof(std::uint64_t), offsets.size() * sizeof(std::uint64_t));
        bytes.resize(offsets.back() - offsets.front());
        data_->read(bytes.data(), offsets.front(), bytes.size());
      }
      for (std::size_t k = 0; k < work.size(); ++k) {
        scratch[k] = decode_from<Input>(std::span<const char>(bytes.data() + (offsets[k] - offsets.front()),
                                                              offsets[k + 1] - offsets[k]));
      }
    }
    return scratch;
  }

 private:
  static constexpr std::uint64_t failed_mark = ~std::uint64_t{0};
  bool root_;
  const std::vector<Input>* local_;
  std::size_t size_ = 0;
  std::vector<std::uint64_t> offsets_;  // root, encoded inputs only
  std::vector<char> bytes_;             // root, encoded inputs only
  std::unique_ptr<byte_window> offsets_window_;
  std::unique_ptr<byte_window> data_;
};

}  // namespace plx::detail
