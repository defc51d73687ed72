// The one append-only record log (core/detail/record_log.hpp): its lock, its torn-tail and damage rules,
// its creation, and its failed-write and failed-sync rules, with a small line format of its own.
#include <parallax/core/detail/record_log.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>

#include <parallax/core/crc32.hpp>
#include <parallax/core/detail/fault_injection.hpp>
#include <parallax/core/error.hpp>

namespace {

namespace fs = std::filesystem;
using plx::detail::record_log;
namespace sites = plx::detail::fault_sites;

/// "test-log\n", then lines "<text> <crc of text, 8 hex>\n".
class line_format final : public plx::detail::record_format {
 public:
  [[nodiscard]] std::string header() const override { return "test-log\n"; }
  std::size_t header_bytes(std::string_view text) override {
    ++headers_read;
    const std::string expected = header();
    if (text.starts_with(expected)) return expected.size();
    if (std::string_view(expected).starts_with(text)) return 0;
    if (text.find_first_not_of('\0') == std::string_view::npos) return 0;
    throw plx::config_error("not a test log");
  }
  [[nodiscard]] plx::detail::record_check check(std::string_view rest) const override {
    const std::size_t newline = rest.find('\n');
    if (newline == std::string_view::npos) return {0, rest.size(), "no newline"};
    const std::string_view line = rest.substr(0, newline);
    if (line.size() < 9 || line.substr(line.size() - 8) != hex(line.substr(0, line.size() - 9))) {
      return {0, newline + 1, "wrong checksum"};
    }
    return {newline + 1, 0, {}};
  }
  static std::string hex(std::string_view text) {
    char out[16];
    std::snprintf(out, sizeof out, "%08x", static_cast<unsigned>(plx::crc32(text)));
    return out;
  }
  static std::string line(const std::string& text) { return text + " " + hex(text) + "\n"; }

  int headers_read = 0;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_text(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

class RecordLog : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           ("plx_record_log_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "log").string();
  }
  void TearDown() override {
    plx::detail::disarm_faults();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  /// A log with records "r0".."r<n-1>", closed; its text.
  std::string make(int n) {
    record_log log(path_, format_, record_log::open_mode::create, "test log");
    for (int i = 0; i < n; ++i) {
      std::string name = "r";  // (not "r" + ...: g++ 12 warns about that falsely, -Wrestrict)
      name += std::to_string(i);
      log.append(line_format::line(name));
    }
    log.close();
    return read_text(path_);
  }

  fs::path dir_;
  std::string path_;
  line_format format_;
};

TEST_F(RecordLog, creates_appends_and_reads_back) {
  const std::string text = make(3);
  EXPECT_EQ(text, "test-log\n" + line_format::line("r0") + line_format::line("r1") + line_format::line("r2"));
  const auto scan = plx::detail::read_log(path_, format_);
  ASSERT_TRUE(scan.has_value());
  ASSERT_EQ(scan->records.size(), 3u);
  EXPECT_EQ(scan->record(1), line_format::line("r1"));
  EXPECT_EQ(scan->torn_bytes(), 0u);
  EXPECT_EQ(scan->problem, "");
  EXPECT_FALSE(plx::detail::read_log((dir_ / "absent").string(), format_).has_value());

  record_log resumed(path_, format_, record_log::open_mode::resume, "test log");
  EXPECT_EQ(resumed.found().records.size(), 3u);
  EXPECT_EQ(resumed.size(), text.size());
  resumed.append(line_format::line("r3"));
  resumed.close();
  EXPECT_EQ(read_text(path_), text + line_format::line("r3"));

  record_log created(path_, format_, record_log::open_mode::create, "test log");  // empties it
  EXPECT_TRUE(created.found().records.empty());
  created.close();
  EXPECT_EQ(read_text(path_), "test-log\n");
}

TEST_F(RecordLog, a_torn_last_record_is_ignored_and_cut_off) {
  const std::string text = make(3);
  const std::size_t last = text.size() - line_format::line("r2").size();
  for (std::size_t cut = last + 1; cut < text.size(); ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    write_text(path_, text.substr(0, cut));
    record_log log(path_, format_, record_log::open_mode::resume, "test log");
    EXPECT_EQ(log.found().records.size(), 2u);
    EXPECT_EQ(log.found().torn_bytes(), cut - last);
    EXPECT_FALSE(log.found().damaged);
    EXPECT_EQ(read_text(path_), text.substr(0, last));  // cut off at once
    log.append(line_format::line("r2"));
    log.close();
    EXPECT_EQ(read_text(path_), text);
  }
  // Zeros where the last record should be (data that never reached the disk) are a torn record too.
  write_text(path_, text.substr(0, last) + std::string(300, '\0'));
  record_log log(path_, format_, record_log::open_mode::resume, "test log");
  EXPECT_EQ(log.found().records.size(), 2u);
  EXPECT_EQ(read_text(path_), text.substr(0, last));
}

TEST_F(RecordLog, damage_in_the_middle_is_refused_and_left_as_it_is) {
  std::string text = make(3);
  const std::size_t second = text.find('\n', text.find('\n') + 1) + 1;  // start of record r1
  text[second + 1] = 'X';
  write_text(path_, text);
  const auto scan = plx::detail::read_log(path_, format_);
  ASSERT_TRUE(scan.has_value());
  EXPECT_EQ(scan->records.size(), 1u);
  EXPECT_TRUE(scan->damaged);
  EXPECT_EQ(scan->problem, "wrong checksum");
  try {
    record_log log(path_, format_, record_log::open_mode::resume, "test log");
    FAIL() << "appended behind damage";
  } catch (const plx::io_error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("test log '" + path_ + "' is damaged at byte " + std::to_string(second) +
                           " (record 2: wrong checksum)"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("truncate -s " + std::to_string(second) + " " + path_), std::string::npos) << message;
  }
  EXPECT_EQ(read_text(path_), text);  // the evidence stays
}

TEST_F(RecordLog, a_torn_header_starts_again_and_a_foreign_file_is_refused) {
  for (const std::string& start : {std::string(), std::string("test-"), std::string(5, '\0')}) {
    write_text(path_, start);
    record_log log(path_, format_, record_log::open_mode::resume, "test log");
    EXPECT_EQ(log.found().records.size(), 0u);
    log.append(line_format::line("a"));
    log.close();
    EXPECT_EQ(read_text(path_), "test-log\n" + line_format::line("a"));
  }
  write_text(path_, "something else\n");
  EXPECT_THROW(record_log(path_, format_, record_log::open_mode::resume, "test log"), plx::config_error);
  EXPECT_EQ(read_text(path_), "something else\n");
}

TEST_F(RecordLog, a_second_writer_is_refused_with_the_holder_named) {
  make(1);
  record_log first(path_, format_, record_log::open_mode::resume, "test log");
  try {
    record_log second(path_, format_, record_log::open_mode::resume, "test log");
    FAIL() << "two writers on one log";
  } catch (const plx::io_error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("is in use by another process"), std::string::npos) << message;
    EXPECT_NE(message.find("pid " + std::to_string(::getpid())), std::string::npos) << message;
    EXPECT_NE(message.find("on host "), std::string::npos) << message;
  }
  // Another process: named by its pid.
  const pid_t child = ::fork();
  if (child == 0) {
    try {
      record_log other(path_, format_, record_log::open_mode::resume, "test log");
    } catch (const plx::io_error& e) {
      const std::string message = e.what();
      ::_exit(message.find("process " + std::to_string(::getppid()) + " on host ") != std::string::npos ? 0 : 2);
    } catch (...) {
      ::_exit(3);
    }
    ::_exit(1);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  first.close();  // releases the lock
  record_log again(path_, format_, record_log::open_mode::resume, "test log");
  EXPECT_EQ(again.found().records.size(), 1u);
}

TEST_F(RecordLog, a_failed_write_is_cut_off_and_the_log_goes_on) {
  const std::string text = make(1);
  record_log log(path_, format_, record_log::open_mode::resume, "test log");
  plx::detail::arm_fault(sites::checkpoint_write);  // a full disk
  try {
    log.append(line_format::line("r1"));
    FAIL() << "no failure";
  } catch (const plx::io_error& e) {
    EXPECT_EQ(std::string(e.what()), "cannot write '" + path_ + "': No space left on device");
  }
  plx::detail::arm_fault(sites::fs_write, 1, 0, EIO);
  EXPECT_THROW(log.append(line_format::line("r1")), plx::io_error);
  EXPECT_EQ(log.broken(), "");
  EXPECT_EQ(read_text(path_), text);
  log.append(line_format::line("r1"));
  EXPECT_EQ(read_text(path_), text + line_format::line("r1"));
}

TEST_F(RecordLog, a_failed_sync_or_cut_is_final) {
  make(1);
  {
    record_log log(path_, format_, record_log::open_mode::resume, "test log");
    plx::detail::arm_fault(sites::fs_sync);
    EXPECT_THROW(log.append(line_format::line("r1")), plx::io_error);
    EXPECT_EQ(log.broken(), "cannot sync '" + path_ + "': Input/output error");
    try {
      log.append(line_format::line("r2"));  // nothing armed now: refused all the same
      FAIL() << "appended after a failed sync";
    } catch (const plx::io_error& e) {
      EXPECT_EQ(std::string(e.what()), "test log '" + path_ +
                                           "' takes no more records after an earlier failure: cannot sync '" + path_ +
                                           "': Input/output error");
    }
  }
  {
    record_log log(path_, format_, record_log::open_mode::resume, "test log");
    plx::detail::arm_fault(sites::fs_write);
    plx::detail::arm_fault(sites::fs_truncate);
    EXPECT_THROW(log.append(line_format::line("r3")), plx::io_error);
    EXPECT_NE(log.broken().find("cutting the partial record off failed too"), std::string::npos) << log.broken();
    EXPECT_THROW(log.append(line_format::line("r3")), plx::io_error);
  }
}

TEST_F(RecordLog, creation_syncs_the_file_and_its_directory) {
  // Creation writes the header (checkpoint.write, fs.write), syncs it and syncs the directory (fs.sync twice).
  plx::detail::arm_fault(sites::fs_sync, 1, 1);  // the directory's sync
  try {
    record_log log(path_, format_, record_log::open_mode::create, "test log");
    FAIL() << "the directory's failed sync went unnoticed";
  } catch (const plx::io_error& e) {
    EXPECT_EQ(std::string(e.what()), "cannot sync directory '" + dir_.string() + "': Input/output error");
  }
  plx::detail::disarm_faults();
  plx::detail::arm_fault(sites::checkpoint_write);
  EXPECT_THROW(record_log(path_, format_, record_log::open_mode::create, "test log"), plx::io_error);
  plx::detail::disarm_faults();
  record_log log(path_, format_, record_log::open_mode::resume, "test log");  // an empty file: created anew
  EXPECT_EQ(read_text(path_), "test-log\n");
}

TEST_F(RecordLog, injected_eintr_is_retried) {
  for (const plx::detail::fault_site* site : {&sites::fs_open, &sites::fs_write, &sites::fs_read, &sites::fs_sync,
                                              &sites::fs_truncate}) {
    SCOPED_TRACE(site->name);
    write_text(path_, "test-log\n" + line_format::line("a") + "torn");
    plx::detail::arm_fault(*site, 3, 0, EINTR);
    record_log log(path_, format_, record_log::open_mode::resume, "test log");
    log.append(line_format::line("b"));
    log.close();
    plx::detail::disarm_faults();
    EXPECT_EQ(read_text(path_), "test-log\n" + line_format::line("a") + line_format::line("b"));
  }
}

}  // namespace
