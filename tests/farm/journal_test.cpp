// The task-farm journal: every field round-trips, the text format is the documented one (checksums as
// Python's zlib.crc32 computes them), a journal of another task set is refused, torn tails of every length
// and corrupted bytes are detected, append mode cuts a torn tail and keeps the records before it, a failed
// write is cut off again, and a writer killed with SIGKILL mid-loop leaves a journal that reads back
// completely. No MPI; two tests fork.
#include <parallax/farm/journal.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <parallax/core/error.hpp>

namespace {

namespace fs = std::filesystem;
using plx::farm::journal_contents;
using plx::farm::journal_writer;
using plx::farm::read_journal;
using plx::farm::task_record;

constexpr const char* fingerprint = "9f86d081884c7d65";

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string file_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

/// A record whose every field depends on `id`, so that a mixed-up or half-read record shows.
task_record sample(std::uint64_t id) {
  task_record r;
  r.id = id;
  r.outcome = id % 3 == 0 ? "failed" : "ok";
  r.exit_code = id % 3 == 0 ? static_cast<int>(id % 7) + 1 : 0;
  r.signal = id % 5 == 0 ? 9 : 0;
  r.attempt = static_cast<int>(id % 4) + 1;
  r.rank = static_cast<int>(id % 13);
  r.host = "node" + std::to_string(id % 17);
  r.start_s = 1732190000.0 + static_cast<double>(id) + 0.25;
  r.end_s = r.start_s + 1.5;
  r.stdout_bytes = id * 1000;
  r.stderr_bytes = id;
  return r;
}

void expect_same(const task_record& expected, const task_record& actual) {
  EXPECT_EQ(expected.id, actual.id);
  EXPECT_EQ(expected.exit_code, actual.exit_code);
  EXPECT_EQ(expected.signal, actual.signal);
  EXPECT_EQ(expected.outcome, actual.outcome);
  EXPECT_EQ(expected.attempt, actual.attempt);
  EXPECT_EQ(expected.rank, actual.rank);
  EXPECT_EQ(expected.host, actual.host);
  EXPECT_NEAR(expected.start_s, actual.start_s, 1e-6);
  EXPECT_NEAR(expected.end_s, actual.end_s, 1e-6);
  EXPECT_EQ(expected.stdout_bytes, actual.stdout_bytes);
  EXPECT_EQ(expected.stderr_bytes, actual.stderr_bytes);
}

/// Runs `body` in a forked child and returns its wait status. The child never returns into GoogleTest.
int status_of_child(const std::function<int()>& body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    int code = 100;
    try {
      code = body();
    } catch (...) {
      code = 101;
    }
    ::_exit(code);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

class FarmJournal : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           ("plx_journal_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  [[nodiscard]] std::string path(const std::string& name = "run.journal") const { return (dir_ / name).string(); }

  /// A journal with records 0..count-1 for 100 tasks; returns its text.
  std::string make_journal(const std::string& file, std::uint64_t count) {
    journal_writer writer(file, fingerprint, 100, false);
    for (std::uint64_t id = 0; id < count; ++id) writer.append(sample(id));
    return file_text(file);
  }

 private:
  fs::path dir_;
};

TEST_F(FarmJournal, round_trips_every_field) {
  task_record odd;
  odd.id = 99;
  odd.exit_code = -1;
  odd.signal = 15;
  odd.outcome = "interrupted";
  odd.attempt = 12;
  odd.rank = 4095;
  odd.host = "";  // allowed: written as "host="
  odd.start_s = 1732190000.123456;
  odd.end_s = 1732190123.000001;
  odd.stdout_bytes = std::numeric_limits<std::uint64_t>::max();
  odd.stderr_bytes = 1ULL << 40U;
  std::vector<task_record> written = {sample(0), sample(1), sample(5), odd};
  for (const char* outcome : {"ok", "failed", "timeout", "interrupted", "error"}) {
    task_record r = sample(7);
    r.outcome = outcome;
    written.push_back(r);
  }
  {
    journal_writer writer(path(), fingerprint, 100, false);
    for (const task_record& r : written) writer.append(r);
  }
  const auto read = read_journal(path());
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->fingerprint, fingerprint);
  EXPECT_EQ(read->tasks, 100U);
  EXPECT_EQ(read->torn_bytes, 0U);
  EXPECT_EQ(read->torn_reason, "");
  EXPECT_EQ(read->valid_bytes, file_text(path()).size());
  ASSERT_EQ(read->records.size(), written.size());
  for (std::size_t i = 0; i < written.size(); ++i) expect_same(written[i], read->records[i]);
  EXPECT_EQ(read->records[3].start_s, 1732190000.123456);  // microseconds survive exactly
}

TEST_F(FarmJournal, writes_the_documented_format) {
  // Checksums from Python: "%08x" % zlib.crc32(line_before_crc.encode()).
  const std::string expected =
      "plx-journal 1 fingerprint=9f86d081884c7d65 tasks=100 crc=26b73315\n"
      "id=17 outcome=ok exit=0 signal=0 attempt=1 rank=2 host=node07 start=1732190000.123456 "
      "end=1732190003.500000 out=123 err=0 crc=4456d776\n"
      "id=18 outcome=timeout exit=-1 signal=9 attempt=2 rank=3 host= start=1732190004.000001 "
      "end=1732190064.000000 out=18446744073709551615 err=7 crc=cb52c6d1\n";
  {
    journal_writer writer(path(), fingerprint, 100, false);
    task_record r;
    r.id = 17;
    r.outcome = "ok";
    r.rank = 2;
    r.host = "node07";
    r.start_s = 1732190000.123456;
    r.end_s = 1732190003.5;
    r.stdout_bytes = 123;
    writer.append(r);
    r = task_record{};
    r.id = 18;
    r.outcome = "timeout";
    r.exit_code = -1;
    r.signal = 9;
    r.attempt = 2;
    r.rank = 3;
    r.start_s = 1732190004.000001;
    r.end_s = 1732190064;
    r.stdout_bytes = std::numeric_limits<std::uint64_t>::max();
    r.stderr_bytes = 7;
    writer.append(r);
  }
  EXPECT_EQ(file_text(path()), expected);

  // And a journal written by something else (here: by hand) in that format reads back.
  write_text(path("by_hand.journal"),
             "plx-journal 1 fingerprint=9f86d081884c7d65 tasks=100 crc=26b73315\n"
             "id=18 outcome=failed exit=3 signal=0 attempt=1 rank=1 host=node07 start=1732190001.000000 "
             "end=1732190002.250000 out=0 err=120 crc=4e511dca\n");
  const auto read = read_journal(path("by_hand.journal"));
  ASSERT_TRUE(read.has_value());
  ASSERT_EQ(read->records.size(), 1U);
  EXPECT_EQ(read->records[0].outcome, "failed");
  EXPECT_EQ(read->records[0].exit_code, 3);
  EXPECT_EQ(read->records[0].stderr_bytes, 120U);
  EXPECT_DOUBLE_EQ(read->records[0].end_s, 1732190002.25);
}

TEST_F(FarmJournal, missing_file_reads_as_nullopt) { EXPECT_FALSE(read_journal(path("absent")).has_value()); }

TEST_F(FarmJournal, refuses_a_journal_of_another_task_set) {
  const std::string before = make_journal(path(), 3);
  try {
    journal_writer writer(path(), "0123abcd", 100, true);
    FAIL() << "a journal of another task set was accepted";
  } catch (const plx::config_error& e) {
    const std::string message = e.what();
    EXPECT_TRUE(contains(message, fingerprint)) << message;
    EXPECT_TRUE(contains(message, "0123abcd")) << message;
    EXPECT_TRUE(contains(message, "task file changed since the journal was written")) << message;
    EXPECT_TRUE(contains(message, path())) << message;
  }
  // Same fingerprint, other task count: refused too.
  EXPECT_THROW(journal_writer(path(), fingerprint, 101, true), plx::config_error);
  EXPECT_EQ(file_text(path()), before);  // a refusal changes nothing
}

TEST_F(FarmJournal, refuses_files_that_are_not_journals) {
  const auto expect_refused = [&](const std::string& text, const std::string& part) {
    write_text(path(), text);
    try {
      static_cast<void>(read_journal(path()));
      ADD_FAILURE() << "accepted " << text;
    } catch (const plx::config_error& e) {
      EXPECT_TRUE(contains(e.what(), part)) << e.what();
    }
    EXPECT_THROW(journal_writer(path(), fingerprint, 100, true), plx::config_error) << text;
    EXPECT_EQ(file_text(path()), text);
  };
  expect_refused("hello world\n", "is not a parallax journal");
  expect_refused("#!/bin/sh", "is not a parallax journal");
  expect_refused("plx-journal 2 fingerprint=ab tasks=1 crc=00000000\n", "version '2'");
  expect_refused("plx-journal 1 fingerprint=9f86d081884c7d65 tasks=100 crc=26b73316\n", "wrong checksum");
  expect_refused("plx-journal 1 fingerprint=9f86d081884c7d65 tasks=100\n", "damaged");
  // Checksums right, fields missing (checksums from Python's zlib.crc32).
  expect_refused("plx-journal 1 crc=7ea985a4\n", "cannot be read");
  expect_refused("plx-journal 1 fingerprint=ab crc=2886f105\n", "cannot be read");
  EXPECT_THROW(journal_writer(path("x"), "has space", 1, false), plx::config_error);
  EXPECT_THROW(journal_writer(path("x"), "", 1, false), plx::config_error);
  EXPECT_THROW(journal_writer((fs::path(path()) / "no_such_dir" / "j").string(), fingerprint, 1, false),
               plx::io_error);
}

TEST_F(FarmJournal, create_mode_replaces_an_old_journal) {
  make_journal(path(), 5);
  {
    journal_writer writer(path(), "fresh", 2, false);
    EXPECT_TRUE(writer.existing().records.empty());
  }
  const auto read = read_journal(path());
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->fingerprint, "fresh");
  EXPECT_EQ(read->tasks, 2U);
  EXPECT_TRUE(read->records.empty());
}

TEST_F(FarmJournal, append_keeps_records_and_cuts_a_torn_tail) {
  const std::string full = make_journal(path(), 4);
  // Drop the last 10 bytes: record 3 is torn.
  write_text(path(), full.substr(0, full.size() - 10));
  {
    journal_writer writer(path(), fingerprint, 100, true);
    ASSERT_EQ(writer.existing().records.size(), 3U);
    EXPECT_GT(writer.existing().torn_bytes, 0U);
    writer.append(sample(3));
    writer.append(sample(4));
  }
  const auto read = read_journal(path());
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->torn_bytes, 0U);
  ASSERT_EQ(read->records.size(), 5U);
  for (std::uint64_t id = 0; id < 5; ++id) expect_same(sample(id), read->records[id]);
  EXPECT_EQ(file_text(path()), make_journal(path("reference"), 5));  // byte for byte as if never torn

  // Appending to a missing file starts a journal.
  {
    journal_writer writer(path("new"), fingerprint, 100, true);
    EXPECT_TRUE(writer.existing().records.empty());
    writer.append(sample(1));
  }
  EXPECT_EQ(read_journal(path("new"))->records.size(), 1U);
}

TEST_F(FarmJournal, reads_every_torn_tail_length) {
  const std::string full = make_journal(path("full"), 3);
  const std::size_t last_line = full.rfind('\n', full.size() - 2) + 1;
  for (std::size_t cut = last_line; cut <= full.size(); ++cut) {
    SCOPED_TRACE("cut at byte " + std::to_string(cut) + " of " + std::to_string(full.size()));
    write_text(path(), full.substr(0, cut));
    const bool complete = cut == full.size();
    const auto read = read_journal(path());
    ASSERT_TRUE(read.has_value());
    ASSERT_EQ(read->records.size(), complete ? 3U : 2U);
    for (std::size_t i = 0; i < read->records.size(); ++i) expect_same(sample(i), read->records[i]);
    EXPECT_EQ(read->torn_bytes, cut - (complete ? full.size() : last_line));
    EXPECT_EQ(read->valid_bytes + read->torn_bytes, cut);
    EXPECT_EQ(read->torn_reason.empty(), read->torn_bytes == 0) << read->torn_reason;

    // Resuming cuts the torn part and appends behind the last complete record.
    {
      journal_writer writer(path(), fingerprint, 100, true);
      EXPECT_EQ(writer.existing().records.size(), read->records.size());
      writer.append(sample(10));
    }
    const auto resumed = read_journal(path());
    ASSERT_TRUE(resumed.has_value());
    EXPECT_EQ(resumed->torn_bytes, 0U);
    ASSERT_EQ(resumed->records.size(), read->records.size() + 1);
    expect_same(sample(10), resumed->records.back());
  }
}

TEST_F(FarmJournal, torn_header_starts_afresh) {
  const std::string full = make_journal(path("full"), 0);
  for (std::size_t cut = 0; cut < full.size(); ++cut) {
    SCOPED_TRACE("header cut at byte " + std::to_string(cut));
    write_text(path(), full.substr(0, cut));
    const auto read = read_journal(path());
    ASSERT_TRUE(read.has_value());
    EXPECT_EQ(read->fingerprint, "");
    EXPECT_EQ(read->tasks, 0U);
    EXPECT_EQ(read->torn_bytes, cut);
    {
      journal_writer writer(path(), fingerprint, 100, true);
      EXPECT_EQ(writer.existing().fingerprint, fingerprint);
      writer.append(sample(2));
    }
    const auto resumed = read_journal(path());
    ASSERT_TRUE(resumed.has_value());
    EXPECT_EQ(resumed->fingerprint, fingerprint);
    ASSERT_EQ(resumed->records.size(), 1U);
    EXPECT_EQ(resumed->torn_bytes, 0U);
  }
  // Zeros where the header should be (data that never reached the disk) count as a torn header too.
  write_text(path(), std::string(20, '\0'));
  EXPECT_EQ(read_journal(path())->torn_bytes, 20U);
}

TEST_F(FarmJournal, detects_a_corrupted_byte_in_the_middle) {
  const std::string full = make_journal(path("full"), 3);
  const std::size_t middle = full.find('\n', full.find('\n') + 1) + 1;  // start of record 1
  const std::size_t middle_end = full.find('\n', middle) + 1;
  for (std::size_t at = middle; at < middle_end; ++at) {
    for (const unsigned mask : {0x01U, 0x20U, 0x80U}) {
      SCOPED_TRACE("byte " + std::to_string(at) + " xor " + std::to_string(mask));
      std::string bad = full;
      bad[at] = static_cast<char>(static_cast<unsigned char>(bad[at]) ^ mask);
      write_text(path(), bad);
      const auto read = read_journal(path());
      ASSERT_TRUE(read.has_value());
      ASSERT_EQ(read->records.size(), 1U);  // record 0 only: the damaged one and all after it are ignored
      expect_same(sample(0), read->records[0]);
      EXPECT_EQ(read->torn_bytes, full.size() - middle);
      EXPECT_TRUE(contains(read->torn_reason, "line 3")) << read->torn_reason;
    }
  }
}

TEST_F(FarmJournal, append_refuses_damage_before_the_last_line) {
  std::string text = make_journal(path(), 3);
  const std::size_t middle = text.find('\n', text.find('\n') + 1) + 1;
  text[middle + 3] = 'X';
  write_text(path(), text);
  try {
    journal_writer writer(path(), fingerprint, 100, true);
    FAIL() << "appended behind a damaged record";
  } catch (const plx::io_error& e) {
    EXPECT_TRUE(contains(e.what(), "truncate -s " + std::to_string(middle))) << e.what();
  }
  EXPECT_EQ(file_text(path()), text);  // the evidence stays
}

TEST_F(FarmJournal, succeeded_ids_counts_retries) {
  {
    journal_writer writer(path(), fingerprint, 5, false);
    task_record r = sample(1);
    r.outcome = "failed";
    r.attempt = 1;
    writer.append(r);
    r.outcome = "ok";
    r.attempt = 2;
    writer.append(r);  // task 1: failed, then ok
    r = sample(2);
    r.outcome = "ok";
    writer.append(r);
    r.outcome = "timeout";
    r.attempt = 2;
    writer.append(r);  // task 2: an ok stays ok even if a later attempt is recorded
    r = sample(3);
    for (const char* outcome : {"failed", "timeout", "error", "interrupted"}) {
      r.outcome = outcome;
      writer.append(r);  // task 3: never ok
    }
  }
  const auto read = read_journal(path());
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->succeeded_ids(), (std::vector<bool>{false, true, true, false, false}));
  EXPECT_TRUE(journal_contents{}.succeeded_ids().empty());
}

TEST_F(FarmJournal, rejects_records_it_cannot_write) {
  journal_writer writer(path(), fingerprint, 10, false);
  const std::string before = file_text(path());
  const auto expect_rejected = [&](const std::function<void(task_record&)>& spoil, const std::string& part) {
    task_record r = sample(1);
    spoil(r);
    try {
      writer.append(r);
      ADD_FAILURE() << "accepted a record with " << part;
    } catch (const plx::config_error& e) {
      EXPECT_TRUE(contains(e.what(), part)) << e.what();
    }
  };
  expect_rejected([](task_record& r) { r.host = "node 07"; }, "host name");
  expect_rejected([](task_record& r) { r.host = "node\t07"; }, "host name");
  expect_rejected([](task_record& r) { r.host = "n\xc3\xa4"; }, "host name");
  expect_rejected([](task_record& r) { r.outcome = "OK"; }, "unknown outcome");
  expect_rejected([](task_record& r) { r.outcome = ""; }, "unknown outcome");
  expect_rejected([](task_record& r) { r.id = 10; }, "not below the task count");
  expect_rejected([](task_record& r) { r.attempt = 0; }, "attempt");
  expect_rejected([](task_record& r) { r.rank = -1; }, "rank");
  expect_rejected([](task_record& r) { r.signal = -2; }, "signal");
  expect_rejected([](task_record& r) { r.end_s = std::nan(""); }, "finite");
  EXPECT_EQ(file_text(path()), before);  // nothing written
  writer.append(sample(1));               // and the writer still works
  EXPECT_EQ(read_journal(path())->records.size(), 1U);
}

TEST_F(FarmJournal, a_second_writer_is_locked_out) {
  auto first = std::make_unique<journal_writer>(path(), fingerprint, 100, false);
  first->append(sample(0));
  try {
    journal_writer second(path(), fingerprint, 100, true);
    FAIL() << "two writers on one journal";
  } catch (const plx::io_error& e) {
    EXPECT_TRUE(contains(e.what(), "in use by another process")) << e.what();
  }
  journal_writer moved(std::move(*first));
  moved.append(sample(1));
  first.reset();  // the moved-from writer owns nothing: the lock stays with `moved`
  EXPECT_THROW(journal_writer(path(), fingerprint, 100, true), plx::io_error);
  EXPECT_EQ(read_journal(path())->records.size(), 2U);
}

TEST_F(FarmJournal, survives_sigkill_while_appending) {
  for (const int delay_ms : {20, 50, 80}) {
    SCOPED_TRACE("killed after " + std::to_string(delay_ms) + " ms");
    const std::string file = path("kill_" + std::to_string(delay_ms));
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    constexpr std::uint64_t tasks = 1'000'000'000;
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(ready[0]);
      try {
        journal_writer writer(file, fingerprint, tasks, false);
        for (std::uint64_t id = 0;; ++id) {
          writer.append(sample(id));
          if (id == 0 && ::write(ready[1], "x", 1) != 1) ::_exit(2);
        }
      } catch (...) {
        ::_exit(3);
      }
    }
    ::close(ready[1]);
    // Wait for the first record (a slow disk may take a while), then let the loop run and kill it.
    pollfd wait_for{ready[0], POLLIN, 0};
    ASSERT_EQ(::poll(&wait_for, 1, 20'000), 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::close(ready[0]);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child ended otherwise: " << status;

    const auto read = read_journal(file);
    ASSERT_TRUE(read.has_value());
    EXPECT_EQ(read->fingerprint, fingerprint);
    ASSERT_GE(read->records.size(), 1U);
    for (std::size_t i = 0; i < read->records.size(); ++i) expect_same(sample(i), read->records[i]);
    // Whatever was cut short is at most one line.
    EXPECT_LT(read->torn_bytes, 200U) << read->torn_reason;
    std::cout << "[          ] killed after " << delay_ms << " ms: " << read->records.size()
              << " records, torn bytes " << read->torn_bytes << "\n";

    const std::size_t count = read->records.size();
    {
      journal_writer writer(file, fingerprint, tasks, true);
      writer.append(sample(count));
    }
    const auto resumed = read_journal(file);
    ASSERT_TRUE(resumed.has_value());
    EXPECT_EQ(resumed->torn_bytes, 0U);
    ASSERT_EQ(resumed->records.size(), count + 1);
    expect_same(sample(count), resumed->records.back());
  }
}

TEST_F(FarmJournal, cuts_a_partial_write_off_again) {
  // A file-size limit makes write(2) stop partway through a line (then fail with EFBIG), like a full disk.
  const std::string file = path();
  const int status = status_of_child([&] {
    ::signal(SIGXFSZ, SIG_IGN);
    journal_writer writer(file, fingerprint, 100, false);
    writer.append(sample(0));
    writer.append(sample(1));
    const auto good_size = static_cast<rlim_t>(fs::file_size(file));
    rlimit limit{};
    ::getrlimit(RLIMIT_FSIZE, &limit);
    const rlimit saved = limit;
    limit.rlim_cur = good_size + 40;  // room for part of the next line only
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) return 10;
    for (int round = 0; round < 2; ++round) {
      try {
        writer.append(sample(2));
        return 11;
      } catch (const plx::io_error&) {
      }
      if (fs::file_size(file) != good_size) return 12;  // the partial line was cut off
    }
    if (::setrlimit(RLIMIT_FSIZE, &saved) != 0) return 13;
    writer.append(sample(2));  // the writer carries on behind the last complete record
    return 0;
  });
  ASSERT_TRUE(WIFEXITED(status)) << status;
  ASSERT_EQ(WEXITSTATUS(status), 0);
  const auto read = read_journal(file);
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->torn_bytes, 0U);
  ASSERT_EQ(read->records.size(), 3U);
  for (std::uint64_t id = 0; id < 3; ++id) expect_same(sample(id), read->records[id]);
}

}  // namespace
