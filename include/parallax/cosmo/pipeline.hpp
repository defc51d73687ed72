/// @file
/// The cosmology pipeline end to end: noise -> density -> potential -> Zel'dovich displacement -> one
/// density frame per time -> measured power spectrum, written collectively to one HDF5 file (with an XDMF
/// sidecar), stage by stage, with timings.
#pragma once

#include <string>
#include <vector>

#include <parallax/core/communicator.hpp>
#include <parallax/cosmo/params.hpp>
#include <parallax/fft/slab.hpp>

namespace plx::cosmo {

/// Wall seconds per stage (on root, between collective points).
struct stage_timings {
  double plan = 0;            ///< FFTW planning (or loading wisdom)
  double noise = 0;           ///< the white noise in Fourier space
  double density = 0;         ///< the noise shaped by sqrt(P(k)) and transformed to real space
  double potential = 0;       ///< the potential from the density (Poisson in Fourier space)
  double displacement = 0;    ///< the Zel'dovich displacement -grad phi, one component per axis
  double frames = 0;          ///< the particles' densities (CIC) at every time
  double power_spectrum = 0;  ///< P(k) of the density, binned in shells
  double write = 0;           ///< HDF5 writes, the sync and the rename
  double total = 0;           ///< the whole call
};

/// What run_pipeline did: timings, memory, the file.
struct pipeline_report {
  stage_timings seconds;  ///< per stage, on root
  std::vector<double> peak_rss_mb;  ///< per rank (on root; empty elsewhere)
  /// Per rank (on root): the peak RSS estimated before the work, MiB (the RSS then + memory_estimate_bytes).
  std::vector<double> memory_estimate_mb;
  bool wisdom_loaded = false;       ///< whether --wisdom's file was there and FFTW took it
  std::string output;               ///< the file written
};

/// Provenance written as root attributes: who ran what.
struct run_info {
  std::string command_line;  ///< the attribute command_line of "/"
  int threads = 1;           ///< OpenMP threads per rank, the attribute threads of "/"
};

/// What run_pipeline prints on root's stderr while it runs.
struct pipeline_log {
  bool stages = true;   ///< the decomposition, the memory estimate, and each stage's time when it ends
  bool frames = false;  ///< each frame when it is written: its index, growth factor and times (--progress)
};

/// Collective. Validates `params` (plx::config_error before any work or output), prints what `log` asks for
/// on root, runs every stage and writes params.out.
pipeline_report run_pipeline(const communicator& comm, const pipeline_params& params, const run_info& info,
                             pipeline_log log = {});

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
