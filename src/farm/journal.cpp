#include <parallax/farm/journal.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include <parallax/core/crc32.hpp>
#include <parallax/core/error.hpp>
#include <parallax/io/detail/file_sync.hpp>

namespace plx::farm {

namespace {

constexpr std::string_view magic = "plx-journal";
constexpr std::string_view format_version = "1";
constexpr std::string_view crc_key = " crc=";
constexpr std::size_t crc_digits = 8;
constexpr std::array<std::string_view, 5> outcomes = {"ok", "failed", "timeout", "interrupted", "error"};


/// Appends " crc=<hex>\n" for the line so far.
void seal(std::string& line) {
  char hex[16];
  std::snprintf(hex, sizeof hex, "%08x", static_cast<unsigned>(crc32(line)));
  line += crc_key;
  line += hex;
  line += '\n';
}

/// Printable ASCII without space: what a value may hold, since nothing is escaped.
bool is_plain_word(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c > ' ' && c <= '~'; });
}

bool is_outcome(std::string_view text) { return std::find(outcomes.begin(), outcomes.end(), text) != outcomes.end(); }

/// A short printable rendering of untrusted bytes for an error message.
std::string printable(std::string_view text) {
  constexpr std::size_t limit = 60;
  std::string out = "'";
  for (const char c : text.substr(0, limit)) out += (c >= ' ' && c <= '~') ? c : '?';
  out += text.size() > limit ? "...'" : "'";
  return out;
}

void append_time(std::string& line, double seconds) {
  // Fixed notation, microseconds: 1e308 needs 309 digits before the point.
  char text[400];
  const auto [end, error] = std::to_chars(text, text + sizeof text, seconds, std::chars_format::fixed, 6);
  if (error != std::errc()) throw config_error("journal: cannot format the time " + std::to_string(seconds));
  line.append(text, end);
}

std::string format_header(const std::string& fingerprint, std::uint64_t tasks) {
  std::string line;
  line += magic;
  line += ' ';
  line += format_version;
  line += " fingerprint=" + fingerprint + " tasks=" + std::to_string(tasks);
  seal(line);
  return line;
}

std::string format_record(const task_record& r) {
  std::string line = "id=" + std::to_string(r.id) + " outcome=" + r.outcome + " exit=" + std::to_string(r.exit_code) +
                     " signal=" + std::to_string(r.signal) + " attempt=" + std::to_string(r.attempt) +
                     " rank=" + std::to_string(r.rank) + " host=" + r.host + " start=";
  append_time(line, r.start_s);
  line += " end=";
  append_time(line, r.end_s);
  line += " out=" + std::to_string(r.stdout_bytes) + " err=" + std::to_string(r.stderr_bytes);
  seal(line);
  return line;
}

// ---- parsing ----------------------------------------------------------------------------------------------

/// Splits `line` (without '\n') into its content and checksum; false when the checksum is missing or wrong.
bool strip_checksum(std::string_view line, std::string_view& content, std::string& problem) {
  const std::size_t at = line.rfind(crc_key);
  if (at == std::string_view::npos || line.size() - at - crc_key.size() != crc_digits) {
    problem = "no checksum at the end";
    return false;
  }
  const std::string_view hex = line.substr(at + crc_key.size());
  std::uint32_t stored = 0;
  const auto [end, error] = std::from_chars(hex.data(), hex.data() + hex.size(), stored, 16);
  if (error != std::errc() || end != hex.data() + hex.size() ||
      !std::all_of(hex.begin(), hex.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); })) {
    problem = "checksum is not 8 lowercase hex digits";
    return false;
  }
  content = line.substr(0, at);
  if (crc32(content) != stored) {
    problem = "wrong checksum";
    return false;
  }
  return true;
}

/// Reads space-separated "key=value" fields in a fixed order.
class field_reader {
 public:
  explicit field_reader(std::string_view text) : rest_(text) {}

  /// The value of the next field, which must be `key` (the value may be empty); nullopt and problem() otherwise.
  std::optional<std::string_view> next(std::string_view key) {
    if (!problem_.empty()) return std::nullopt;
    const std::size_t space = rest_.find(' ');
    const std::string_view field = rest_.substr(0, space);
    rest_ = space == std::string_view::npos ? std::string_view() : rest_.substr(space + 1);
    if (field.size() <= key.size() || !field.starts_with(key) || field[key.size()] != '=') {
      problem_ = "expected field '" + std::string(key) + "', found " + printable(field);
      return std::nullopt;
    }
    return field.substr(key.size() + 1);
  }

  template <class Number>
  std::optional<Number> number(std::string_view key) {
    const std::optional<std::string_view> text = next(key);
    if (!text) return std::nullopt;
    Number value{};
    const char* first = text->data();
    const char* last = first + text->size();
    std::from_chars_result result{};
    if constexpr (std::is_floating_point_v<Number>) {
      result = std::from_chars(first, last, value, std::chars_format::fixed);
    } else {
      result = std::from_chars(first, last, value);
    }
    if (result.ec != std::errc() || result.ptr != last || text->empty()) {
      problem_ = "field '" + std::string(key) + "' is not a valid number: " + printable(*text);
      return std::nullopt;
    }
    return value;
  }

  /// True when every field was read and nothing is left over.
  bool finish() {
    if (problem_.empty() && !rest_.empty()) problem_ = "unexpected text " + printable(rest_);
    return problem_.empty();
  }
  void fail(std::string problem) {
    if (problem_.empty()) problem_ = std::move(problem);
  }
  [[nodiscard]] const std::string& problem() const { return problem_; }

 private:
  std::string_view rest_;
  std::string problem_;
};

/// Parses a record line's content (checksum already stripped); nullopt and `problem` when invalid.
std::optional<task_record> parse_record(std::string_view content, std::uint64_t tasks, std::string& problem) {
  field_reader in(content);
  task_record r;
  const auto id = in.number<std::uint64_t>("id");
  const auto outcome = in.next("outcome");
  const auto exit_code = in.number<int>("exit");
  const auto signal = in.number<int>("signal");
  const auto attempt = in.number<int>("attempt");
  const auto rank = in.number<int>("rank");
  const auto host = in.next("host");
  const auto start = in.number<double>("start");
  const auto end = in.number<double>("end");
  const auto out = in.number<std::uint64_t>("out");
  const auto err = in.number<std::uint64_t>("err");
  if (!in.finish()) {
    problem = in.problem();
    return std::nullopt;
  }
  if (*id >= tasks) {
    problem = "task id " + std::to_string(*id) + " is not below the task count " + std::to_string(tasks);
  } else if (!is_outcome(*outcome)) {
    problem = "unknown outcome " + printable(*outcome);
  } else if (*attempt < 1 || *rank < 0 || *signal < 0) {
    problem = "attempt, rank or signal out of range";
  } else if (!is_plain_word(*host)) {
    problem = "host name is not printable ASCII";
  }
  if (!problem.empty()) return std::nullopt;
  r.id = *id;
  r.outcome = std::string(*outcome);
  r.exit_code = *exit_code;
  r.signal = *signal;
  r.attempt = *attempt;
  r.rank = *rank;
  r.host = std::string(*host);
  r.start_s = *start;
  r.end_s = *end;
  r.stdout_bytes = *out;
  r.stderr_bytes = *err;
  return r;
}

/// A parsed journal, plus what the writer needs to decide whether a torn part may be cut off.
struct scan_result {
  journal_contents contents;
  bool header_torn = false;     // the file holds no complete header: creation was interrupted
  bool damage_in_tail = true;   // the torn part is at most one line: what a crash mid-append leaves
  std::uint64_t torn_line = 0;  // 1-based line number where the readable part ends (0: none)
};

/// Parses the whole text of a journal. Throws plx::config_error when it is not a parallax journal.
scan_result scan(std::string_view text, const std::string& path) {
  scan_result result;
  journal_contents& contents = result.contents;
  const std::size_t header_end = text.find('\n');
  if (header_end == std::string_view::npos) {
    // No complete first line. A prefix of a header (or zeros, which some file systems show for data that
    // never reached the disk) is a creation that was interrupted; anything else is not ours.
    const bool is_prefix = magic.starts_with(text.substr(0, magic.size())) &&
                           (text.size() <= magic.size() || text[magic.size()] == ' ');
    const bool all_zero = std::all_of(text.begin(), text.end(), [](char c) { return c == '\0'; });
    if (!is_prefix && !all_zero) {
      throw config_error("'" + path + "' is not a parallax journal: it starts with " + printable(text));
    }
    result.header_torn = true;
    contents.torn_bytes = text.size();
    if (!text.empty()) {
      result.torn_line = 1;
      contents.torn_reason = "line 1: header incomplete (creation was interrupted)";
    }
    return result;
  }

  const std::string_view header = text.substr(0, header_end);
  if (!header.starts_with(std::string(magic) + " ")) {
    throw config_error("'" + path + "' is not a parallax journal: its first line is " + printable(header));
  }
  {
    // The version comes before the checksum test: a later format may checksum differently.
    const std::string_view rest = header.substr(magic.size() + 1);
    const std::string_view version = rest.substr(0, rest.find(' '));
    if (version != format_version) {
      throw config_error("journal '" + path + "' has format version " + printable(version) +
                         "; this build of parallax reads version " + std::string(format_version));
    }
  }
  std::string_view header_content;
  std::string problem;
  if (!strip_checksum(header, header_content, problem)) {
    throw config_error("the header of journal '" + path + "' is damaged (" + problem + "): " + printable(header));
  }
  // The checksum covers at least "plx-journal 1"; what follows it may be missing in a line that is ours
  // in form only.
  const std::size_t fields_at = std::min(header_content.size(), magic.size() + 1 + format_version.size() + 1);
  field_reader fields(header_content.substr(fields_at));
  const auto fingerprint = fields.next("fingerprint");
  const auto tasks = fields.number<std::uint64_t>("tasks");
  if (fingerprint && !(is_plain_word(*fingerprint) && !fingerprint->empty())) fields.fail("bad fingerprint");
  if (!fields.finish()) {
    throw config_error("the header of journal '" + path + "' cannot be read (" + fields.problem() + "): " +
                       printable(header));
  }
  contents.fingerprint = std::string(*fingerprint);
  contents.tasks = *tasks;

  std::size_t at = header_end + 1;
  std::uint64_t line_number = 1;
  while (at < text.size()) {
    ++line_number;
    const std::size_t newline = text.find('\n', at);
    std::string reason;
    if (newline == std::string_view::npos) {
      reason = "no newline (incomplete write)";
    } else {
      std::string_view content;
      if (strip_checksum(text.substr(at, newline - at), content, reason)) {
        if (std::optional<task_record> record = parse_record(content, contents.tasks, reason)) {
          contents.records.push_back(std::move(*record));
          at = newline + 1;
          continue;
        }
      }
    }
    contents.torn_reason = "line " + std::to_string(line_number) + ": " + reason;
    result.torn_line = line_number;
    // A crash mid-append leaves at most one bad line, the last; a bad line with more after it is damage.
    result.damage_in_tail = newline == std::string_view::npos || newline + 1 == text.size();
    break;
  }
  contents.valid_bytes = at;
  contents.torn_bytes = text.size() - at;
  return result;
}

// ---- files ------------------------------------------------------------------------------------------------

std::string errno_text(int code) { return std::strerror(code); }

/// Reads all of an open file from offset 0.
std::string read_all(int fd, const std::string& path) {
  std::string text;
  std::array<char, 1 << 16> buffer{};
  for (;;) {
    const ssize_t got = ::pread(fd, buffer.data(), buffer.size(), static_cast<off_t>(text.size()));
    if (got < 0) {
      if (errno == EINTR) continue;
      throw io_error("cannot read journal '" + path + "': " + errno_text(errno));
    }
    if (got == 0) return text;
    text.append(buffer.data(), static_cast<std::size_t>(got));
  }
}

/// write(2) until all of `bytes` is out; returns 0 or the errno of the failure.
int write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t wrote = ::write(fd, bytes.data(), bytes.size());
    if (wrote < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (wrote == 0) return EIO;  // no progress and no error: give up rather than spin
    bytes.remove_prefix(static_cast<std::size_t>(wrote));
  }
  return 0;
}

int sync_data(int fd) {
  while (::fdatasync(fd) != 0) {
    if (errno != EINTR) return errno;
  }
  return 0;
}

void check_fingerprint(const std::string& fingerprint) {
  if (fingerprint.empty() || !is_plain_word(fingerprint)) {
    throw config_error("journal: task-set fingerprint " + printable(fingerprint) +
                       " must be non-empty printable ASCII without spaces");
  }
}

void check_record(const task_record& r, std::uint64_t tasks, const std::string& path) {
  const std::string where = " (task " + std::to_string(r.id) + ", journal '" + path + "')";
  if (r.id >= tasks) {
    throw config_error("journal: task id " + std::to_string(r.id) + " is not below the task count " +
                       std::to_string(tasks) + where);
  }
  if (!is_outcome(r.outcome)) {
    throw config_error("journal: unknown outcome " + printable(r.outcome) +
                       " (expected ok, failed, timeout, interrupted or error)" + where);
  }
  if (r.attempt < 1) throw config_error("journal: attempt " + std::to_string(r.attempt) + " is below 1" + where);
  if (r.rank < 0) throw config_error("journal: rank " + std::to_string(r.rank) + " is negative" + where);
  if (r.signal < 0) throw config_error("journal: signal " + std::to_string(r.signal) + " is negative" + where);
  if (!is_plain_word(r.host)) {
    throw config_error("journal: host name " + printable(r.host) +
                       " may hold only printable ASCII without spaces" + where);
  }
  if (!std::isfinite(r.start_s) || !std::isfinite(r.end_s)) {
    throw config_error("journal: start and end times must be finite" + where);
  }
}

/// Owns a file descriptor until release(); closes it on unwinding.
class fd_guard {
 public:
  explicit fd_guard(int fd) : fd_(fd) {}
  ~fd_guard() {
    if (fd_ >= 0) ::close(fd_);
  }
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

}  // namespace

// ---- journal_contents, read_journal ---------------------------------------------------------------------

std::vector<bool> journal_contents::succeeded_ids() const {
  std::vector<bool> ids(tasks, false);
  for (const task_record& r : records) {
    if (r.succeeded() && r.id < tasks) ids[r.id] = true;
  }
  return ids;
}

std::optional<journal_contents> read_journal(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    throw io_error("cannot open journal '" + path + "': " + errno_text(errno));
  }
  fd_guard guard(fd);
  const std::string text = read_all(fd, path);
  return scan(text, path).contents;
}

// ---- journal_writer ---------------------------------------------------------------------------------------

journal_writer::journal_writer(const std::string& path, const std::string& fingerprint, std::uint64_t tasks,
                               bool append)
    : path_(path), tasks_(tasks) {
  check_fingerprint(fingerprint);
  // O_CLOEXEC: the task processes root starts must not inherit the journal (nor hold its lock after root
  // dies). No O_TRUNC: an existing file is emptied only once we hold the lock.
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
  if (fd < 0) throw io_error("cannot open journal '" + path + "': " + errno_text(errno));
  fd_guard guard(fd);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    // Only "somebody else holds it" is fatal; file systems without locks (ENOLCK, ENOSYS, EOPNOTSUPP on
    // some Lustre and NFS mounts) just go without.
    if (errno == EWOULDBLOCK) {
      throw io_error("journal '" + path + "' is in use by another process (it holds the lock on the file)");
    }
  }

  bool fresh = !append;
  if (append) {
    const std::string text = read_all(fd, path);
    scan_result found = scan(text, path);
    if (found.header_torn) {
      fresh = true;
    } else {
      journal_contents& old = found.contents;
      if (old.fingerprint != fingerprint || old.tasks != tasks) {
        throw config_error("journal '" + path + "' was written for task-set fingerprint " + old.fingerprint + " (" +
                           std::to_string(old.tasks) + " tasks), but the task set now has fingerprint " +
                           fingerprint + " (" + std::to_string(tasks) +
                           " tasks): the task file changed since the journal was written. Restore the original "
                           "task file to resume, or start without --resume to run every task again");
      }
      if (old.torn_bytes > 0) {
        if (!found.damage_in_tail) {
          throw io_error("journal '" + path + "' is damaged at line " + std::to_string(found.torn_line) + " (" +
                         old.torn_reason + "), with " + std::to_string(old.torn_bytes) +
                         " bytes after it: this is not a torn last record, so nothing is cut off "
                         "automatically. Inspect it; to keep the records before the damage, cut it with "
                         "`truncate -s " + std::to_string(old.valid_bytes) + " " + path + "`");
        }
        if (::ftruncate(fd, static_cast<off_t>(old.valid_bytes)) != 0) {
          throw io_error("cannot cut the torn last record off journal '" + path + "': " + errno_text(errno));
        }
        if (const int code = sync_data(fd); code != 0) {
          throw io_error("cannot sync journal '" + path + "' to disk: " + errno_text(code));
        }
      }
      size_ = old.valid_bytes;
      existing_ = std::move(old);
    }
  }

  if (fresh) {
    if (::ftruncate(fd, 0) != 0) throw io_error("cannot empty journal '" + path + "': " + errno_text(errno));
    const std::string header = format_header(fingerprint, tasks);
    if (const int code = write_all(fd, header); code != 0) {
      throw io_error("cannot write the header of journal '" + path + "': " + errno_text(code));
    }
    if (const int code = sync_data(fd); code != 0) {
      throw io_error("cannot sync journal '" + path + "' to disk: " + errno_text(code));
    }
    io::detail::sync_directory_of(path);
    size_ = header.size();
    existing_ = journal_contents{};
    existing_.fingerprint = fingerprint;
    existing_.tasks = tasks;
    existing_.valid_bytes = size_;
  }
  fd_ = guard.release();
}

journal_writer::journal_writer(journal_writer&& other) noexcept
    : path_(std::move(other.path_)),
      tasks_(other.tasks_),
      existing_(std::move(other.existing_)),
      fd_(std::exchange(other.fd_, -1)),
      size_(other.size_),
      broken_(std::move(other.broken_)) {}

journal_writer::~journal_writer() {
  if (fd_ < 0) return;
  if (::close(fd_) != 0) {
    // Every record was synced already; this cannot lose one, but it is worth knowing.
    std::fprintf(stderr, "parallax: warning: closing journal '%s' failed: %s\n", path_.c_str(),
                 std::strerror(errno));
  }
}

void journal_writer::append(const task_record& r) {
  if (fd_ < 0) throw io_error("append() on a journal_writer that was moved from");
  if (!broken_.empty()) {
    throw io_error("journal '" + path_ + "' takes no more records after an earlier failure: " + broken_);
  }
  check_record(r, tasks_, path_);
  const std::string line = format_record(r);
  if (const int code = write_all(fd_, line); code != 0) {
    std::string failure = "cannot append task " + std::to_string(r.id) + " to journal '" + path_ +
                          "': " + errno_text(code);
    // Cut a partial line off again, or every later record would sit behind a torn one and be ignored.
    if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
      broken_ = failure + "; cutting the partial line off failed too: " + errno_text(errno);
      throw io_error(broken_);
    }
    throw io_error(failure);
  }
  if (const int code = sync_data(fd_); code != 0) {
    // After a failed fdatasync the kernel may have dropped the dirty pages and a retry could "succeed"
    // without the data: stop recording rather than believe later syncs.
    broken_ = "fdatasync of journal '" + path_ + "' failed after task " + std::to_string(r.id) + ": " +
              errno_text(code);
    throw io_error(broken_);
  }
  size_ += line.size();
}

}  // namespace plx::farm
