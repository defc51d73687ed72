/// @file
/// The forward and backward transforms of a box's fields, whatever executes them: FFTW-MPI plans over a
/// communicator's slabs (r2c_plans, collective) or serial plans over a whole box in one thread's memory
/// (serial_r2c_plans, no MPI). Kernels that transform fields take this interface, so the distributed
/// pipeline and a serial realization share one code path.
#pragma once

#include <parallax/fft/field.hpp>

namespace plx::fft {

/// The forward and backward transforms of one box geometry: r2c_plans (collective) or serial_r2c_plans (no MPI).
class transforms {
 public:
  virtual ~transforms() = default;
  /// Real -> Fourier in place (transposed layout, see slab.hpp), unnormalised.
  virtual void forward(field& f) const = 0;
  /// Fourier (transposed layout) -> real in place, unnormalised (multiply by 1/N^d for the inverse).
  virtual void backward(field& f) const = 0;

 protected:
  transforms() = default;
  /// Protected: an interface; implementations own plans and are neither copied nor moved through it.
  transforms(const transforms&) = default;
  /// Protected, as the copy constructor.
  transforms& operator=(const transforms&) = default;
};

}  // namespace plx::fft
