#include <parallax/io/detail/direct_write.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <vector>

#include <parallax/io/detail/file_sync.hpp>

namespace plx::io::detail {

namespace {

/// Closes a POSIX descriptor.
class descriptor {
 public:
  explicit descriptor(int fd) noexcept : fd_(fd) {}
  ~descriptor() { static_cast<void>(close()); }
  // One owner per descriptor: a copy would close it twice.
  descriptor(const descriptor&) = delete;
  descriptor& operator=(const descriptor&) = delete;
  [[nodiscard]] int get() const noexcept { return fd_; }
  /// Closes now: 0, or errno (NFS reports a failed write-back here).
  [[nodiscard]] int close() noexcept {
    const int result = fd_ >= 0 ? ::close(fd_) : 0;
    fd_ = -1;
    return result == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

/// pwrite of all `size` bytes (through short writes and EINTR): 0, or errno.
int pwrite_all(int fd, const std::byte* data, std::size_t size, std::uint64_t offset) noexcept {
  while (size > 0) {
    const ssize_t n = ::pwrite(fd, data, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return EIO;
    data += n;
    size -= static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
  return 0;
}

/// Copies bytes [from, from + size) of the rows laid back to back into `out`.
void pack(const strided_rows& rows, std::uint64_t from, std::size_t size, std::byte* out) noexcept {
  std::uint64_t row = from / rows.row_bytes;
  std::size_t in_row = static_cast<std::size_t>(from % rows.row_bytes);
  while (size > 0) {
    const std::size_t n = std::min(size, rows.row_bytes - in_row);
    std::memcpy(out, rows.data + row * rows.stride_bytes + in_row, n);
    out += n;
    size -= n;
    ++row;
    in_row = 0;
  }
}

}  // namespace

int write_rows_at(const std::string& path, std::uint64_t offset, const strided_rows& rows, std::size_t write_bytes,
                  std::uint64_t writeback_bytes) noexcept {
  const std::uint64_t total = static_cast<std::uint64_t>(rows.rows) * rows.row_bytes;
  if (total == 0) return 0;
  descriptor file(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (file.get() < 0) return errno;
  write_bytes = std::max<std::size_t>(write_bytes, 1);
  writeback_bytes = std::max<std::uint64_t>(writeback_bytes, 1);
  const bool contiguous = rows.stride_bytes == rows.row_bytes;
  std::vector<std::byte> staging;  // padded rows are packed here, one write's worth at a time
  try {
    if (!contiguous) staging.resize(static_cast<std::size_t>(std::min<std::uint64_t>(write_bytes, total)));
  } catch (const std::bad_alloc&) {
    return ENOMEM;
  }
  std::uint64_t unstarted = 0;  // bytes [unstarted, at) are written but not yet handed to start_writeback
  for (std::uint64_t at = 0; at < total;) {
    const auto size = static_cast<std::size_t>(std::min<std::uint64_t>(write_bytes, total - at));
    const std::byte* data = rows.data + at;
    if (!contiguous) {
      pack(rows, at, size, staging.data());
      data = staging.data();
    }
    if (const int error = pwrite_all(file.get(), data, size, offset + at); error != 0) return error;
    at += size;
    if (at - unstarted >= writeback_bytes || at == total) {
      start_writeback(file.get(), offset + unstarted, at - unstarted);
      unstarted = at;
    }
  }
  return file.close();
}

}  // namespace plx::io::detail
