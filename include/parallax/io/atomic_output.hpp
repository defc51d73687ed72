/// @file
/// plx::io::atomic_output: the output file of a run appears under its final name only once it is complete.
///
/// The run writes to a temporary file beside the final one ("<final>.tmp.<pid>-<random>", chosen by root and
/// shared with every rank); commit() renames it to the final name, which replaces an existing file in one
/// step (rename within a directory is atomic on POSIX file systems). If the object is destroyed without a
/// commit (an exception unwound the run: a full disk, on any rank, fails the writes on every rank), root
/// deletes the temporary file, and an existing file with the final name (a previous result) is left
/// untouched.
///
/// @code
///   plx::io::atomic_output output(rt.world(), "run.h5", options.force);
///   auto file = plx::io::h5_file::create(rt.world(), output.temporary_path());
///   ... write ...
///   file.close();
///   output.commit();
/// @endcode
#pragma once

#include <string>

#include <parallax/core/communicator.hpp>

namespace plx::io {

/// A run's output file that appears under its final name only once complete (commit()); removed otherwise.
class atomic_output {
 public:
  /// Collective. Checks on root, with the verdict shared so that every rank throws plx::io_error together:
  /// - `final_path` must not exist unless `overwrite` (the message says to use --force), and must not be a
  ///   directory;
  /// - its directory must exist and be writable: root creates the (empty) temporary file there, which also
  ///   makes sure the name is not taken. The message names the directory.
  atomic_output(const communicator& comm, std::string final_path, bool overwrite);
  /// Without a commit, root removes the temporary file (a failure is logged, never thrown). Not collective.
  ~atomic_output();
  /// Takes over the other object's temporary file; the other one then owns nothing.
  atomic_output(atomic_output&& other) noexcept;
  // Assigning would first have to abandon this object's own temporary file; not needed so far.
  atomic_output& operator=(atomic_output&&) = delete;
  // One owner per temporary file.
  atomic_output(const atomic_output&) = delete;
  atomic_output& operator=(const atomic_output&) = delete;

  /// Where to write: the same string on every rank.
  [[nodiscard]] const std::string& temporary_path() const noexcept { return temporary_path_; }
  /// The name the file gets on commit(), as given.
  [[nodiscard]] const std::string& final_path() const noexcept { return final_path_; }
  /// Whether commit() has renamed the file to final_path().
  [[nodiscard]] bool is_committed() const noexcept { return committed_; }

  /// Collective. Call after every rank has finished writing and closed the file. Every rank flushes the
  /// temporary file to disk (fsync: on a parallel file system each node holds its own ranks' writes), and
  /// once all have, root renames it to the final path. Throws
  /// plx::io_error on every rank if that fails. If the flush failed (a full disk: the data may be
  /// incomplete) or the rename failed, the destructor removes the temporary file as after any failure (a
  /// temporary kept on purpose would be removed by the next run's sweep of stale temporaries anyway, and
  /// the fault sweep's rule is: no temporary left). If only the directory's sync after the rename failed,
  /// the output is complete under its name, and the message says so. Committing twice throws.
  void commit();

 private:
  communicator comm_;
  std::string final_path_;
  std::string temporary_path_;
  bool committed_ = false;
};

namespace detail {

/// Collective. Every rank fsyncs the file at `path` and the ranks agree: "" when all succeeded, else the
/// lowest failing rank's message (naming `final_path`), the same on every rank. Each rank's own writes
/// (its slabs, HDF5 metadata) sit in its node's page cache on a parallel file system, which root's fsync
/// would not reach: an output is renamed only after this. Fault site output.sync fails one rank's sync.
[[nodiscard]] std::string sync_on_every_rank(const communicator& comm, const std::string& path,
                                             const std::string& final_path);

}  // namespace detail

/// Removes the temporary file of every atomic_output of this process that is not committed
/// (and any other file registered for removal on a stop signal, see core/detail/removal_on_signal.hpp),
/// without a collective call: for an app that must end with MPI_Abort (a failure on some ranks only, while
/// others wait in a collective), which ends the other ranks before their destructors run. Every rank knows
/// the temporary's name, so whichever rank aborts removes it (on a file system that every rank sees, as the
/// parallel writes need), up to the commit: from there root alone renames or removes it. Never throws; a
/// file that is gone already is fine. Thread-safe.
void remove_unfinished_outputs() noexcept;

/// True when `path` is the temporary file of an atomic_output of this process that is not committed: its
/// content is going to be discarded. Thread-safe.
[[nodiscard]] bool is_unfinished_output(const std::string& path) noexcept;

}  // namespace plx::io
