// Umbrella header: everything a parallax user needs.
#pragma once

#include <parallax/version.hpp>

#include <parallax/core/collectives.hpp>
#include <parallax/core/communicator.hpp>
#include <parallax/core/error.hpp>
#include <parallax/core/layout.hpp>
#include <parallax/core/runtime.hpp>
#include <parallax/core/thread_count.hpp>

#include <parallax/dist/checkpoint.hpp>
#include <parallax/dist/chunk_sizer.hpp>
#include <parallax/dist/map.hpp>
#include <parallax/dist/options.hpp>
#include <parallax/dist/outcome.hpp>
#include <parallax/dist/payload.hpp>
#include <parallax/dist/progress.hpp>
#include <parallax/dist/task_list.hpp>

#include <parallax/mc/pi.hpp>
