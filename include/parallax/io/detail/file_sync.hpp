// Making files durable: the fsync calls every writer of finished work needs (atomic_output, the farm's
// journal, map_to_h5), in one place.
#pragma once

#include <string>

namespace plx::io::detail {

/// fsync of the file (or, with `directory`, the directory) at `path`: "" on success, else the system's
/// reason.
[[nodiscard]] std::string sync_path(const std::string& path, bool directory = false);

/// Makes a new or renamed file's name durable: fsync of the directory that holds `path`. Best effort:
/// some file systems cannot open or sync a directory.
void sync_directory_of(const std::string& path) noexcept;

}  // namespace plx::io::detail
