#include <parallax/dist/detail/byte_window.hpp>

#include <algorithm>
#include <climits>
#include <cstdio>

#include <parallax/core/error.hpp>

namespace plx::detail {

byte_window::byte_window(const communicator& comm, const void* base, std::size_t bytes) {
  // Alone, root reads its own memory and needs no window; Open MPI 4.1 also refuses MPI_Win_create on a
  // one-process communicator (MPI_ERR_WIN).
  if (comm.size() == 1) return;
  // MPI_Win_create takes a non-const base; the other ranks only ever read through this window.
  void* exposed = comm.is_root() ? const_cast<void*>(base) : nullptr;
  const MPI_Aint size = comm.is_root() ? static_cast<MPI_Aint>(bytes) : 0;
  check_mpi(MPI_Win_create(exposed, size, 1, MPI_INFO_NULL, comm.native(), &window_), "MPI_Win_create");
  check_mpi(MPI_Win_lock_all(MPI_MODE_NOCHECK, window_), "MPI_Win_lock_all");
}

byte_window::~byte_window() {
  if (window_ == MPI_WIN_NULL) return;
  // MPI_Win_free is collective: after this rank's own MPI failure the others may never join it.
  if (skip_collective_free()) return;
  if (MPI_Win_unlock_all(window_) != MPI_SUCCESS || MPI_Win_free(&window_) != MPI_SUCCESS) {
    std::fprintf(stderr, "parallax: warning: freeing an input window failed\n");
  }
}

void byte_window::read(void* destination, std::size_t offset, std::size_t bytes) {
  auto* out = static_cast<char*>(destination);
  for (std::size_t done = 0; done < bytes;) {
    const int count = static_cast<int>(std::min<std::size_t>(bytes - done, INT_MAX));
    check_mpi_before("MPI_Get");
    check_mpi(MPI_Get(out + done, count, MPI_BYTE, 0, static_cast<MPI_Aint>(offset + done), count, MPI_BYTE,
                      window_),
              "MPI_Get");
    done += static_cast<std::size_t>(count);
  }
  check_mpi(MPI_Win_flush(0, window_), "MPI_Win_flush");
}

}  // namespace plx::detail
