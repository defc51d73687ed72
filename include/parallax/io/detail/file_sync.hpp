// Making files durable: the fsync calls every writer of finished work needs (atomic_output, the farm's
// journal, map_to_h5), in one place.
#pragma once

#include <cstdint>
#include <string>

namespace plx::io::detail {

/// fsync of the file (or, with `directory`, the directory) at `path`: "" on success, else the system's
/// reason.
[[nodiscard]] std::string sync_path(const std::string& path, bool directory = false);

/// Makes a new or renamed file's name durable: fsync of the directory that holds `path`. Best effort:
/// some file systems cannot open or sync a directory.
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
