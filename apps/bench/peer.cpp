// What running a peer program from root needs: the other ranks out of its way, and every core for it.
#include <chrono>
#include <thread>

#include <mpi.h>
#include <sched.h>
#include <unistd.h>

#include <parallax/core/error.hpp>

#include "bench.hpp"

namespace plx::bench {

void sleeping_barrier(const communicator& comm) {
  MPI_Request request = MPI_REQUEST_NULL;
  detail::check_mpi(MPI_Ibarrier(comm.native(), &request), "MPI_Ibarrier");
  for (int done = 0;;) {
    detail::check_mpi(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "MPI_Test");
    if (done) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

unbound_for_children::unbound_for_children() {
  if (sched_getaffinity(0, sizeof saved_, &saved_) != 0) return;
  cpu_set_t all;
  CPU_ZERO(&all);
  const long cores = sysconf(_SC_NPROCESSORS_ONLN);
  for (long c = 0; c < cores && c < CPU_SETSIZE; ++c) CPU_SET(static_cast<int>(c), &all);
  restore_ = sched_setaffinity(0, sizeof all, &all) == 0;
}

unbound_for_children::~unbound_for_children() {
  if (restore_) sched_setaffinity(0, sizeof saved_, &saved_);
}

}  // namespace plx::bench
