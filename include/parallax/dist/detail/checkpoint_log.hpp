// The file behind a checkpointed map (and map_to_h5's journal): root appends each result the moment it
// arrives, durably, and a later run reads back every complete record and recomputes only the rest.
//
// Layout: a text header line "plx-checkpoint 1 items=<n> type=<result type> crc=<hex>\n", then binary
// records [u64 index][u64 length][length bytes of the cereal-encoded result][u32 CRC-32 of all before],
// little-endian as the machine writes them. The file is a plx::detail::record_log (core/detail/record_log.hpp),
// whose rules it follows: locked against a second writer (the message names the holder), each record one
// write(2) followed by fdatasync, a failed sync final (no more appends), a torn last record (a crash
// mid-write) ignored and cut off before appending, a bad record with more records behind it refused as
// damage, and the directory synced when the file is created.
//
// Group commit (append_grouped): records that arrive within a window share one write and one fdatasync,
// made by a background thread; flush() makes everything queued durable. A crash loses at most the records
// of the last window, which a resume computes again. After a power loss (not a process crash, whose
// writes the page cache keeps) a group whose pages reached the disk out of order can read as damage
// before its last record: the message then gives the `truncate -s` that keeps every record before it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace plx::detail {

class record_log;

class checkpoint_log {
 public:
  /// Opens (or creates) `path` for a map of `items` results of type `type_name`. An existing file for
  /// another item count or type is refused with plx::config_error naming both; unreadable or unwritable
  /// paths, a file another process holds (its lock), and damage before the last record throw plx::io_error.
  /// Record indices are below `index_limit` (default: `items`); a record with a larger one counts as
  /// corrupt, like a wrong checksum.
  checkpoint_log(const std::string& path, std::uint64_t items, const std::string& type_name,
                 std::uint64_t index_limit);
  checkpoint_log(const std::string& path, std::uint64_t items, const std::string& type_name)
      : checkpoint_log(path, items, type_name, items) {}
  ~checkpoint_log();
  // Owns the open, locked log.
  checkpoint_log(const checkpoint_log&) = delete;
  checkpoint_log& operator=(const checkpoint_log&) = delete;
  checkpoint_log(checkpoint_log&&) = delete;
  checkpoint_log& operator=(checkpoint_log&&) = delete;

  struct record {
    std::uint64_t index;
    std::vector<char> bytes;
  };
  /// The complete records found when the file was opened, in file order.
  [[nodiscard]] const std::vector<record>& existing() const noexcept { return existing_; }
  /// Appends one record; durable on disk when this returns. @throws plx::io_error when the write (the
  /// fault site checkpoint.write makes it fail with ENOSPC) or the sync fails; after a failed sync, or a
  /// failed cut of a partial record, every later append throws too.
  void append(std::uint64_t index, std::span<const char> bytes);
  /// Queues one record: durable within `window` of the first record queued after the last group (one
  /// write and one fdatasync for the whole group, by a background thread), or at flush(). Not to be mixed
  /// with append() on one log. @throws plx::io_error when an earlier group failed (every later call throws).
  void append_grouped(std::uint64_t index, std::span<const char> bytes, std::chrono::duration<double> window);
  /// Makes every queued record durable before returning. @throws plx::io_error when a group failed.
  void flush();

 private:
  void group_writer();
  void throw_if_failed();

  std::unique_ptr<record_log> log_;
  std::vector<record> existing_;
  // Group commit: records queued by append_grouped, written by group_thread_.
  std::mutex group_mutex_;
  std::condition_variable group_wake_;     // the writer: a first record, a flush, or the end
  std::condition_variable group_written_;  // flush(): a group is durable
  std::string queued_;
  std::chrono::steady_clock::time_point first_queued_;
  std::chrono::duration<double> window_{0};
  std::uint64_t groups_queued_ = 0;   // groups handed over (a group: what queued_ held when taken)
  std::uint64_t groups_written_ = 0;  // of them, durable (or failed)
  bool flush_requested_ = false;
  bool stopping_ = false;
  std::exception_ptr group_failure_;
  std::thread group_thread_;
};

}  // namespace plx::detail
