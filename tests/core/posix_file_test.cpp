// The durable-I/O door (core/detail/posix_file.hpp): every call, its EINTR retry, its short-transfer loop and
// its injected failures, which must look exactly like real ones.
#include <parallax/core/detail/posix_file.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <parallax/core/detail/fault_injection.hpp>

namespace {

namespace fs = std::filesystem;
using plx::detail::file_error;
using plx::detail::posix_file;
namespace sites = plx::detail::fault_sites;

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::span<const std::byte> bytes_of(const std::string& text) {
  return std::as_bytes(std::span<const char>(text.data(), text.size()));
}

/// The errno of the file_error `f` throws (-1: none thrown), and its message in `message`.
template <class F>
int error_of(F&& f, std::string* message = nullptr) {
  try {
    f();
  } catch (const file_error& e) {
    if (message != nullptr) *message = e.what();
    return e.error_number();
  }
  return -1;
}

class PosixFile : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           ("plx_posix_file_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    plx::detail::disarm_faults();
    plx::detail::set_transfer_limit_for_tests(0);
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  [[nodiscard]] std::string path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

TEST_F(PosixFile, writes_reads_and_closes) {
  const std::string p = path("a");
  posix_file file = posix_file::open(p, O_RDWR | O_CREAT | O_TRUNC);
  EXPECT_TRUE(file.is_open());
  EXPECT_EQ(file.path(), p);
  EXPECT_NE(::fcntl(file.fd(), F_GETFD) & FD_CLOEXEC, 0);  // always close-on-exec
  file.write_all(std::string_view("hello "));
  file.pwrite_all(bytes_of("world"), 6);
  EXPECT_EQ(file.size(), 11u);
  EXPECT_EQ(file.read_contents(), "hello world");
  std::string some(5, '\0');
  file.pread_all(std::as_writable_bytes(std::span<char>(some.data(), some.size())), 6);
  EXPECT_EQ(some, "world");
  file.sync();
  file.sync_data();
  file.truncate(5);
  EXPECT_EQ(file.size(), 5u);
  file.close();
  EXPECT_FALSE(file.is_open());
  file.close();  // a second close does nothing
  EXPECT_EQ(read_text(p), "hello");

  posix_file again = posix_file::open(p, O_RDONLY);
  std::string all(16, '\0');
  EXPECT_EQ(again.read_all(std::as_writable_bytes(std::span<char>(all.data(), all.size()))), 5u);
  EXPECT_EQ(all.substr(0, 5), "hello");
}

TEST_F(PosixFile, pwritev_writes_buffers_back_to_back) {
  const std::string p = path("v");
  posix_file file = posix_file::open(p, O_RDWR | O_CREAT | O_TRUNC);
  std::string a = "abc", b, c = "defgh";
  std::vector<iovec> buffers{{a.data(), a.size()}, {b.data(), 0}, {c.data(), c.size()}};
  file.pwritev_all(buffers, 2);
  file.close();
  EXPECT_EQ(read_text(p), std::string("\0\0abcdefgh", 10));
}

TEST_F(PosixFile, short_transfers_are_continued) {
  plx::detail::set_transfer_limit_for_tests(3);  // every call moves at most 3 bytes
  const std::string p = path("short");
  posix_file file = posix_file::open(p, O_RDWR | O_CREAT | O_TRUNC);
  file.write_all(std::string_view("0123456789"));
  file.pwrite_all(bytes_of("abcdefg"), 10);
  std::string x = "XY", y = "Z", z = "uvwxyz";
  std::vector<iovec> buffers{{x.data(), x.size()}, {y.data(), y.size()}, {z.data(), z.size()}};
  file.pwritev_all(buffers, 17);
  EXPECT_EQ(file.read_contents(), "0123456789abcdefgXYZuvwxyz");
  std::string middle(8, '\0');
  file.pread_all(std::as_writable_bytes(std::span<char>(middle.data(), middle.size())), 8);
  EXPECT_EQ(middle, "89abcdef");
  file.close();
  posix_file reader = posix_file::open(p, O_RDONLY);
  std::string all(40, '\0');
  EXPECT_EQ(reader.read_all(std::as_writable_bytes(std::span<char>(all.data(), all.size()))), 26u);
}

TEST_F(PosixFile, a_real_short_write_is_continued_until_the_real_error) {
  // RLIMIT_FSIZE makes the kernel write up to the limit (a short write) and fail the rest with EFBIG.
  std::signal(SIGXFSZ, SIG_IGN);
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  const std::string p = path("limit");
  posix_file file = posix_file::open(p, O_RDWR | O_CREAT | O_TRUNC);
  std::string text(1500, 'q');
  for (std::size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>('a' + i % 26);
  rlimit limit = old;
  limit.rlim_cur = 1000;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limit), 0);
  std::string message;
  const int code = error_of([&] { file.write_all(text); }, &message);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &old), 0);
  EXPECT_EQ(code, EFBIG);
  EXPECT_EQ(message, "cannot write '" + p + "': " + std::strerror(EFBIG));
  EXPECT_EQ(read_text(p), text.substr(0, 1000));  // the short first write was kept and continued from
}

TEST_F(PosixFile, open_failures_name_the_path) {
  std::string message;
  EXPECT_EQ(error_of([&] { static_cast<void>(posix_file::open(path("missing"), O_RDONLY)); }, &message), ENOENT);
  EXPECT_EQ(message, "cannot open '" + path("missing") + "': " + std::strerror(ENOENT));
  int error_number = 0;
  const posix_file none = posix_file::try_open(path("missing"), O_RDONLY, 0, error_number);
  EXPECT_FALSE(none.is_open());
  EXPECT_EQ(error_number, ENOENT);
  const posix_file made = posix_file::try_open(path("made"), O_WRONLY | O_CREAT | O_EXCL, 0666, error_number);
  EXPECT_TRUE(made.is_open());
  EXPECT_EQ(error_number, 0);
  const posix_file twice = posix_file::try_open(path("made"), O_WRONLY | O_CREAT | O_EXCL, 0666, error_number);
  EXPECT_EQ(error_number, EEXIST);
}

TEST_F(PosixFile, reading_past_the_end_is_an_error) {
  const std::string p = path("short_file");
  std::ofstream(p) << "abc";
  posix_file file = posix_file::open(p, O_RDONLY);
  std::string out(5, '\0');
  std::string message;
  EXPECT_EQ(error_of([&] { file.pread_all(std::as_writable_bytes(std::span<char>(out.data(), 5)), 0); }, &message),
            0);
  EXPECT_EQ(message, "cannot read '" + p + "': it ends at byte 3, before 5");
}

TEST_F(PosixFile, injected_eintr_is_retried_never_reported) {
  const std::string p = path("eintr");
  for (const plx::detail::fault_site* site : {&sites::fs_open, &sites::fs_write, &sites::fs_read, &sites::fs_sync,
                                              &sites::fs_truncate, &sites::fs_rename, &sites::fs_unlink}) {
    SCOPED_TRACE(site->name);
    plx::detail::arm_fault(*site, 2, 0, EINTR);  // twice in a row
    posix_file file = posix_file::open(p, O_RDWR | O_CREAT | O_TRUNC);
    file.write_all(std::string_view("abcdef"));
    file.pwrite_all(bytes_of("XY"), 2);
    std::string x = "1", y = "23";
    std::vector<iovec> buffers{{x.data(), 1}, {y.data(), 2}};
    file.pwritev_all(buffers, 6);
    EXPECT_EQ(file.read_contents(), "abXYef123");
    std::string two(2, '\0');
    file.pread_all(std::as_writable_bytes(std::span<char>(two.data(), 2)), 0);
    EXPECT_EQ(two, "ab");
    file.sync_data();
    file.sync();
    file.truncate(4);
    EXPECT_EQ(file.broken(), "");
    file.close();
    plx::detail::rename_file(p, p + ".renamed");
    EXPECT_TRUE(plx::detail::unlink_file(p + ".renamed"));
    EXPECT_FALSE(fs::exists(p + ".renamed"));
    plx::detail::disarm_faults();
  }
  plx::detail::arm_fault(sites::fs_close, 1, 0, EINTR);  // close is not retried, and EINTR is no failure
  posix_file file = posix_file::open(p, O_RDWR | O_CREAT);
  const int fd = file.fd();
  file.close();
  EXPECT_EQ(::fcntl(fd, F_GETFD), -1);  // the descriptor went all the same
}

TEST_F(PosixFile, each_injected_failure_reports_like_a_real_one) {
  const std::string p = path("f");
  std::string message;
  plx::detail::arm_fault(sites::fs_open);  // ENOSPC unless another errno is armed
  EXPECT_EQ(error_of([&] { static_cast<void>(posix_file::open(p, O_WRONLY | O_CREAT)); }, &message), ENOSPC);
  EXPECT_EQ(message, "cannot open '" + p + "': " + std::strerror(ENOSPC));
  EXPECT_FALSE(fs::exists(p));  // the real call never ran

  posix_file file = posix_file::open(p, O_RDWR | O_CREAT | O_TRUNC);
  plx::detail::arm_fault(sites::fs_write, 1, 0, EDQUOT);
  EXPECT_EQ(error_of([&] { file.write_all(std::string_view("x")); }, &message), EDQUOT);
  EXPECT_EQ(message, "cannot write '" + p + "': " + std::strerror(EDQUOT));
  plx::detail::arm_fault(sites::fs_write);
  EXPECT_EQ(error_of([&] { file.pwrite_all(bytes_of("x"), 0); }), ENOSPC);
  plx::detail::arm_fault(sites::fs_write, 1, 0, EFBIG);
  std::string one = "1";
  std::vector<iovec> buffers{{one.data(), 1}};
  EXPECT_EQ(error_of([&] { file.pwritev_all(buffers, 0); }), EFBIG);
  file.write_all(std::string_view("abc"));  // a failed write is not final

  plx::detail::arm_fault(sites::fs_read);
  EXPECT_EQ(error_of([&] { static_cast<void>(file.read_contents()); }, &message), EIO);
  EXPECT_EQ(message, "cannot read '" + p + "': " + std::strerror(EIO));
  std::string out(2, '\0');
  plx::detail::arm_fault(sites::fs_read);
  EXPECT_EQ(error_of([&] { file.pread_all(std::as_writable_bytes(std::span<char>(out.data(), 2)), 0); }), EIO);
  plx::detail::arm_fault(sites::fs_read);
  EXPECT_EQ(error_of([&] { static_cast<void>(file.read_all(std::as_writable_bytes(std::span<char>(out.data(), 2)))); }),
            EIO);

  plx::detail::arm_fault(sites::fs_truncate);
  EXPECT_EQ(error_of([&] { file.truncate(1); }, &message), EIO);
  EXPECT_EQ(message, "cannot truncate '" + p + "': " + std::strerror(EIO));
  EXPECT_EQ(file.size(), 3u);

  plx::detail::arm_fault(sites::fs_close);
  const int fd = file.fd();
  EXPECT_EQ(error_of([&] { file.close(); }, &message), EIO);
  EXPECT_EQ(message, "cannot close '" + p + "': " + std::strerror(EIO));
  EXPECT_FALSE(file.is_open());
  EXPECT_EQ(::fcntl(fd, F_GETFD), -1);  // not leaked

  plx::detail::arm_fault(sites::fs_rename);
  EXPECT_EQ(error_of([&] { plx::detail::rename_file(p, p + ".new"); }, &message), EIO);
  EXPECT_EQ(message, "cannot rename '" + p + "' to '" + p + ".new': " + std::strerror(EIO));
  EXPECT_TRUE(fs::exists(p));
  EXPECT_FALSE(fs::exists(p + ".new"));

  plx::detail::arm_fault(sites::fs_unlink);
  EXPECT_EQ(error_of([&] { plx::detail::unlink_file(p); }, &message), EIO);
  EXPECT_EQ(message, "cannot unlink '" + p + "': " + std::strerror(EIO));
  EXPECT_TRUE(fs::exists(p));
  plx::detail::arm_fault(sites::fs_unlink);
  EXPECT_EQ(plx::detail::unlink_quietly(p), EIO);
  EXPECT_EQ(plx::detail::unlink_quietly(p), 0);
  EXPECT_FALSE(fs::exists(p));
  EXPECT_EQ(plx::detail::unlink_quietly(p), 0);  // already gone is fine
  EXPECT_FALSE(plx::detail::unlink_file(p));
}

TEST_F(PosixFile, a_failed_sync_is_final) {
  const std::string p = path("sync");
  posix_file file = posix_file::open(p, O_RDWR | O_CREAT | O_TRUNC);
  file.write_all(std::string_view("record 1\n"));
  plx::detail::arm_fault(sites::fs_sync);
  std::string message;
  EXPECT_EQ(error_of([&] { file.sync_data(); }, &message), EIO);
  EXPECT_EQ(message, "cannot sync '" + p + "': " + std::strerror(EIO));
  EXPECT_EQ(file.broken(), message);
  // Nothing is armed now: a retry would "succeed" without the data. Every later write, sync and truncate
  // refuses, with the first failure's reason and errno.
  EXPECT_EQ(error_of([&] { file.write_all(std::string_view("record 2\n")); }, &message), EIO);
  EXPECT_EQ(message, "cannot write '" + p + "': it takes no more writes after a failed sync (cannot sync '" + p +
                         "': " + std::strerror(EIO) + ")");
  EXPECT_EQ(error_of([&] { file.pwrite_all(bytes_of("x"), 0); }), EIO);
  EXPECT_EQ(error_of([&] { file.sync(); }), EIO);
  EXPECT_EQ(error_of([&] { file.sync_data(); }), EIO);
  EXPECT_EQ(error_of([&] { file.truncate(0); }), EIO);
  EXPECT_EQ(read_text(p), "record 1\n");
  // It moves with the file.
  posix_file moved = std::move(file);
  EXPECT_EQ(error_of([&] { moved.sync(); }), EIO);
  moved.close();  // closing is still fine
}

TEST_F(PosixFile, rename_syncs_and_directory_failures_are_reported) {
  const std::string p = path("old");
  std::ofstream(p) << "data";
  plx::detail::rename_file(p, path("new"));
  EXPECT_EQ(read_text(path("new")), "data");
  EXPECT_FALSE(fs::exists(p));
  // The directory's sync after the rename goes through fs.sync too.
  std::ofstream(p) << "more";
  plx::detail::arm_fault(sites::fs_sync, 1, 0, EIO);
  std::string message;
  EXPECT_EQ(error_of([&] { plx::detail::rename_file(p, path("new")); }, &message), EIO);
  EXPECT_EQ(message, "cannot sync directory '" + dir_.string() + "': " + std::strerror(EIO));
  // A file system that cannot sync directories (EINVAL) counts as synced.
  plx::detail::arm_fault(sites::fs_sync, 1, 0, EINVAL);
  plx::detail::sync_directory_of(path("new"));
  plx::detail::sync_directory(dir_.string());
  EXPECT_EQ(error_of([&] { plx::detail::sync_directory(path("nowhere")); }), ENOENT);
}

TEST_F(PosixFile, the_destructor_closes_silently) {
  int fd = -1;
  {
    posix_file file = posix_file::open(path("d"), O_WRONLY | O_CREAT);
    fd = file.fd();
    plx::detail::arm_fault(sites::fs_close);  // not consulted: the destructor reports nothing
  }
  EXPECT_EQ(::fcntl(fd, F_GETFD), -1);
  plx::detail::disarm_faults();
  posix_file a = posix_file::open(path("a"), O_WRONLY | O_CREAT);
  posix_file b = posix_file::open(path("b"), O_WRONLY | O_CREAT);
  const int a_fd = a.fd();
  const int b_fd = b.fd();
  a = std::move(b);  // a's own descriptor is closed, b's taken over
  EXPECT_EQ(::fcntl(a_fd, F_GETFD), -1);
  EXPECT_EQ(a.fd(), b_fd);
  EXPECT_FALSE(b.is_open());  // NOLINT(bugprone-use-after-move): moved-from is defined: not open
}

}  // namespace
