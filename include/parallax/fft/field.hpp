/// @file
/// A distributed grid field: this rank's slab in FFTW-aligned memory, real or (after a forward transform)
/// Fourier space, with the geometry that says which global cells or modes it holds.
#pragma once

#include <complex>
#include <cstddef>
#include <memory>
#include <span>

#include <fftw3.h>

#include <parallax/fft/slab.hpp>

namespace plx::fft {

/// This rank's part of a grid field, real or Fourier, in one FFTW-aligned buffer that owns its memory.
class field {
 public:
  /// Allocates (fftw_alloc_real, SIMD-aligned) and zeroes this rank's part. Not collective.
  explicit field(const slab_geometry& geometry);

  /// Which planes and modes this rank holds, and the padding (slab.hpp).
  [[nodiscard]] const slab_geometry& geometry() const noexcept { return geometry_; }
  /// This rank's values in real space: planes [real_start, real_start + real_count), rows padded (slab.hpp).
  [[nodiscard]] double* real() noexcept { return data_.get(); }
  /// This rank's values in real space, read-only.
  [[nodiscard]] const double* real() const noexcept { return data_.get(); }
  /// The same memory as FFTW's complex type, for FFTW calls.
  [[nodiscard]] fftw_complex* fourier_fftw() noexcept { return reinterpret_cast<fftw_complex*>(data_.get()); }
  /// The same memory as complex values (std::complex<double> and fftw_complex share a layout).
  [[nodiscard]] std::complex<double>* fourier() noexcept { return reinterpret_cast<std::complex<double>*>(data_.get()); }
  /// This rank's values in Fourier space (transposed layout, slab.hpp), read-only.
  [[nodiscard]] const std::complex<double>* fourier() const noexcept {
    return reinterpret_cast<const std::complex<double>*>(data_.get());
  }
  /// Doubles owned (including FFTW's padding).
  [[nodiscard]] std::size_t size() const noexcept { return static_cast<std::size_t>(geometry_.alloc_doubles()); }

  /// Copies another field of the same geometry (OpenMP threads).
  void copy_from(const field& other);

 private:
  struct fftw_deleter {
    void operator()(double* p) const noexcept { fftw_free(p); }
  };
  slab_geometry geometry_;
  std::unique_ptr<double[], fftw_deleter> data_;
};

}  // namespace plx::fft
