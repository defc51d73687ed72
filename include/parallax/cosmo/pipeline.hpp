// The cosmology pipeline end to end: noise -> density -> potential -> Zel'dovich displacement -> one
// density frame per time -> measured power spectrum, written collectively to one HDF5 file (with an XDMF
// sidecar), stage by stage, with timings.
#pragma once

#include <string>
#include <vector>

#include <parallax/core/communicator.hpp>
#include <parallax/cosmo/params.hpp>
#include <parallax/fft/slab.hpp>

namespace plx::cosmo {

/// Wall seconds per stage (on root, between collective points).
struct stage_timings {
  double plan = 0, noise = 0, density = 0, potential = 0, displacement = 0, frames = 0, power_spectrum = 0,
         write = 0, total = 0;
};

struct pipeline_report {
  stage_timings seconds;
  std::vector<double> peak_rss_mb;  ///< per rank (on root; empty elsewhere)
  /// Per rank (on root): the peak RSS estimated before the work, MiB (the RSS then + memory_estimate_bytes).
  std::vector<double> memory_estimate_mb;
  bool wisdom_loaded = false;
  std::string output;               ///< the file written
};

/// Provenance written as root attributes: who ran what.
struct run_info {
  std::string command_line;
  int threads = 1;
};

/// Collective. Validates `params` (plx::config_error before any work or output), prints the decomposition
/// and memory estimate on root when `log` is set, runs every stage and writes params.out.
pipeline_report run_pipeline(const communicator& comm, const pipeline_params& params, const run_info& info, bool log);

/// Collective: noise, density and potential only, nothing written (the FFT benchmark's pipeline).
/// Returns the stage timings (plan, noise, density, potential, total).
stage_timings run_density_potential(const communicator& comm, const pipeline_params& params);

/// Bytes one rank of run_pipeline needs at its peak beyond what it held before (the frames stage): the dim
/// displacement components and the frame (dim + 1 grids of its slab), the deposit's spill planes for
/// `threads` threads, the particles that cross its slab's edges, and the HDF5 / MPI-IO buffers of a write.
/// Every earlier stage holds less (at most 3 grids and FFTW's transpose buffers). Pure.
[[nodiscard]] double memory_estimate_bytes(const fft::slab_geometry& g, int threads);

/// Peak resident memory of this process so far, MiB (getrusage).
[[nodiscard]] double peak_rss_mb();

}  // namespace plx::cosmo
