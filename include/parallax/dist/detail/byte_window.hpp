// Bytes on root that the other ranks read with one-sided MPI_Get, so that root's CPU never serves them.
#pragma once

#include <cstddef>

#include <mpi.h>

#include <parallax/core/communicator.hpp>

namespace plx::detail {

class byte_window {
 public:
  /// Collective over `comm`. Root exposes [base, base + bytes); other ranks' arguments are ignored.
  byte_window(const communicator& comm, const void* base, std::size_t bytes);
  /// Collective (MPI_Win_free).
  ~byte_window();
  // Owns an MPI window.
  byte_window(const byte_window&) = delete;
  byte_window& operator=(const byte_window&) = delete;
  byte_window(byte_window&&) = delete;
  byte_window& operator=(byte_window&&) = delete;

  /// Copies root's bytes [offset, offset + bytes) to `destination`. Not thread-safe: callers serialise.
  void read(void* destination, std::size_t offset, std::size_t bytes);

 private:
  MPI_Win window_ = MPI_WIN_NULL;
};

}  // namespace plx::detail
