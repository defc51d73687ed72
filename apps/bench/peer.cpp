// What running a peer program from root needs (numpy, scipy, dd): the other ranks out of its way, every core
// for it, and its output.
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include <mpi.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <parallax/core/error.hpp>

#include "bench.hpp"

namespace plx::bench {

void sleeping_barrier(const communicator& comm) {
  MPI_Request request = MPI_REQUEST_NULL;
  detail::check_mpi_before("MPI_Ibarrier");
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

std::string peer_output(const std::string& command, const std::string& peer) {
  const unbound_for_children unbound;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    std::fprintf(stderr, "plx-bench: cannot start '%s': %s\n", command.c_str(), std::strerror(errno));
    return "";
  }
  std::string text;
  char buffer[4096];
  for (std::size_t got = 0; (got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) text.append(buffer, got);
  const int status = pclose(pipe);
  if (status != 0) {
    // The peer's own stderr (above) says why: a bad argument, a missing module (python3-numpy, -scipy).
    std::fprintf(stderr, "plx-bench: the %s failed (%s; its own message is above): %s\n", peer.c_str(),
                 WIFEXITED(status) ? fmt::format("exit {}", WEXITSTATUS(status)).c_str() : "killed", command.c_str());
    return "";
  }
  return text;
}

}  // namespace plx::bench
