// The one door through which parallax calls the file system: open, write, read, sync, rename, unlink,
// truncate and close of the files it writes (logs, work files, outputs written past HDF5, sidecars).
//
// Each call here
// - passes its fault site first (fs.open, fs.write, fs.read, fs.sync, fs.rename, fs.unlink, fs.truncate,
//   fs.close; see fault_injection.hpp) and, when one is armed, fails with its errno exactly as a real failure
//   would, so that the fault sweep reaches every file-system call of the project through this one file;
// - retries EINTR and short transfers, so a caller never writes its own write-all loop;
// - reports a failure as plx::detail::file_error (a plx::io_error that keeps the errno), with the message
//   "cannot <verb> '<path>': <strerror>".
//
// One sync policy: a failed fsync or fdatasync is final. Linux may drop the dirty pages of a failed
// write-back and clear the error, so a second sync can "succeed" without the data; the posix_file whose
// sync failed therefore refuses every later write, sync and truncate, with the first failure's reason.
// Directories are synced after a rename (rename_file) and after a file is created where its name must
// survive a crash (sync_directory_of).
//
//   plx::detail::posix_file log = plx::detail::posix_file::open(path, O_WRONLY | O_CREAT | O_APPEND);
//   log.write_all(record);
//   log.sync_data();   // durable, or file_error and the file takes nothing more
//   log.close();       // a failed close (NFS reports write-back errors here) throws
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <parallax/core/error.hpp>

namespace plx::detail {

/// A failed file-system call: plx::io_error with the errno it failed with.
class file_error : public io_error {
 public:
  file_error(const std::string& message, int error_number) : io_error(message), error_number_(error_number) {}
  /// The errno of the failed call (or the injected one).
  [[nodiscard]] int error_number() const noexcept { return error_number_; }

 private:
  int error_number_;
};

/// "cannot <verb> '<path>': <strerror(error_number)>", the message every failure here carries.
[[nodiscard]] std::string file_failure(std::string_view verb, const std::string& path, int error_number);

/// An open file descriptor that closes itself. Move-only. Not thread-safe (one owner thread at a time).
class posix_file {
 public:
  /// Not open.
  posix_file() noexcept = default;
  /// open(2) of `path` (O_CLOEXEC is always added), through fs.open.
  /// @throws file_error "cannot open '<path>': ..." when it fails.
  [[nodiscard]] static posix_file open(const std::string& path, int flags, mode_t mode = 0666);
  /// The same without throwing for the open itself: a file that is not open, and `error_number` set, when
  /// it fails (for callers that expect ENOENT or EEXIST); `error_number` is 0 on success.
  [[nodiscard]] static posix_file try_open(const std::string& path, int flags, mode_t mode, int& error_number);
  /// Takes over `fd` (>= 0), opened elsewhere; `path` names it in messages.
  posix_file(int fd, std::string path) noexcept;

  /// Closes the descriptor if still open. Never throws, and reports nothing: a writer that needs to know
  /// calls close() first. (Unwinding after another failure lands here; a second message would only hide the
  /// first.)
  ~posix_file();
  posix_file(posix_file&& other) noexcept;
  posix_file& operator=(posix_file&& other) noexcept;
  // One owner per descriptor: a copy would close it twice.
  posix_file(const posix_file&) = delete;
  posix_file& operator=(const posix_file&) = delete;

  [[nodiscard]] bool is_open() const noexcept { return fd_ >= 0; }
  [[nodiscard]] int fd() const noexcept { return fd_; }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

  /// write(2) of all of `bytes` at the current offset (through EINTR and short writes), via fs.write.
  /// @throws file_error "cannot write '<path>': ..." (some of the bytes may have been written).
  void write_all(std::span<const std::byte> bytes);
  void write_all(std::string_view bytes);
  /// pwrite(2) of all of `bytes` at `offset`, via fs.write. Throws as write_all.
  void pwrite_all(std::span<const std::byte> bytes, std::uint64_t offset);
  /// pwritev(2) of all the buffers, back to back from `offset`, via fs.write. Throws as write_all.
  void pwritev_all(std::span<const iovec> buffers, std::uint64_t offset);

  /// read(2) from the current offset until `out` is full or the file ends, via fs.read: the bytes read.
  /// @throws file_error "cannot read '<path>': ...".
  std::size_t read_all(std::span<std::byte> out);
  /// pread(2) of exactly out.size() bytes at `offset`, via fs.read.
  /// @throws file_error "cannot read '<path>': ..." when it fails or the file ends first (errno 0 then,
  ///         and the message says where it ended).
  void pread_all(std::span<std::byte> out, std::uint64_t offset);
  /// The whole file, from offset 0 to its end (pread, so the offset does not move), via fs.read.
  [[nodiscard]] std::string read_contents();

  /// fsync(2), via fs.sync. A failure is final (see the file comment): it throws file_error "cannot sync
  /// '<path>': ...", and every later write, sync and truncate throws with the same reason.
  void sync();
  /// fdatasync(2): the data and the size, not every time stamp. The same policy as sync().
  void sync_data();
  /// ftruncate(2) to `size` bytes, via fs.truncate. @throws file_error "cannot truncate '<path>': ...".
  void truncate(std::uint64_t size);
  /// The file's size (fstat). @throws file_error "cannot stat '<path>': ...".
  [[nodiscard]] std::uint64_t size() const;
  /// Why this file takes no more writes (a failed sync), or "" while it does.
  [[nodiscard]] const std::string& broken() const noexcept { return broken_; }

  /// Closes now, via fs.close; afterwards the file is not open, whatever happened. close(2) is not retried
  /// (on Linux the descriptor is gone even when it reports EINTR, and EINTR is then no failure).
  /// @throws file_error "cannot close '<path>': ..." (NFS reports a failed write-back here).
  void close();

 private:
  void check_usable(std::string_view verb) const;
  void sync_with(bool data_only);

  int fd_ = -1;
  std::string path_;
  std::string broken_;       // the first failed sync; empty while writes are taken
  int broken_errno_ = 0;
};

/// rename(2) of `from` to `to` via fs.rename, then sync_directory_of(to) (and of `from` when it lies in
/// another directory), so that the new name survives a crash.
/// @throws file_error "cannot rename '<from>' to '<to>': ..." or the directory's sync failure.
void rename_file(const std::string& from, const std::string& to);

/// unlink(2) of `path` via fs.unlink. False when it did not exist.
/// @throws file_error "cannot unlink '<path>': ..." for any other failure.
bool unlink_file(const std::string& path);
/// The same for cleanup paths: 0 (removed, or it did not exist) or the errno. Never throws.
[[nodiscard]] int unlink_quietly(const std::string& path) noexcept;

/// Whether a failure to create or write a file with this errno is the user's path (EACCES, EPERM, EROFS,
/// ENOENT, ENOTDIR, ENAMETOOLONG, ELOOP, EISDIR: bad input, exit code 2) rather than the disk's (ENOSPC,
/// EDQUOT, EIO, ...: a run-time failure, exit code 1).
[[nodiscard]] bool is_bad_path_errno(int error_number) noexcept;

/// fsync of the directory `directory` (open O_DIRECTORY via fs.open, then fsync via fs.sync). A file system
/// that cannot open or sync a directory (EINVAL, ENOTSUP, EROFS, EACCES, EPERM, EISDIR) counts as synced.
/// @throws file_error "cannot sync directory '<directory>': ..." for any other failure.
void sync_directory(const std::string& directory);
/// sync_directory of the directory that holds `path` ("." for a bare name): makes a new or renamed name
/// durable. Throws as sync_directory.
void sync_directory_of(const std::string& path);

/// Writes `contents` to `path` whole or not at all: into "<path>.tmp.<pid>" beside it, synced and closed, then
/// rename_file to `path`. On any failure the temporary is removed and the file_error rethrown.
void write_file_atomically(const std::string& path, std::string_view contents);

/// Tests only: at most `bytes` per read/write call (0: no limit), so that the short-transfer loops run.
void set_transfer_limit_for_tests(std::size_t bytes) noexcept;

}  // namespace plx::detail
