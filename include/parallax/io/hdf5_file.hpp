/// @file
/// plx::io::h5_file: one HDF5 file shared by all ranks of a communicator, opened with the MPI-IO driver.
///
/// Every rank opens the same file and writes its own part straight into it (see slab_io.hpp); nothing is
/// gathered to root. HDF5's rule for parallel files shapes this API: every call that changes metadata
/// (creating the file, a group, a dataset or an attribute, writing an attribute, closing) is collective
/// and must get the same arguments on every rank. Such calls say "Collective." first in their docs.
///
/// Objects are named by absolute paths: "/" is the root group, "/frames/003/density" a dataset in a
/// nested group. Missing intermediate groups are created on the way.
///
/// Errors: every HDF5 return code goes through one check that throws plx::io_error naming the HDF5 call,
/// the file, the object and the rank, plus HDF5's own description and, for a failed write, the system's
/// reason ("No space left on device"); HDF5's automatic error printing is silenced during parallax's calls
/// so that the exception is the one report. Not thread-safe: call from one thread per rank (the Debian
/// parallel HDF5 is not built thread-safe), outside OpenMP regions.
///
/// Failing together: a write can fail on some ranks only (with collective MPI-IO, only the ranks that
/// aggregate data touch the disk, so a full disk or quota shows up there alone). Every collective call
/// below therefore ends by agreeing on its outcome (one small allreduce): if it failed anywhere, every rank
/// throws the same plx::io_error, the lowest failing rank's, and the file is marked failed() on every rank.
/// A rank that threw alone would otherwise unwind into the collective H5Fclose while the others wait in the
/// next collective step, and the job would hang. After an HDF5 call failed, the file is not closed through
/// HDF5 again (see close() for why), and a close that reports success on a full file system is checked for
/// writes that Open MPI lost without an error (seen at 3 and 4 ranks).
///
/// What remains: a disk that fills exactly while HDF5 writes metadata inside one of its own collective
/// operations (H5Fclose, H5Fflush, or a metadata cache flush that any metadata call may trigger), on some
/// ranks only, can still hang inside HDF5 1.10, which leaves its internal barriers early on the failing
/// ranks. It has not been seen in the tests: on a full disk the raw data writes (write_distributed's
/// own pwrite, or H5Dwrite) fail first.
///
/// @code
///   auto file = plx::io::h5_file::create(rt.world(), "run.h5");
///   plx::io::set_attribute(file, "/", "box_size_mpc_h", 500.0);
///   plx::io::write_distributed(file, "/density", {...}, local);   // slab_io.hpp
///   file.close();
/// @endcode
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <exception>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <parallax/core/communicator.hpp>
#include <parallax/core/error.hpp>

namespace plx::io {

class h5_file;
namespace detail {
/// Records on this rank that a collective call on `file` failed everywhere (see agree_on_step); for a verdict
/// reached identically on every rank without agree_on_step.
void mark_failed(h5_file& file) noexcept;
/// Records on this rank that `file` must never be H5Fclosed (as after an HDF5 failure, see close()), and
/// forbids MPI_Finalize, which would close it. Call it on every rank alike.
void mark_poisoned(h5_file& file) noexcept;
void agree_on_step(h5_file& file, const std::string& local_failure, bool hdf5_failed);  // documented below

/// What throw_h5_failure() throws: an HDF5 call itself failed (as opposed to a check of parallax's own).
/// After one, HDF5's state may differ between the ranks; see h5_file::close().
class h5_call_error : public io_error {
 public:
  using io_error::io_error;
};
}  // namespace detail

/// What an h5_id refers to; it picks the close function (H5Fclose, H5Gclose, ...).
enum class h5_kind { file, group, dataset, dataspace, datatype, property_list, attribute, object };

/// Owns one HDF5 identifier and closes it with the function its kind needs. Move-only.
///
/// Never wrap predefined ids (H5T_NATIVE_DOUBLE, H5P_DEFAULT): they are not ours to close.
class h5_id {
 public:
  h5_id() noexcept = default;
  /// Takes ownership of `id` (>= 0; a negative id gives an empty handle). Use detail::own() to check
  /// a freshly returned id and throw on failure in one step.
  h5_id(hid_t id, h5_kind kind) noexcept : id_(id < 0 ? H5I_INVALID_HID : id), kind_(kind) {}
  /// Closes; a failure is logged to stderr, never thrown.
  ~h5_id() { reset(); }
  /// Takes over `other`'s id and leaves `other` empty (so it closes nothing).
  h5_id(h5_id&& other) noexcept
      : id_(std::exchange(other.id_, H5I_INVALID_HID)), kind_(other.kind_) {}
  /// Closes this handle's id (reset()), then takes over `other`'s.
  h5_id& operator=(h5_id&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, H5I_INVALID_HID);
      kind_ = other.kind_;
    }
    return *this;
  }
  // One owner per id: a copy would close it twice.
  h5_id(const h5_id&) = delete;
  h5_id& operator=(const h5_id&) = delete;

  /// The raw id, for HDF5 calls; still owned by this handle (do not close it).
  [[nodiscard]] hid_t get() const noexcept { return id_; }
  /// What kind of object the id names, which decides the close function (H5Fclose, H5Dclose, ...).
  [[nodiscard]] h5_kind kind() const noexcept { return kind_; }
  /// Whether the handle holds an id.
  [[nodiscard]] bool valid() const noexcept { return id_ >= 0; }
  /// valid().
  explicit operator bool() const noexcept { return valid(); }

  /// Closes now and returns the close function's result (negative on failure) for the caller to check.
  /// The handle is empty afterwards either way. Closing an empty handle returns 0.
  herr_t close() noexcept;
  /// Closes now; a failure is logged to stderr.
  void reset() noexcept;
  /// Gives up ownership without closing; the caller closes the returned id.
  [[nodiscard]] hid_t release() noexcept;

 private:
  hid_t id_ = H5I_INVALID_HID;
  h5_kind kind_ = h5_kind::object;
};

/// How a new file lays out its objects.
struct h5_create_options {
  /// Objects of at least `align_threshold` bytes start at a multiple of `alignment` (H5Pset_alignment):
  /// page-aligned datasets can be written with O_DIRECT (map_to_h5) and read without straddling pages.
  hsize_t align_threshold = 0;
  hsize_t alignment = 1;  ///< bytes; 1 = no alignment (HDF5's default)
};

/// An HDF5 file opened on every rank of a communicator with the MPI-IO driver. Move-only.
///
/// File locking: HDF5 (>= 1.10) locks files with flock(), which many parallel file systems and NFS
/// mounts lack, and then every open fails. Unless the environment variable HDF5_USE_FILE_LOCKING is set
/// (then HDF5 follows it), parallax turns locking off: with H5Pset_file_locking where this HDF5 has it
/// (1.10.7+, 1.12.1+), otherwise by setting HDF5_USE_FILE_LOCKING=FALSE in the environment before the
/// open. Concurrent access by other programs to a file being written is therefore not prevented.
class h5_file {
 public:
  /// Collective. Creates `path` (truncating an existing file) for writing. Throws plx::io_error on
  /// every rank if any rank fails (bad directory, no permission), with the first failing rank's reason.
  static h5_file create(const communicator& comm, const std::string& path, const h5_create_options& options = {});
  /// Collective. Opens an existing file for reading. Throws plx::io_error on every rank if the file is
  /// missing (checked on root) or cannot be opened as HDF5.
  static h5_file open_read(const communicator& comm, const std::string& path);
  /// Collective. Opens an existing file for reading and writing (adding datasets or attributes). Throws
  /// as open_read does.
  static h5_file open_write(const communicator& comm, const std::string& path);

  h5_file() = default;  ///< closed; assign a created or opened file to it
  /// Closes if still open; never throws. Which close depends on how the object goes:
  /// - normally, or after a failure of parallax's own checks that every rank agreed on (failed()): the
  ///   collective close, as close() does; every rank is here together. A failure is logged.
  /// - after an HDF5 call on this file failed (on any rank): the id is let go unclosed, see close().
  /// - while an exception that did not come from this file's agreed failure unwinds the stack: nothing
  ///   collective either, because that exception may have reached this rank only and the others may be
  ///   waiting in another collective (they would never join the close). The id is let go unclosed.
  /// HDF5 closes ids that are still open when MPI is finalized (nothing is closed when the job ends with
  /// MPI_Abort, as parallax's apps do after a failure on several ranks). The data of a file abandoned this
  /// way is incomplete anyway; atomic_output removes its temporary file.
  ~h5_file();
  /// Takes over `other`'s file; `other` is closed afterwards (is_open() false) and closes nothing.
  h5_file(h5_file&& other) noexcept;
  /// Closes this object's own file first (collective then, like close()).
  h5_file& operator=(h5_file&& other) noexcept;
  // One owner per open file (closing is collective and happens once).
  h5_file(const h5_file&) = delete;
  h5_file& operator=(const h5_file&) = delete;

  /// Collective. Flushes and closes the file; throws plx::io_error on every rank if HDF5 reports a
  /// failure on any (a full disk shows up here: metadata is written at the close). The object is closed on
  /// every rank afterwards either way. Closing a closed file does nothing.
  ///
  /// After an HDF5 call on this file failed (and threw on every rank), close() lets the HDF5 id go without
  /// H5Fclose and returns. Why: H5Fclose flushes HDF5's metadata cache collectively, and in HDF5 1.10 a
  /// rank whose metadata write fails (a full disk: with collective MPI-IO only the ranks that write see it)
  /// leaves the flush early and skips the barriers the other ranks wait in, so the close hangs (seen on a
  /// full tmpfs at 2 ranks). The file is abandoned instead; HDF5 closes it at MPI_Finalize if the program
  /// gets there. Create the next file under another name (HDF5 still holds this one open).
  void close();
  /// Collective. Writes HDF5's buffers to the file (H5Fflush), e.g. before a long computation. Throws
  /// plx::io_error on every rank if it fails on any.
  void flush();

  /// Whether the object holds an open file (false after close() and for a default-constructed one).
  [[nodiscard]] bool is_open() const noexcept { return id_.valid(); }
  /// True, on every rank, when the latest collective call on this file failed (on some rank) and so threw
  /// on every rank; a later call that succeeds clears it. The file stays open until close() or the
  /// destructor, which then close it on every rank together.
  [[nodiscard]] bool failed() const noexcept { return failed_; }
  /// Whether the file was created or opened for writing (create, open_write), not open_read.
  [[nodiscard]] bool is_writable() const noexcept { return writable_; }
  /// The path the file was created or opened with.
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  /// The file's own duplicate of the communicator it was opened on.
  [[nodiscard]] const communicator& comm() const noexcept { return comm_; }
  /// The HDF5 file id, for calls parallax does not wrap (they must follow HDF5's collective rules).
  [[nodiscard]] hid_t native() const noexcept { return id_.get(); }

  /// True when `object_path` names a group, dataset or other link in the file (intermediate groups may
  /// be missing: then false). Same answer on every rank; not collective.
  [[nodiscard]] bool exists(const std::string& object_path) const;
  /// Collective. Creates the group `group_path` and any missing parents; an existing group is fine.
  void create_group(const std::string& group_path);

 private:
  h5_file(communicator comm, std::string path, h5_id id, bool writable) noexcept;
  static h5_file open_existing(const communicator& comm, const std::string& path, bool writable);
  void close_noexcept() noexcept;
  friend void detail::mark_failed(h5_file& file) noexcept;
  friend void detail::mark_poisoned(h5_file& file) noexcept;
  friend void detail::agree_on_step(h5_file& file, const std::string& local_failure, bool hdf5_failed);

  communicator comm_;
  std::string path_;
  h5_id id_;
  bool writable_ = false;
  bool failed_ = false;
  bool poisoned_ = false;     // an HDF5 call on this file failed on some rank: never H5Fclose it (see close())
  int uncaught_at_open_ = 0;  // std::uncaught_exceptions() when opened: tells the destructor it is unwinding
};

// --- attributes ------------------------------------------------------------------------------------
// On a group or dataset, named by its path ("/" = root group). Setting is collective with the same values
// on every rank (HDF5 writes attributes as metadata); an existing attribute of the same name is replaced.
// Getting is independent (no communication). Strings are stored fixed-length, null-terminated, UTF-8;
// reading also accepts variable-length strings (as h5py writes them).

/// Collective. Stores a 64-bit float attribute.
void set_attribute(h5_file& file, const std::string& object_path, const std::string& name, double value);
/// Collective. Stores a 64-bit signed integer attribute.
void set_attribute(h5_file& file, const std::string& object_path, const std::string& name, std::int64_t value);
/// Collective. Stores another integer type as int64 (throws plx::io_error if it does not fit). Lets
/// `set_attribute(f, "/", "n", 128)` and size_t values work without a cast; bool is not accepted.
template <typename Int>
  requires(std::is_integral_v<Int> && !std::is_same_v<Int, bool> && !std::is_same_v<Int, std::int64_t>)
void set_attribute(h5_file& file, const std::string& object_path, const std::string& name, Int value) {
  if (!std::in_range<std::int64_t>(value)) {
    throw io_error("attribute '" + name + "' of '" + object_path + "': value " + std::to_string(value) +
                   " does not fit in int64");
  }
  set_attribute(file, object_path, name, static_cast<std::int64_t>(value));
}
/// Collective. Stores a 64-bit unsigned integer attribute (a random seed: every value of 0 .. 2^64 - 1
/// kept as given). A separate name because size_t, which is std::uint64_t here too, is stored as int64.
void set_attribute_uint64(h5_file& file, const std::string& object_path, const std::string& name,
                          std::uint64_t value);
/// Collective. Stores a string attribute.
void set_attribute(h5_file& file, const std::string& object_path, const std::string& name,
                   const std::string& value);
/// Collective. Stores a string attribute (a literal would otherwise need std::string(...)).
inline void set_attribute(h5_file& file, const std::string& object_path, const std::string& name,
                          const char* value) {
  set_attribute(file, object_path, name, std::string(value));
}
/// Collective. Stores a 1D array of 64-bit floats (may be empty).
void set_attribute(h5_file& file, const std::string& object_path, const std::string& name,
                   std::span<const double> values);

/// Reads a scalar float attribute (integer attributes are converted). Throws plx::io_error if missing.
[[nodiscard]] double get_attribute_double(const h5_file& file, const std::string& object_path,
                                          const std::string& name);
/// Reads a scalar integer attribute. Throws plx::io_error if missing or not an integer.
[[nodiscard]] std::int64_t get_attribute_int64(const h5_file& file, const std::string& object_path,
                                               const std::string& name);
/// Reads a scalar integer attribute as unsigned 64-bit. Throws plx::io_error if missing, not an integer, or
/// negative.
[[nodiscard]] std::uint64_t get_attribute_uint64(const h5_file& file, const std::string& object_path,
                                                 const std::string& name);
/// Reads a string attribute (fixed or variable length). Throws plx::io_error if missing or not a string.
[[nodiscard]] std::string get_attribute_string(const h5_file& file, const std::string& object_path,
                                               const std::string& name);
/// Reads a float attribute of any shape, flattened in row-major order.
[[nodiscard]] std::vector<double> get_attribute_doubles(const h5_file& file, const std::string& object_path,
                                                        const std::string& name);
/// True when the object has an attribute of that name. Throws plx::io_error if the object is missing.
[[nodiscard]] bool has_attribute(const h5_file& file, const std::string& object_path, const std::string& name);

// --- internals shared by the io sources --------------------------------------------------------------
// (They belong in include/parallax/io/detail/; they live here until that header exists.)
namespace detail {

/// Throws h5_call_error (a plx::io_error): "<call> failed for '<object>' in '<file>' (rank r of n): <HDF5's
/// reason>[; <the system's reason>]". Reads HDF5's error stack and errno, so call it right after the
/// failing call.
[[noreturn]] void throw_h5_failure(const char* call, const std::string& file_path, std::string_view object,
                                   int rank, int size);

/// Every HDF5 return code goes through here: throws (as above) when `code` is negative.
inline herr_t check_h5(herr_t code, const char* call, const h5_file& file, std::string_view object) {
  if (code < 0) throw_h5_failure(call, file.path(), object, file.comm().rank(), file.comm().size());
  return code;
}
/// The same for calls returning a tri-state htri_t (negative: failure; else true or false).
inline bool check_h5_tri(htri_t code, const char* call, const h5_file& file, std::string_view object) {
  if (code < 0) throw_h5_failure(call, file.path(), object, file.comm().rank(), file.comm().size());
  return code > 0;
}
/// Wraps a freshly returned id, throwing (as above) when it is negative.
inline h5_id own(hid_t id, h5_kind kind, const char* call, const h5_file& file, std::string_view object) {
  if (id < 0) throw_h5_failure(call, file.path(), object, file.comm().rank(), file.comm().size());
  return h5_id(id, kind);
}

/// Silences HDF5's automatic error printing while it lives (restoring the previous handler after):
/// parallax reports failures by exception, with HDF5's reason read from the error stack.
class h5_quiet {
 public:
  h5_quiet() noexcept;
  ~h5_quiet();
  // Restores a saved handler exactly once.
  h5_quiet(const h5_quiet&) = delete;
  h5_quiet& operator=(const h5_quiet&) = delete;
  h5_quiet(h5_quiet&&) = delete;
  h5_quiet& operator=(h5_quiet&&) = delete;

 private:
  H5E_auto2_t function_ = nullptr;
  void* data_ = nullptr;
  bool saved_ = false;
};

/// Predefined HDF5 ids. The HDF5 macros expand to expressions that -Wold-style-cast flags in some
/// versions, so the io sources name them through these functions.
hid_t native_double() noexcept;
hid_t native_int64() noexcept;
hid_t file_double() noexcept;  ///< IEEE 754 little-endian 64-bit, the on-disk type of our float data
hid_t file_int64() noexcept;   ///< little-endian signed 64-bit, the on-disk type of our integers
hid_t native_uint64() noexcept;
hid_t file_uint64() noexcept;  ///< little-endian unsigned 64-bit, the on-disk type of seeds
hid_t native_uint8() noexcept;
hid_t file_uint8() noexcept;   ///< unsigned 8-bit, the on-disk type of small labels (a cell's class)
hid_t all_selection() noexcept;  ///< H5S_ALL

/// Collective. Ends one collective step on `file`: `local_failure` is this rank's error message ("" when
/// the step succeeded here), `hdf5_failed` whether an HDF5 call made it. When any rank failed, every rank
/// marks the file failed() (and, if an HDF5 call failed on any rank, never to be H5Fclose'd: see close())
/// and throws plx::io_error with the message of the lowest failing rank (which names the file, the call and
/// the rank); otherwise returns on every rank. One MPI_Allreduce when nothing failed.
// (Declared above, for h5_file's friend declaration.)

/// Collective. Runs `step` (HDF5 calls that throw plx::io_error through check_h5 and own) on every rank and
/// agrees on its outcome with agree_on_step: a failure on any rank throws the same plx::io_error on every
/// rank. Use it around each call HDF5 requires to be collective, and around the local preparation before
/// one, so that no rank enters a collective HDF5 call that another rank has skipped by throwing.
template <class Step>
auto agreed(h5_file& file, Step&& step) {
  using Result = decltype(step());
  std::string failure;
  bool hdf5_failed = false;
  [[maybe_unused]] std::conditional_t<std::is_void_v<Result>, bool, Result> result{};
  try {
    if constexpr (std::is_void_v<Result>) {
      step();
    } else {
      result = step();
    }
  } catch (const h5_call_error& e) {
    failure = e.what();
    hdf5_failed = true;
  } catch (const std::exception& e) {
    failure = e.what();
  }
  agree_on_step(file, failure, hdf5_failed);
  if constexpr (!std::is_void_v<Result>) return result;
}

/// Passes `code` through, or -1 with errno ENOSPC when the fault site "hdf5.write" is armed on this process
/// (plx::detail::arm_fault, or PLX_FAULT=hdf5.write@rank): the writes parallax makes into HDF5 files (H5Dwrite,
/// H5Awrite, write_distributed's own pwrite) then report failure after they were carried out, as a full disk
/// reported to one rank only would. For tests of the failure paths only.
herr_t injected_write_result(herr_t code) noexcept;
/// The same for reads: -1 with errno EIO when the fault site "hdf5.read" is armed on this process (the H5Dread
/// of read_distributed then fails after HDF5 carried it out, as an unreadable disk seen by one rank would).
herr_t injected_read_result(herr_t code) noexcept;

/// The operating system's reason for a failed write to `file_path`, or "": errno when it names a storage
/// problem (ENOSPC, EDQUOT, EFBIG, EIO, EROFS), else "No space left on device" when the file system shows
/// no free blocks. MPI-IO and HDF5 often report only "file write failed"; this names the cause.
std::string storage_cause(const std::string& file_path, int saved_errno);

/// Collective. A transfer property list with H5FD_MPIO_COLLECTIVE (every rank takes part, even with
/// an empty selection).
h5_id collective_transfer(const h5_file& file, std::string_view object);

/// Opens the dataset at `path`; throws if it is missing.
h5_id open_dataset(const h5_file& file, const std::string& path);

/// Collective. Creates a float64 dataset of shape `dims` (missing parent groups too). If a dataset of
/// that shape and type already exists it is opened instead (rewriting it); another shape throws. Agreed
/// (see agreed()): a failure on any rank throws on every rank. Do not call it inside agreed().
h5_id create_double_dataset(h5_file& file, const std::string& path, std::span<const hsize_t> dims);
/// Collective. The same for a dataset of `file_type` (file_double(), file_uint8(), ...); an existing one must
/// have the same type class and size.
h5_id create_dataset(h5_file& file, const std::string& path, std::span<const hsize_t> dims, hid_t file_type);

/// The current extents of a dataspace.
std::vector<hsize_t> space_dims(hid_t space, const h5_file& file, std::string_view object);

/// Collective. Throws plx::io_error with the same message on every rank when any rank passes a non-empty
/// `local_failure`: the message of the lowest failing rank, prefixed with `what`. Used to turn checks that
/// may fail on some ranks only into a failure of all (so no rank is left waiting in the next collective).
void agree_or_throw(const communicator& comm, const std::string& what, const std::string& local_failure);
/// Collective. The same for a step on `file`, which is then marked failed() on every rank.
void agree_or_throw(h5_file& file, const std::string& what, const std::string& local_failure);

/// "rank r of n"
std::string rank_text(const communicator& comm);

}  // namespace detail

}  // namespace plx::io
