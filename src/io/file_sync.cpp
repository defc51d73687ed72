#include <parallax/io/detail/file_sync.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace plx::io::detail {

std::string sync_path(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
  if (fd < 0) return std::strerror(errno);
  const int result = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  return result == 0 ? std::string() : std::strerror(saved);
}

void sync_directory_of(const std::string& path) noexcept {
  try {
    const std::filesystem::path parent = std::filesystem::path(path).parent_path();
    static_cast<void>(sync_path(parent.empty() ? std::string(".") : parent.string(), true));
  } catch (...) {  // best effort (only a path that cannot be built throws)
  }
}

void start_writeback(const std::string& path, std::uint64_t offset, std::uint64_t length) noexcept {
  if (length == 0) return;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);  // any descriptor of the file will do
  if (fd < 0) return;
  start_writeback(fd, offset, length);
  ::close(fd);
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
