// A checkpointed_map run for the kill -9 test (checkpoint_kill_test.sh): small results arriving faster than
// one fdatasync each, so that a kill lands between and during group commits.
//
//   mpiexec -n 2 checkpoint_driver FILE [--n N]    prints "computed K of N digest D" on root
// D is a checksum of every result in order: a resumed run must print the uninterrupted run's.
#include <parallax/app/run_app.hpp>
#include <parallax/dist/checkpoint.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>
#include <mpi.h>

int main(int argc, char** argv) {
  CLI::App cli{"checkpointed_map under kill -9 (a test driver)", "checkpoint_driver"};
  std::string path;
  std::size_t n = 60000;
  cli.add_option("file", path)->required();
  cli.add_option("--n", n);
  return plx::run_app(argc, argv, cli, [&](plx::runtime& rt) {
    std::atomic<std::uint64_t> computed{0};
    const auto task = [&](std::size_t i) {
      computed.fetch_add(1);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      return std::to_string(i * 2654435761u) + (i % 3 ? "" : " and a longer tail");
    };
    const auto results = plx::checkpointed_map(rt.world(), n, task, path);
    std::uint64_t mine = computed.load();
    std::uint64_t total = 0;
    MPI_Reduce(&mine, &total, 1, MPI_UINT64_T, MPI_SUM, 0, rt.world().native());
    if (rt.world().is_root()) {
      std::uint64_t digest = 1469598103934665603ull;  // FNV-1a over the results in order
      for (const auto& r : results) {
        for (const char c : r) digest = (digest ^ static_cast<unsigned char>(c)) * 1099511628211ull;
        digest = (digest ^ 0xffu) * 1099511628211ull;
      }
      std::printf("computed %llu of %zu digest %016llx\n", static_cast<unsigned long long>(total), n,
                  static_cast<unsigned long long>(digest));
    }
    return 0;
  });
}
