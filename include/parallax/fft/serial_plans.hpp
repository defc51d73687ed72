/// @file
/// Serial FFTW plans for a whole box in one thread's memory, in the layout of the 1-rank slab (slab.hpp:
/// padded real rows, transposed Fourier planes), bitwise equal to what r2c_plans computes on any number of
/// ranks with plan mode "estimate".
///
/// Why bitwise: FFTW-MPI transforms a slab box in three steps, and these plans take the same three: (1) the
/// serial r2c of the last d - 1 dimensions of every plane, in place, vectorised over the planes; (2) the
/// transpose of dimensions 0 and 1 (data movement only); (3) the complex DFT of dimension 0, contiguous
/// after the transpose, vectorised over the rest. Steps (1) and (3) are planned here as the very problems
/// (sizes, strides, in place) that FFTW-MPI hands its serial planner, so FFTW's estimate picks the same
/// algorithms and the additions happen in the same order. A plain fftw_plan_dft_r2c_2d would not do: for
/// 2D N = 256 it transforms dimension 0 with stride N/2 + 1 and FFTW then chooses another radix split, which
/// changes the last bits. Backward runs the same steps in reverse. The test fft_serial_plans compares the
/// two on 1 to 4 ranks.
///
/// Thread safety: FFTW's planner is not thread-safe, so plans are made in the constructor under one
/// process-wide mutex (and single-threaded, whatever fftw_plan_with_nthreads says for the distributed
/// plans); execution uses FFTW's new-array functions on the caller's fields and is safe from any number of
/// threads at once. No MPI anywhere.
#pragma once

#include <cstddef>

#include <fftw3.h>

#include <parallax/fft/field.hpp>
#include <parallax/fft/slab.hpp>
#include <parallax/fft/transforms.hpp>

namespace plx::fft {

/// The geometry of a box of N^dim cells held whole (the 1-rank slab). Pure. Throws plx::config_error for
/// dim not 2 or 3, or n < 2.
[[nodiscard]] slab_geometry serial_slab_geometry(int dim, std::ptrdiff_t n);

/// Serial FFTW plans of a whole box, bitwise equal to r2c_plans with plan_mode::estimate on any ranks.
class serial_r2c_plans final : public transforms {
 public:
  /// Plans the transforms of serial_slab_geometry(dim, n) (FFTW_ESTIMATE). Thread-safe; throws plx::error
  /// if FFTW cannot plan.
  serial_r2c_plans(int dim, std::ptrdiff_t n);
  ~serial_r2c_plans() override;
  // Owns fftw_plan handles.
  serial_r2c_plans(const serial_r2c_plans&) = delete;
  serial_r2c_plans& operator=(const serial_r2c_plans&) = delete;
  serial_r2c_plans(serial_r2c_plans&&) = delete;
  serial_r2c_plans& operator=(serial_r2c_plans&&) = delete;

  /// The box the plans transform: serial_slab_geometry(dim, n).
  [[nodiscard]] const slab_geometry& geometry() const noexcept { return geometry_; }
  /// Real -> Fourier in place, unnormalised. Thread-safe (distinct fields). Throws plx::error when `f` is not
  /// a whole box of the plans' shape.
  void forward(field& f) const override;
  /// Fourier -> real in place, unnormalised. Thread-safe (distinct fields).
  void backward(field& f) const override;

 private:
  void transpose(field& f, bool to_fourier_layout) const;
  void check(const field& f) const;
  void destroy_plans() noexcept;

  slab_geometry geometry_;
  fftw_plan r2c_ = nullptr;  // step 1, forward
  fftw_plan c2r_ = nullptr;  // step 1, backward
  fftw_plan dft_forward_ = nullptr;   // step 3, forward
  fftw_plan dft_backward_ = nullptr;  // step 3, backward
};

}  // namespace plx::fft
