#include <parallax/app/run_app.hpp>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <mpi.h>

#include <parallax/app/number_option.hpp>
#include <parallax/app/stop_signals.hpp>
#include <parallax/app/unknown_option.hpp>
#include <parallax/core/communicator.hpp>
#include <parallax/core/error.hpp>
#include <parallax/io/atomic_output.hpp>
#include <parallax/version.hpp>

namespace plx {

namespace {

// Bad input (2), a stop with work left (75, requeue), anything else 1.
int exit_code_for(const error& e) {
  if (dynamic_cast<const config_error*>(&e) != nullptr) return exit_usage;
  if (dynamic_cast<const stopped_error*>(&e) != nullptr) return exit_interrupted;
  return exit_failure;
}

int report(const char* what, int code) {
  std::fprintf(stderr, "error (rank %d): %s\n", detail::world_rank_or_zero(), what);
  return code;
}

// After runtime's constructor threw: it finalises MPI itself when every rank failed alike; otherwise (an MPI
// call failed, maybe on this rank only, while the others wait in the next collective) MPI is still running
// and only an abort ends the job without a hang.
void end_after_failed_start(int code) {
  int initialized = 0;
  int finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (!initialized || finalized) return;
  int ranks = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  std::fflush(nullptr);
  if (ranks > 1) {
    io::remove_unfinished_outputs();  // no destructor of the other ranks runs after the abort
    MPI_Abort(MPI_COMM_WORLD, code);
  }
  MPI_Finalize();
}

}  // namespace

int run_app(int argc, char** argv, CLI::App& cli, const std::function<int(runtime&)>& body) {
  // Before MPI starts: a SIGINT or SIGTERM during start-up ends the run cleanly too.
  if (!stop_signals_installed()) install_stop_signals(stop_mode::end_now, cli.get_name());
  runtime_options options;
  std::optional<int> threads;
  add_number(cli, "--threads", threads,
             "OpenMP threads per rank (default: OMP_NUM_THREADS, SLURM_CPUS_PER_TASK, else node cores / ranks on the "
             "node)",
             at_least(1));
  cli.add_flag("--report-layout", options.report_layout,
               "print every rank's host, node-local rank, threads and bound cores");
  cli.add_flag("--quiet", options.quiet, "no start-up banner or layout warnings on stderr");
  cli.set_version_flag("--version",
                       cli.get_name() + " (parallax " + version_string + ", git " + git_hash + ", " + build_type + ")",
                       "print the parallax version and exit (without starting MPI: works on a login node)");

  // Parse before MPI starts, print after: every rank sees the same argv, and only root should speak.
  std::optional<int> parse_exit;
  std::ostringstream parse_out;
  std::ostringstream parse_err;
  try {
    const std::vector<std::string> args(argv + std::min(argc, 1), argv + argc);
    if (const auto unknown = find_unknown_option(cli, args)) {
      parse_err << "error: " << *unknown << "\n";
      parse_exit = exit_usage;
      options.quiet = true;
    } else {
      cli.parse(argc, argv);
    }
  } catch (const CLI::CallForVersion& e) {
    std::printf("%s\n", e.what());
    return exit_ok;
  } catch (const CLI::ParseError& e) {
    const int code = cli.exit(e, parse_out, parse_err);
    parse_exit = code == 0 ? exit_ok : exit_usage;
    options.quiet = true;
  }
  options.threads = threads;

  std::optional<runtime> rt;
  try {
    rt.emplace(argc, argv, options);
  } catch (const std::exception& e) {
    const int code = report(e.what(), dynamic_cast<const config_error*>(&e) != nullptr ? exit_usage : exit_failure);
    end_after_failed_start(code);
    return code;
  }
  set_stop_signal_root(rt->is_root());
  if (parse_exit) {
    if (rt->is_root()) {
      std::fputs(parse_out.str().c_str(), stdout);
      std::fputs(parse_err.str().c_str(), stderr);
    }
    return *parse_exit;
  }
  try {
    // Once the body has returned or thrown, the run's outcome is decided and reported below: a SIGTERM
    // after that is mpirun ending the job (another rank exited first), and root's stop line would be a
    // second, misleading one. The handler still removes unfinished files and exits.
    struct outcome_decided {
      ~outcome_decided() { set_stop_signal_root(false); }
    } silence_stop_line_afterwards;
    return body(*rt);
  } catch (const error& e) {
    const int code = exit_code_for(e);
    if (e.is_collective()) {
      // Every rank threw this same error: one line from root, not one per rank, and no rank is left
      // waiting, so no MPI_Abort either.
      if (rt->is_root()) {
        // A stop (a signal, a deadline) keeps the finished work: say how to go on.
        std::fprintf(stderr, "error: %s%s\n", e.what(),
                     code == exit_interrupted ? "; the finished work is kept: rerun with --resume" : "");
      }
      return code;
    }
    report(e.what(), code);
    // Checks of the input run alike on every rank, and the map layer's errors are thrown on every rank:
    // those return. Anything else may have hit this rank alone while others wait in a collective.
    if (code != exit_failure || dynamic_cast<const task_error*>(&e) != nullptr ||
        dynamic_cast<const timeout_error*>(&e) != nullptr) {
      return code;
    }
  } catch (const std::exception& e) {
    report(e.what(), exit_failure);
  } catch (...) {
    report("unknown exception", exit_failure);
  }
  if (rt->size() > 1) {
    // The abort ends the other ranks where they are, root included, before any destructor of theirs removes
    // an unfinished output: remove it from here.
    io::remove_unfinished_outputs();
    MPI_Abort(MPI_COMM_WORLD, exit_failure);
  }
  return exit_failure;
}

}  // namespace plx
