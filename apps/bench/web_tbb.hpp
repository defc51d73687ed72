// plx-bench web's measure of CGAL's parallel insertion (web_tbb.cpp): a header of its own, so that the file
// compiled with CGAL and TBB needs none of parallax's.
#pragma once

#include <cstddef>
#include <cstdint>

namespace plx::bench {

/// CGAL's 3D regular triangulation of `count` random weighted points (the floor's), serial and with its
/// parallel insertion (Parallel_tag, TBB) on `threads` threads, in one call (apps/bench/web_tbb.cpp; built
/// where TBB is found: PLX_BENCH_HAVE_TBB).
struct cgal_parallel_times {
  int threads = 1;
  double serial_seconds = 0;
  double parallel_seconds = 0;  ///< without the lock grid's set-up
  std::size_t vertices = 0;     ///< of the serial triangulation
  bool same_vertices = false;   ///< the parallel one has as many, and CGAL's is_valid() holds
};
cgal_parallel_times cgal_parallel_insertion_seconds(std::size_t count, std::uint64_t seed, int threads);

}  // namespace plx::bench
