#include <parallax/core/detail/record_log.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <sstream>
#include <utility>

#include <parallax/core/detail/fault_injection.hpp>
#include <parallax/core/error.hpp>

namespace plx::detail {

namespace {

std::string this_host() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "this host";
  return name;
}

/// Who holds the flock on the open file `fd`: "process <pid> on host <host>", from /proc/locks, which lists
/// the locks of this host's kernel (a holder on another node of a parallel file system is not in it).
std::string lock_holder(int fd) {
  struct stat info {};
  if (::fstat(fd, &info) != 0) return "another process";
  std::ifstream locks("/proc/locks");
  std::string line;
  while (std::getline(locks, line)) {
    // "1: FLOCK  ADVISORY  WRITE 2417 fd:01:1057355 0 EOF" (a blocked waiter's line has "->" after the number)
    std::istringstream fields(line);
    std::string number, type, mode, access, pid, device;
    fields >> number >> type;
    if (type == "->") fields >> type;
    fields >> mode >> access >> pid >> device;
    if (type != "FLOCK" || access != "WRITE") continue;
    const std::size_t last_colon = device.rfind(':');
    if (last_colon == std::string::npos) continue;
    if (device.substr(last_colon + 1) != std::to_string(info.st_ino)) continue;
    if (pid == std::to_string(::getpid())) return "this process (pid " + pid + " on host " + this_host() + ")";
    return "process " + pid + " on host " + this_host();
  }
  return "a process on another host";
}

bool is_all_zero(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c == '\0'; });
}

}  // namespace

// ---- reading ----------------------------------------------------------------------------------------------

log_scan scan_log(std::string text, record_format& format) {
  log_scan scan;
  scan.text = std::move(text);
  const std::string_view all(scan.text);
  scan.header_bytes = format.header_bytes(all);
  if (scan.header_bytes == 0) {
    if (!all.empty()) scan.problem = "header incomplete (creation was interrupted)";
    return scan;
  }
  std::size_t at = scan.header_bytes;
  while (at < all.size()) {
    const std::string_view rest = all.substr(at);
    const record_check found = format.check(rest);
    if (found.bytes == 0 || found.bytes > rest.size()) {
      scan.problem = found.problem.empty() ? std::string("a bad record") : found.problem;
      // A crash mid-append leaves at most the one record being written, perhaps with zeros in it, as the
      // last thing in the file; a bad record with more behind it is damage.
      scan.damaged = found.claimed_bytes < rest.size() && !is_all_zero(rest);
      break;
    }
    scan.records.push_back({at, found.bytes});
    at += found.bytes;
  }
  scan.valid_bytes = at;
  return scan;
}

std::optional<log_scan> read_log(const std::string& path, record_format& format) {
  int error_number = 0;
  posix_file file = posix_file::try_open(path, O_RDONLY, 0, error_number);
  if (!file.is_open()) {
    if (error_number == ENOENT) return std::nullopt;
    throw file_error(file_failure("open", path, error_number), error_number);
  }
  return scan_log(file.read_contents(), format);
}

// ---- record_log -------------------------------------------------------------------------------------------

record_log::record_log(std::string path, record_format& format, open_mode mode, std::string what)
    : what_(std::move(what)) {
  // No O_TRUNC: an existing file is emptied only once we hold the lock. O_CLOEXEC (posix_file): processes
  // started meanwhile (the farm's tasks) must not inherit the log, nor hold its lock after we die.
  file_ = posix_file::open(path, O_RDWR | O_CREAT | O_APPEND, 0666);
  if (::flock(file_.fd(), LOCK_EX | LOCK_NB) != 0) {
    // Only "somebody else holds it" is fatal; file systems without locks (ENOLCK, ENOSYS, EOPNOTSUPP on some
    // Lustre and NFS mounts) just go without.
    if (errno == EWOULDBLOCK) {
      throw io_error(what_ + " '" + path + "' is in use by another process: " + lock_holder(file_.fd()) +
                     " holds the lock on it. Wait until it ends, or end it, before starting again");
    }
  }
  if (mode == open_mode::resume) {
    found_ = scan_log(file_.read_contents(), format);
    if (found_.header_bytes != 0) {
      if (found_.damaged) {
        const std::size_t record = found_.records.size() + 1;
        throw io_error(what_ + " '" + path + "' is damaged at byte " + std::to_string(found_.valid_bytes) +
                       " (record " + std::to_string(record) + ": " + found_.problem + "), with " +
                       std::to_string(found_.torn_bytes()) +
                       " bytes from there to its end: this is not a torn last record, so nothing is cut off "
                       "automatically. Inspect it; to keep the records before the damage, cut it with `truncate -s " +
                       std::to_string(found_.valid_bytes) + " " + path + "`");
      }
      if (found_.torn_bytes() > 0) {
        file_.truncate(found_.valid_bytes);
        file_.sync_data();
      }
      size_ = found_.valid_bytes;
      return;
    }
  }
  write_header(format);
}

void record_log::write_header(const record_format& format) {
  const std::string header = format.header();
  file_.truncate(0);
  if (const int code = injected_errno(fault_sites::checkpoint_write); code != 0) {
    throw file_error(file_failure("write", file_.path(), code > 0 ? code : ENOSPC), code > 0 ? code : ENOSPC);
  }
  file_.write_all(header);
  file_.sync_data();
  sync_directory_of(file_.path());  // the new name, durable
  size_ = header.size();
  found_ = log_scan{};  // whatever a torn header left is gone
  found_.text = header;
  found_.header_bytes = header.size();
  found_.valid_bytes = header.size();
}

void record_log::append(std::string_view record) {
  if (!broken_.empty()) {
    throw io_error(what_ + " '" + path() + "' takes no more records after an earlier failure: " + broken_);
  }
  try {
    if (const int code = injected_errno(fault_sites::checkpoint_write); code != 0) {  // a full disk (tests)
      throw file_error(file_failure("write", path(), code > 0 ? code : ENOSPC), code > 0 ? code : ENOSPC);
    }
    file_.write_all(record);
  } catch (const file_error& e) {
    // Cut a partial record off again, or every later record would sit behind a torn one and be lost.
    try {
      file_.truncate(size_);
    } catch (const file_error& cut) {
      broken_ = std::string(e.what()) + "; cutting the partial record off failed too: " + cut.what();
      throw file_error(broken_, e.error_number());
    }
    throw;
  }
  try {
    file_.sync_data();
  } catch (const file_error& e) {
    broken_ = e.what();  // and file_ itself refuses every later write (posix_file's sync policy)
    throw;
  }
  size_ += record.size();
}

}  // namespace plx::detail
