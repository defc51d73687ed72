// Making files durable for the writers of finished work (atomic_output, map_to_h5, the slab writer), as
// short calls over the one durable-I/O door, plx::detail::posix_file (core/detail/posix_file.hpp): every sync,
// open and rename goes through there and its fs.* fault sites, and a failed sync is final there. This file
// keeps the string-returning and best-effort forms some callers want, and the write-back hint.
#pragma once

#include <cstdint>
#include <string>

namespace plx::io::detail {

/// fsync of the file (or, with `directory`, the directory) at `path`, through posix_file: "" on success, else
/// the system's reason (strerror). A directory on a file system that cannot sync one counts as synced.
[[nodiscard]] std::string sync_path(const std::string& path, bool directory = false);

/// Makes a new or renamed file's name durable: fsync of the directory that holds `path`. Best effort: any
/// failure is ignored (plx::detail::sync_directory_of reports it, for callers that must know).
void sync_directory_of(const std::string& path) noexcept;

/// Starts writing the dirty pages of bytes [offset, offset + length) of the file at `path` to the disk and
/// returns without waiting for them (Linux sync_file_range with SYNC_FILE_RANGE_WRITE; nothing elsewhere).
/// Advisory: no guarantee that anything is on disk, and failures are ignored (the final sync_path reports
/// them). A writer that calls it after each large piece lets the disk work while it prepares the next one,
/// so that the final fsync has little left to wait for.
void start_writeback(const std::string& path, std::uint64_t offset, std::uint64_t length) noexcept;
/// The same through an open descriptor of the file.
void start_writeback(int fd, std::uint64_t offset, std::uint64_t length) noexcept;

}  // namespace plx::io::detail
