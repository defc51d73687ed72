/// @file
/// The frame every parallax app's main() uses: parse the command line (CLI11), start the runtime, run the
/// body, and turn any exception into one error line and a non-zero exit code ("error: ..." once when every
/// rank has the error, "error (rank r): ..." from each rank that has it otherwise).
///
/// @code
///   int main(int argc, char** argv) {
///     CLI::App cli{"Monte Carlo estimate of pi", "plx-pi"};
///     std::uint64_t samples = 100'000'000;
///     cli.add_option("--samples", samples, "points to draw");
///     return plx::run_app(argc, argv, cli, [&](plx::runtime& rt) { ...; return 0; });
///   }
/// @endcode
///
/// run_app adds the options every app shares: --threads, --report-layout, --quiet, and refuses a mistyped option
/// with the nearest known one (parallax/app/unknown_option.hpp) before CLI11 parses. Every rank parses
/// the same argv, so all agree on --help and on parse errors; only root prints them.
/// Before MPI starts it installs the SIGINT/SIGTERM handler (parallax/app/stop_signals.hpp) in end_now
/// mode, unless the app installed it already (plx-ensemble and plx-run drain instead).
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

#include <parallax/core/runtime.hpp>

namespace plx {

/// Exit codes of parallax apps.
inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;  ///< a run-time failure (task error, I/O, MPI)
inline constexpr int exit_usage = 2;    ///< bad command line or parameters
/// Stopped on request (a signal) before finishing, with the work done so far saved: a batch script tests for
/// it to requeue itself and resume (BSD's EX_TEMPFAIL).
inline constexpr int exit_interrupted = 75;

/// Runs `body` inside a runtime configured from the shared options; returns the process exit code.
/// plx::config_error exits with exit_usage, plx::stopped_error with exit_interrupted, anything else with
/// exit_failure. An error thrown on every rank alike (plx::error::is_collective: the map layer's errors,
/// checks made with on_all_ranks, agreed I/O failures) is printed once, by root, as "error: ...". Any
/// other is printed as "error (rank r): ..." by each rank that has it; unless it is a config, task,
/// timeout or stop error (which parallax throws on every rank), it may have hit one rank only while the
/// others wait in a collective, so MPI_Abort follows and the job cannot hang.
int run_app(int argc, char** argv, CLI::App& cli, const std::function<int(runtime&)>& body);

}  // namespace plx
