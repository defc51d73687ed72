// plx-bench: dispatch overhead and load balance of parallax's map layer.
#include <parallax/app/run_app.hpp>

#include "bench.hpp"

int main(int argc, char** argv) {
  CLI::App cli{"Benchmarks of parallax's map layer (run under mpirun with the ranks to measure).", "plx-bench"};
  cli.require_subcommand(1);
  cli.fallthrough();

  plx::bench::dispatch_options dispatch;
  CLI::App* dispatch_cmd = cli.add_subcommand(
      "dispatch", "empty tasks: microseconds per task, static and dynamic schedules, chunk 1 and auto");
  dispatch_cmd->add_option("--tasks", dispatch.tasks, "tasks per measurement")->capture_default_str()->check(CLI::PositiveNumber);
  dispatch_cmd->add_option("--repeats", dispatch.repeats, "measurements per case (median reported)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  dispatch_cmd->add_flag("--json", dispatch.json, "one JSON object per line");

  plx::bench::calls_options calls;
  CLI::App* calls_cmd = cli.add_subcommand("calls", "cost of one small map call (reuse of the runtime)");
  calls_cmd->add_option("--calls", calls.calls, "calls to time")->capture_default_str()->check(CLI::PositiveNumber);
  calls_cmd->add_flag("--json", calls.json, "one JSON object per line");

  plx::bench::fft_options fft;
  CLI::App* fft_cmd = cli.add_subcommand("fft", "cosmology density+potential pipeline vs 4 bare FFTW transforms");
  fft_cmd->add_option("--dim", fft.dim, "2 or 3")->capture_default_str()->check(CLI::Range(2, 3));
  fft_cmd->add_option("--n", fft.n, "cells per side")->capture_default_str()->check(CLI::Range(2, 1 << 14));
  fft_cmd->add_option("--repeats", fft.repeats, "runs (median reported)")->capture_default_str()->check(CLI::PositiveNumber);
  fft_cmd->add_option("--plan", fft.plan, "estimate | measure")->capture_default_str()->check(CLI::IsMember({"estimate", "measure"}));
  fft_cmd->add_flag("--json", fft.json, "one JSON object per line");

  plx::bench::farm_bench_options farm;
  CLI::App* farm_cmd = cli.add_subcommand("farm", "'true' commands through plx-run vs GNU parallel and xargs -P");
  farm_cmd->add_option("--tasks", farm.tasks, "commands")->capture_default_str()->check(CLI::PositiveNumber);
  farm_cmd->add_flag("--json", farm.json, "one JSON object per line");

  plx::bench::balance_options balance;
  CLI::App* balance_cmd = cli.add_subcommand(
      "balance", "12 tasks 'hello world how are you a b c d e f g' sleeping 100 ms per character");
  balance_cmd->add_option("--unit-ms", balance.unit_ms, "sleep per character (ms)")->capture_default_str()->check(CLI::PositiveNumber);
  balance_cmd->add_option("--repeats", balance.repeats, "runs (median reported)")->capture_default_str()->check(CLI::PositiveNumber);
  balance_cmd->add_flag("--json", balance.json, "one JSON object per line");

  return plx::run_app(argc, argv, cli, [&](plx::runtime& rt) {
    if (dispatch_cmd->parsed()) return plx::bench::run_dispatch(rt, dispatch);
    if (calls_cmd->parsed()) return plx::bench::run_calls(rt, calls);
    if (fft_cmd->parsed()) return plx::bench::run_fft(rt, fft);
    if (farm_cmd->parsed()) return plx::bench::run_farm_bench(rt, farm);
    return plx::bench::run_balance(rt, balance);
  });
}
