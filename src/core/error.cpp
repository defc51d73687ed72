#include <parallax/core/error.hpp>

#include <atomic>
#include <exception>

#include <mpi.h>

#include <parallax/core/detail/fault_injection.hpp>

namespace plx {

namespace {
std::atomic<bool> out_of_step{false};

std::string describe_mpi_error(const std::string& call, int code) {
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) {
    return call + " failed with MPI error code " + std::to_string(code);
  }
  return call + " failed: " + std::string(text, static_cast<std::size_t>(length)) + " (MPI error code " +
         std::to_string(code) + ")";
}
}  // namespace

mpi_error::mpi_error(const std::string& call, int code) : error(describe_mpi_error(call, code)), code_(code) {}

task_error::task_error(const std::string& message, std::size_t index, int rank, std::size_t failures)
    : error(message), index_(index), rank_(rank), failures_(failures) {}

timeout_error::timeout_error(const std::string& message, std::size_t finished, std::size_t total)
    : error(message), finished_(finished), total_(total) {}

stopped_error::stopped_error(const std::string& message, std::size_t finished, std::size_t total)
    : error(message), finished_(finished), total_(total) {}

void detail::check_mpi_before(const char* call) {
  if (mpi_fault_before(call)) {  // an injected failure (tests)
    out_of_step.store(true);
    throw mpi_exchange_error(call, MPI_ERR_OTHER);
  }
}

void detail::check_mpi(int code, const char* call) {
  if (code == MPI_SUCCESS && mpi_fault_point(call)) code = MPI_ERR_OTHER;  // an injected failure (tests)
  if (code != MPI_SUCCESS) {
    out_of_step.store(true);
    if (leaves_operation_in_flight(call)) throw mpi_exchange_error(call, code);
    throw mpi_error(call, code);
  }
}

void detail::check_mpi_alone(int code, const char* call) {
  try {
    check_mpi(code, call);
  } catch (const mpi_exchange_error&) {
    throw;
  } catch (const mpi_error& e) {
    throw mpi_exchange_error(call, e.code());
  }
}

bool detail::mpi_out_of_step() noexcept { return out_of_step.load(); }

void detail::mpi_back_in_step() noexcept { out_of_step.store(false); }

bool detail::skip_collective_free() noexcept { return std::uncaught_exceptions() > 0 && out_of_step.load(); }

}  // namespace plx
