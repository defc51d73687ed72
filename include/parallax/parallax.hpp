// Umbrella header: every public header of parallax, layer by layer (core -> dist -> mc, fft -> io ->
// cosmo, farm; app: the frame of parallax's own command-line programs). Internal headers (detail/) are
// left out. tests/readme/check_umbrella.cmake checks that no public header is missing here.
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
