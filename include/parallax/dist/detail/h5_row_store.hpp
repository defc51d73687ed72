// Root's side of map_to_h5: the rows of a map land in an HDF5 file durably, with bounded memory, and a run
// killed at any instant resumes with only the missing rows.
//
// Files, beside the final path P:
//   P.partial          the HDF5 file being filled. All of its metadata (groups, fixed-row datasets with
//                      contiguous storage allocated up front, attributes) is written and synced before the
//                      first row. Rows are then written as raw bytes at each dataset's address
//                      (H5Dget_offset) with pwrite, never through HDF5: while rows are written the file's
//                      metadata does not change, so kill -9 cannot leave it unreadable (an HDF5 1.10 file
//                      open for writing can be).
//   P.journal          a checkpoint_log (CRC-checked records, each appended with one write + fdatasync):
//                      the datasets' addresses, then after every sync the index ranges of the rows that
//                      sync made durable (the rows are synced to P.partial first), each with a checksum of
//                      its rows' bytes, and a mark before the file's metadata is touched again at the end.
//   P.lock             held (flock) by the run that owns the files above, and names it (host, pid); removed
//                      when the run ends (one left by kill -9 holds no lock: the next run takes it).
//   P.partial.ragged.C.values / .rows   ragged column C: values appended in arrival order, and per row
//                      (byte offset, byte length) at row * 16. At the end they are copied into the HDF5 file
//                      in row order (CSR), so the result does not depend on the order rows arrived in.
//
// Resume: rows recorded in the journal are durable once their bytes are read back and match the recorded
// checksum; everything else is computed again. Why checksums rather than trusting the journal: the journal
// only says what was synced, not that the bytes are still there. A partial that was cut short, replaced
// by an empty one (an earlier rebuild that died half-way), or damaged otherwise would give a file of zeros
// that commits with exit 0, the worst failure a resume can have. Reading the durable rows back once per
// resume costs what the rebuild's copy costs anyway, and catches every such case, whatever caused it; a
// range that fails is just computed again (the rows are deterministic), so a resume ends with the file
// an uninterrupted run makes. If the run died while the file's metadata was being changed at the end
// (the mark is in the journal), or P.partial no longer checks out against the journal, the file is
// rebuilt: P.partial becomes P.partial.old, a new P.partial is made, the verified rows are copied over
// from the old one's recorded addresses, and a new journal is swapped in. A P.partial.old found at open
// is the file the journal describes (a rebuild died before its end): it is the source again, never
// overwritten.
//
// Memory: root holds at most two buffers of `buffer_bytes` rows (plus 8 bytes per buffered row): one
// filling while a writer thread writes the other. Writes go to the page cache; the files are synced and
// the journal appended once per `checkpoint_interval` (and at the end), not per buffer: a sync per 32 MiB
// halved the throughput of 1 MiB rows here, where dd's one final sync is the floor.
#pragma once

#include <hdf5.h>
#include <sys/uio.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <parallax/core/detail/posix_file.hpp>
#include <parallax/dist/detail/checkpoint_log.hpp>
#include <parallax/dist/detail/index_ranges.hpp>
#include <parallax/dist/h5_column.hpp>
#include <parallax/dist/h5_row.hpp>
#include <parallax/io/hdf5_file.hpp>

namespace plx::detail {

/// One output dataset as the store sees it.
struct h5_store_column {
  std::string path;
  h5_layout layout;               ///< element datatype, and dims of one value (ragged)
  std::vector<hsize_t> row_dims;  ///< fixed rows: the dims of one row
  std::size_t row_bytes = 0;      ///< fixed rows: bytes of one row; ragged: bytes of one value
  bool ragged = false;
  std::vector<std::string> dims;  ///< h5_column::dims: names of the row's (ragged: the value's) dimensions
  std::string units;              ///< h5_column::units
  std::string long_name;          ///< h5_column::long_name
};

/// Who made the file: stored as attributes of every column.
struct h5_provenance {
  std::string label;
  std::string schedule;
  std::string command_line;
  std::string version;
  int ranks = 1;
  int threads = 1;
};

struct h5_store_settings {
  std::size_t buffer_bytes = std::size_t{8} << 20;
  std::chrono::duration<double> checkpoint_interval = std::chrono::seconds(5);
  std::string row_dimension = "row";        ///< h5_output_options::row_dimension
  std::vector<h5_coordinate> coordinates;  ///< h5_output_options::coordinates
};

/// The files of an output at `final_path`.
struct h5_output_paths {
  std::string final_path;
  [[nodiscard]] std::string partial() const { return final_path + ".partial"; }
  [[nodiscard]] std::string journal() const { return final_path + ".journal"; }
  [[nodiscard]] std::string old_partial() const { return final_path + ".partial.old"; }
  [[nodiscard]] std::string lock() const { return final_path + ".lock"; }
  [[nodiscard]] std::string ragged_values(std::size_t column) const;
  [[nodiscard]] std::string ragged_rows(std::size_t column) const;
  /// Removes the partial file and the ragged columns' files; missing ones are fine. Throws plx::io_error.
  void remove_partial_files() const;
  /// The same, and the journal: every work file (never the final file).
  void remove_work_files() const;
  [[nodiscard]] bool has_work_files() const;
};

/// The lock on an output's work files (`paths.lock()`, flock): one run at a time fills them. The file
/// holds "host pid" of the holder, for the message another run gets; it is removed when released.
class work_files_lock {
 public:
  /// Takes the lock or throws plx::config_error naming the holder (plx::io_error when the lock file cannot
  /// be made). File systems without flock (ENOLCK, EOPNOTSUPP) go without, as the farm's journal does.
  explicit work_files_lock(const h5_output_paths& paths);
  ~work_files_lock();
  // Owns a file descriptor and the lock on it.
  work_files_lock(const work_files_lock&) = delete;
  work_files_lock& operator=(const work_files_lock&) = delete;
  work_files_lock(work_files_lock&&) = delete;
  work_files_lock& operator=(work_files_lock&&) = delete;

 private:
  std::string path_;
  posix_file file_;  // open (and flocked where the file system locks) while held
};

/// A growable byte buffer that does not zero what it adds (rows are written over it at once, and zeroing
/// 1 MiB rows first would cost a pass over memory each), page-aligned so that O_DIRECT can write from it.
class raw_bytes {
 public:
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  [[nodiscard]] char* data() noexcept { return data_.get(); }
  [[nodiscard]] const char* data() const noexcept { return data_.get(); }
  /// Adds `n` uninitialised bytes; returns where they start. Keeps capacity across clear().
  char* grow(std::size_t n);
  /// Makes room for `n` bytes in all, so that filling up to there allocates nothing (and touches no
  /// fresh memory twice, as doubling would).
  void reserve(std::size_t n);
  void shrink_to(std::size_t n) noexcept { size_ = n < size_ ? n : size_; }
  void clear() noexcept { size_ = 0; }

 private:
  struct aligned_delete {
    void operator()(char* p) const noexcept;
  };
  std::unique_ptr<char[], aligned_delete> data_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

/// Page size for O_DIRECT: file offsets, lengths and buffers of direct writes are multiples of it.
inline constexpr std::size_t direct_io_alignment = 4096;

/// Rows [begin, end) made durable by one sync, with the sum (mod 2^64) of a 64-bit hash of every row's
/// bytes in every column: a sum, so that ranges that touch merge by adding, whatever batches they came in.
struct checked_range {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  std::uint64_t sum = 0;
  friend bool operator==(const checked_range&, const checked_range&) = default;
};

class h5_row_store {
 public:
  /// Root only. Opens or creates the journal and the partial file for a map of `n` rows. `descriptor`
  /// says what the rows are (n, columns, types, the caller's fingerprint); a journal for another
  /// descriptor is refused with plx::config_error.
  h5_row_store(h5_output_paths paths, std::vector<h5_store_column> columns, std::uint64_t n,
               const std::string& descriptor, const h5_provenance& provenance, const h5_store_settings& settings);
  /// Writes and records what is still buffered (a failure is logged, never thrown), then stops the writer.
  ~h5_row_store();
  // Owns a thread and file descriptors.
  h5_row_store(const h5_row_store&) = delete;
  h5_row_store& operator=(const h5_row_store&) = delete;
  h5_row_store(h5_row_store&&) = delete;
  h5_row_store& operator=(h5_row_store&&) = delete;

  /// The rows that were durable when the store was opened.
  [[nodiscard]] const index_ranges& durable_at_open() const noexcept { return durable_at_open_; }
  [[nodiscard]] const std::vector<h5_store_column>& columns() const noexcept { return columns_; }

  // Adding a row, from one thread at a time: begin_row, then for each column fixed_space(c) (row_bytes
  // to fill) or ragged_space(c, bytes), then end_row. begin_row waits while both buffers are full, and
  // throws the writer's failure (a full disk) if it had one.
  void begin_row(std::uint64_t index);
  [[nodiscard]] char* fixed_space(std::size_t column);
  [[nodiscard]] char* ragged_space(std::size_t column, std::size_t bytes);
  /// `keep` false takes the row back out (filling it failed).
  void end_row(bool keep) noexcept;

  /// Writes, syncs and records every buffered row, and stops the writer. Throws its failure.
  void finish_rows();
  /// Whether the writer's failure was thrown to the caller already (by begin_row or finish_rows).
  [[nodiscard]] bool failure_thrown() const noexcept { return failure_thrown_; }
  /// Marks in the journal that the file's metadata is about to change (a crash from here on rebuilds
  /// the file on resume); then builds the ragged columns and sets `rows_done` on every column.
  void finalize();
  /// Marks in the journal that the file's metadata is about to change (for the caller's own additions).
  void mark_finalizing();
  /// Syncs the partial file, renames it to the final path, syncs the directory, removes the work files.
  void commit();

 private:
  struct batch {
    std::vector<std::uint64_t> rows;                       // row index of each slot, in arrival order
    std::vector<raw_bytes> fixed;                          // per column: slot k's bytes at k * row_bytes
    std::vector<raw_bytes> values;                         // per ragged column: values, appended
    std::vector<std::vector<std::uint64_t>> extents;       // per ragged column: per slot (offset, bytes)
    std::size_t bytes = 0;
    void clear();
  };

  void open_or_create();
  void create_partial();
  [[nodiscard]] bool partial_checks_out() const;
  void rebuild_partial(bool have_old);
  /// The ranges of `recorded` whose rows read back from `source` (fixed columns, at `source_offsets`) and
  /// from the ragged files match their checksums. `copy_to` not null: the fixed rows read are also written there
  /// at this store's offsets (a rebuild).
  [[nodiscard]] std::vector<checked_range> verify_rows(const std::string& source,
                                                       const std::vector<std::uint64_t>& source_offsets,
                                                       const std::vector<checked_range>& recorded,
                                                       posix_file* copy_to) const;
  /// Swaps in a journal that holds the layout and `verified` only.
  void rewrite_journal(const std::vector<checked_range>& verified);
  void build_ragged(io::h5_file& file, std::size_t column);
  void open_row_files();
  void close_row_files() noexcept;
  void record_layout();

  void writer_loop();
  void write_batch(batch& b);
  void sync_and_record();
  void write_run(std::vector<iovec>& iov, std::uint64_t offset, bool direct);
  void hand_over(std::unique_lock<std::mutex>& lock);
  void stop_writer() noexcept;

  h5_output_paths paths_;
  std::vector<h5_store_column> columns_;
  std::uint64_t n_ = 0;
  h5_store_settings settings_;
  std::string descriptor_;
  h5_provenance provenance_;
  std::unique_ptr<checkpoint_log> journal_;
  std::vector<std::uint64_t> offsets_;   // per column: the dataset's address (fixed), or none (ragged)
  index_ranges durable_at_open_;
  std::vector<checked_range> recorded_;  // at open: what the journal says is durable, before verify_rows
  bool finalizing_seen_ = false;         // the journal has the mark: the metadata may be half-written

  posix_file partial_file_;
  // The same file opened with O_DIRECT (not open where the file system refuses it): rows whose bytes and file
  // offsets are page multiples (1 MiB rows) go from the buffer to the disk without a copy into the page
  // cache, the copy that dominated the profile of 1 MiB rows (twice dd's kernel time: dd's source buffer
  // is hot in cache, a 32 MiB batch is not).
  posix_file direct_file_;
  std::vector<posix_file> values_files_;  // per column (ragged only, else not open)
  std::vector<posix_file> rows_files_;
  std::vector<std::uint64_t> values_end_;

  // Between the sink's thread and the writer.
  std::mutex mutex_;
  std::condition_variable wake_writer_;
  std::condition_variable writer_done_;
  std::unique_lock<std::mutex> row_lock_;  // held from begin_row to end_row
  struct row_mark {
    std::size_t rows = 0;
    std::size_t bytes = 0;
  } mark_;                                  // the filling batch before the current row, to take it back
  std::vector<std::size_t> mark_fixed_, mark_values_, mark_extents_;
  batch filling_;
  batch writing_;
  bool write_requested_ = false;
  bool writer_busy_ = false;
  bool stopping_ = false;
  std::exception_ptr writer_failure_;
  bool failure_thrown_ = false;
  std::chrono::steady_clock::time_point last_flush_;
  // The writer's own: rows written since the last sync, recorded in the journal at the next one.
  std::vector<checked_range> unsynced_;
  std::chrono::steady_clock::time_point last_sync_;
  std::thread writer_;
};

}  // namespace plx::detail
