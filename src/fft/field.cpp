#include <parallax/fft/field.hpp>

#include <new>

#include <fmt/format.h>

#include <parallax/core/detail/fault_injection.hpp>
#include <parallax/core/error.hpp>

namespace plx::fft {

namespace {
// Test hook (PLX_FAULT=alloc.buffer): an allocation that fails as a full memory would, before the real one.
double* allocate(std::size_t doubles) {
  try {
    plx::detail::allocation_point(plx::detail::fault_sites::alloc_buffer);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
  return fftw_alloc_real(doubles);
}
}  // namespace

field::field(const slab_geometry& geometry) : geometry_(geometry), data_(allocate(size())) {
  if (!data_) {
    throw error(fmt::format("cannot allocate a field of {} doubles ({:.1f} MiB): out of memory", size(),
                            static_cast<double>(size()) * sizeof(double) / (1 << 20)));
  }
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
