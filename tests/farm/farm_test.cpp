// The farm end to end over MPI ranks: counts, the journal, resume, failures on any rank, max-failures and a
// drain request.
#include <parallax/core/collectives.hpp>
#include <parallax/farm/farm.hpp>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <mpi.h>
#include <omp.h>

#include <parallax/core/error.hpp>

#include "../support/mpi_test.hpp"

namespace {

using plx::testing_support::rt;
namespace farm = plx::farm;

// A directory every rank agrees on (root picks, broadcasts), empty.
std::string shared_directory(const std::string& name) {
  std::string dir;
  if (rt().is_root()) {
    dir = ::testing::TempDir() + "/plx-farm-" + name + "-" + std::to_string(getpid());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }
  plx::detail::broadcast_from_root(rt().world(), dir);
  return dir;
}

farm::task_set command_file(const std::string& dir, const std::vector<std::string>& commands) {
  if (rt().is_root()) {
    std::ofstream out(dir + "/tasks.txt");
    out << "# test tasks\n";
    for (const auto& c : commands) out << c << "\n";
  }
  rt().world().barrier();
  return farm::task_set::load(dir + "/tasks.txt");
}

TEST(Farm, runs_every_task_once_and_journals_it) {
  const std::string dir = shared_directory("basic");
  std::vector<std::string> commands;
  for (int i = 0; i < 24; ++i) commands.push_back("echo task $PLX_TASK_ID on rank $PLX_RANK");
  const auto tasks = command_file(dir, commands);
  farm::farm_options o;
  o.workdir = dir + "/work";
  o.slots = 2;
  const auto s = farm::run_farm(rt().world(), tasks, o);
  EXPECT_FALSE(s.stopped);
  if (!rt().is_root()) return;
  EXPECT_EQ(s.succeeded, 24u);
  EXPECT_EQ(s.failed, 0u);
  const auto journal = farm::read_journal(o.workdir + "/journal");
  ASSERT_TRUE(journal.has_value());
  EXPECT_EQ(journal->records.size(), 24u);
  std::set<std::uint64_t> ids;
  for (const auto& r : journal->records) ids.insert(r.id);
  EXPECT_EQ(ids.size(), 24u);
  std::ifstream out(o.workdir + "/tasks/7.out");
  std::string line;
  std::getline(out, line);
  EXPECT_EQ(line.rfind("task 7 on rank ", 0), 0u) << line;
}

TEST(Farm, failures_on_any_rank_are_recorded_and_resume_reruns_only_them) {
  const std::string dir = shared_directory("resume");
  std::vector<std::string> commands;
  // Tasks 3 and the last fail the first time (no marker yet), then succeed.
  for (int i = 0; i < 12; ++i) {
    const bool flaky = i == 3 || i == 11;
    commands.push_back(flaky ? "test -e " + dir + "/marker-$PLX_TASK_ID || { touch " + dir + "/marker-$PLX_TASK_ID; exit 3; }"
                             : "true");
  }
  const auto tasks = command_file(dir, commands);
  farm::farm_options o;
  o.workdir = dir + "/work";
  const auto first = farm::run_farm(rt().world(), tasks, o);
  o.resume = true;
  const auto second = farm::run_farm(rt().world(), tasks, o);
  if (!rt().is_root()) return;
  EXPECT_EQ(first.succeeded, 10u);
  EXPECT_EQ(first.failed, 2u);
  EXPECT_EQ(second.already_done, 10u);
  EXPECT_EQ(second.succeeded, 2u);
  ASSERT_EQ(second.final_records.size(), 12u);
  for (const auto& r : second.final_records) EXPECT_TRUE(r.succeeded()) << r.id;
  const auto journal = farm::read_journal(o.workdir + "/journal");
  ASSERT_TRUE(journal);
  EXPECT_EQ(journal->records.size(), 14u) << "10 + 2 failures + 2 reruns";
}

TEST(Farm, a_task_failing_on_a_non_root_rank_is_recorded_with_its_rank) {
  if (rt().size() == 1) GTEST_SKIP() << "needs a second rank";
  const std::string dir = shared_directory("nonroot");
  std::vector<std::string> commands(16, "sleep 0.02; [ \"$PLX_RANK\" = 0 ] || exit 4");
  const auto tasks = command_file(dir, commands);
  farm::farm_options o;
  o.workdir = dir + "/work";
  o.slots = 1;
  const auto s = farm::run_farm(rt().world(), tasks, o);
  EXPECT_FALSE(s.stopped);
  if (!rt().is_root()) return;
  std::size_t failed_elsewhere = 0;
  for (const auto& r : s.final_records) {
    if (r.rank != 0) {
      EXPECT_EQ(r.outcome, "failed");
      EXPECT_EQ(r.exit_code, 4);
      ++failed_elsewhere;
    } else {
      EXPECT_TRUE(r.succeeded());
    }
  }
  EXPECT_GT(failed_elsewhere, 0u);
  EXPECT_EQ(s.failed, failed_elsewhere);
}

TEST(Farm, retries_then_max_failures) {
  const std::string dir = shared_directory("retries");
  const auto tasks = command_file(dir, {"exit 5", "exit 6", "true", "true", "exit 7", "true"});
  farm::farm_options o;
  o.workdir = dir + "/work";
  o.retries = 2;
  o.slots = 1;
  const auto s = farm::run_farm(rt().world(), tasks, o);
  if (rt().is_root()) {
    EXPECT_EQ(s.failed, 3u);
    for (const auto& r : s.final_records) {
      if (!r.succeeded()) {
        EXPECT_EQ(r.attempt, 3);
        EXPECT_EQ(r.outcome, "failed");
        EXPECT_GE(r.exit_code, 5);
      }
    }
  }
  const std::string dir2 = shared_directory("maxfail");
  std::vector<std::string> failing(40, "sleep 0.05; exit 1");
  const auto many = command_file(dir2, failing);
  farm::farm_options m;
  m.workdir = dir2 + "/work";
  m.max_failures = 2;
  m.slots = 1;
  const auto stopped = farm::run_farm(rt().world(), many, m);
  EXPECT_TRUE(stopped.stopped);
  if (rt().is_root()) {
    EXPECT_GE(stopped.failed, 2u);
    EXPECT_LT(stopped.failed, 40u);
    EXPECT_NE(stopped.stop_reason.find("max-failures"), std::string::npos);
  }
}

TEST(Farm, a_hanging_task_is_killed_at_its_timeout) {
  const std::string dir = shared_directory("timeout");
  const auto tasks = command_file(dir, {"sleep 60", "true"});
  farm::farm_options o;
  o.workdir = dir + "/work";
  o.task_timeout = std::chrono::milliseconds(300);
  o.kill_grace = std::chrono::milliseconds(200);
  const auto s = farm::run_farm(rt().world(), tasks, o);
  if (!rt().is_root()) return;
  ASSERT_EQ(s.final_records.size(), 2u);
  EXPECT_EQ(s.final_records[0].outcome, "timeout");
  EXPECT_TRUE(s.final_records[1].succeeded());
}

TEST(Farm, drain_request_stops_dispatch_and_resume_finishes) {
  const std::string dir = shared_directory("drain");
  std::vector<std::string> commands(30, "sleep 0.1");
  const auto tasks = command_file(dir, commands);
  std::atomic<bool> drain{false};
  farm::farm_options o;
  o.workdir = dir + "/work";
  o.slots = 1;
  o.drain = &drain;
  o.drain_grace = std::chrono::seconds(10);
  std::thread signaller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    drain.store(true);  // as the SIGTERM handler would, on every rank
  });
  const auto first = farm::run_farm(rt().world(), tasks, o);
  signaller.join();
  EXPECT_TRUE(first.stopped);
  o.drain = nullptr;
  o.resume = true;
  const auto second = farm::run_farm(rt().world(), tasks, o);
  EXPECT_FALSE(second.stopped);
  if (!rt().is_root()) return;
  EXPECT_LT(first.succeeded, 30u);
  EXPECT_EQ(first.interrupted, 0u) << "running tasks finished within the grace";
  EXPECT_EQ(second.already_done + second.succeeded, 30u);
  EXPECT_EQ(second.already_done, first.succeeded);
}

// slots x task threads fit the rank's cores: every threading library in a task gets the same count, and an
// inherited OMP_PROC_BIND does not pin every task to the same cores.
TEST(Farm, tasks_get_a_thread_count_that_fits_the_slots) {
  const std::string dir = shared_directory("threads");
  const auto tasks = command_file(dir, {"echo $PLX_TASK_THREADS $OMP_NUM_THREADS $OPENBLAS_NUM_THREADS "
                                        "$MKL_NUM_THREADS $OMP_PROC_BIND"});
  ::setenv("OMP_PROC_BIND", "close", 1);  // as a batch script may set for the ranks
  farm::farm_options o;
  o.workdir = dir + "/work";
  o.slots = 2;
  o.task_threads = 3;
  const auto explicit_count = farm::run_farm(rt().world(), tasks, o);
  o.workdir = dir + "/work-default";
  o.task_threads = 0;
  const auto default_count = farm::run_farm(rt().world(), tasks, o);
  ::unsetenv("OMP_PROC_BIND");
  if (!rt().is_root()) return;
  ASSERT_EQ(explicit_count.succeeded, 1u);
  ASSERT_EQ(default_count.succeeded, 1u);
  const auto first_line = [](const std::string& path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
  };
  EXPECT_EQ(first_line(dir + "/work/tasks/0.out"), "3 3 3 3 false");
  const std::string n = std::to_string(std::max(1, omp_get_max_threads() / 2));
  EXPECT_EQ(first_line(dir + "/work-default/tasks/0.out"), n + " " + n + " " + n + " " + n + " false");
}

// Under srun a job's signals reach every process of the step, the farm's tasks included (seen with SLURM
// 22.05: srun passing on the batch script's USR1 killed the running tasks).
TEST(Farm, tasks_ignore_the_drain_signal_usr1) {
  const std::string dir = shared_directory("usr1");
  const auto tasks = command_file(dir, {"kill -USR1 $$; sh -c 'kill -USR1 $$'; echo survived"});
  farm::farm_options o;
  o.workdir = dir + "/work";
  const auto s = farm::run_farm(rt().world(), tasks, o);
  if (!rt().is_root()) return;
  EXPECT_EQ(s.succeeded, 1u);
  EXPECT_EQ(s.failed, 0u);
}

// Ignored SIGUSR1 is inherited: a shell script the task runs cannot trap it (the task's own command line can).
// With pass_usr1 the tasks start with it at its default, so a script traps it, and an untrapped one kills.
TEST(Farm, pass_usr1_lets_tasks_trap_the_drain_signal) {
  const std::string dir = shared_directory("usr1-pass");
  const std::string script = "sh -c 'trap \"echo trapped\" USR1; kill -USR1 $$; echo after'";
  const auto tasks = command_file(dir, {script, "kill -USR1 $$; echo survived"});
  farm::farm_options o;
  o.workdir = dir + "/ignored";
  const auto shielded = farm::run_farm(rt().world(), tasks, o);
  o.workdir = dir + "/passed";
  o.pass_usr1 = true;
  const auto passed = farm::run_farm(rt().world(), tasks, o);
  if (!rt().is_root()) return;
  const auto text = [](const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  EXPECT_EQ(shielded.succeeded, 2u);
  EXPECT_EQ(text(dir + "/ignored/tasks/0.out"), "after\n");
  EXPECT_EQ(text(dir + "/ignored/tasks/1.out"), "survived\n");
  EXPECT_EQ(passed.succeeded, 1u);
  EXPECT_EQ(passed.failed, 1u);  // no shutdown was under way: a failure, not an interruption
  EXPECT_EQ(text(dir + "/passed/tasks/0.out"), "trapped\nafter\n");
  EXPECT_EQ(text(dir + "/passed/tasks/1.out"), "");
  ASSERT_EQ(passed.final_records.size(), 2u);
  EXPECT_EQ(passed.final_records[1].signal, SIGUSR1);
}

// One task that waits until the drain has been requested, then dies of `signal` (as a job-wide signal, or
// srun's copy of the batch script's warning, would kill it); the run must record it as interrupted.
void expect_killed_during_shutdown_is_interrupted(const std::string& name, const std::string& signal, bool pass_usr1) {
  const std::string dir = shared_directory(name);
  const auto tasks = command_file(dir, {"touch " + dir + "/started; while [ ! -f " + dir +
                                        "/go ]; do sleep 0.02; done; kill -" + signal + " $$"});
  std::atomic<bool> drain{false};
  farm::farm_options o;
  o.workdir = dir + "/work";
  o.drain = &drain;
  o.pass_usr1 = pass_usr1;
  std::thread signaller([&] {
    // Every rank sets its flag (as every rank's handler would), after the one task has started somewhere.
    while (!std::filesystem::exists(dir + "/started")) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    drain.store(true);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::ofstream(dir + "/go").put('\n');
  });
  const auto s = farm::run_farm(rt().world(), tasks, o);
  signaller.join();
  EXPECT_TRUE(s.stopped);
  if (!rt().is_root()) return;
  EXPECT_EQ(s.interrupted, 1u);
  EXPECT_EQ(s.failed, 0u);
}

TEST(Farm, a_task_killed_by_sigterm_during_a_shutdown_is_interrupted_not_failed) {
  expect_killed_during_shutdown_is_interrupted("term", "TERM", false);
}

TEST(Farm, with_pass_usr1_a_task_killed_by_usr1_during_a_shutdown_is_interrupted) {
  expect_killed_during_shutdown_is_interrupted("usr1-shutdown", "USR1", true);
}

TEST(Farm, bad_setup_is_refused_on_every_rank_before_any_task) {
  const std::string dir = shared_directory("bad");
  const auto tasks = command_file(dir, {"touch " + dir + "/should-not-exist"});
  farm::farm_options o;
  o.workdir = dir + "/tasks.txt";  // a file, not a directory
  EXPECT_THROW((void)farm::run_farm(rt().world(), tasks, o), plx::config_error);
  o.workdir = dir + "/work";
  (void)farm::run_farm(rt().world(), tasks, o);
  // The journal now exists: running again without --resume, or with another task set, is refused.
  EXPECT_THROW((void)farm::run_farm(rt().world(), tasks, o), plx::config_error);
  const auto other = command_file(dir, {"true", "false"});
  o.resume = true;
  EXPECT_THROW((void)farm::run_farm(rt().world(), other, o), plx::config_error);
}

}  // namespace
