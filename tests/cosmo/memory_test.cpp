// plx-cosmo's memory: the whole pipeline with frames holds about dim + 1 grids at its peak, and the estimate
// it prints before the work matches what it then uses. Its own binary, so the process's peak RSS (getrusage)
// is this test's: no earlier test raised it.
#include <parallax/cosmo/pipeline.hpp>

#include <mpi.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include <parallax/core/memory_usage.hpp>
#include <parallax/fft/slab.hpp>

#include "../support/mpi_test.hpp"
#include "../support/sanitizers.hpp"
#include "../support/temp_files.hpp"

namespace {

using plx::testing_support::rt;
namespace cosmo = plx::cosmo;

constexpr double mib = 1 << 20;

TEST(PipelineMemory, peak_growth_matches_the_estimate) {
  // 3D N = 128, two frames: 17 MiB a grid, so a copy of the whole displacement (3 grids) or the particles
  // as full arrays would show well above the estimate's margin (at this size a rank's fixed buffers weigh
  // more than at 256^3, where the whole run peaks at about 5 grids). Sums over the ranks; nothing here
  // depends on speed.
  const plx::communicator& comm = rt().world();
  cosmo::pipeline_params p;
  p.dim = 3;
  p.n = 128;
  p.times = {0.0, 2.0};
  p.out = plx::testing_support::temp_path("memory.h5");
  p.force = true;
  if (comm.is_root()) std::filesystem::remove(p.out);
  comm.barrier();

  const double before = static_cast<double>(plx::current_memory_usage().rss_bytes);
  const cosmo::pipeline_report report = cosmo::run_pipeline(comm, p, {"memory_test", rt().threads()}, {.stages = false});
  const double growth = cosmo::peak_rss_mb() * mib - before;
  const plx::fft::slab_geometry g = plx::fft::make_slab_geometry(comm, p.dim, p.n);
  const std::array<double, 3> mine = {growth, cosmo::memory_estimate_bytes(g, rt().threads()),
                                      static_cast<double>(g.alloc_doubles()) * sizeof(double)};
  std::array<double, 3> sum{};
  MPI_Allreduce(mine.data(), sum.data(), 3, MPI_DOUBLE, MPI_SUM, comm.native());
  const auto [total_growth, total_estimate, grid] = sum;

  EXPECT_EQ(report.memory_estimate_mb.size(), comm.is_root() ? static_cast<std::size_t>(comm.size()) : 0U);
  if (comm.is_root()) {
    std::printf("[ cosmo_memory ] %d ranks: peak growth %.1f MiB = %.2f grids, estimate %.1f MiB\n", comm.size(),
                total_growth / mib, total_growth / grid, total_estimate / mib);
  }
  if (plx::testing_support::under_address_sanitizer) GTEST_SKIP() << plx::testing_support::memory_bound_skipped;
  EXPECT_LT(total_growth, 1.15 * total_estimate) << total_growth / mib << " MiB grown, estimate " << total_estimate / mib;
  // Lower bound: the estimate's 24 MiB per rank for ROMIO's and HDF5's buffers is not all touched when the
  // slabs go through the direct pwrite path (measured 2026-12-07: growth 110 MiB at 2, 3 and 4 ranks,
  // estimate 129, 161 and 193 MiB), so the estimate errs high by that much per rank; 0.5 keeps it honest.
  EXPECT_GT(total_growth, 0.5 * total_estimate) << total_growth / mib << " MiB grown, estimate " << total_estimate / mib;
}

}  // namespace
