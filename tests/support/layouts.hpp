// Test helper: the same computation on this run's ranks x 2 threads and on root alone x 1 thread, compared
// bitwise, as parallax promises for its outputs.
#pragma once

#include <omp.h>

#include <fftw3.h>

#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <parallax/core/communicator.hpp>

#include "mpi_test.hpp"

namespace plx::testing_support {

/// Collective. `outputs(comm, threads)` returns, on comm's root, everything to compare (gathered there; empty
/// elsewhere) after setting OpenMP's and FFTW's threads to `threads`. Expects this run's ranks with 2 threads
/// to give bitwise what root alone with 1 thread gives; `what` names the case in the failure message.
template <class Outputs>
void expect_bitwise_same_as_one_rank(Outputs&& outputs, const std::string& what) {
  const communicator alone = rt().world().split(rt().is_root() ? 0 : MPI_UNDEFINED, 0);
  const auto set_threads = [](int threads) {
    omp_set_num_threads(threads);
    fftw_plan_with_nthreads(threads);
  };
  set_threads(2);
  const std::vector<double> distributed = outputs(rt().world());
  std::vector<double> serial;
  set_threads(1);
  if (rt().is_root()) serial = outputs(alone);
  set_threads(rt().threads());
  if (!rt().is_root()) return;
  ASSERT_EQ(distributed.size(), serial.size()) << what;
  EXPECT_EQ(std::memcmp(distributed.data(), serial.data(), serial.size() * sizeof(double)), 0)
      << what << ": " << rt().size() << " ranks x 2 threads differ from 1 x 1";
}

}  // namespace plx::testing_support
