// The one main() of every MPI test binary: starts the runtime, runs the tests on every rank, reports on
// root only (other ranks print just their failures, prefixed with their rank), and makes every rank exit
// with the same code: a failure on any rank fails the test.
#include <cstdio>

#include <gtest/gtest.h>
#include <mpi.h>

#include <parallax/core/runtime.hpp>

#include "mpi_test.hpp"

namespace {

plx::runtime* the_runtime = nullptr;

// Prints failed assertions of a non-root rank, which has no default printer.
class rank_failure_printer : public ::testing::EmptyTestEventListener {
 public:
  explicit rank_failure_printer(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::fprintf(stderr, "[rank %d] %s:%d: failure\n%s\n", rank_, result.file_name() ? result.file_name() : "?",
                 result.line_number(), result.summary());
  }

 private:
  int rank_;
};

}  // namespace

plx::runtime& plx::testing_support::rt() { return *the_runtime; }

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  plx::runtime_options options;
  options.quiet = true;  // 4 ranks on 2 cores is oversubscribed on purpose here
  plx::runtime rt(argc, argv, options);
  the_runtime = &rt;

  auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
  if (!rt.is_root()) {
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new rank_failure_printer(rt.rank()));
  }
  const int local = RUN_ALL_TESTS() == 0 ? 1 : 0;
  int everywhere = 0;
  MPI_Allreduce(&local, &everywhere, 1, MPI_INT, MPI_MIN, rt.world().native());
  if (rt.is_root() && everywhere != local) {
    std::fprintf(stderr, "FAILED on another rank (see its [rank N] lines above)\n");
  }
  the_runtime = nullptr;
  return everywhere == 1 ? 0 : 1;
}
