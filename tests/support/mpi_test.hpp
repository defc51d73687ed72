// What MPI tests share: the runtime created by the test main.
//
// Keep tests collective-safe: finish every collective call first, then assert. An early ASSERT on one
// rank would leave the others waiting in the next collective until the ctest timeout.
#pragma once

#include <parallax/core/runtime.hpp>

namespace plx::testing_support {
/// The runtime of this test process (created by tests/support/mpi_main.cpp).
plx::runtime& rt();
}  // namespace plx::testing_support
