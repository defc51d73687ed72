#include <parallax/farm/farm.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <thread>

#include <mpi.h>
#include <omp.h>

#include <fmt/format.h>

#include <parallax/core/collectives.hpp>
#include <parallax/core/detail/posix_file.hpp>
#include <parallax/core/error.hpp>
#include <parallax/dist/map.hpp>
#include <parallax/dist/progress.hpp>
#include <parallax/farm/process.hpp>
#include <parallax/io/atomic_output.hpp>
#include <parallax/io/hdf5_file.hpp>
#include <parallax/io/slab_io.hpp>

namespace plx::farm {

namespace {

// One attempt at one task, as it travels from the rank that ran it to root's journal.
struct attempt_report {
  std::uint64_t id = 0;
  int attempt = 1;
  int rank = 0;
  std::string host;
  command_result result;

  template <class Archive>
  void serialize(Archive& a) {
    a(id, attempt, rank, host, result.outcome, result.exit_code, result.signal, result.start_s, result.end_s,
      result.stdout_bytes, result.stderr_bytes, result.error);
  }
};

// Every attempt at one task, as its slot returns them. A task that failed for good counts against the
// map layer's failure limit where it ran (--max-failures), before its slot draws another task.
struct task_attempts {
  std::vector<attempt_report> attempts;  // empty: not started (the deadline)

  [[nodiscard]] bool counts_as_failure() const {
    if (attempts.empty()) return false;
    const std::string& last = attempts.back().result.outcome;
    return last != "ok" && last != "interrupted";
  }
  template <class Archive>
  void serialize(Archive& a) {
    a(attempts);
  }
};

task_record to_record(const attempt_report& r) {
  task_record t;
  t.id = r.id;
  t.exit_code = r.result.exit_code;
  t.signal = r.result.signal;
  t.outcome = r.result.outcome;
  t.attempt = r.attempt;
  t.rank = r.rank;
  t.host = r.host;
  t.start_s = r.result.start_s;
  t.end_s = r.result.end_s;
  t.stdout_bytes = r.result.stdout_bytes;
  t.stderr_bytes = r.result.stderr_bytes;
  return t;
}

std::string host_name() {
  char name[256] = {};
  gethostname(name, sizeof(name) - 1);
  return name;
}

// Root checks, every rank throws the same message: nothing is started unless all is well.
// Root's verdict on the start, on every rank: bad input (exit code 2), or, with `runtime`, a failure of the
// machine (a full disk, an I/O error: exit code 1).
void agree(const communicator& comm, std::string problem, bool runtime = false) {
  if (!problem.empty() && runtime) problem.insert(0, 1, '\x01');
  detail::broadcast_from_root(comm, problem);
  if (!problem.empty() && problem.front() == '\x01') throw detail::collective(io_error(problem.substr(1)));
  if (!problem.empty()) throw detail::collective(config_error(problem));
}

std::string prepare_workdir(const std::string& workdir, bool& runtime_problem) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(workdir) / "tasks", ec);
  if (ec) {
    runtime_problem = !detail::is_bad_path_errno(ec.value());
    return "cannot create work directory " + workdir + "/tasks: " + ec.message();
  }
  const std::string probe = workdir + "/tasks/.plx-write-test";
  int error_number = 0;
  if (detail::posix_file::try_open(probe, O_WRONLY | O_CREAT | O_TRUNC, 0666, error_number).is_open()) {
    static_cast<void>(detail::unlink_quietly(probe));
    return {};
  }
  runtime_problem = !detail::is_bad_path_errno(error_number);
  return "work directory " + workdir + " is not writable: " + std::strerror(error_number);
}

std::string output_path(const farm_options& o, std::uint64_t id, int attempt, const char* stream) {
  return fmt::format("{}/tasks/{}{}.{}", o.workdir, id, attempt > 1 ? fmt::format(".{}", attempt) : "", stream);
}

// Under srun, a signal for the job (scancel, the time limit, srun passing on the batch script's USR1) reaches
// every process of the step, the farm's tasks included. SIGUSR1 is the farm's "drain" request: tasks start
// with it ignored, so that it stops the dispatch without killing the work in flight. (posix_spawn resets a
// caught signal to its default, so the shell sets the ignore; it is inherited by what the shell runs.) With
// farm_options::pass_usr1 the command runs as it is, with SIGUSR1 at its default.
std::string shielded_command(const std::string& command) { return "trap '' USR1\n" + command; }

// A task killed by SIGTERM or SIGINT (or SIGUSR1, when tasks get it) while the farm is shutting down was
// killed by the same job-wide signal, not by its own fault: it is interrupted (rerun on resume, exit code
// 75), not failed. The farm's own copy of the signal may land a moment after the task's, hence the short
// wait for the flag.
bool killed_by_the_shutdown(const command_result& result, const farm_options& o) {
  if (result.signal != SIGTERM && result.signal != SIGINT && !(o.pass_usr1 && result.signal == SIGUSR1)) return false;
  const auto requested = [&] {
    return (o.drain != nullptr && o.drain->load()) || (o.kill_now != nullptr && o.kill_now->load());
  };
  for (int i = 0; i < 25 && !requested(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return requested();
}

// What keeps slots x task threads within the rank's cores: every threading library a task may use gets the
// same count (as joblib's workers do), and no inherited OMP_PROC_BIND pins every task to the same cores.
std::vector<std::pair<std::string, std::string>> task_thread_environment(int threads) {
  const std::string n = std::to_string(threads);
  return {{"PLX_TASK_THREADS", n},    {"OMP_NUM_THREADS", n},     {"OPENBLAS_NUM_THREADS", n},
          {"MKL_NUM_THREADS", n},     {"BLIS_NUM_THREADS", n},    {"NUMEXPR_NUM_THREADS", n},
          {"VECLIB_MAXIMUM_THREADS", n}, {"OMP_PROC_BIND", "false"}};
}

// Turns the signal flags into the two shutdown phases: stop dispatching at once, kill running tasks after
// the grace period (or at once on the second signal). A plain thread: it makes no MPI calls.
class shutdown_watch {
 public:
  shutdown_watch(const farm_options& o, std::atomic<bool>& dispatch_stop, std::atomic<bool>& kill)
      : thread_([this, &o, &dispatch_stop, &kill] {
          std::optional<std::chrono::steady_clock::time_point> drain_started;
          while (!done_.load()) {
            const auto now = std::chrono::steady_clock::now();
            if (o.drain != nullptr && o.drain->load() && !drain_started) {
              drain_started = now;
              dispatch_stop.store(true);
            }
            if (drain_started && now - *drain_started >= o.drain_grace) kill.store(true);
            if (o.kill_now != nullptr && o.kill_now->load()) {
              dispatch_stop.store(true);
              kill.store(true);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
          }
        }) {}
  ~shutdown_watch() {
    done_.store(true);
    thread_.join();
  }
  shutdown_watch(const shutdown_watch&) = delete;
  shutdown_watch& operator=(const shutdown_watch&) = delete;

 private:
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace

farm_summary run_farm(const communicator& comm, const task_set& tasks, const farm_options& o_in) {
  farm_options o = o_in;
  if (o.journal.empty()) o.journal = o.workdir + "/journal";

  // 1. Before any task: the work directory, the journal, and which tasks are left.
  std::unique_ptr<journal_writer> journal;
  std::vector<std::uint64_t> pending;
  std::map<std::uint64_t, task_record> final_records;
  std::size_t already_done = 0;
  std::string problem;
  bool runtime_problem = false;
  if (comm.is_root()) {
    problem = prepare_workdir(o.workdir, runtime_problem);
    std::optional<journal_contents> previous;
    if (problem.empty()) {
      try {
        previous = read_journal(o.journal);
        // No complete header (an empty fingerprint): a creation that a crash or a full disk cut off, which
        // holds no record; the writer starts it anew.
        if (previous && previous->fingerprint.empty()) previous.reset();
        if (previous && !o.resume) {
          problem = "journal " + o.journal + " exists: pass --resume to continue that run, or remove it to start over";
        } else if (previous && previous->fingerprint != tasks.fingerprint()) {
          problem = "journal " + o.journal + " was written for another task set (fingerprint " + previous->fingerprint +
                    ", the task file now gives " + tasks.fingerprint() + "): the task file changed since; remove the journal to start over";
        }
        if (problem.empty()) journal = std::make_unique<journal_writer>(o.journal, tasks.fingerprint(), tasks.size(), previous.has_value());
      } catch (const detail::file_error& e) {
        problem = e.what();
        runtime_problem = true;  // the disk failed (full, EIO) under the journal: not the user's input
      } catch (const std::exception& e) {
        problem = e.what();  // a bad or damaged journal, or one that another run holds: the user's to sort out
      }
    }
    if (problem.empty()) {
      std::vector<bool> done(tasks.size(), false);
      if (previous) {
        done = previous->succeeded_ids();
        for (const task_record& r : previous->records) final_records[r.id] = r;
      }
      for (std::uint64_t id = 0; id < tasks.size(); ++id) {
        if (done[id]) {
          ++already_done;
        } else {
          pending.push_back(id);
        }
      }
    }
  }
  agree(comm, problem, runtime_problem);
  detail::broadcast_from_root(comm, pending);

  // 2. Run what is left: dynamic schedule, one task per draw, results to root's journal as they finish.
  std::atomic<bool> dispatch_stop{false};
  std::atomic<bool> kill{false};
  farm_summary summary;
  summary.total = tasks.size();
  summary.already_done = already_done;
  std::size_t failed_for_good = 0;
  {
    const shutdown_watch watch(o, dispatch_stop, kill);
    map_options m;
    m.schedule = schedule::dynamic(1);
    m.threads = o.slots;
    m.wake_team_at_once = true;  // slots wait on commands: each starts one at once, crowded node or not
    m.stop = &dispatch_stop;
    m.label = "tasks";
    // The farm reports its own progress (with failures and busy slots), from root's journal.
    int slots = o.slots > 0 ? o.slots : omp_get_max_threads();
    const auto thread_environment = task_thread_environment(
        o.task_threads > 0 ? o.task_threads : std::max(1, omp_get_max_threads() / slots));
    int all_slots = 0;
    detail::check_mpi(MPI_Allreduce(&slots, &all_slots, 1, MPI_INT, MPI_SUM, comm.native()), "MPI_Allreduce");
    progress_meter progress("tasks", pending.size(), o.progress && comm.is_root(), stderr, std::chrono::seconds(5));
    std::size_t finished = 0;
    const auto progress_detail = [&] {
      const std::size_t busy = std::min<std::size_t>(static_cast<std::size_t>(all_slots), pending.size() - finished);
      return fmt::format("{} failed, {} running", failed_for_good, dispatch_stop.load() ? std::string("draining") : std::to_string(busy));
    };
    const std::string host = host_name();
    const int rank = comm.rank();
    // Walltime-aware dispatch: this rank's mean task duration so far (threads of the rank share it).
    std::atomic<double> finished_seconds{0.0};
    std::atomic<std::size_t> finished_tasks{0};
    std::atomic<bool> deadline_hit{false};
    auto run_one = [&](std::size_t k) {
      const std::uint64_t id = pending[k];
      task_attempts done_attempts;
      std::vector<attempt_report>& attempts = done_attempts.attempts;
      if (o.deadline) {
        const std::size_t seen = finished_tasks.load();
        const double expected = seen == 0 ? 0.0 : finished_seconds.load() / static_cast<double>(seen);
        const auto now = std::chrono::system_clock::now();
        if (now + std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::duration<double>(expected)) >
            *o.deadline) {
          deadline_hit.store(true);
          dispatch_stop.store(true);  // drain: other ranks stop drawing at their next task
          return done_attempts;       // empty: not started
        }
      }
      for (int attempt = 1; attempt <= o.retries + 1; ++attempt) {
        command_spec spec;
        const std::string& command = tasks.tasks()[id].command;
        spec.command = o.pass_usr1 ? command : shielded_command(command);
        spec.stdout_path = output_path(o, id, attempt, "out");
        spec.stderr_path = output_path(o, id, attempt, "err");
        spec.environment = thread_environment;
        spec.environment.insert(spec.environment.end(), {{"PLX_TASK_ID", std::to_string(id)},
                                                         {"PLX_RANK", std::to_string(rank)},
                                                         {"PLX_ATTEMPT", std::to_string(attempt)}});
        spec.timeout = o.task_timeout;
        spec.kill_grace = o.kill_grace;
        attempts.push_back({id, attempt, rank, host, run_command(spec, stop_token{&kill})});
        command_result& done = attempts.back().result;
        if (done.outcome == "failed" && killed_by_the_shutdown(done, o)) done.outcome = "interrupted";
        finished_seconds.fetch_add(done.end_s - done.start_s);
        finished_tasks.fetch_add(1);
        const std::string& outcome = done.outcome;
        if (outcome == "ok" || outcome == "interrupted" || kill.load()) break;
      }
      return done_attempts;
    };
    // Collect policy: a slot that throws (it could not even try the task) yields an "error" record, and
    // the farm goes on, as for a command that could not be started.
    auto record = [&](std::size_t k, outcome<task_attempts>&& result) {
      if (!result.ok()) {
        const task_failure& failure = result.failure();
        attempt_report report{pending[k], 1, failure.rank, {}, {}};
        report.result.outcome = "error";
        report.result.error = failure.message;
        result = outcome<task_attempts>(task_attempts{{std::move(report)}});
      }
      const std::vector<attempt_report>& attempts = result.value().attempts;
      if (attempts.empty()) return;  // not started (deadline)
      const auto journal_start = std::chrono::steady_clock::now();
      for (const attempt_report& a : attempts) {
        const task_record r = to_record(a);
        journal->append(r);  // durable before anything else happens
        final_records[r.id] = r;
      }
      summary.journal_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - journal_start).count();
      ++finished;
      const std::string& last = attempts.back().result.outcome;
      if (last == "ok") {
        ++summary.succeeded;
      } else if (last == "interrupted") {
        ++summary.interrupted;
      } else {
        ++summary.failed;
        ++failed_for_good;
      }
      if (progress.due()) progress.update(finished, progress_detail());
    };
    // The map layer counts the tasks that failed for good on the ranks that ran them (one-sided, before
    // their slots draw again), so at most max_failures plus the tasks already running fail.
    if (o.max_failures) m.max_failures = *o.max_failures;
    try {
      map_unordered(comm, pending.size(), run_one, record, m);
    } catch (const stopped_error&) {
      summary.stopped = true;
    } catch (const task_error& e) {
      if (!o.max_failures) throw;
      summary.stopped = true;
      summary.stop_reason = fmt::format("{} tasks failed (--max-failures {})", e.failures(), *o.max_failures);
    }
    progress.finish(finished, progress_detail());
    int hit = deadline_hit.load() ? 1 : 0;
    int any_hit = 0;
    detail::check_mpi(MPI_Allreduce(&hit, &any_hit, 1, MPI_INT, MPI_MAX, comm.native()), "MPI_Allreduce");
    if (summary.stopped && summary.stop_reason.empty()) {
      summary.stop_reason = any_hit ? "the deadline leaves no time for another task" : "shutdown requested (signal)";
    }
  }
  if (comm.is_root()) {
    summary.not_started = tasks.size() - already_done - summary.succeeded - summary.failed - summary.interrupted;
    for (auto& [id, r] : final_records) summary.final_records.push_back(r);
  }
  // Root counted (its journal saw every result); every rank returns the same counts and exit status.
  std::uint64_t counts[5] = {summary.already_done, summary.succeeded, summary.failed, summary.interrupted,
                             summary.not_started};
  detail::check_mpi(MPI_Bcast(counts, 5, MPI_UINT64_T, 0, comm.native()), "MPI_Bcast");
  summary.already_done = counts[0];
  summary.succeeded = counts[1];
  summary.failed = counts[2];
  summary.interrupted = counts[3];
  summary.not_started = counts[4];
  // Tasks killed by a shutdown that came after the last task was handed out: the dispatch had nothing left
  // to stop, but the run did stop with work left (exit code 75, not 1).
  if (summary.interrupted > 0 && !summary.stopped) {
    summary.stopped = true;
    summary.stop_reason = "shutdown requested (signal)";
  }
  return summary;
}

void write_summary(const communicator& comm, const farm_summary& summary, const std::string& path) {
  static const std::vector<std::string> codes = {"ok", "failed", "timeout", "interrupted", "error"};
  std::vector<std::vector<double>> columns(8);
  for (const task_record& r : summary.final_records) {
    const auto code = std::find(codes.begin(), codes.end(), r.outcome) - codes.begin();
    const double row[8] = {static_cast<double>(r.id), static_cast<double>(code), static_cast<double>(r.exit_code),
                           static_cast<double>(r.signal), static_cast<double>(r.attempt), static_cast<double>(r.rank),
                           r.start_s, r.end_s};
    for (std::size_t c = 0; c < 8; ++c) columns[c].push_back(row[c]);
  }
  static const char* names[8] = {"id", "outcome", "exit_code", "signal", "attempt", "rank", "start_s", "end_s"};
  io::atomic_output output(comm, path, true);
  io::h5_file file = io::h5_file::create(comm, output.temporary_path());
  for (std::size_t c = 0; c < 8; ++c) io::write_from_root(file, std::string("/") + names[c], columns[c]);
  io::set_attribute(file, "/", "outcome_codes", std::string("0 ok, 1 failed, 2 timeout, 3 interrupted, 4 error"));
  io::set_attribute(file, "/", "tasks", static_cast<std::int64_t>(summary.total));
  file.close();
  output.commit();
}

std::string summary_table(const farm_summary& s, const task_set& tasks, const farm_options& o) {
  std::string text = fmt::format("{} tasks: {} succeeded ({} in earlier runs), {} failed, {} interrupted, {} not started{}\n",
                                 s.total, s.succeeded + s.already_done, s.already_done, s.failed, s.interrupted,
                                 s.not_started, s.stopped ? " -- stopped: " + s.stop_reason : "");
  std::vector<const task_record*> by_time;
  for (const auto& r : s.final_records) by_time.push_back(&r);
  std::sort(by_time.begin(), by_time.end(),
            [](const task_record* a, const task_record* b) { return a->end_s - a->start_s > b->end_s - b->start_s; });
  if (!by_time.empty()) {
    text += "slowest:\n";
    for (std::size_t i = 0; i < std::min<std::size_t>(5, by_time.size()); ++i) {
      const task_record& r = *by_time[i];
      text += fmt::format("  task {:>6}  {:8.2f} s  rank {}  {}\n", r.id, r.end_s - r.start_s, r.rank,
                          tasks.tasks()[r.id].label);
    }
  }
  bool header = false;
  for (const auto& r : s.final_records) {
    if (r.succeeded()) continue;
    if (!header) text += "not succeeded:\n";
    header = true;
    text += fmt::format("  task {:>6}  {:<11} exit {:>3} signal {:>2}  attempt {}  stderr {}\n    {}\n", r.id, r.outcome,
                        r.exit_code, r.signal, r.attempt, output_path(o, r.id, r.attempt, "err"), tasks.tasks()[r.id].command);
  }
  return text;
}

}  // namespace plx::farm
