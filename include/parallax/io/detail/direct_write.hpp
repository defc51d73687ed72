// Writing a rank's rows straight into a byte range of a file, past HDF5's raw-data path: write_distributed's
// direct path (slab_io.cpp says when it is taken, and why).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace plx::io::detail {

/// `rows` rows of `row_bytes` (> 0) bytes each, the first at `data` and each `stride_bytes` (>= row_bytes)
/// after the one before: FFTW's padded rows, or one contiguous block when stride_bytes == row_bytes.
struct strided_rows {
  const std::byte* data = nullptr;
  std::size_t rows = 0;
  std::size_t row_bytes = 0;
  std::size_t stride_bytes = 0;
};

/// Writes the rows back to back (their padding left out) into bytes [offset, offset + rows * row_bytes) of
/// the existing file `path`, through a descriptor of its own, closed before it returns. Buffered pwrite()s of
/// `write_bytes` each (padded rows packed into a buffer of that size first; contiguous ones written from
/// where they are), and after every `writeback_bytes` written, and at the end, start_writeback of what was
/// written since. No sync: the caller syncs the file once when everything is written. Returns 0, or the errno
/// of the failing open, write (nothing more is written after it) or close.
[[nodiscard]] int write_rows_at(const std::string& path, std::uint64_t offset, const strided_rows& rows,
                                std::size_t write_bytes, std::uint64_t writeback_bytes) noexcept;

}  // namespace plx::io::detail
