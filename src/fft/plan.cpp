#include <parallax/fft/plan.hpp>

#include <fcntl.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <mpi.h>

#include <parallax/core/collectives.hpp>
#include <parallax/core/detail/posix_file.hpp>
#include <parallax/core/error.hpp>

namespace plx::fft {

plan_mode parse_plan_mode(const std::string& text) {
  if (text == "estimate") return plan_mode::estimate;
  if (text == "measure") return plan_mode::measure;
  throw config_error("plan '" + text + "' is not one of: estimate, measure");
}

r2c_plans::r2c_plans(const communicator& comm, field& scratch, plan_mode mode) {
  const slab_geometry& g = scratch.geometry();
  const unsigned rigor = mode == plan_mode::measure ? FFTW_MEASURE : FFTW_ESTIMATE;
  const auto start = std::chrono::steady_clock::now();
  double* r = scratch.real();
  fftw_complex* c = scratch.fourier_fftw();
  if (g.dim == 3) {
    forward_ = fftw_mpi_plan_dft_r2c_3d(g.n, g.n, g.n, r, c, comm.native(), rigor | FFTW_MPI_TRANSPOSED_OUT);
    backward_ = fftw_mpi_plan_dft_c2r_3d(g.n, g.n, g.n, c, r, comm.native(), rigor | FFTW_MPI_TRANSPOSED_IN);
  } else {
    forward_ = fftw_mpi_plan_dft_r2c_2d(g.n, g.n, r, c, comm.native(), rigor | FFTW_MPI_TRANSPOSED_OUT);
    backward_ = fftw_mpi_plan_dft_c2r_2d(g.n, g.n, c, r, comm.native(), rigor | FFTW_MPI_TRANSPOSED_IN);
  }
  planning_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (forward_ == nullptr || backward_ == nullptr) {
    // Every rank gets the same answer from the planner for the same problem, so all throw together.
    if (forward_ != nullptr) fftw_destroy_plan(forward_);
    if (backward_ != nullptr) fftw_destroy_plan(backward_);
    throw error("FFTW could not plan a " + std::to_string(g.n) + "^" + std::to_string(g.dim) + " r2c transform");
  }
}

r2c_plans::~r2c_plans() {
  fftw_destroy_plan(forward_);
  fftw_destroy_plan(backward_);
}

void r2c_plans::forward(field& f) const { fftw_mpi_execute_dft_r2c(forward_, f.real(), f.fourier_fftw()); }
void r2c_plans::backward(field& f) const { fftw_mpi_execute_dft_c2r(backward_, f.fourier_fftw(), f.real()); }

bool load_wisdom(const communicator& comm, const std::string& path) {
  int found = 0;
  if (comm.is_root() && std::filesystem::exists(path)) {
    found = fftw_import_wisdom_from_filename(path.c_str()) != 0 ? 1 : 0;
    if (!found) std::fprintf(stderr, "parallax: warning: %s is not FFTW wisdom; planning anew\n", path.c_str());
  }
  detail::check_mpi(MPI_Bcast(&found, 1, MPI_INT, 0, comm.native()), "MPI_Bcast");
  if (found) fftw_mpi_broadcast_wisdom(comm.native());
  return found != 0;
}

void check_wisdom_path(const communicator& comm, const std::string& path) {
  std::string problem;
  if (comm.is_root()) {
    // The wisdom is saved through "<path>.tmp": creating that file is the test that counts (root may
    // write where access() says no, and ACLs fool it).
    const std::string temporary = path + ".tmp";
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      problem = "--wisdom '" + path + "' is a directory";
    } else {
      int error_number = 0;
      if (detail::posix_file::try_open(temporary, O_WRONLY | O_CREAT | O_APPEND, 0666, error_number).is_open()) {
        static_cast<void>(detail::unlink_quietly(temporary));
      } else {
        problem = "--wisdom '" + path + "' cannot be written: " + std::strerror(error_number);
      }
    }
  }
  detail::broadcast_from_root(comm, problem);
  if (!problem.empty()) throw detail::collective(config_error(problem + " (checked on rank 0)"));
}

void save_wisdom(const communicator& comm, const std::string& path) {
  fftw_mpi_gather_wisdom(comm.native());
  int ok = 1;
  if (comm.is_root()) {
    const std::string temporary = path + ".tmp";
    ok = fftw_export_wisdom_to_filename(temporary.c_str()) != 0 ? 1 : 0;
    if (ok) {
      try {
        detail::rename_file(temporary, path);
      } catch (const detail::file_error&) {
        ok = 0;
      }
    }
    if (!ok) static_cast<void>(detail::unlink_quietly(temporary));
  }
  detail::check_mpi(MPI_Bcast(&ok, 1, MPI_INT, 0, comm.native()), "MPI_Bcast");
  if (!ok) throw detail::collective(io_error("could not write FFTW wisdom to " + path + " (on rank 0)"));
}

}  // namespace plx::fft
