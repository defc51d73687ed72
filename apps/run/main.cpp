// plx-run: a task farm over MPI ranks x slots that never loses finished work.
#include <cstdlib>
#include <ctime>
#include <cstdio>
#include <string>

#include <parallax/app/json_line.hpp>
#include <parallax/app/number_option.hpp>
#include <parallax/app/run_app.hpp>
#include <parallax/app/stop_signals.hpp>
#include <parallax/core/collectives.hpp>
#include <parallax/core/detail/posix_file.hpp>
#include <parallax/core/error.hpp>
#include <parallax/farm/farm.hpp>

namespace {

// The job's end as an absolute time, decided on root and shared so every rank uses the same one.
std::chrono::system_clock::time_point resolve_deadline(const plx::communicator& comm, const std::string& text) {
  double end_s = 0;
  std::string problem;
  if (comm.is_root()) {
    const double now_s = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    if (text == "slurm") {
      const char* job = std::getenv("SLURM_JOB_ID");
      if (job == nullptr) {
        problem = "--deadline slurm: SLURM_JOB_ID is not set (not inside a SLURM job)";
      } else if (FILE* pipe = popen(("squeue -h -o %e -j " + std::string(job) + " 2>/dev/null").c_str(), "r")) {
        char line[128] = {};
        const bool read = std::fgets(line, sizeof(line), pipe) != nullptr;
        pclose(pipe);
        std::tm tm{};
        if (!read || strptime(line, "%Y-%m-%dT%H:%M:%S", &tm) == nullptr) {
          problem = "--deadline slurm: squeue gave no end time for job " + std::string(job);
        } else {
          tm.tm_isdst = -1;
          end_s = static_cast<double>(std::mktime(&tm));
        }
      } else {
        problem = "--deadline slurm: cannot run squeue";
      }
    } else {
      try {
        std::size_t used = 0;
        const double seconds = std::stod(text, &used);
        if (used != text.size() || !(seconds > 0)) throw std::invalid_argument(text);
        end_s = now_s + seconds;
      } catch (const std::exception&) {
        problem = "--deadline '" + text + "' is neither a positive number of seconds nor 'slurm'";
      }
    }
  }
  plx::detail::broadcast_from_root(comm, problem);
  if (!problem.empty()) throw plx::config_error(problem);
  MPI_Bcast(&end_s, 1, MPI_DOUBLE, 0, comm.native());
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::duration<double>(end_s)));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"Task farm: runs one shell command per line of TASKS (or a TOML parameter sweep) over MPI ranks x\n"
               "slots, records every finished task in a durable journal, and resumes after a stop.\n"
               "Exit codes: 0 all tasks succeeded, 1 some failed (or --max-failures stopped the run), 2 bad\n"
               "input, 75 stopped by a signal or --deadline with work left (requeue and rerun with --resume).",
               "plx-run"};
  std::string tasks_path;
  plx::farm::farm_options o;
  double timeout_s = 0;
  double grace_s = 20;
  double kill_grace_s = 5;
  std::size_t max_failures = 0;
  bool json = false;
  std::string deadline;
  cli.add_option("TASKS", tasks_path, "command file (one per line, # comments) or sweep (.toml)")->required();
  plx::add_number(cli, "--slots", o.slots, "concurrent tasks per rank (default: threads per rank)", plx::at_least(1));
  plx::add_number(cli, "--task-threads", o.task_threads,
                  "threads per task: OMP_NUM_THREADS and the BLAS libraries' thread variables in each task's "
                  "environment (default: threads per rank / slots, at least 1)",
                  plx::at_least(1));
  cli.add_option("--journal", o.journal, "journal file (default: WORKDIR/journal)");
  cli.add_flag("--resume", o.resume, "continue a stopped run: rerun only tasks the journal does not record as succeeded");
  plx::add_number(cli, "--timeout", timeout_s, "per-task wall time limit in seconds (SIGTERM, then SIGKILL)",
                  plx::positive());
  plx::add_number(cli, "--retries", o.retries, "extra attempts of a failed task", plx::at_least(0))->capture_default_str();
  plx::add_number(cli, "--max-failures", max_failures, "stop after this many failed tasks (default: never)",
                  plx::at_least(1));
  cli.add_option("--workdir", o.workdir, "directory for per-task output, journal and summary")->capture_default_str();
  plx::add_number(cli, "--grace", grace_s, "after SIGTERM/SIGINT/SIGUSR1, seconds running tasks may finish",
                  plx::at_least(0))
      ->capture_default_str();
  plx::add_number(cli, "--kill-grace", kill_grace_s, "seconds between SIGTERM and SIGKILL of a task", plx::at_least(0))
      ->capture_default_str();
  cli.add_option("--deadline", deadline,
                 "end of the job: seconds from now, or 'slurm' (asks squeue for this job's end time); no task starts "
                 "that would not finish by then, judging by the tasks so far");
  cli.add_flag("--progress", o.progress,
               "progress lines on stderr (after --resume, done/total count the tasks left, not all)");
  std::string task_usr1 = "ignore";
  cli.add_option("--task-usr1", task_usr1,
                 "SIGUSR1 in tasks: 'ignore' (default; the farm's drain signal, which srun also delivers to "
                 "every task, leaves running tasks alone, and shell scripts run by a task cannot trap it) or "
                 "'pass' (default action: a task may trap it, e.g. to checkpoint; one that does not dies of it "
                 "and is rerun on --resume)")
      ->capture_default_str()
      ->check(CLI::IsMember({"ignore", "pass"}));
  cli.add_flag("--json", json, "print one JSON object with the counts");

  // Before MPI starts: under srun a job's early warning may come while the ranks are still starting, and
  // SIGUSR1's default action would kill them. First signal: drain (no new tasks, let running ones finish
  // within the grace). Second: kill them now.
  plx::install_stop_signals(plx::stop_mode::drain, "plx-run", true);
  return plx::run_app(argc, argv, cli, [&](plx::runtime& rt) {
    if (timeout_s > 0) o.task_timeout = std::chrono::duration<double>(timeout_s);
    if (max_failures > 0) o.max_failures = max_failures;
    o.pass_usr1 = task_usr1 == "pass";
    o.drain_grace = std::chrono::duration<double>(grace_s);
    o.kill_grace = std::chrono::duration<double>(kill_grace_s);
    o.drain = &plx::stop_requested();
    o.kill_now = &plx::kill_requested();
    if (!deadline.empty()) o.deadline = resolve_deadline(rt.world(), deadline);

    // Every rank loads the task set (the same file): each needs the commands, none ships them.
    const plx::farm::task_set tasks =
        plx::detail::on_all_ranks(rt.world(), [&] { return plx::farm::task_set::load(tasks_path); });
    const auto start = std::chrono::steady_clock::now();
    const plx::farm::farm_summary s = plx::farm::run_farm(rt.world(), tasks, o);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    plx::farm::write_summary(rt.world(), s, o.workdir + "/summary.h5");
    const bool complete = s.succeeded + s.already_done == s.total;
    // 75 asks the batch script to requeue and resume: only for a stop that more time would cure (a signal,
    // the deadline), not for --max-failures or tasks that failed.
    const bool requeue = s.stopped && s.stop_reason.find("max-failures") == std::string::npos;
    const int code = complete ? plx::exit_ok : (requeue ? plx::exit_interrupted : plx::exit_failure);
    if (rt.is_root()) {
      const std::string table = plx::farm::summary_table(s, tasks, o);
      try {  // a copy of the table printed below, for the batch log's reader: its loss is worth a warning only
        plx::detail::write_file_atomically(o.workdir + "/summary.txt", table);
      } catch (const plx::io_error& e) {
        std::fprintf(stderr, "parallax: warning: %s\n", e.what());
      }
      if (json) {
        plx::print_json_line({{"tasks", s.total},
                              {"succeeded", s.succeeded},
                              {"already_done", s.already_done},
                              {"failed", s.failed},
                              {"interrupted", s.interrupted},
                              {"not_started", s.not_started},
                              {"stopped", s.stopped},
                              {"seconds", plx::rounded(seconds, 3)},
                              {"ranks", rt.size()},
                              {"slots", o.slots > 0 ? o.slots : rt.threads()},
                              {"exit_code", code}});
      } else {
        std::fputs(table.c_str(), stdout);
        if (code == plx::exit_interrupted) {
          std::printf("stopped with work left (finished tasks are kept in the journal): rerun with --resume\n");
        }
      }
    }
    return code;
  });
}
