/// @file
/// The error hierarchy of parallax.
///
/// The library reports failures by throwing one of these types; apps catch `plx::error` once in `main`,
/// print it ("error: what" once from root when every rank threw it, see error::is_collective; else
/// "error (rank r): what") and return a non-zero code. Every message says what failed, with which
/// values, and on which rank where that matters.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

namespace plx {

/// Root of every exception parallax throws.
class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  /// True when every rank of the communicator threw this same error (type and message) from the same
  /// call: the ranks unwind together, so an app may print it once and exit without MPI_Abort.
  [[nodiscard]] bool is_collective() const noexcept { return collective_; }
  /// Marks the error as thrown on every rank alike; only code that has made sure of that calls it.
  void mark_collective() noexcept { collective_ = true; }

 private:
  bool collective_ = false;
};

/// An MPI call returned an error code. Keeps the code and MPI's own description of it.
class mpi_error : public error {
 public:
  /// @param call  the MPI function that failed, e.g. "MPI_Win_allocate"
  /// @param code  the MPI error code it returned
  mpi_error(const std::string& call, int code);
  /// The MPI error code the call returned (MPI_ERR_*; MPI_Error_class gives its class).
  [[nodiscard]] int code() const noexcept { return code_; }

 private:
  int code_;
};

/// An MPI call failed on this rank where the others go on without it: a point-to-point exchange a peer
/// waits for (MPI_Isend, MPI_Irecv, MPI_Mprobe, ...), or a local call before a collective step (caching
/// state on a communicator, detail::cached_on). An agreement of every rank (detail::on_all_ranks) cannot be
/// reached then: it passes through them, and the app ends with the rank-local ending (run_app: one line,
/// MPI_Abort).
class mpi_exchange_error : public mpi_error {
 public:
  using mpi_error::mpi_error;
};

/// Bad user input: a parameter value, a command-line option, a configuration file line.
class config_error : public error {
 public:
  using error::error;
};

/// A file could not be read or written.
class io_error : public error {
 public:
  using error::error;
};

/// A task of a map call threw. Thrown on every rank of the call, with the same message, so that SPMD
/// code unwinds together instead of leaving ranks waiting in the next collective.
class task_error : public error {
 public:
  /// @param index     global index of the (first) failing task
  /// @param rank      rank that ran it
  /// @param failures  how many tasks failed in all
  task_error(const std::string& message, std::size_t index, int rank, std::size_t failures);
  /// Global index of the (first) failing task.
  [[nodiscard]] std::size_t index() const noexcept { return index_; }
  /// The rank that ran the failing task.
  [[nodiscard]] int rank() const noexcept { return rank_; }
  /// How many tasks failed in all, counted across ranks.
  [[nodiscard]] std::size_t failures() const noexcept { return failures_; }

 private:
  std::size_t index_;
  int rank_;
  std::size_t failures_;
};

/// A map call passed its deadline. Thrown on every rank of the call.
class timeout_error : public error {
 public:
  /// @param finished  items that finished before the deadline
  /// @param total     items of the call
  timeout_error(const std::string& message, std::size_t finished, std::size_t total);
  /// Items that finished (successfully or not) before the call stopped.
  [[nodiscard]] std::size_t finished() const noexcept { return finished_; }
  /// Items of the call in all.
  [[nodiscard]] std::size_t total() const noexcept { return total_; }

 private:
  std::size_t finished_;
  std::size_t total_;
};

/// A map call was stopped on request (map_options::stop). Thrown on every rank of the call.
class stopped_error : public error {
 public:
  /// @param finished  items that finished before the stop
  /// @param total     items of the call
  stopped_error(const std::string& message, std::size_t finished, std::size_t total);
  /// Items that finished (successfully or not) before the call stopped.
  [[nodiscard]] std::size_t finished() const noexcept { return finished_; }
  /// Items of the call in all.
  [[nodiscard]] std::size_t total() const noexcept { return total_; }

 private:
  std::size_t finished_;
  std::size_t total_;
};

namespace detail {
/// Throws plx::mpi_error unless `code` is MPI_SUCCESS. Every MPI return code goes through here (and so
/// does the test hook that injects MPI failures, see <parallax/core/detail/fault_injection.hpp>).
void check_mpi(int code, const char* call);

/// check_mpi for a call that fails on this rank alone while the other ranks go on without it: into a
/// collective step (caching state on a communicator before a collective make), or waiting for this rank's
/// part of an exchange (root's receive of a matched message: MPI_Get_count, MPI_Mrecv). Its failure is a
/// plx::mpi_exchange_error, which agreements let pass: the rank-local ending (run_app: MPI_Abort).
void check_mpi_alone(int code, const char* call);
/// Before an MPI call that leaves an operation in flight (MPI_Mprobe, MPI_Improbe, MPI_Irecv, MPI_Isend,
/// MPI_Get, MPI_Ibarrier): throws plx::mpi_error where the test hook fails `call` here, before it starts.
void check_mpi_before(const char* call);

/// True while an MPI call has failed on this rank (check_mpi threw) and no agreement on a failure has
/// completed since (agree_on_failure): the ranks may be out of step, this rank unwinding while the others
/// wait in some collective. Destructors that would make a collective call (MPI_Win_free) skip it then, when
/// an exception is unwinding, and leak the object instead of hanging: the job ends with MPI_Abort anyway.
[[nodiscard]] bool mpi_out_of_step() noexcept;
/// Called by agree_on_failure once every rank has agreed on a failure: they unwind together again.
void mpi_back_in_step() noexcept;
/// True when a destructor that frees a collective MPI object must not (see mpi_out_of_step).
[[nodiscard]] bool skip_collective_free() noexcept;

/// `e`, marked as thrown on every rank alike (see error::is_collective).
template <class Error>
Error collective(Error e) {
  e.mark_collective();
  return e;
}
}  // namespace detail

}  // namespace plx
