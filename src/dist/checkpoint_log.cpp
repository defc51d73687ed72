#include <parallax/dist/detail/checkpoint_log.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include <fmt/format.h>

#include <parallax/core/crc32.hpp>
#include <parallax/core/detail/fault_injection.hpp>
#include <parallax/core/error.hpp>

namespace plx::detail {

namespace {

std::string header_line(std::uint64_t items, const std::string& type_name) {
  const std::string body = fmt::format("plx-checkpoint 1 items={} type={}", items, type_name);
  return fmt::format("{} crc={:08x}\n", body, crc32(body));
}

void write_all(int fd, const char* data, std::size_t size, const std::string& path) {
  while (size > 0) {
    ssize_t n = 0;
    if (fault_point(fault_sites::checkpoint_write)) {  // an injected full disk (tests)
      errno = ENOSPC;
      n = -1;
    } else {
      n = ::write(fd, data, size);
    }
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw io_error("cannot write checkpoint " + path + ": " + std::strerror(errno));
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

template <class T>
T read_raw(const std::string& bytes, std::size_t at) {
  T value;
  std::memcpy(&value, bytes.data() + at, sizeof(T));
  return value;
}

}  // namespace

checkpoint_log::checkpoint_log(const std::string& path, std::uint64_t items, const std::string& type_name,
                               std::uint64_t index_limit)
    : path_(path) {
  const std::string header = header_line(items, type_name);
  std::string contents;
  if (std::ifstream in{path, std::ios::binary}) {
    contents.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::size_t valid = 0;  // bytes of the file to keep
  if (!contents.empty()) {
    const std::size_t end_of_header = contents.find('\n');
    const std::string found = end_of_header == std::string::npos ? contents : contents.substr(0, end_of_header + 1);
    if (found != header) {
      if (end_of_header == std::string::npos && header.compare(0, found.size(), found) == 0) {
        valid = 0;  // the header itself was torn: start again
      } else {
        throw config_error("checkpoint " + path + " belongs to another map (" +
                           found.substr(0, found.find(" crc=")) + "; this one is " +
                           header.substr(0, header.find(" crc=")) + "): remove it to start over");
      }
    } else {
      valid = found.size();
      // Records until the first incomplete or corrupt one.
      constexpr std::size_t fixed = 2 * sizeof(std::uint64_t) + sizeof(std::uint32_t);
      while (contents.size() - valid >= fixed) {
        const auto index = read_raw<std::uint64_t>(contents, valid);
        const auto length = read_raw<std::uint64_t>(contents, valid + 8);
        if (length > contents.size() - valid - fixed || index >= index_limit) break;
        const std::string_view body(contents.data() + valid, 16 + length);
        const auto stored = read_raw<std::uint32_t>(contents, valid + 16 + length);
        if (crc32(body) != stored) break;
        existing_.push_back({index, std::vector<char>(body.begin() + 16, body.end())});
        valid += fixed + length;
      }
    }
  }
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw io_error("cannot open checkpoint " + path + ": " + std::strerror(errno));
  // Drop a torn tail (or everything, for a new or torn-header file) before appending.
  if (::ftruncate(fd_, static_cast<off_t>(valid)) != 0 || ::lseek(fd_, 0, SEEK_END) < 0) {
    const std::string reason = std::strerror(errno);
    ::close(fd_);
    throw io_error("cannot prepare checkpoint " + path + ": " + reason);
  }
  if (valid == 0) {
    write_all(fd_, header.data(), header.size(), path_);
    if (::fdatasync(fd_) != 0) throw io_error("cannot sync checkpoint " + path + ": " + std::strerror(errno));
  }
}

checkpoint_log::~checkpoint_log() {
  if (fd_ >= 0) ::close(fd_);
}

void checkpoint_log::append(std::uint64_t index, std::span<const char> bytes) {
  std::string line(16 + bytes.size() + 4, '\0');
  const std::uint64_t length = bytes.size();
  std::memcpy(line.data(), &index, 8);
  std::memcpy(line.data() + 8, &length, 8);
  if (!bytes.empty()) std::memcpy(line.data() + 16, bytes.data(), bytes.size());
  const std::uint32_t crc = crc32(std::string_view(line.data(), 16 + bytes.size()));
  std::memcpy(line.data() + 16 + bytes.size(), &crc, 4);
  // A failed append (a full disk) may leave part of the record behind: cut it off, so that the file
  // stays a sequence of whole records (the reader would drop a torn tail anyway, and everything after it).
  const off_t before = ::lseek(fd_, 0, SEEK_END);
  try {
    write_all(fd_, line.data(), line.size(), path_);
    if (::fdatasync(fd_) != 0) throw io_error("cannot sync checkpoint " + path_ + ": " + std::strerror(errno));
  } catch (...) {
    if (before >= 0 && ::ftruncate(fd_, before) == 0) static_cast<void>(::lseek(fd_, before, SEEK_SET));
    throw;
  }
}

}  // namespace plx::detail
