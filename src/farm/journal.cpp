#include <parallax/farm/journal.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <optional>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include <parallax/core/crc32.hpp>
#include <parallax/core/detail/record_log.hpp>
#include <parallax/core/error.hpp>

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

/// The journal's layout for record_log: a header line, then one checksummed line per record. Given the
/// fingerprint and task count a writer expects, it also refuses the journal of another task set (before
/// anything is cut off); without them (a reader) it takes what the header says.
class journal_format final : public plx::detail::record_format {
 public:
  journal_format(std::string path, std::string fingerprint, std::uint64_t tasks, bool check_owner)
      : path_(std::move(path)), fingerprint_(std::move(fingerprint)), tasks_(tasks), check_owner_(check_owner) {}

  [[nodiscard]] std::string header() const override { return format_header(fingerprint_, tasks_); }

  std::size_t header_bytes(std::string_view text) override {
    const std::size_t header_end = text.find('\n');
    if (header_end == std::string_view::npos) {
      // No complete first line. A prefix of a header (or zeros, which some file systems show for data that
      // never reached the disk) is a creation that was interrupted; anything else is not ours.
      const bool is_prefix = magic.starts_with(text.substr(0, magic.size())) &&
                             (text.size() <= magic.size() || text[magic.size()] == ' ');
      const bool all_zero = std::all_of(text.begin(), text.end(), [](char c) { return c == '\0'; });
      if (!is_prefix && !all_zero) {
        throw config_error("'" + path_ + "' is not a parallax journal: it starts with " + printable(text));
      }
      return 0;
    }
    const std::string_view header = text.substr(0, header_end);
    if (!header.starts_with(std::string(magic) + " ")) {
      throw config_error("'" + path_ + "' is not a parallax journal: its first line is " + printable(header));
    }
    {
      // The version comes before the checksum test: a later format may checksum differently.
      const std::string_view rest = header.substr(magic.size() + 1);
      const std::string_view version = rest.substr(0, rest.find(' '));
      if (version != format_version) {
        throw config_error("journal '" + path_ + "' has format version " + printable(version) +
                           "; this build of parallax reads version " + std::string(format_version));
      }
    }
    std::string_view header_content;
    std::string problem;
    if (!strip_checksum(header, header_content, problem)) {
      throw config_error("the header of journal '" + path_ + "' is damaged (" + problem + "): " + printable(header));
    }
    // The checksum covers at least "plx-journal 1"; what follows it may be missing in a line that is ours
    // in form only.
    const std::size_t fields_at = std::min(header_content.size(), magic.size() + 1 + format_version.size() + 1);
    field_reader fields(header_content.substr(fields_at));
    const auto fingerprint = fields.next("fingerprint");
    const auto tasks = fields.number<std::uint64_t>("tasks");
    if (fingerprint && !(is_plain_word(*fingerprint) && !fingerprint->empty())) fields.fail("bad fingerprint");
    if (!fields.finish()) {
      throw config_error("the header of journal '" + path_ + "' cannot be read (" + fields.problem() + "): " +
                         printable(header));
    }
    if (check_owner_ && (*fingerprint != fingerprint_ || *tasks != tasks_)) {
      throw config_error("journal '" + path_ + "' was written for task-set fingerprint " + std::string(*fingerprint) +
                         " (" + std::to_string(*tasks) + " tasks), but the task set now has fingerprint " +
                         fingerprint_ + " (" + std::to_string(tasks_) +
                         " tasks): the task file changed since the journal was written. Restore the original "
                         "task file to resume, or start without --resume to run every task again");
    }
    found_fingerprint_ = std::string(*fingerprint);
    found_tasks_ = *tasks;
    return header_end + 1;
  }

  [[nodiscard]] plx::detail::record_check check(std::string_view rest) const override {
    const std::size_t newline = rest.find('\n');
    if (newline == std::string_view::npos) return {0, rest.size(), "no newline (incomplete write)"};
    std::string_view content;
    std::string problem;
    if (strip_checksum(rest.substr(0, newline), content, problem) && parse_record(content, found_tasks_, problem)) {
      return {newline + 1, 0, {}};
    }
    return {0, newline + 1, problem};
  }

  /// The journal as journal_contents: what the last header_bytes() read, and every intact record.
  [[nodiscard]] journal_contents contents_of(const plx::detail::log_scan& scan) const {
    journal_contents contents;
    if (scan.header_bytes != 0) {
      contents.fingerprint = found_fingerprint_;
      contents.tasks = found_tasks_;
    }
    for (std::size_t i = 0; i < scan.records.size(); ++i) {
      const std::string_view line = scan.record(i);
      std::string_view content;
      std::string problem;
      strip_checksum(line.substr(0, line.size() - 1), content, problem);
      contents.records.push_back(*parse_record(content, found_tasks_, problem));
    }
    contents.valid_bytes = scan.valid_bytes;
    contents.torn_bytes = scan.torn_bytes();
    // The header is line 1, record i line i + 2.
    if (!scan.problem.empty()) {
      contents.torn_reason = "line " + std::to_string(scan.header_bytes == 0 ? 1 : scan.records.size() + 2) + ": " +
                             scan.problem;
    }
    return contents;
  }

 private:
  std::string path_;
  std::string fingerprint_;
  std::uint64_t tasks_ = 0;
  bool check_owner_ = false;
  std::string found_fingerprint_;
  std::uint64_t found_tasks_ = 0;
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
  journal_format format(path, {}, 0, false);
  const std::optional<plx::detail::log_scan> scan = plx::detail::read_log(path, format);
  if (!scan) return std::nullopt;
  return format.contents_of(*scan);
}

// ---- journal_writer ---------------------------------------------------------------------------------------

journal_writer::journal_writer(const std::string& path, const std::string& fingerprint, std::uint64_t tasks,
                               bool append)
    : path_(path), tasks_(tasks) {
  check_fingerprint(fingerprint);
  journal_format format(path, fingerprint, tasks, true);
  log_ = std::make_unique<plx::detail::record_log>(
      path, format, append ? plx::detail::record_log::open_mode::resume : plx::detail::record_log::open_mode::create,
      "journal");
  existing_ = format.contents_of(log_->found());
  if (existing_.fingerprint.empty()) {  // created now (or anew, over a torn header)
    existing_ = journal_contents{};
    existing_.fingerprint = fingerprint;
    existing_.tasks = tasks;
    existing_.valid_bytes = log_->size();
  }
}

journal_writer::journal_writer(journal_writer&& other) noexcept
    : path_(std::move(other.path_)),
      tasks_(other.tasks_),
      existing_(std::move(other.existing_)),
      log_(std::move(other.log_)) {}

journal_writer::~journal_writer() {
  if (!log_) return;
  try {
    log_->close();
  } catch (const std::exception& e) {
    // Every record was synced already; this cannot lose one, but it is worth knowing.
    std::fprintf(stderr, "parallax: warning: closing journal '%s' failed: %s\n", path_.c_str(), e.what());
  }
}

void journal_writer::append(const task_record& r) {
  if (!log_) throw io_error("append() on a journal_writer that was moved from");
  if (!log_->broken().empty()) {
    throw io_error("journal '" + path_ + "' takes no more records after an earlier failure: " + log_->broken());
  }
  check_record(r, tasks_, path_);
  try {
    log_->append(format_record(r));
  } catch (const plx::detail::file_error& e) {
    throw io_error("cannot append task " + std::to_string(r.id) + " to journal '" + path_ + "': " + e.what());
  }
}

}  // namespace plx::farm
