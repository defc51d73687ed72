#include <parallax/io/detail/file_sync.hpp>

#include <fcntl.h>

#include <cstring>

#include <parallax/core/detail/posix_file.hpp>

namespace plx::io::detail {

std::string sync_path(const std::string& path, bool directory) {
  try {
    if (directory) {
      plx::detail::sync_directory(path);
    } else {
      plx::detail::posix_file::open(path, O_RDONLY).sync();
    }
    return {};
  } catch (const plx::detail::file_error& e) {
    return std::strerror(e.error_number());
  }
}

void sync_directory_of(const std::string& path) noexcept {
  try {
    plx::detail::sync_directory_of(path);
  } catch (...) {  // best effort, as documented
  }
}

void start_writeback(const std::string& path, std::uint64_t offset, std::uint64_t length) noexcept {
  if (length == 0) return;
  try {
    int error_number = 0;
    // Any descriptor of the file will do. Through fs.open like every open; a failure only skips the advice.
    const plx::detail::posix_file file = plx::detail::posix_file::try_open(path, O_RDONLY, 0, error_number);
    if (file.is_open()) start_writeback(file.fd(), offset, length);
  } catch (...) {  // a path that cannot be copied: advice skipped
  }
}

void start_writeback(int fd, std::uint64_t offset, std::uint64_t length) noexcept {
#ifdef __linux__
  if (length == 0) return;
  static_cast<void>(
      ::sync_file_range(fd, static_cast<off_t>(offset), static_cast<off_t>(length), SYNC_FILE_RANGE_WRITE));
#else
  static_cast<void>(fd);
  static_cast<void>(offset);
  static_cast<void>(length);
#endif
}

}  // namespace plx::io::detail
