#include <parallax/app/memory_reuse.hpp>

#include <climits>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace plx {

void reuse_freed_memory() noexcept {
#if defined(__GLIBC__)
  // Both are hints: a C library that refuses them leaves the defaults, which are only slower.
  (void)mallopt(M_MMAP_MAX, 0);
  (void)mallopt(M_TRIM_THRESHOLD, INT_MAX);
#endif
}

}  // namespace plx
