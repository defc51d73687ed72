/// @file
/// plx::farm journal: the durable record of which tasks of a task farm have finished, and how.
///
/// Root appends one line per finished task the moment it finishes, and each line is on disk (write(2) of the
/// whole line, then fdatasync) before append() returns. A crash at any instant -- kill -9 of every process, a
/// node losing power -- therefore leaves a journal whose complete lines all read back; at most the last line
/// can be torn (partly written), and the reader detects and ignores it. `plx-run --resume` reruns exactly the
/// tasks with no "ok" record. Every journal names the task set it belongs to (a fingerprint and the number of
/// tasks), so that a journal is never applied to a task file that changed since it was written.
///
/// The format is plain text, one line per record, so that `cat`, `grep` and `awk` work on it:
///
/// @code{.unparsed}
///   plx-journal 1 fingerprint=9f86d081884c7d65 tasks=100 crc=26b73315
///   id=17 outcome=ok exit=0 signal=0 attempt=1 rank=2 host=node07 start=1732190000.123456 end=1732190003.500000 out=123 err=0 crc=4456d776
///   id=18 outcome=failed exit=3 signal=0 attempt=1 rank=1 host=node07 start=1732190001.000000 end=1732190002.250000 out=0 err=120 crc=4e511dca
/// @endcode
///
/// The first line is the header: magic word, format version, fingerprint, task count. Each later line is one
/// finished attempt of one task, with its fields in this fixed order: id, outcome, exit, signal, attempt, rank,
/// host, start, end (Unix time in seconds, 6 decimals), out, err (bytes of stdout and stderr). Every line ends
/// with ` crc=<8 lowercase hex digits>`, the CRC-32 (IEEE 802.3, the checksum of zlib's crc32() and Python's
/// zlib.crc32()) of the bytes before ` crc=`, and then '\n'. Values are never escaped, so fingerprints and host
/// names must be printable ASCII without spaces (checked when writing). The readable part of a journal ends at
/// the first line that lacks its '\n', has a wrong checksum or does not parse; that line and everything after
/// it are "torn" and ignored.
///
/// @code
///   plx::farm::journal_writer journal("run.journal", tasks.fingerprint(), tasks.size(), resume);
///   std::vector<bool> done = journal.existing().succeeded_ids();   // all false unless resuming
///   ... run the tasks that are not done; as each finishes: journal.append(record);
/// @endcode
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace plx::detail {
class record_log;
}  // namespace plx::detail

namespace plx::farm {

/// One finished attempt of one task, as the journal records it.
struct task_record {
  std::uint64_t id = 0;  ///< task id, 0-based, below the journal's task count
  int exit_code = 0;     ///< exit status when the process exited normally; -1 otherwise
  int signal = 0;        ///< terminating signal (0 if none)
  /// "ok", "failed", "timeout", "interrupted" (killed at shutdown) or "error" (could not start).
  std::string outcome;
  int attempt = 1;  ///< 1-based
  int rank = 0;     ///< MPI rank that ran the task
  std::string host;  ///< host name of that rank: printable ASCII without spaces, may be empty
  /// Unix time of the attempt's start and end, seconds; the journal keeps microseconds.
  double start_s = 0, end_s = 0;  ///< the attempt's end: see start_s
  /// Sizes of the task's stdout and stderr files after the attempt, bytes.
  std::uint64_t stdout_bytes = 0, stderr_bytes = 0;  ///< stderr's size: see stdout_bytes

  /// True when this attempt succeeded (outcome "ok").
  [[nodiscard]] bool succeeded() const { return outcome == "ok"; }
};

/// What read_journal() found in a journal: the header and the complete records before any torn tail.
struct journal_contents {
  /// Task-set fingerprint from the header. Empty, with `tasks` 0 and no records, when the header itself is
  /// torn: the journal's creation was interrupted before anything was recorded.
  std::string fingerprint;
  std::uint64_t tasks = 0;            ///< number of tasks in the task set, from the header
  std::vector<task_record> records;   ///< in file order, complete ones only
  std::uint64_t valid_bytes = 0;      ///< length of the readable part (header and complete records)
  std::uint64_t torn_bytes = 0;       ///< bytes of an incomplete or corrupt tail that were ignored
  /// Why the readable part ended early, e.g. "line 12: wrong checksum"; empty when torn_bytes is 0.
  std::string torn_reason;

  /// Size `tasks`: true at index i where some record of task i succeeded (any attempt).
  [[nodiscard]] std::vector<bool> succeeded_ids() const;
};

/// Reads the journal at `path`. May run while a writer appends (in this or another process): it then sees
/// a prefix of the records, and a line being written at that moment counts as torn.
/// @returns std::nullopt when the file does not exist; otherwise the header and every complete record before
///          the first torn line (see the file comment).
/// @throws plx::io_error when the file exists but cannot be read;
///         plx::config_error when its first line is not a parallax journal header (or is damaged, or is of
///         an unsupported format version).
std::optional<journal_contents> read_journal(const std::string& path);

/// Appends records to a journal, each durable on disk before append() returns. Owns a plx::detail::record_log
/// (core/detail/record_log.hpp, whose rules the journal follows): the open file and an advisory lock (flock)
/// on it, which keeps a second writer away where the file system supports locks.
/// Not thread-safe: one thread (root's) appends.
class journal_writer {
 public:
  /// Opens the journal at `path` for the task set with the given fingerprint and number of tasks.
  /// - `append` false: creates the file, or empties an existing one, and writes the header.
  /// - `append` true (resume): opens the existing journal and checks that its header matches; if the file
  ///   does not exist, or holds only a torn header, it starts a new journal as above. A torn last line is cut
  ///   off (truncated and synced) so that new records follow the last complete one. existing() then holds
  ///   what the journal recorded.
  /// @param fingerprint  identifies the task set: printable ASCII without spaces, not empty
  /// @throws plx::config_error when `fingerprint` is not valid, or (append) when the journal was written for
  ///         a different fingerprint or task count: the message names both and says that the task file
  ///         changed since the journal was written; or when the file is not a parallax journal.
  /// @throws plx::io_error when the file cannot be created, read, locked (another writer holds it: the
  ///         message names its pid and host, where this host's /proc/locks shows it) or
  ///         written; or (append) when it is damaged before its last line -- not a torn tail a crash can
  ///         leave, so nothing is cut off automatically; the message gives the byte offset to cut at.
  journal_writer(const std::string& path, const std::string& fingerprint, std::uint64_t tasks, bool append);
  /// Closes the file (which releases the lock). Never throws; a failure is logged to stderr.
  ~journal_writer();
  /// Takes over the other writer's file; the other one then owns nothing and must not append.
  journal_writer(journal_writer&& other) noexcept;
  // Assigning would first have to close this writer's own journal; not needed so far.
  journal_writer& operator=(journal_writer&&) = delete;
  // One owner per open journal.
  journal_writer(const journal_writer&) = delete;
  journal_writer& operator=(const journal_writer&) = delete;

  /// Appends one record and makes it durable before returning: the whole line goes out in write(2) calls
  /// (looping on partial writes), then fdatasync. Nothing is written for an invalid record.
  /// @throws plx::config_error when the record cannot be written as a valid line: id not below the task
  ///         count, unknown outcome, attempt < 1, rank < 0, signal < 0, a host name with spaces or other
  ///         non-printable characters, a non-finite time.
  /// @throws plx::io_error when the write or the sync fails. A partly written line is then cut off again,
  ///         so the journal still ends with a complete record; if that, or the sync, fails, every later
  ///         append() throws too (after a failed fdatasync the kernel may have dropped the data).
  void append(const task_record& r);

  /// What the journal held when it was opened: header and complete records (none when it was created).
  [[nodiscard]] const journal_contents& existing() const noexcept { return existing_; }
  /// The journal file as given to the constructor.
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
  std::uint64_t tasks_ = 0;
  journal_contents existing_;
  std::unique_ptr<plx::detail::record_log> log_;  // the file, its lock and its rules; null when moved from
};

}  // namespace plx::farm
