#include <parallax/dist/detail/checkpoint_log.hpp>

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <parallax/core/crc32.hpp>
#include <parallax/core/detail/record_log.hpp>
#include <parallax/core/error.hpp>

namespace plx::detail {

namespace {

constexpr std::size_t fixed_bytes = 2 * sizeof(std::uint64_t) + sizeof(std::uint32_t);  // index, length, CRC

std::string header_line(std::uint64_t items, const std::string& type_name) {
  const std::string body = fmt::format("plx-checkpoint 1 items={} type={}", items, type_name);
  return fmt::format("{} crc={:08x}\n", body, crc32(body));
}

template <class T>
T read_raw(std::string_view bytes, std::size_t at) {
  T value;
  std::memcpy(&value, bytes.data() + at, sizeof(T));
  return value;
}

/// What differs between a checkpoint's header line and this run's, in one short phrase: the fields
/// (space-separated key=value) whose values differ, each as "key: FILE's, this run's" (values cut at 60
/// characters); "columns: .../power:float64[16],..., this run's ...[8]" tells a user that --n changed.
std::string header_difference(std::string_view found, std::string_view expected) {
  const auto fields = [](std::string_view line) {
    std::vector<std::pair<std::string, std::string>> out;
    while (!line.empty()) {
      const std::size_t end = std::min(line.find_first_of(" \n"), line.size());
      const std::string_view field = line.substr(0, end);
      line.remove_prefix(std::min(end + 1, line.size()));
      if (field.empty()) continue;
      const std::size_t equals = field.find('=');
      out.emplace_back(std::string(field.substr(0, equals)),
                       equals == std::string_view::npos ? std::string() : std::string(field.substr(equals + 1)));
    }
    return out;
  };
  const auto cut = [](const std::string& value) { return value.size() > 60 ? value.substr(0, 57) + "..." : value; };
  const auto theirs = fields(found);
  const auto ours = fields(expected);
  std::string text;
  for (const auto& [key, value] : ours) {
    if (key == "crc") continue;  // follows from the others
    const auto match = std::find_if(theirs.begin(), theirs.end(), [&](const auto& f) { return f.first == key; });
    const std::string other = match == theirs.end() ? std::string("(none)") : match->second;
    if (other == value) continue;
    if (!text.empty()) text += "; ";
    text += key + (value.empty() ? std::string() : ": the file's " + cut(other) + ", this run's " + cut(value));
  }
  return text.empty() ? "its header is not this run's" : "different " + text;
}

/// The checkpoint's layout for record_log: the header line, then binary records (see the header file).
class checkpoint_format final : public record_format {
 public:
  checkpoint_format(std::string path, std::string header, std::uint64_t index_limit)
      : path_(std::move(path)), header_(std::move(header)), index_limit_(index_limit) {}

  [[nodiscard]] std::string header() const override { return header_; }

  std::size_t header_bytes(std::string_view text) override {
    const std::size_t end_of_header = text.find('\n');
    const std::string_view found = end_of_header == std::string_view::npos ? text : text.substr(0, end_of_header + 1);
    if (found == header_) return found.size();
    if (end_of_header == std::string_view::npos) {
      // The header itself was torn (or never reached the disk: zeros): the creation was interrupted.
      const bool is_prefix = std::string_view(header_).substr(0, found.size()) == found;
      const bool all_zero = std::all_of(found.begin(), found.end(), [](char c) { return c == '\0'; });
      if (is_prefix || all_zero) return 0;
    }
    throw config_error("checkpoint " + path_ + " belongs to another run: " + header_difference(found, header_) +
                       "; remove it to start over");
  }

  [[nodiscard]] record_check check(std::string_view rest) const override {
    if (rest.size() < fixed_bytes) return {0, rest.size(), "incomplete record"};
    const auto index = read_raw<std::uint64_t>(rest, 0);
    const auto length = read_raw<std::uint64_t>(rest, 8);
    if (length > rest.size() - fixed_bytes) {
      // It reaches past the end of the file: a torn append (or a damaged length field, which cannot be told
      // apart from one).
      return {0, std::numeric_limits<std::size_t>::max(), "incomplete record"};
    }
    const std::size_t bytes = fixed_bytes + static_cast<std::size_t>(length);
    if (index >= index_limit_) return {0, bytes, "record index " + std::to_string(index) + " out of range"};
    const auto stored = read_raw<std::uint32_t>(rest, bytes - sizeof(std::uint32_t));
    if (crc32(rest.substr(0, bytes - sizeof(std::uint32_t))) != stored) return {0, bytes, "wrong checksum"};
    return {bytes, 0, {}};
  }

 private:
  std::string path_;
  std::string header_;
  std::uint64_t index_limit_;
};

}  // namespace

checkpoint_log::checkpoint_log(const std::string& path, std::uint64_t items, const std::string& type_name,
                               std::uint64_t index_limit) {
  checkpoint_format format(path, header_line(items, type_name), index_limit);
  log_ = std::make_unique<record_log>(path, format, record_log::open_mode::resume, "checkpoint");
  const log_scan& found = log_->found();
  existing_.reserve(found.records.size());
  for (std::size_t i = 0; i < found.records.size(); ++i) {
    const std::string_view bytes = found.record(i);
    const std::string_view body = bytes.substr(2 * sizeof(std::uint64_t), bytes.size() - fixed_bytes);
    existing_.push_back({read_raw<std::uint64_t>(bytes, 0), std::vector<char>(body.begin(), body.end())});
  }
}

checkpoint_log::~checkpoint_log() {
  if (!group_thread_.joinable()) return;
  {
    std::lock_guard lock(group_mutex_);
    stopping_ = true;  // the writer writes what is queued (a failure stays unreported: the map has failed)
  }
  group_wake_.notify_all();
  group_thread_.join();
}

namespace {

/// One record: [u64 index][u64 length][bytes][u32 CRC-32 of all before], appended to `out`.
void format_record(std::string& out, std::uint64_t index, std::span<const char> bytes) {
  const std::size_t at = out.size();
  out.resize(at + fixed_bytes + bytes.size());
  char* line = out.data() + at;
  const std::uint64_t length = bytes.size();
  std::memcpy(line, &index, 8);
  std::memcpy(line + 8, &length, 8);
  if (!bytes.empty()) std::memcpy(line + 16, bytes.data(), bytes.size());
  const std::uint32_t crc = crc32(std::string_view(line, 16 + bytes.size()));
  std::memcpy(line + 16 + bytes.size(), &crc, 4);
}

}  // namespace

void checkpoint_log::append_grouped(std::uint64_t index, std::span<const char> bytes,
                                    std::chrono::duration<double> window) {
  std::unique_lock lock(group_mutex_);
  throw_if_failed();
  if (!group_thread_.joinable()) {
    window_ = window;
    group_thread_ = std::thread([this] { group_writer(); });
  }
  const bool first = queued_.empty();
  if (first) first_queued_ = std::chrono::steady_clock::now();
  format_record(queued_, index, bytes);
  if (first) group_wake_.notify_one();  // the writer starts the group's window
}

void checkpoint_log::flush() {
  std::unique_lock lock(group_mutex_);
  if (!group_thread_.joinable()) return;
  // Every group up to the one holding what is queued now.
  const std::uint64_t target = groups_queued_ + (queued_.empty() ? 0 : 1);
  flush_requested_ = true;
  group_wake_.notify_all();
  group_written_.wait(lock, [&] { return groups_written_ >= target || group_failure_; });
  flush_requested_ = false;
  throw_if_failed();
}

void checkpoint_log::throw_if_failed() {
  if (group_failure_) std::rethrow_exception(group_failure_);
}

void checkpoint_log::group_writer() {
  std::unique_lock lock(group_mutex_);
  for (;;) {
    group_wake_.wait(lock, [&] { return !queued_.empty() || stopping_; });
    if (queued_.empty()) return;  // stopping, nothing left
    // The window runs from the group's first record: later ones join it until then (or a flush, the end).
    const auto deadline = first_queued_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(window_);
    group_wake_.wait_until(lock, deadline, [&] { return flush_requested_ || stopping_; });
    std::string group;
    group.swap(queued_);
    ++groups_queued_;
    if (!group_failure_) {
      lock.unlock();
      std::exception_ptr failure;
      try {
        log_->append(group);  // one write, one fdatasync, for every record of the group
      } catch (...) {
        failure = std::current_exception();
      }
      lock.lock();
      if (failure && !group_failure_) group_failure_ = failure;
    }
    ++groups_written_;
    group_written_.notify_all();
  }
}

void checkpoint_log::append(std::uint64_t index, std::span<const char> bytes) {
  std::string line(fixed_bytes + bytes.size(), '\0');
  const std::uint64_t length = bytes.size();
  std::memcpy(line.data(), &index, 8);
  std::memcpy(line.data() + 8, &length, 8);
  if (!bytes.empty()) std::memcpy(line.data() + 16, bytes.data(), bytes.size());
  const std::uint32_t crc = crc32(std::string_view(line.data(), 16 + bytes.size()));
  std::memcpy(line.data() + 16 + bytes.size(), &crc, 4);
  log_->append(line);  // one write, then fdatasync; a failed write is cut off again, a failed sync is final
}

}  // namespace plx::detail
