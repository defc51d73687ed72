// Per-communicator state cached on the communicator itself (an MPI attribute), the MPI way for a library
// to keep, say, a window or a service thread across calls: made on first use, freed when MPI frees the
// communicator (MPI_Comm_free, or MPI_Finalize for the predefined ones).
#pragma once

#include <memory>

#include <mpi.h>

#include <parallax/core/communicator.hpp>
#include <parallax/core/error.hpp>

namespace plx::detail {

/// The `T` cached on `comm`, made with `make()` (returning std::unique_ptr<T>) on first use; not
/// collective unless `make` is. Not thread-safe: call it from the thread that makes the rank's MPI calls.
template <class T, class Make>
T& cached_on(const communicator& comm, Make&& make) {
  // One keyval per type and process; it lives until MPI_Finalize, which releases it.
  static int keyval = MPI_KEYVAL_INVALID;
  if (keyval == MPI_KEYVAL_INVALID) {
    const auto free_cached = [](MPI_Comm, int, void* attribute, void*) -> int {
      delete static_cast<T*>(attribute);
      return MPI_SUCCESS;
    };
    check_mpi_alone(MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, free_cached, &keyval, nullptr),
                    "MPI_Comm_create_keyval");
  }
  void* attribute = nullptr;
  int found = 0;
  check_mpi_alone(MPI_Comm_get_attr(comm.native(), keyval, &attribute, &found), "MPI_Comm_get_attr");
  if (found) return *static_cast<T*>(attribute);
  std::unique_ptr<T> made = make();
  const int code = MPI_Comm_set_attr(comm.native(), keyval, made.get());
  // `make` may have been collective (a window): were caching to fail on this rank alone, destroying the object
  // here would enter a collective free that the other ranks never join. It is kept (leaked) instead, and the
  // error ends the job.
  T& kept = *made.release();
  check_mpi_alone(code, "MPI_Comm_set_attr");
  return kept;
}

}  // namespace plx::detail
