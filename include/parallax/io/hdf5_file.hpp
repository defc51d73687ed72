// plx::io::h5_file: one HDF5 file shared by all ranks of a communicator, opened with the MPI-IO driver.
//
// Every rank opens the same file and writes its own part straight into it (see slab_io.hpp); nothing is
// gathered to root. HDF5's rule for parallel files shapes this API: every call that changes metadata
// (creating the file, a group, a dataset or an attribute, writing an attribute, closing) is collective
// and must get the same arguments on every rank. Such calls say "Collective." first in their docs.
//
// Objects are named by absolute paths: "/" is the root group, "/frames/003/density" a dataset in a
// nested group. Missing intermediate groups are created on the way.
//
// Errors: every HDF5 return code goes through one check that throws plx::io_error naming the HDF5 call,
// the file, the object and the rank, plus HDF5's own description; HDF5's automatic error printing is
// silenced during parallax's calls so that the exception is the one report. Not thread-safe: call from
// one thread per rank (the Debian parallel HDF5 is not built thread-safe), outside OpenMP regions.
//
//   auto file = plx::io::h5_file::create(rt.world(), "run.h5");
//   plx::io::set_attribute(file, "/", "box_size_mpc_h", 500.0);
//   plx::io::write_distributed(file, "/density", {...}, local);   // slab_io.hpp
//   file.close();
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <parallax/core/communicator.hpp>
#include <parallax/core/error.hpp>

namespace plx::io {

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
  // Moving hands the id over and leaves the source empty (so it closes nothing).
  h5_id(h5_id&& other) noexcept
      : id_(std::exchange(other.id_, H5I_INVALID_HID)), kind_(other.kind_) {}
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

  [[nodiscard]] hid_t get() const noexcept { return id_; }
  [[nodiscard]] h5_kind kind() const noexcept { return kind_; }
  [[nodiscard]] bool valid() const noexcept { return id_ >= 0; }
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
  static h5_file create(const communicator& comm, const std::string& path);
  /// Collective. Opens an existing file for reading. Throws plx::io_error on every rank if the file is
  /// missing (checked on root) or cannot be opened as HDF5.
  static h5_file open_read(const communicator& comm, const std::string& path);

  h5_file() = default;  ///< closed; assign a created or opened file to it
  /// Closes if still open (collective then, like close()); a failure is logged, never thrown. When the
  /// destructor runs during an exception, the exception must have reached every rank (parallax's
  /// failures do), or the collective close waits for the ranks that did not fail.
  ~h5_file();
  h5_file(h5_file&&) noexcept = default;
  /// Closes this object's own file first (collective then, like close()).
  h5_file& operator=(h5_file&& other) noexcept;
  // One owner per open file (closing is collective and happens once).
  h5_file(const h5_file&) = delete;
  h5_file& operator=(const h5_file&) = delete;

  /// Collective. Flushes and closes the file; throws plx::io_error if HDF5 reports a failure. Closing a
  /// closed file does nothing.
  void close();
  /// Collective. Writes HDF5's buffers to the file (H5Fflush), e.g. before a long computation.
  void flush();

  [[nodiscard]] bool is_open() const noexcept { return id_.valid(); }
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
  void close_noexcept() noexcept;

  communicator comm_;
  std::string path_;
  h5_id id_;
  bool writable_ = false;
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

/// Throws plx::io_error: "<call> failed for '<object>' in '<file>' (rank r of n): <HDF5's reason>".
/// Reads HDF5's error stack, so call it right after the failing call.
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
hid_t all_selection() noexcept;  ///< H5S_ALL

/// Collective. A transfer property list with H5FD_MPIO_COLLECTIVE (every rank takes part, even with
/// an empty selection).
h5_id collective_transfer(const h5_file& file, std::string_view object);

/// Opens the dataset at `path`; throws if it is missing.
h5_id open_dataset(const h5_file& file, const std::string& path);

/// Collective. Creates a float64 dataset of shape `dims` (missing parent groups too). If a dataset of
/// that shape and type already exists it is opened instead (rewriting it); another shape throws.
h5_id create_double_dataset(h5_file& file, const std::string& path, std::span<const hsize_t> dims);

/// The current extents of a dataspace.
std::vector<hsize_t> space_dims(hid_t space, const h5_file& file, std::string_view object);

/// Collective. Throws plx::io_error with the same message on every rank when any rank passes a non-empty
/// `local_failure`: the message of the lowest failing rank, prefixed with `what`. Used to turn checks that
/// may fail on some ranks only into a failure of all (so no rank is left waiting in the next collective).
void agree_or_throw(const communicator& comm, const std::string& what, const std::string& local_failure);

/// "rank r of n"
std::string rank_text(const communicator& comm);

}  // namespace detail

}  // namespace plx::io
