#include <parallax/core/detail/posix_file.hpp>
#include <parallax/core/detail/removal_on_signal.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>
#include <vector>

#include <parallax/core/detail/fault_injection.hpp>

namespace plx::detail {

namespace {

std::atomic<std::size_t> transfer_limit{0};  // tests: most bytes one read or write call may move (0: any)

std::size_t limited(std::size_t bytes) noexcept {
  const std::size_t limit = transfer_limit.load(std::memory_order_relaxed);
  return limit == 0 ? bytes : std::min(bytes, limit);
}

/// The errno an armed `site` injects (-1 for none given: EIO), or 0 when the real call may go on.
int injected(const fault_site& site) noexcept {
  const int code = injected_errno(site);
  return code < 0 ? EIO : code;
}

/// Runs the system call `call` (returning -1 and errno on failure) unless `site` injects a failure, which
/// then looks the same to the caller: -1 with errno set.
template <class Call>
auto guarded(const fault_site& site, Call call) -> decltype(call()) {
  if (const int code = injected(site); code != 0) {
    errno = code;
    return -1;
  }
  return call();
}

[[noreturn]] void fail(std::string_view verb, const std::string& path, int error_number) {
  throw file_error(file_failure(verb, path, error_number), error_number);
}

bool directory_cannot_sync(int error_number) noexcept {
  // A file system without directory syncs (or without directory opens for reading): nothing to do there.
  return error_number == EINVAL || error_number == ENOTSUP || error_number == EOPNOTSUPP ||
         error_number == EROFS || error_number == EACCES || error_number == EPERM || error_number == EISDIR ||
         error_number == EBADF;
}

std::string parent_of(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

}  // namespace

std::string file_failure(std::string_view verb, const std::string& path, int error_number) {
  return "cannot " + std::string(verb) + " '" + path + "': " + std::strerror(error_number);
}

// ---- posix_file -------------------------------------------------------------------------------------------

posix_file posix_file::open(const std::string& path, int flags, mode_t mode) {
  int error_number = 0;
  posix_file file = try_open(path, flags, mode, error_number);
  if (!file.is_open()) fail("open", path, error_number);
  return file;
}

posix_file posix_file::try_open(const std::string& path, int flags, mode_t mode, int& error_number) {
  error_number = 0;
  for (;;) {
    const int fd = guarded(fault_sites::fs_open, [&] { return ::open(path.c_str(), flags | O_CLOEXEC, mode); });
    if (fd >= 0) return posix_file(fd, path);
    if (errno == EINTR) continue;  // open of a FIFO or on some network file systems
    error_number = errno;
    return posix_file(-1, path);
  }
}

posix_file::posix_file(int fd, std::string path) noexcept : fd_(fd), path_(std::move(path)) {}

posix_file::~posix_file() {
  if (fd_ >= 0) static_cast<void>(::close(fd_));
}

posix_file::posix_file(posix_file&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      path_(std::move(other.path_)),
      broken_(std::move(other.broken_)),
      broken_errno_(other.broken_errno_) {}

posix_file& posix_file::operator=(posix_file&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) static_cast<void>(::close(fd_));
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
    broken_ = std::move(other.broken_);
    broken_errno_ = other.broken_errno_;
  }
  return *this;
}

void posix_file::check_usable(std::string_view verb) const {
  if (fd_ < 0) fail(verb, path_, EBADF);
  if (!broken_.empty()) {
    throw file_error("cannot " + std::string(verb) + " '" + path_ + "': it takes no more writes after a failed sync (" +
                         broken_ + ")",
                     broken_errno_);
  }
}

void posix_file::write_all(std::string_view bytes) {
  write_all(std::as_bytes(std::span<const char>(bytes.data(), bytes.size())));
}

void posix_file::write_all(std::span<const std::byte> bytes) {
  check_usable("write");
  while (!bytes.empty()) {
    const ssize_t n =
        guarded(fault_sites::fs_write, [&] { return ::write(fd_, bytes.data(), limited(bytes.size())); });
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("write", path_, errno);
    }
    if (n == 0) fail("write", path_, EIO);  // no progress and no error: give up rather than spin
    bytes = bytes.subspan(static_cast<std::size_t>(n));
  }
}

void posix_file::pwrite_all(std::span<const std::byte> bytes, std::uint64_t offset) {
  check_usable("write");
  while (!bytes.empty()) {
    const ssize_t n = guarded(fault_sites::fs_write, [&] {
      return ::pwrite(fd_, bytes.data(), limited(bytes.size()), static_cast<off_t>(offset));
    });
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("write", path_, errno);
    }
    if (n == 0) fail("write", path_, EIO);
    bytes = bytes.subspan(static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
  }
}

void posix_file::pwritev_all(std::span<const iovec> buffers, std::uint64_t offset) {
  check_usable("write");
  std::vector<iovec> rest;  // what is left: a short write may end inside any buffer
  for (const iovec& buffer : buffers) {
    if (buffer.iov_len > 0) rest.push_back(buffer);
  }
  std::size_t first = 0;
  constexpr std::size_t most_buffers = 1024;  // IOV_MAX on Linux
  while (first < rest.size()) {
    const int count = static_cast<int>(std::min(rest.size() - first, most_buffers));
    ssize_t n = 0;
    if (transfer_limit.load(std::memory_order_relaxed) != 0) {  // tests: one piece of the first buffer
      n = guarded(fault_sites::fs_write, [&] {
        return ::pwrite(fd_, rest[first].iov_base, limited(rest[first].iov_len), static_cast<off_t>(offset));
      });
    } else {
      n = guarded(fault_sites::fs_write,
                  [&] { return ::pwritev(fd_, rest.data() + first, count, static_cast<off_t>(offset)); });
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("write", path_, errno);
    }
    if (n == 0) fail("write", path_, EIO);
    offset += static_cast<std::uint64_t>(n);
    auto left = static_cast<std::size_t>(n);
    while (left > 0) {
      iovec& buffer = rest[first];
      const std::size_t step = std::min(left, buffer.iov_len);
      buffer.iov_base = static_cast<char*>(buffer.iov_base) + step;
      buffer.iov_len -= step;
      left -= step;
      if (buffer.iov_len == 0) ++first;
    }
  }
}

std::size_t posix_file::read_all(std::span<std::byte> out) {
  if (fd_ < 0) fail("read", path_, EBADF);
  std::size_t got = 0;
  while (got < out.size()) {
    const ssize_t n =
        guarded(fault_sites::fs_read, [&] { return ::read(fd_, out.data() + got, limited(out.size() - got)); });
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("read", path_, errno);
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  return got;
}

void posix_file::pread_all(std::span<std::byte> out, std::uint64_t offset) {
  if (fd_ < 0) fail("read", path_, EBADF);
  std::size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = guarded(fault_sites::fs_read, [&] {
      return ::pread(fd_, out.data() + got, limited(out.size() - got), static_cast<off_t>(offset + got));
    });
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("read", path_, errno);
    }
    if (n == 0) {
      throw file_error("cannot read '" + path_ + "': it ends at byte " + std::to_string(offset + got) + ", before " +
                           std::to_string(offset + out.size()),
                       0);
    }
    got += static_cast<std::size_t>(n);
  }
}

std::string posix_file::read_contents() {
  if (fd_ < 0) fail("read", path_, EBADF);
  std::string text;
  std::vector<char> buffer(std::size_t{1} << 16);
  for (;;) {
    const ssize_t n = guarded(fault_sites::fs_read, [&] {
      return ::pread(fd_, buffer.data(), limited(buffer.size()), static_cast<off_t>(text.size()));
    });
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("read", path_, errno);
    }
    if (n == 0) return text;
    text.append(buffer.data(), static_cast<std::size_t>(n));
  }
}

void posix_file::sync_with(bool data_only) {
  check_usable("sync");
  for (;;) {
    const int result = guarded(fault_sites::fs_sync, [&] { return data_only ? ::fdatasync(fd_) : ::fsync(fd_); });
    if (result == 0) return;
    if (errno == EINTR) continue;  // interrupted before it reported anything: the kernel still holds the data
    broken_errno_ = errno;
    broken_ = file_failure("sync", path_, broken_errno_);
    throw file_error(broken_, broken_errno_);
  }
}

void posix_file::sync() { sync_with(false); }

void posix_file::sync_data() { sync_with(true); }

void posix_file::truncate(std::uint64_t size) {
  check_usable("truncate");
  for (;;) {
    const int result =
        guarded(fault_sites::fs_truncate, [&] { return ::ftruncate(fd_, static_cast<off_t>(size)); });
    if (result == 0) return;
    if (errno == EINTR) continue;
    fail("truncate", path_, errno);
  }
}

std::uint64_t posix_file::size() const {
  if (fd_ < 0) fail("stat", path_, EBADF);
  struct stat info {};
  if (::fstat(fd_, &info) != 0) fail("stat", path_, errno);
  return static_cast<std::uint64_t>(info.st_size);
}

void posix_file::close() {
  if (fd_ < 0) return;
  const int fd = std::exchange(fd_, -1);
  if (const int code = injected(fault_sites::fs_close); code != 0) {
    static_cast<void>(::close(fd));  // the descriptor goes all the same, as after a real failure
    if (code != EINTR) fail("close", path_, code);
    return;
  }
  // Never retried: Linux releases the descriptor even when close reports an error (EINTR included), and a
  // second close could hit a descriptor another thread has opened since.
  if (::close(fd) == 0 || errno == EINTR) return;
  fail("close", path_, errno);
}

// ---- names ------------------------------------------------------------------------------------------------

void rename_file(const std::string& from, const std::string& to) {
  for (;;) {
    const int result = guarded(fault_sites::fs_rename, [&] { return ::rename(from.c_str(), to.c_str()); });
    if (result == 0) break;
    if (errno == EINTR) continue;
    const int error_number = errno;
    throw file_error("cannot rename '" + from + "' to '" + to + "': " + std::strerror(error_number), error_number);
  }
  const std::string directory = parent_of(to);
  sync_directory(directory);
  if (const std::string old_directory = parent_of(from); old_directory != directory) sync_directory(old_directory);
}

bool unlink_file(const std::string& path) {
  for (;;) {
    const int result = guarded(fault_sites::fs_unlink, [&] { return ::unlink(path.c_str()); });
    if (result == 0) return true;
    if (errno == EINTR) continue;
    if (errno == ENOENT) return false;
    fail("unlink", path, errno);
  }
}

int unlink_quietly(const std::string& path) noexcept {
  try {
    static_cast<void>(unlink_file(path));
    return 0;
  } catch (const file_error& e) {
    return e.error_number();
  } catch (...) {
    return ENOMEM;
  }
}

void sync_directory(const std::string& directory) {
  int error_number = 0;
  posix_file handle = posix_file::try_open(directory, O_RDONLY | O_DIRECTORY, 0, error_number);
  if (!handle.is_open()) {
    if (directory_cannot_sync(error_number)) return;
    throw file_error(file_failure("sync directory", directory, error_number), error_number);
  }
  try {
    handle.sync();
  } catch (const file_error& e) {
    if (directory_cannot_sync(e.error_number())) return;
    throw file_error(file_failure("sync directory", directory, e.error_number()), e.error_number());
  }
}

void sync_directory_of(const std::string& path) { sync_directory(parent_of(path)); }

void write_file_atomically(const std::string& path, std::string_view contents) {
  const std::string temporary = path + ".tmp." + std::to_string(static_cast<long long>(::getpid()));
  // A SIGINT or SIGTERM meanwhile removes it (the apps' stop signals); forgotten once renamed or removed.
  struct removal_on_signal {
    const std::string& path;
    ~removal_on_signal() { unregister_removal_on_signal(path); }
  } forget_temporary{temporary};
  register_removal_on_signal(temporary);
  try {
    posix_file file = posix_file::open(temporary, O_WRONLY | O_CREAT | O_TRUNC);
    file.write_all(contents);
    file.sync_data();
    file.close();  // close() reports delayed write errors on some file systems (NFS)
    rename_file(temporary, path);
  } catch (...) {
    static_cast<void>(unlink_quietly(temporary));  // gone already when only the directory's sync failed
    throw;
  }
}

bool is_bad_path_errno(int error_number) noexcept {
  switch (error_number) {
    case EACCES: case EPERM: case EROFS: case ENOENT: case ENOTDIR: case ENAMETOOLONG: case ELOOP: case EISDIR:
      return true;
    default:
      return false;
  }
}

void set_transfer_limit_for_tests(std::size_t bytes) noexcept {
  transfer_limit.store(bytes, std::memory_order_relaxed);
}

}  // namespace plx::detail
