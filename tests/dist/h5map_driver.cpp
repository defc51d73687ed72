// A map_to_h5 run for the kill -9 test (h5map_kill_test.sh): three columns (shaped rows, ragged rows, a
// scalar), small buffers and a short checkpoint interval so that a kill lands in the middle of writes.
//
//   mpiexec -n 2 h5map_driver OUT.h5 [--resume] [--force] [--n N]    prints "computed K of N" on root
// It is also the fault sweep's map_to_h5 program (tests/faults/sweep.py).
#include <parallax/app/run_app.hpp>
#include <parallax/dist/map_to_h5.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <tuple>
#include <vector>

#include <CLI/CLI.hpp>
#include <mpi.h>

int main(int argc, char** argv) {
  CLI::App cli{"map_to_h5 under kill -9 (a test driver)", "h5map_driver"};
  std::string out;
  bool resume = false;
  bool force = false;
  std::size_t n = 6000;
  cli.add_option("out", out)->required();
  cli.add_flag("--resume", resume);
  cli.add_flag("--force", force);
  cli.add_option("--n", n);
  return plx::run_app(argc, argv, cli, [&](plx::runtime& rt) {
    std::atomic<std::uint64_t> computed{0};
    const auto task = [&](std::size_t i) {
      computed.fetch_add(1);
      std::this_thread::sleep_for(std::chrono::microseconds(300));
      std::vector<double> shaped(512);  // 4 KiB rows
      for (std::size_t k = 0; k < shaped.size(); ++k) shaped[k] = static_cast<double>(i) + 1e-3 * static_cast<double>(k);
      std::vector<std::int32_t> ragged(i % 5, static_cast<std::int32_t>(i));
      return std::tuple{shaped, ragged, static_cast<std::uint64_t>(i) * 7};
    };
    plx::h5_output_options output;
    output.resume = resume;
    output.overwrite = force;
    output.buffer_bytes = 64 << 10;
    output.checkpoint_interval = std::chrono::milliseconds(20);
    plx::map_options options;
    options.label = "kill-test";
    plx::map_to_h5(rt.world(), n, task, out, {{"/rows/shaped", {512}}, {"/rows/ragged"}, {"/rows/seed"}}, options,
                   output);
    std::uint64_t mine = computed.load();
    std::uint64_t total = 0;
    MPI_Reduce(&mine, &total, 1, MPI_UINT64_T, MPI_SUM, 0, rt.world().native());
    if (rt.world().is_root()) std::printf("computed %llu of %zu\n", static_cast<unsigned long long>(total), n);
    return 0;
  });
}
