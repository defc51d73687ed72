#include <parallax/io/detail/direct_write.hpp>

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <span>
#include <vector>

#include <parallax/core/detail/posix_file.hpp>
#include <parallax/io/detail/file_sync.hpp>

namespace plx::io::detail {

namespace {

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
  write_bytes = std::max<std::size_t>(write_bytes, 1);
  writeback_bytes = std::max<std::uint64_t>(writeback_bytes, 1);
  const bool contiguous = rows.stride_bytes == rows.row_bytes;
  try {
    plx::detail::posix_file file = plx::detail::posix_file::open(path, O_WRONLY);
    std::vector<std::byte> staging;  // padded rows are packed here, one write's worth at a time
    if (!contiguous) staging.resize(static_cast<std::size_t>(std::min<std::uint64_t>(write_bytes, total)));
    std::uint64_t unstarted = 0;  // bytes [unstarted, at) are written but not yet handed to start_writeback
    for (std::uint64_t at = 0; at < total;) {
      const auto size = static_cast<std::size_t>(std::min<std::uint64_t>(write_bytes, total - at));
      const std::byte* data = rows.data + at;
      if (!contiguous) {
        pack(rows, at, size, staging.data());
        data = staging.data();
      }
      file.pwrite_all(std::span<const std::byte>(data, size), offset + at);
      at += size;
      if (at - unstarted >= writeback_bytes || at == total) {
        start_writeback(file.fd(), offset + unstarted, at - unstarted);
        unstarted = at;
      }
    }
    file.close();  // NFS reports a failed write-back here
    return 0;
  } catch (const plx::detail::file_error& e) {
    return e.error_number() != 0 ? e.error_number() : EIO;
  } catch (const std::bad_alloc&) {
    return ENOMEM;
  } catch (const std::exception&) {  // noexcept: nothing else is expected
    return EIO;
  }
}

}  // namespace plx::io::detail
