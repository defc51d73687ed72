#include <parallax/fft/serial_plans.hpp>

#include <algorithm>
#include <complex>
#include <mutex>
#include <string>
#include <vector>

#include <parallax/core/error.hpp>

namespace plx::fft {

namespace {

// FFTW's planner is one global state: every serial plan of parallax is made under this lock.
std::mutex planner_mutex;

int as_int(std::ptrdiff_t value) { return static_cast<int>(value); }

}  // namespace

slab_geometry serial_slab_geometry(int dim, std::ptrdiff_t n) {
  if (dim != 2 && dim != 3) throw config_error("dim must be 2 or 3, not " + std::to_string(dim));
  if (n < 2) throw config_error("n must be at least 2, not " + std::to_string(n));
  slab_geometry g;
  g.dim = dim;
  g.n = n;
  g.real_count = n;
  // 3D: Fourier planes are those of y (N of them); 2D: of the halved dimension y (N/2 + 1).
  g.fourier_count = dim == 3 ? n : g.half();
  g.alloc_complex = (dim == 3 ? n * n : n) * g.half();
  return g;
}

serial_r2c_plans::serial_r2c_plans(int dim, std::ptrdiff_t n) : geometry_(serial_slab_geometry(dim, n)) {
  const slab_geometry& g = geometry_;
  field scratch(g);  // fftw_alloc'ed: every field has its alignment, as new-array execution requires
  double* r = scratch.real();
  auto* c = scratch.fourier_fftw();
  const int nn = as_int(n);
  const int half = as_int(g.half());
  const int padded = as_int(g.padded());
  {
    const std::lock_guard lock(planner_mutex);
    // One thread per transform: a task is one thread. The distributed plans' thread count is restored.
    const int threads = fftw_planner_nthreads();
    fftw_plan_with_nthreads(1);
    if (dim == 3) {
      // Step 1: the (y, z) planes, vectorised over x: real rows of `padded` doubles, complex rows of `half`.
      const fftw_iodim real_dims[2] = {{nn, padded, half}, {nn, 1, 1}};
      const fftw_iodim real_planes[1] = {{nn, nn * padded, nn * half}};
      r2c_ = fftw_plan_guru_dft_r2c(2, real_dims, 1, real_planes, r, c, FFTW_ESTIMATE);
      const fftw_iodim complex_dims[2] = {{nn, half, padded}, {nn, 1, 1}};
      const fftw_iodim complex_planes[1] = {{nn, nn * half, nn * padded}};
      c2r_ = fftw_plan_guru_dft_c2r(2, complex_dims, 1, complex_planes, c, r, FFTW_ESTIMATE);
      // Step 3: x, after the transpose [y][x][kz]: stride `half`, vectorised over y planes and kz.
      const fftw_iodim x_dim[1] = {{nn, half, half}};
      const fftw_iodim rest[2] = {{nn, nn * half, nn * half}, {half, 1, 1}};
      dft_forward_ = fftw_plan_guru_dft(1, x_dim, 2, rest, c, c, FFTW_FORWARD, FFTW_ESTIMATE);
      dft_backward_ = fftw_plan_guru_dft(1, x_dim, 2, rest, c, c, FFTW_BACKWARD, FFTW_ESTIMATE);
    } else {
      const fftw_iodim row[1] = {{nn, 1, 1}};
      const fftw_iodim real_rows[1] = {{nn, padded, half}};
      r2c_ = fftw_plan_guru_dft_r2c(1, row, 1, real_rows, r, c, FFTW_ESTIMATE);
      const fftw_iodim complex_rows[1] = {{nn, half, padded}};
      c2r_ = fftw_plan_guru_dft_c2r(1, row, 1, complex_rows, c, r, FFTW_ESTIMATE);
      // After the transpose [ky][x]: x contiguous, one transform per ky.
      const fftw_iodim x_dim[1] = {{nn, 1, 1}};
      const fftw_iodim rest[1] = {{half, nn, nn}};
      dft_forward_ = fftw_plan_guru_dft(1, x_dim, 1, rest, c, c, FFTW_FORWARD, FFTW_ESTIMATE);
      dft_backward_ = fftw_plan_guru_dft(1, x_dim, 1, rest, c, c, FFTW_BACKWARD, FFTW_ESTIMATE);
    }
    fftw_plan_with_nthreads(threads);
  }
  if (r2c_ == nullptr || c2r_ == nullptr || dft_forward_ == nullptr || dft_backward_ == nullptr) {
    destroy_plans();
    throw error("FFTW could not plan a serial " + std::to_string(n) + "^" + std::to_string(dim) + " r2c transform");
  }
}

serial_r2c_plans::~serial_r2c_plans() { destroy_plans(); }

void serial_r2c_plans::destroy_plans() noexcept {
  // fftw_destroy_plan is a planner call too.
  const std::lock_guard lock(planner_mutex);
  for (fftw_plan* p : {&r2c_, &c2r_, &dft_forward_, &dft_backward_}) {
    if (*p != nullptr) fftw_destroy_plan(*p);
    *p = nullptr;
  }
}

void serial_r2c_plans::transpose(field& f, bool to_fourier_layout) const {
  const slab_geometry& g = geometry_;
  const std::ptrdiff_t n = g.n;
  const std::ptrdiff_t half = g.half();
  std::complex<double>* c = f.fourier();
  if (g.dim == 3) {
    // [x][y][kz] <-> [y][x][kz]: swapping rows of `half` values is its own inverse.
    for (std::ptrdiff_t x = 0; x < n; ++x) {
      for (std::ptrdiff_t y = x + 1; y < n; ++y) {
        std::swap_ranges(c + (x * n + y) * half, c + (x * n + y + 1) * half, c + (y * n + x) * half);
      }
    }
    return;
  }
  // [x][ky] <-> [ky][x], N x (N/2 + 1): not square, so through a per-thread copy.
  thread_local std::vector<std::complex<double>> copy;
  copy.assign(c, c + n * half);
  for (std::ptrdiff_t x = 0; x < n; ++x) {
    for (std::ptrdiff_t k = 0; k < half; ++k) {
      if (to_fourier_layout) {
        c[k * n + x] = copy[static_cast<std::size_t>(x * half + k)];
      } else {
        c[x * half + k] = copy[static_cast<std::size_t>(k * n + x)];
      }
    }
  }
}

void serial_r2c_plans::check(const field& f) const {
  const slab_geometry& g = f.geometry();
  if (g.dim != geometry_.dim || g.n != geometry_.n || g.real_count != geometry_.n) {
    throw error("serial_r2c_plans: a field of another shape than the plans' " + std::to_string(geometry_.n) + "^" +
                std::to_string(geometry_.dim) + " box");
  }
}

void serial_r2c_plans::forward(field& f) const {
  check(f);
  fftw_execute_dft_r2c(r2c_, f.real(), f.fourier_fftw());
  transpose(f, true);
  fftw_execute_dft(dft_forward_, f.fourier_fftw(), f.fourier_fftw());
}

void serial_r2c_plans::backward(field& f) const {
  check(f);
  fftw_execute_dft(dft_backward_, f.fourier_fftw(), f.fourier_fftw());
  transpose(f, false);
  fftw_execute_dft_c2r(c2r_, f.fourier_fftw(), f.real());
}

}  // namespace plx::fft
