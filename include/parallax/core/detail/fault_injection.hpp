// Test hook: make a named step fail on this process, to test that one rank's fault ends a call on
// every rank without hanging. Sites are MPI function names (checked in check_mpi, so any MPI call can be
// made to fail) and a few I/O steps named in the code that checks them: "checkpoint.write" (a checkpoint
// append fails with ENOSPC), "hdf5.write" (an HDF5 write parallax makes reports ENOSPC) and "hdf5.read"
// (a collective HDF5 read, read_distributed, reports EIO), "web.adhesion" (plx::web::adhesion throws, as if out of
// memory).
//
//   plx::detail::arm_fault("MPI_Get");           // the next MPI_Get on this process fails
//   plx::detail::arm_fault("checkpoint.write");  // the next checkpoint append fails with ENOSPC
//
// An MPI failure is injected after the real call returned: inject it at a call that completes its
// operation (MPI_Win_flush, MPI_Send, MPI_Wait, a collective), not at one that leaves it in flight
// (MPI_Get into a buffer that the failure path then frees).
//
// Programs can arm one fault from the environment: PLX_FAULT=site[@rank][:count][,after=k] (read once,
// at the first fault_point call; `after` skips the first k passes). Costs one relaxed atomic load
// per check while nothing is armed.
#pragma once

#include <string>

namespace plx::detail {

/// Arms `site`: the `count` passes after the first `after` ones fail. Thread-safe.
void arm_fault(const std::string& site, int count = 1, int after = 0);
/// Disarms every site. Thread-safe.
void disarm_faults();
/// True when the caller must fail here (an armed pass of `site`). Thread-safe.
bool fault_point(const char* site) noexcept;

}  // namespace plx::detail
