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

}  // namespace plx::io::detail
