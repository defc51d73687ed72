// plx-bench: dispatch overhead and load balance of parallax's map layer, and node-shared inputs.
#include <parallax/app/number_option.hpp>
#include <parallax/app/run_app.hpp>

#include "bench.hpp"

int main(int argc, char** argv) {
  CLI::App cli{"Benchmarks of parallax's map layer (run under mpirun with the ranks to measure).", "plx-bench"};
  cli.require_subcommand(1);
  cli.fallthrough();

  plx::bench::dispatch_options dispatch;
  CLI::App* dispatch_cmd = cli.add_subcommand(
      "dispatch", "empty tasks: microseconds per task, static and dynamic schedules, chunk 1 and auto");
  plx::add_number(*dispatch_cmd, "--tasks", dispatch.tasks, "tasks per measurement", plx::at_least(1))->capture_default_str();
  plx::add_number(*dispatch_cmd, "--repeats", dispatch.repeats, "measurements per case (median reported)", plx::at_least(1))
      ->capture_default_str();
  dispatch_cmd->add_flag("--json", dispatch.json, "one JSON object per line");

  plx::bench::calls_options calls;
  CLI::App* calls_cmd = cli.add_subcommand("calls", "cost of one small map call per layout, with the MPI floor, in one run");
  plx::add_number(*calls_cmd, "--calls", calls.calls, "calls to time", plx::at_least(1))->capture_default_str();
  calls_cmd->add_option("--layouts", calls.layouts,
                        "RANKSxTHREADS list measured in turns, e.g. 2x1,3x2 (the first ranks; the others sleep); "
                        "default: 2x1 and the run's own layout");
  calls_cmd->add_flag("--json", calls.json, "one JSON object per line");

  plx::bench::fft_options fft;
  CLI::App* fft_cmd = cli.add_subcommand("fft", "cosmology density+potential pipeline vs 4 bare FFTW transforms");
  plx::add_number(*fft_cmd, "--dim", fft.dim, "2 or 3", plx::between(2, 3))->capture_default_str();
  plx::add_number(*fft_cmd, "--n", fft.n, "cells per side", plx::between(2, 1 << 14))->capture_default_str();
  plx::add_number(*fft_cmd, "--repeats", fft.repeats, "runs (median reported)", plx::at_least(1))->capture_default_str();
  fft_cmd->add_option("--plan", fft.plan, "estimate | measure")->capture_default_str()->check(CLI::IsMember({"estimate", "measure"}));
  fft_cmd->add_flag("--json", fft.json, "one JSON object per line");

  plx::bench::farm_bench_options farm;
  CLI::App* farm_cmd = cli.add_subcommand("farm", "'true' commands through plx-run vs GNU parallel and xargs -P");
  plx::add_number(*farm_cmd, "--tasks", farm.tasks, "commands", plx::at_least(1))->capture_default_str();
  farm_cmd->add_flag("--json", farm.json, "one JSON object per line");

  plx::bench::ensemble_bench_options ensemble;
  CLI::App* ensemble_cmd = cli.add_subcommand(
      "ensemble", "plx-ensemble's realizations per second (3D, one evolved time) vs numpy rfftn over multiprocessing.Pool");
  plx::add_number(*ensemble_cmd, "--n", ensemble.n, "cells per side", plx::between(4, 1 << 12))->capture_default_str();
  plx::add_number(*ensemble_cmd, "--realizations", ensemble.realizations, "plx-ensemble's realizations", plx::at_least(2))
      ->capture_default_str();
  plx::add_number(*ensemble_cmd, "--numpy-realizations", ensemble.numpy_realizations, "the numpy peer's realizations",
                  plx::at_least(2))
      ->capture_default_str();
  ensemble_cmd->add_option("--times", ensemble.times, "growth factors: list a,b or start:stop:count")->capture_default_str();
  plx::add_number(*ensemble_cmd, "--processes", ensemble.processes, "the numpy peer's pool workers", plx::at_least(1))
      ->capture_default_str();
  plx::add_number(*ensemble_cmd, "--repeats", ensemble.repeats, "runs of each tool, taking turns (median reported)",
                  plx::at_least(1))
      ->capture_default_str();
  ensemble_cmd->add_option("--python", ensemble.python, "Python with numpy and h5py")->capture_default_str();
  ensemble_cmd->add_option("--numpy-script", ensemble.numpy_script, "the numpy peer")->capture_default_str();
  ensemble_cmd->add_flag("--json", ensemble.json, "one JSON object per line");

  plx::bench::balance_options balance;
  CLI::App* balance_cmd = cli.add_subcommand(
      "balance", "12 tasks 'hello world how are you a b c d e f g' sleeping 100 ms per character");
  plx::add_number(*balance_cmd, "--unit-ms", balance.unit_ms, "sleep per character (ms)", plx::positive())->capture_default_str();
  plx::add_number(*balance_cmd, "--repeats", balance.repeats, "runs (median reported)", plx::at_least(1))->capture_default_str();
  balance_cmd->add_flag("--json", balance.json, "one JSON object per line");

  plx::bench::h5map_options h5map;
  CLI::App* h5map_cmd = cli.add_subcommand("h5map", "map_to_h5 to disk: 8-byte and 1 MiB results against dd on the same file system");
  plx::add_number(*h5map_cmd, "--items", h5map.items, "results of 8 bytes", plx::at_least(1))->capture_default_str();
  plx::add_number(*h5map_cmd, "--big-items", h5map.big_items, "results of 1 MiB", plx::at_least(1))->capture_default_str();
  plx::add_number(*h5map_cmd, "--repeats", h5map.repeats, "runs per tool (median reported)", plx::at_least(1))->capture_default_str();
  h5map_cmd->add_option("--dir", h5map.dir, "directory for the files (the file system measured)")
      ->capture_default_str()->check(CLI::ExistingDirectory);
  h5map_cmd->add_flag("--json", h5map.json, "one JSON object per line");
  plx::bench::checkpoint_bench_options checkpoint;
  CLI::App* checkpoint_cmd = cli.add_subcommand(
      "checkpoint", "checkpointed_map's durable results/s: group commit and one fdatasync per result, with the floors");
  plx::add_number(*checkpoint_cmd, "--results", checkpoint.results, "8-byte results", plx::at_least(1))->capture_default_str();
  plx::add_number(*checkpoint_cmd, "--synced-results", checkpoint.synced_results,
                  "results for the one-fdatasync-per-result run", plx::at_least(1))->capture_default_str();
  plx::add_number(*checkpoint_cmd, "--window-ms", checkpoint.window_ms, "group commit window (ms)", plx::positive())
      ->capture_default_str();
  plx::add_number(*checkpoint_cmd, "--repeats", checkpoint.repeats, "runs per row (median reported)", plx::at_least(1))
      ->capture_default_str();
  checkpoint_cmd->add_flag("--json", checkpoint.json, "one JSON object per line");
  plx::bench::io_options io;
  CLI::App* io_cmd = cli.add_subcommand(
      "io", "plx-cosmo's write stage (density, potential, displacement; final sync and rename) vs dd, same bytes");
  plx::add_number(*io_cmd, "--dim", io.dim, "2 or 3", plx::between(2, 3))->capture_default_str();
  plx::add_number(*io_cmd, "--n", io.n, "cells per side", plx::between(2, 1 << 14))->capture_default_str();
  plx::add_number(*io_cmd, "--repeats", io.repeats, "runs per tool, taking turns (median reported)", plx::at_least(1))
      ->capture_default_str();
  io_cmd->add_option("--dir", io.dir, "directory for the files (the file system measured)")
      ->capture_default_str()->check(CLI::ExistingDirectory);
  io_cmd->add_flag("--json", io.json, "one JSON object per line");

  plx::bench::shared_options shared;
  CLI::App* shared_cmd = cli.add_subcommand(
      "shared", "an HDF5 input loaded as one node-shared copy vs one copy per rank: node PSS and load time");
  plx::add_number(*shared_cmd, "--bytes", shared.bytes, "input size in bytes (whole 8 KiB rows)", plx::at_least(8192))
      ->capture_default_str();
  shared_cmd->add_option("--dir", shared.dir, "directory for the input file (default: the temporary directory)");
  shared_cmd->add_option("--mode", shared.mode, "shared | copy | both")->capture_default_str()
      ->check(CLI::IsMember({"shared", "copy", "both"}));
  shared_cmd->add_flag("--json", shared.json, "one JSON object per line");

  plx::bench::web_bench_options web;
  CLI::App* web_cmd = cli.add_subcommand(
      "web", "adhesion structures (plx::web) vs scipy's ConvexHull: 2D N=256 at 10 times, 3D N=64 at fewer");
  plx::add_number(*web_cmd, "--n2", web.n2, "cells per side in 2D", plx::between(4, 1 << 14))->capture_default_str();
  plx::add_number(*web_cmd, "--n3", web.n3, "cells per side in 3D", plx::between(4, 1 << 10))->capture_default_str();
  web_cmd->add_option("--times2", web.times2, "growth factors in 2D: list a,b or start:stop:count")->capture_default_str();
  web_cmd->add_option("--times3", web.times3, "growth factors in 3D (scipy takes minutes per time)")->capture_default_str();
  web_cmd->add_option("--python", web.python, "Python with numpy, scipy and h5py")->capture_default_str();
  web_cmd->add_option("--scipy-script", web.scipy_script, "the scipy peer")->capture_default_str();
  web_cmd->add_flag("!--no-scipy", web.scipy, "leave the scipy peer out");
  web_cmd->add_flag("--json", web.json, "one JSON object per line");

  return plx::run_app(argc, argv, cli, [&](plx::runtime& rt) {
    if (web_cmd->parsed()) return plx::bench::run_web_bench(rt, web);
    if (checkpoint_cmd->parsed()) return plx::bench::run_checkpoint_bench(rt, checkpoint);
    if (h5map_cmd->parsed()) return plx::bench::run_h5map(rt, h5map);
    if (io_cmd->parsed()) return plx::bench::run_io(rt, io);
    if (dispatch_cmd->parsed()) return plx::bench::run_dispatch(rt, dispatch);
    if (calls_cmd->parsed()) return plx::bench::run_calls(rt, calls);
    if (fft_cmd->parsed()) return plx::bench::run_fft(rt, fft);
    if (farm_cmd->parsed()) return plx::bench::run_farm_bench(rt, farm);
    if (ensemble_cmd->parsed()) return plx::bench::run_ensemble_bench(rt, ensemble);
    if (shared_cmd->parsed()) return plx::bench::run_shared(rt, shared);
    return plx::bench::run_balance(rt, balance);
  });
}
