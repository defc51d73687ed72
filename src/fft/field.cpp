#include <parallax/fft/field.hpp>

#include <new>

#include <parallax/core/error.hpp>

namespace plx::fft {

field::field(const slab_geometry& geometry) : geometry_(geometry), data_(fftw_alloc_real(size())) {
  if (!data_) throw error("fftw_alloc_real of " + std::to_string(size()) + " doubles failed");
  double* p = data_.get();
  const auto count = static_cast<std::ptrdiff_t>(size());
  // First touch by the threads that will work on the memory (NUMA placement), and zero padding.
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t i = 0; i < count; ++i) p[i] = 0.0;
}

void field::copy_from(const field& other) {
  if (other.size() != size()) throw error("field::copy_from: fields of different geometries");
  const double* src = other.real();
  double* dst = real();
  const auto count = static_cast<std::ptrdiff_t>(size());
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t i = 0; i < count; ++i) dst[i] = src[i];
}

}  // namespace plx::fft
