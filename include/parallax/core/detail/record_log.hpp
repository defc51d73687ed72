// One append-only log of checksummed records, for every durable log parallax keeps: the task farm's journal
// (farm/journal.hpp, text lines) and checkpoint_log (dist/detail/checkpoint_log.hpp, binary records, used by
// checkpointed_map and map_to_h5's row store). Each keeps its own file format, a record_format; the rules
// are the log's, and so the same for all:
// - One writer: the file is locked (flock) while a record_log has it open. A second writer is refused with
//   a message that names the process holding the lock (its pid, found in /proc/locks, on this host). File
//   systems without locks (ENOLCK, EOPNOTSUPP on some NFS or Lustre mounts) go without.
// - A record is durable before append() returns: one write of the whole record, then fdatasync. A failed
//   write is cut off again (the log still ends with a whole record); a failed sync, or a failed cut, is final:
//   the log takes no more records (Linux may have dropped the data that a later sync would claim).
// - A crash leaves at most one torn record, the last: on resume it is ignored and cut off (truncate, sync).
//   A bad record with more than a torn append after it is damage: refused, never cut, with the byte offset
//   and the `truncate -s` command that keeps the records before it.
// - A log is created with its header, synced, and its directory synced, so that its name survives a crash.
//   A file that holds only part of a header (or zeros, which some file systems show for data that never
//   reached the disk) is a creation that was interrupted, and starts again.
// Every file-system call goes through posix_file (fs.* fault sites); each header or record write also passes
// the checkpoint.write site, which makes it fail as a full disk does.
//
//   plx::detail::record_log log(path, my_format, plx::detail::record_log::open_mode::resume, "journal");
//   for (std::size_t i = 0; i < log.found().records.size(); ++i) use(log.found().record(i));
//   log.append(next_record);
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <parallax/core/detail/posix_file.hpp>

namespace plx::detail {

/// What a record_format says about the bytes where a record should start.
struct record_check {
  std::size_t bytes = 0;          ///< the record's size when it is complete and intact; 0 when it is not
  std::size_t claimed_bytes = 0;  ///< when not: how far it reaches as far as can be told (its line, its length
                                  ///< field); reaching the end of the file makes it a torn last record
  std::string problem;            ///< when not: why ("wrong checksum", "no newline (incomplete write)")
};

/// The layout of one kind of log: its header and where each record ends. Implementations are stateless
/// apart from what identifies the log (a fingerprint, an item count).
class record_format {
 public:
  virtual ~record_format() = default;
  /// The header written when a log is created (a whole line, or whatever the format wants first).
  [[nodiscard]] virtual std::string header() const = 0;
  /// Bytes of the complete header at the start of `text` (the whole file); 0 when the file holds no complete
  /// header, only what an interrupted creation leaves (nothing, a prefix of a header, zeros). Called once per
  /// scan, before check(): a format may keep what the header says (a record count) for check().
  /// @throws plx::config_error when the file is not such a log, or one of another format version or of
  ///         another owner (another map, another task set); the message says how to proceed.
  [[nodiscard]] virtual std::size_t header_bytes(std::string_view text) = 0;
  /// Checks the record at the start of `rest` (not empty): the file from there to its end.
  [[nodiscard]] virtual record_check check(std::string_view rest) const = 0;
};

/// Where one record lies in a log's text.
struct record_extent {
  std::size_t offset = 0;
  std::size_t bytes = 0;
};

/// A log as read: its text and what the format found in it.
struct log_scan {
  std::string text;                    ///< the whole file as read
  std::size_t header_bytes = 0;        ///< 0: no complete header (a new log, or an interrupted creation)
  std::vector<record_extent> records;  ///< the intact records, in file order
  std::size_t valid_bytes = 0;         ///< header and intact records: where the readable part ends
  std::string problem;                 ///< why the readable part ends early; "" when it does not
  bool damaged = false;  ///< what follows the readable part is more than one torn last record: damage

  /// The bytes of record `i`.
  [[nodiscard]] std::string_view record(std::size_t i) const {
    return std::string_view(text).substr(records[i].offset, records[i].bytes);
  }
  /// Bytes after the readable part (a torn record, or damage and all behind it).
  [[nodiscard]] std::size_t torn_bytes() const noexcept { return text.size() - valid_bytes; }
};

/// Scans `text` (a whole log file) with `format`. Throws what format.header_bytes throws.
[[nodiscard]] log_scan scan_log(std::string text, record_format& format);

/// Reads and scans the log at `path` without locking or changing it (a writer may be appending: a record
/// being written then counts as torn). std::nullopt when the file does not exist.
/// @throws plx::io_error when it cannot be read; what format.header_bytes throws.
[[nodiscard]] std::optional<log_scan> read_log(const std::string& path, record_format& format);

/// An open, locked, append-only log. Not thread-safe: one thread appends. Move-only.
class record_log {
 public:
  enum class open_mode {
    resume,  ///< keep what the file holds (a new log when there is none, or only a torn header)
    create,  ///< start a new log, emptying any file at `path`
  };

  /// Opens (or creates) the log at `path`, locks it, and with `resume` reads it: a torn last record is cut off
  /// and synced; found() then holds what was read. `what` names the log in messages ("journal").
  /// @throws plx::io_error when the file cannot be opened, read, locked (the message names the holder),
  ///         written or synced, or (resume) when it is damaged before its last record: nothing is cut then,
  ///         and the message gives the offset and the `truncate -s` command that keeps the records before
  ///         the damage; what format.header_bytes throws for a file that is not such a log.
  record_log(std::string path, record_format& format, open_mode mode, std::string what);
  /// Closes the file (which releases the lock). Never throws and reports nothing: call close() to know.
  ~record_log() = default;
  record_log(record_log&&) noexcept = default;
  record_log& operator=(record_log&&) noexcept = default;
  // One writer per log.
  record_log(const record_log&) = delete;
  record_log& operator=(const record_log&) = delete;

  /// What the file held when it was opened (header and intact records; a torn tail is counted in torn_bytes()
  /// and already cut off). Empty, with header_bytes 0, when the log was created.
  [[nodiscard]] const log_scan& found() const noexcept { return found_; }
  [[nodiscard]] const std::string& path() const noexcept { return file_.path(); }
  /// Bytes of the log now: header and every whole record.
  [[nodiscard]] std::uint64_t size() const noexcept { return size_; }

  /// Appends `record` (a whole record of the format) and makes it durable before returning.
  /// @throws plx::io_error (file_error) when the write or the sync fails. A partly written record is cut off
  ///         again; when the sync or that cut fails, every later append() throws too, with the first reason.
  void append(std::string_view record);
  /// Why append() is refused from now on, or "" while it is not.
  [[nodiscard]] const std::string& broken() const noexcept { return broken_; }
  /// Closes now (releasing the lock). @throws file_error when close(2) fails (every record was synced).
  void close() { file_.close(); }

 private:
  void write_header(const record_format& format);

  posix_file file_;
  std::string what_;
  log_scan found_;
  std::uint64_t size_ = 0;
  std::string broken_;
};

}  // namespace plx::detail
