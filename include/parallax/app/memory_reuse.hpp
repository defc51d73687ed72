/// @file
/// An app's choice, not the library's: freed memory is kept in the process for the next allocation instead of
/// going back to the kernel. Large buffers (glibc hands anything above 32 MiB straight to mmap and unmaps it
/// on free) are then not faulted in afresh each time: on a VM that first touches memory at about 0.6 GiB/s,
/// plx-web's 3D times spent a quarter of their time in page faults for the triangulation and its lists, which
/// each time allocates again. The cost: the resident set stays at the run's peak, which the memory checks
/// assume anyway.
#pragma once

namespace plx {

/// Keeps freed memory for reuse (glibc: no mmap for large blocks, no trimming of the heap below 2 GiB free).
/// Best called first in main(); it takes effect for the allocations that follow. A no-op where the C
/// library is not glibc.
void reuse_freed_memory() noexcept;

}  // namespace plx
