/// @file
/// Umbrella header: every public header of parallax, layer by layer (core -> dist -> mc, fft -> io ->
/// cosmo, farm; app: the frame of parallax's own command-line programs). Internal headers (detail/) are
/// left out. tests/readme/check_umbrella.cmake checks that no public header is missing here.
#pragma once

#include <parallax/version.hpp>

#include <parallax/core/collectives.hpp>
#include <parallax/core/communicator.hpp>
#include <parallax/core/crc32.hpp>
#include <parallax/core/error.hpp>
#include <parallax/core/layout.hpp>
#include <parallax/core/memory_usage.hpp>
#include <parallax/core/runtime.hpp>
#include <parallax/core/thread_count.hpp>
#include <parallax/core/wait_policy.hpp>

#include <parallax/dist/checkpoint.hpp>
#include <parallax/dist/chunk_sizer.hpp>
#include <parallax/dist/h5_column.hpp>
#include <parallax/dist/h5_row.hpp>
#include <parallax/dist/map.hpp>
#include <parallax/dist/map_to_h5.hpp>
#include <parallax/dist/node_shared.hpp>
#include <parallax/dist/options.hpp>
#include <parallax/dist/outcome.hpp>
#include <parallax/dist/payload.hpp>
#include <parallax/dist/progress.hpp>
#include <parallax/dist/task_list.hpp>

#include <parallax/mc/pi.hpp>

#include <parallax/web/adhesion.hpp>

#include <parallax/fft/field.hpp>
#include <parallax/fft/modes.hpp>
#include <parallax/fft/plan.hpp>
#include <parallax/fft/serial_plans.hpp>
#include <parallax/fft/slab.hpp>
#include <parallax/fft/slab_ranks.hpp>
#include <parallax/fft/transforms.hpp>

#include <parallax/io/atomic_output.hpp>
#include <parallax/io/dimension_scales.hpp>
#include <parallax/io/hdf5_file.hpp>
#include <parallax/io/node_shared_h5.hpp>
#include <parallax/io/slab_io.hpp>
#include <parallax/io/xdmf.hpp>

#include <parallax/cosmo/cosmo_input.hpp>
#include <parallax/cosmo/covariance.hpp>
#include <parallax/cosmo/deformation.hpp>
#include <parallax/cosmo/ensemble.hpp>
#include <parallax/cosmo/gaussian_field.hpp>
#include <parallax/cosmo/output_metadata.hpp>
#include <parallax/cosmo/params.hpp>
#include <parallax/cosmo/pipeline.hpp>
#include <parallax/cosmo/power_measure.hpp>
#include <parallax/cosmo/realization.hpp>
#include <parallax/cosmo/spectrum.hpp>
#include <parallax/cosmo/stages.hpp>
#include <parallax/cosmo/zeldovich.hpp>

#include <parallax/farm/farm.hpp>
#include <parallax/farm/journal.hpp>
#include <parallax/farm/process.hpp>
#include <parallax/farm/task_set.hpp>

#include <parallax/app/json_line.hpp>
#include <parallax/app/memory_reuse.hpp>
#include <parallax/app/number_option.hpp>
#include <parallax/app/run_app.hpp>
#include <parallax/app/stop_signals.hpp>
#include <parallax/app/unknown_option.hpp>

/// @namespace plx
/// parallax: parallel maps over MPI ranks with OpenMP threads inside each rank, and the layers built on
/// them. The core (runtime, communicator, errors, collectives), the map layer (plx::map, map_collect,
/// checkpointed_map, map_to_h5, node_shared) and the frame of the apps live here; the other modules have
/// namespaces of their own.
///
/// @namespace plx::fft
/// Slab-decomposed FFTs of periodic N^d grids (d = 2, 3) with FFTW-MPI: the slab geometry, fields, plans,
/// and serial plans that give bitwise the same transforms in one thread's memory.
///
/// @namespace plx::io
/// HDF5 files shared by all ranks of a communicator (MPI-IO): distributed and root-only datasets,
/// attributes, outputs that appear only once complete, and XDMF sidecars for ParaView.
///
/// @namespace plx::cosmo
/// The cosmology pipeline: power spectrum models, Gaussian random fields, Zel'dovich evolution with CIC
/// deposit, measured P(k), the cosmic-web classification, and ensembles of realizations with their
/// covariance.
///
/// @namespace plx::web
/// The adhesion model of the cosmic web: nodes and filaments from the regular triangulation of the
/// Lagrangian grid weighted by the potential.
///
/// @namespace plx::mc
/// Monte Carlo estimate of pi, reproducible to the last digit for any ranks x threads.
///
/// @namespace plx::farm
/// The task farm behind plx-run: shell commands run over MPI ranks x slots, with a durable journal so that
/// a stopped run resumes where it stood.
