#include <parallax/io/hdf5_file.hpp>

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include <mpi.h>

#include <parallax/core/collectives.hpp>
#include <parallax/core/detail/fault_injection.hpp>
#include <parallax/core/runtime.hpp>

namespace plx::io {

// H5Pset_file_locking arrived in HDF5 1.10.7 and 1.12.1 (not in 1.12.0).
#if H5_VERSION_GE(1, 12, 1) || (H5_VERS_MAJOR == 1 && H5_VERS_MINOR == 10 && H5_VERS_RELEASE >= 7)
#define PLX_HDF5_HAS_FILE_LOCKING_PROPERTY 1
#else
#define PLX_HDF5_HAS_FILE_LOCKING_PROPERTY 0
#endif

// --- detail ------------------------------------------------------------------------------------------

namespace detail {

namespace {

// Injected failures (injected_write_result, injected_read_result): one thread per rank calls HDF5 (see the
// header), so no atomics.
bool injected_now = false;  // the failure being described was injected
bool injected_since_agreed = false;  // the latest step's HDF5 failure here was injected (HDF5 itself is fine)

struct error_walk {
  std::vector<std::string> descriptions;
};

herr_t collect_error(unsigned /*n*/, const H5E_error2_t* entry, void* client) {
  auto* walk = static_cast<error_walk*>(client);
  if (entry != nullptr && entry->desc != nullptr && entry->desc[0] != '\0') {
    walk->descriptions.emplace_back(entry->desc);
  }
  return 0;
}

/// Calls that write to the file (data, or metadata that HDF5 may flush on the way).
bool is_writing_call(std::string_view call) {
  constexpr std::string_view writing[] = {"H5Dwrite", "H5Awrite", "H5Fflush", "H5Fclose", "H5Fcreate",
                                          "H5Dcreate2", "H5Gcreate2", "H5Acreate2", "H5Adelete",
                                          "pwrite"};
  return std::find(std::begin(writing), std::end(writing), call) != std::end(writing);
}

std::string describe_h5_failure(const char* call, const std::string& file_path, std::string_view object, int rank,
                                int size) {
  // First, before anything else can touch errno: the failing write(2) under MPI-IO left its reason there,
  // and MPI-IO and HDF5 pass on only "file write failed".
  const int saved_errno = errno;
  const std::string cause = is_writing_call(call) ? storage_cause(file_path, saved_errno) : std::string();
  // Downward: the API function's own description first, the innermost cause (often with errno) last.
  error_walk walk;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect_error, &walk);
  H5Eclear2(H5E_DEFAULT);
  // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) about `"'" + std::string(...)` here.
  std::string text(call);
  text.append(" failed for ");
  if (!object.empty()) text.append("'").append(object).append("' in ");
  text.append("'").append(file_path).append("' (rank ").append(std::to_string(rank));
  text.append(" of ").append(std::to_string(size)).append(")");
  if (!walk.descriptions.empty()) {
    text.append(": ").append(walk.descriptions.front());
    if (walk.descriptions.size() > 1) text.append(" (cause: ").append(walk.descriptions.back()).append(")");
  }
  if (!cause.empty()) text.append(walk.descriptions.empty() ? ": " : "; ").append(cause);
  if (std::exchange(injected_now, false)) text.append(" (injected by a test)");
  return text;
}

}  // namespace

void throw_h5_failure(const char* call, const std::string& file_path, std::string_view object, int rank, int size) {
  throw h5_call_error(describe_h5_failure(call, file_path, object, rank, size));
}

std::string storage_cause(const std::string& file_path, int saved_errno) {
  switch (saved_errno) {
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
    case EIO:
    case EROFS: return std::strerror(saved_errno);
    default: break;
  }
  // errno did not survive (MPI-IO and HDF5 ran on after the failed write): a full file system still shows.
  const std::filesystem::path parent = std::filesystem::path(file_path).parent_path();
  struct statvfs info {};
  if (::statvfs(parent.empty() ? "." : parent.c_str(), &info) == 0 && info.f_blocks > 0 && info.f_bavail == 0) {
    return std::strerror(ENOSPC);
  }
  return {};
}

namespace {
/// `code`, or -1 with the injected errno in errno when the fault site `site` is armed here.
herr_t injected_result(herr_t code, const plx::detail::fault_site& site) noexcept {
  if (code < 0) return code;
  const int error_number = plx::detail::injected_errno(site);
  if (error_number == 0) return code;
  errno = error_number;
  injected_now = true;
  injected_since_agreed = true;
  return -1;
}
}  // namespace

herr_t injected_write_result(herr_t code) noexcept { return injected_result(code, plx::detail::fault_sites::hdf5_write); }

namespace {
/// After a call that succeeded: the errno an armed `site` makes it report (0: none), noted as injected. The
/// call itself was carried out, so HDF5's state is sound (the file is created, flushed or closed).
int injected_after_success(const plx::detail::fault_site& site) noexcept {
  const int error_number = plx::detail::injected_errno(site);
  if (error_number != 0) {
    errno = error_number;
    injected_now = true;
  }
  return error_number;
}
}  // namespace

herr_t injected_read_result(herr_t code) noexcept { return injected_result(code, plx::detail::fault_sites::hdf5_read); }

void mark_failed(h5_file& file) noexcept { file.failed_ = true; }

void mark_poisoned(h5_file& file) noexcept {
  file.failed_ = true;
  file.poisoned_ = true;
  plx::detail::forbid_finalize();
}

void agree_on_step(h5_file& file, const std::string& local_failure, bool hdf5_failed) {
  const std::string message = plx::detail::agree_on_failure(file.comm(), local_failure);
  // The latest step decides: a step that succeeded everywhere after a failure clears the mark.
  file.failed_ = !message.empty();
  if (message.empty()) return;
  // Whether to H5Fclose later must be one decision for all ranks (only on this failure path: one more
  // allreduce). Another rank's HDF5 failure counts even when a lower rank's message is the one reported.
  // 1: only injected failures (tests: HDF5 carried the write out), 2: a real one somewhere.
  const bool injected = std::exchange(injected_since_agreed, false);
  int mine = hdf5_failed ? (injected ? 1 : 2) : 0;
  int any = 0;
  plx::detail::check_mpi(MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, file.comm().native()), "MPI_Allreduce");
  if (any != 0) file.poisoned_ = true;
  if (any == 2) plx::detail::forbid_finalize();  // HDF5 would close the abandoned file in MPI_Finalize
  throw plx::detail::collective(io_error(message));
}

namespace {

// Queries whose failure value is not a negative herr_t, checked all the same.
H5T_class_t type_class(hid_t type, const h5_file& file, std::string_view object) {
  const H5T_class_t result = H5Tget_class(type);
  check_h5(result == H5T_NO_CLASS ? -1 : 0, "H5Tget_class", file, object);
  return result;
}

std::size_t type_size(hid_t type, const h5_file& file, std::string_view object) {
  const std::size_t result = H5Tget_size(type);
  check_h5(result == 0 ? -1 : 0, "H5Tget_size", file, object);
  return result;
}

bool is_group(hid_t object_id, const h5_file& file, std::string_view object) {
  const H5I_type_t result = H5Iget_type(object_id);
  check_h5(result == H5I_BADID ? -1 : 0, "H5Iget_type", file, object);
  return result == H5I_GROUP;
}

}  // namespace

h5_quiet::h5_quiet() noexcept {
  saved_ = H5Eget_auto2(H5E_DEFAULT, &function_, &data_) >= 0;
  if (saved_) H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

h5_quiet::~h5_quiet() {
  if (saved_) H5Eset_auto2(H5E_DEFAULT, function_, data_);
}

// The type macros expand to `(H5OPEN H5T_..._g)`, which makes sure the library is initialised first.
hid_t native_double() noexcept { return H5T_NATIVE_DOUBLE; }
hid_t native_int64() noexcept { return H5T_NATIVE_INT64; }
hid_t file_double() noexcept { return H5T_IEEE_F64LE; }
hid_t file_int64() noexcept { return H5T_STD_I64LE; }
hid_t native_uint64() noexcept { return H5T_NATIVE_UINT64; }
hid_t file_uint64() noexcept { return H5T_STD_U64LE; }
hid_t native_uint8() noexcept { return H5T_NATIVE_UINT8; }
hid_t file_uint8() noexcept { return H5T_STD_U8LE; }
hid_t all_selection() noexcept { return H5S_ALL; }

h5_id collective_transfer(const h5_file& file, std::string_view object) {
  h5_id dxpl = own(H5Pcreate(H5P_DATASET_XFER), h5_kind::property_list, "H5Pcreate(dataset transfer)", file, object);
  check_h5(H5Pset_dxpl_mpio(dxpl.get(), H5FD_MPIO_COLLECTIVE), "H5Pset_dxpl_mpio", file, object);
  return dxpl;
}

h5_id open_dataset(const h5_file& file, const std::string& path) {
  if (!file.exists(path)) {
    throw io_error("no dataset '" + path + "' in '" + file.path() + "' (" + rank_text(file.comm()) + ")");
  }
  return own(H5Dopen2(file.native(), path.c_str(), H5P_DEFAULT), h5_kind::dataset, "H5Dopen2", file, path);
}

std::vector<hsize_t> space_dims(hid_t space, const h5_file& file, std::string_view object) {
  const int rank = H5Sget_simple_extent_ndims(space);
  check_h5(rank, "H5Sget_simple_extent_ndims", file, object);
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  if (rank > 0) {
    check_h5(H5Sget_simple_extent_dims(space, dims.data(), nullptr), "H5Sget_simple_extent_dims", file, object);
  }
  return dims;
}

h5_id create_double_dataset(h5_file& file, const std::string& path, std::span<const hsize_t> dims) {
  return create_dataset(file, path, dims, file_double());
}

h5_id create_dataset(h5_file& file, const std::string& path, std::span<const hsize_t> dims, hid_t file_type) {
  // Two agreed steps: the local work (is it there, the property lists), then the collective H5Dcreate2.
  struct prepared {
    h5_id existing;  // the dataset, when it exists already
    h5_id space, lcpl, dcpl;
  };
  prepared p = agreed(file, [&] {
    prepared result;
    if (file.exists(path)) {
      result.existing = open_dataset(file, path);
      h5_id space = own(H5Dget_space(result.existing.get()), h5_kind::dataspace, "H5Dget_space", file, path);
      h5_id type = own(H5Dget_type(result.existing.get()), h5_kind::datatype, "H5Dget_type", file, path);
      const std::vector<hsize_t> existing = space_dims(space.get(), file, path);
      const bool same_type = type_class(type.get(), file, path) == type_class(file_type, file, path) &&
                             type_size(type.get(), file, path) == type_size(file_type, file, path);
      if (!same_type || !std::ranges::equal(existing, dims)) {
        throw io_error("dataset '" + path + "' in '" + file.path() +
                       "' already exists with another shape or type; datasets are written once");
      }
      return result;
    }
    result.space = own(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), h5_kind::dataspace,
                       "H5Screate_simple", file, path);
    result.lcpl = own(H5Pcreate(H5P_LINK_CREATE), h5_kind::property_list, "H5Pcreate(link create)", file, path);
    check_h5(H5Pset_create_intermediate_group(result.lcpl.get(), 1), "H5Pset_create_intermediate_group", file, path);
    result.dcpl = own(H5Pcreate(H5P_DATASET_CREATE), h5_kind::property_list, "H5Pcreate(dataset create)", file, path);
    // Parallel HDF5 allocates the whole dataset at creation and would write fill values into it
    // collectively; our writers cover every element, so skip that extra pass over the file.
    check_h5(H5Pset_fill_time(result.dcpl.get(), H5D_FILL_TIME_NEVER), "H5Pset_fill_time", file, path);
    return result;
  });
  if (p.existing) return std::move(p.existing);
  return agreed(file, [&] {
    return own(H5Dcreate2(file.native(), path.c_str(), file_type, p.space.get(), p.lcpl.get(), p.dcpl.get(),
                          H5P_DEFAULT),
               h5_kind::dataset, "H5Dcreate2", file, path);
  });
}

std::string rank_text(const communicator& comm) {
  return "rank " + std::to_string(comm.rank()) + " of " + std::to_string(comm.size());
}

namespace {


}  // namespace

void agree_or_throw(const communicator& comm, const std::string& what, const std::string& local_failure) {
  const std::string message = plx::detail::agree_on_failure(comm, local_failure);
  if (!message.empty()) throw plx::detail::collective(io_error(what + message));
}

void agree_or_throw(h5_file& file, const std::string& what, const std::string& local_failure) {
  agree_on_step(file, local_failure.empty() ? local_failure : what + local_failure, false);
}

}  // namespace detail

// --- h5_id -------------------------------------------------------------------------------------------

herr_t h5_id::close() noexcept {
  if (id_ < 0) return 0;
  const hid_t id = std::exchange(id_, H5I_INVALID_HID);
  switch (kind_) {
    case h5_kind::file: return H5Fclose(id);
    case h5_kind::group: return H5Gclose(id);
    case h5_kind::dataset: return H5Dclose(id);
    case h5_kind::dataspace: return H5Sclose(id);
    case h5_kind::datatype: return H5Tclose(id);
    case h5_kind::property_list: return H5Pclose(id);
    case h5_kind::attribute: return H5Aclose(id);
    case h5_kind::object: return H5Oclose(id);
  }
  return -1;
}

void h5_id::reset() noexcept {
  if (id_ < 0) return;
  detail::h5_quiet quiet;
  const hid_t id = id_;
  if (close() < 0) {
    std::fprintf(stderr, "parallax: warning: closing HDF5 id %lld (kind %d) failed\n", static_cast<long long>(id),
                 static_cast<int>(kind_));
    H5Eclear2(H5E_DEFAULT);
  }
}

// --- h5_file -----------------------------------------------------------------------------------------

namespace {

/// Where each object path component ends: "/a/b/c" gives "/a", "/a/b", "/a/b/c". Throws unless the path
/// is absolute. "/" gives nothing (the root group always exists).
std::vector<std::string> path_prefixes(const std::string& object_path, const std::string& file_path) {
  if (object_path.empty() || object_path.front() != '/') {
    throw io_error("object path '" + object_path + "' in '" + file_path + "' must be absolute (start with '/')");
  }
  std::vector<std::string> prefixes;
  std::size_t end = 0;
  while (end < object_path.size()) {
    const std::size_t start = object_path.find_first_not_of('/', end);
    if (start == std::string::npos) break;
    end = std::min(object_path.find('/', start), object_path.size());
    prefixes.push_back(object_path.substr(0, end));
  }
  return prefixes;
}

h5_id file_access_list(const communicator& comm, const std::string& path, hsize_t align_threshold = 0,
                       hsize_t alignment = 1) {
  auto check = [&](herr_t code, const char* call) {
    if (code < 0) detail::throw_h5_failure(call, path, "", comm.rank(), comm.size());
  };
  const hid_t id = H5Pcreate(H5P_FILE_ACCESS);
  if (id < 0) detail::throw_h5_failure("H5Pcreate(file access)", path, "", comm.rank(), comm.size());
  h5_id fapl(id, h5_kind::property_list);
  check(H5Pset_fapl_mpio(fapl.get(), comm.native(), MPI_INFO_NULL), "H5Pset_fapl_mpio");
  // Metadata writes are collective anyway (HDF5's rule); this lets HDF5 write them with collective MPI-IO
  // instead of from every rank. Metadata *reads* stay independent, so getters need no communication.
  check(H5Pset_coll_metadata_write(fapl.get(), 1), "H5Pset_coll_metadata_write");
  if (alignment > 1) check(H5Pset_alignment(fapl.get(), align_threshold, alignment), "H5Pset_alignment");
  if (std::getenv("HDF5_USE_FILE_LOCKING") == nullptr) {
#if PLX_HDF5_HAS_FILE_LOCKING_PROPERTY
    check(H5Pset_file_locking(fapl.get(), 0, 1), "H5Pset_file_locking");
#else
    // Older HDF5 reads only the environment variable (at each open). Not thread-safe: we are on the one
    // thread that calls HDF5, before the open.
    setenv("HDF5_USE_FILE_LOCKING", "FALSE", 0);
#endif
  }
  return fapl;
}

/// Collective. Turns a per-rank open result into a verdict shared by all ranks. `injected`: the fault site
/// of this call (hdf5.create), armed on this rank, fails an open that succeeded.
h5_id agree_on_open(const communicator& comm, hid_t id, const char* call, const std::string& path,
                    const plx::detail::fault_site* injected = nullptr) {
  std::string failure;
  if (id < 0 || (injected != nullptr && detail::injected_after_success(*injected) != 0)) {
    failure = detail::describe_h5_failure(call, path, "", comm.rank(), comm.size());
  }
  h5_id file(id, h5_kind::file);
  std::string message;
  try {
    message = plx::detail::agree_on_failure(comm, failure);
  } catch (...) {
    // The agreement itself failed here (MPI), while the other ranks may have gone on: H5Fclose is collective
    // and they would never join it. Let the id go; this rank's error ends the job.
    static_cast<void>(file.release());
    throw;
  }
  if (!message.empty()) {
    // Only on this failure path: whether every rank holds the file (an injected failure), so that it can be
    // closed together instead of left open.
    int held = file ? 1 : 0;
    int held_everywhere = 0;
    plx::detail::check_mpi(MPI_Allreduce(&held, &held_everywhere, 1, MPI_INT, MPI_MIN, comm.native()),
                           "MPI_Allreduce");
    if (held_everywhere != 0) {
      detail::h5_quiet quiet;
      if (file.close() < 0) H5Eclear2(H5E_DEFAULT);
      throw plx::detail::collective(io_error(message));
    }
    if (file) {
      // Closing is collective and the failed ranks cannot join, so this rank's handle is left open.
      std::fprintf(stderr, "parallax: warning: %s of '%s' failed on another rank; leaving it open on rank %d\n",
                   call, path.c_str(), comm.rank());
      static_cast<void>(file.release());
    }
    throw io_error(message);
  }
  return file;
}

/// On root, after a close that reported success: "" unless writes to `path` were lost without an error.
/// Open MPI's OMPIO drops the ENOSPC of some writes (seen at 3 ranks on a full tmpfs: pwrite64 failed, yet
/// H5Dwrite and H5Fclose succeeded), which would leave a corrupt file that looks complete. Our files have
/// every byte written (datasets are written whole, with no fill pass), so a file with fewer blocks on disk
/// than its size, on a file system with no space left, lost writes. (Only when the file system is full:
/// compressing file systems such as ZFS also show fewer blocks than the size.)
std::string lost_writes(const std::string& path) {
  struct stat file_info {};
  struct statvfs disk {};
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (::stat(path.c_str(), &file_info) != 0 ||
      ::statvfs(parent.empty() ? "." : parent.c_str(), &disk) != 0) {
    return {};  // nothing to tell either way; the close itself succeeded
  }
  const auto on_disk = static_cast<unsigned long long>(file_info.st_blocks) * 512ULL;
  const auto size = static_cast<unsigned long long>(file_info.st_size);
  if (disk.f_bavail != 0 || on_disk >= size) return {};
  return "writing '" + path + "' failed: " + std::strerror(ENOSPC) + " (the file system is full and " +
         std::to_string(size - on_disk) + " of the file's " + std::to_string(size) +
         " bytes never reached the disk, although MPI-IO reported no error; checked on rank 0)";
}

/// On root, before the flush that closing a writable file starts: "" when the disk has room for what the
/// flush and the close may write, else why not. HDF5 1.10 does not survive a full disk inside its collective
/// metadata flush: the rank that writes the metadata fails and waits in a barrier while the others have gone
/// on to extend the file (a Bcast), and the job hangs (found by the fault sweep: plx-ensemble on a 28 KiB
/// tmpfs). What may be written: the metadata cache's dirty entries (at most its current size), and the
/// file's extension to its end of allocation (EOA) where that is not yet on disk; with 64 KiB to spare.
std::string room_to_flush(hid_t file, const std::string& path) {
  haddr_t end_of_allocation = 0;
  std::size_t max_size = 0;
  std::size_t min_clean_size = 0;
  std::size_t cache_size = 0;
  int entries = 0;
  struct stat file_info {};
  struct statvfs disk {};
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  // Either query may be refused (the MPI-IO driver has no EOA to give before the flush): then 0, the margin.
  if (H5Fget_eoa(file, &end_of_allocation) < 0) end_of_allocation = 0;
  if (H5Fget_mdc_size(file, &max_size, &min_clean_size, &cache_size, &entries) < 0) cache_size = 0;
  H5Eclear2(H5E_DEFAULT);
  if (::stat(path.c_str(), &file_info) != 0 || ::statvfs(parent.empty() ? "." : parent.c_str(), &disk) != 0) {
    return {};  // nothing to tell: the flush decides
  }
  const auto on_disk = static_cast<unsigned long long>(file_info.st_blocks) * 512ULL;
  const unsigned long long extension = end_of_allocation > on_disk ? end_of_allocation - on_disk : 0;
  const unsigned long long needed = extension + cache_size + (64ULL << 10);
  const unsigned long long free_bytes =
      static_cast<unsigned long long>(disk.f_bavail) * static_cast<unsigned long long>(disk.f_frsize);
  if (free_bytes >= needed) return {};
  return "H5Fclose failed for '" + path + "': " + std::strerror(ENOSPC) + " (its metadata needs up to " +
         std::to_string(needed) + " bytes and the disk has " + std::to_string(free_bytes) +
         " free: HDF5 cannot close a file on a full disk safely, so it is left unclosed; checked on rank 0)";
}

}  // namespace

hid_t h5_id::release() noexcept { return std::exchange(id_, H5I_INVALID_HID); }

h5_file::h5_file(communicator comm, std::string path, h5_id id, bool writable) noexcept
    : comm_(std::move(comm)),
      path_(std::move(path)),
      id_(std::move(id)),
      writable_(writable),
      uncaught_at_open_(std::uncaught_exceptions()) {}

h5_file::h5_file(h5_file&& other) noexcept
    : comm_(std::move(other.comm_)),
      path_(std::move(other.path_)),
      id_(std::move(other.id_)),
      writable_(other.writable_),
      failed_(std::exchange(other.failed_, false)),
      poisoned_(std::exchange(other.poisoned_, false)),
      uncaught_at_open_(other.uncaught_at_open_) {}

h5_file h5_file::create(const communicator& comm, const std::string& path, const h5_create_options& options) {
  detail::h5_quiet quiet;
  communicator own = comm.dup();
  h5_id fapl = file_access_list(own, path, options.align_threshold, options.alignment);
  const hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get());
  h5_id file = agree_on_open(own, id, "H5Fcreate", path, &plx::detail::fault_sites::hdf5_create);
  return h5_file(std::move(own), path, std::move(file), true);
}

h5_file h5_file::open_read(const communicator& comm, const std::string& path) { return open_existing(comm, path, false); }

h5_file h5_file::open_write(const communicator& comm, const std::string& path) { return open_existing(comm, path, true); }

h5_file h5_file::open_existing(const communicator& comm, const std::string& path, bool writable) {
  detail::h5_quiet quiet;
  communicator own = comm.dup();
  std::string missing;
  if (own.is_root()) {
    std::error_code error;
    if (!std::filesystem::is_regular_file(path, error)) {
      missing = "cannot open '" + path + (writable ? "' for writing: " : "' for reading: ") +
                (error ? error.message() : std::string("no such file")) + " (checked on rank 0)";
    }
  }
  detail::agree_or_throw(own, "", missing);
  h5_id fapl = file_access_list(own, path);
  const hid_t id = H5Fopen(path.c_str(), writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl.get());
  h5_id file = agree_on_open(own, id, "H5Fopen", path);
  return h5_file(std::move(own), path, std::move(file), writable);
}

h5_file::~h5_file() { close_noexcept(); }

h5_file& h5_file::operator=(h5_file&& other) noexcept {
  if (this != &other) {
    close_noexcept();
    comm_ = std::move(other.comm_);
    path_ = std::move(other.path_);
    id_ = std::move(other.id_);
    writable_ = other.writable_;
    failed_ = std::exchange(other.failed_, false);
    poisoned_ = std::exchange(other.poisoned_, false);
    uncaught_at_open_ = other.uncaught_at_open_;
  }
  return *this;
}

void h5_file::close() {
  if (!is_open()) return;
  if (poisoned_) {
    // Every rank knows (agree_on_step); see the header for why no H5Fclose.
    static_cast<void>(id_.release());
    return;
  }
  // The metadata first, in an agreed flush, and only with room for it on the disk (room_to_flush: HDF5's
  // own flush hangs on a full disk). A failed flush abandons the file on every rank (flush() throws), and the
  // run ends as after a failed write.
  if (writable_) {
    std::string no_room;
    if (comm_.is_root()) no_room = room_to_flush(native(), path_);
    const std::string verdict = plx::detail::agree_on_failure(comm_, no_room);
    if (!verdict.empty()) {
      // Abandoned unclosed on every rank; HDF5 would try again in MPI_Finalize: the MPI_Abort ending.
      failed_ = true;
      poisoned_ = true;
      plx::detail::forbid_finalize();
      static_cast<void>(id_.release());
      throw plx::detail::collective(io_error(verdict));
    }
    flush();
  }
  detail::h5_quiet quiet;
  // What the flush left (little) reaches the disk here, so a full disk can still show up first at the close,
  // and on the ranks that write it only. The id is gone on every rank either way; then all ranks agree.
  std::string failure;
  if (id_.close() < 0) {
    failure = detail::describe_h5_failure("H5Fclose", path_, "", comm_.rank(), comm_.size());
    // HDF5 keeps a file whose close failed (a full disk, EFBIG) among its open files and closes it again
    // at MPI_Finalize, where that crashed (H5F__close_cb, exit 139): as after a failed write, the runtime
    // ends the job without finalizing, once every rank has reported the failure.
    plx::detail::forbid_finalize();
  } else if (writable_ && detail::injected_after_success(plx::detail::fault_sites::hdf5_close) != 0) {
    failure = detail::describe_h5_failure("H5Fclose", path_, "", comm_.rank(), comm_.size());  // closed, in fact
  } else if (writable_ && comm_.is_root()) {
    failure = lost_writes(path_);
  }
  detail::agree_on_step(*this, failure, false);  // closed already: nothing left to poison
}

void h5_file::close_noexcept() noexcept {
  if (!is_open()) return;
  if (poisoned_ || (!failed_ && std::uncaught_exceptions() > uncaught_at_open_)) {
    // Poisoned: see close(). Unwinding from an exception this file did not agree on: it may have been thrown
    // on this rank only, while the other ranks wait in some other collective and would never join H5Fclose
    // (which is collective). Either way, let the id go instead of hanging.
    static_cast<void>(id_.release());
    return;
  }
  detail::h5_quiet quiet;
  if (id_.close() < 0) {
    std::fprintf(stderr, "parallax: warning: %s\n",
                 detail::describe_h5_failure("H5Fclose", path_, "", comm_.rank(), comm_.size()).c_str());
    H5Eclear2(H5E_DEFAULT);
    plx::detail::forbid_finalize();  // see close()
  }
}

void h5_file::flush() {
  detail::h5_quiet quiet;
  detail::agreed(*this, [&] {
    detail::check_h5(detail::injected_result(H5Fflush(native(), H5F_SCOPE_GLOBAL), plx::detail::fault_sites::hdf5_flush),
                     "H5Fflush", *this, "");
  });
}

bool h5_file::exists(const std::string& object_path) const {
  detail::h5_quiet quiet;
  const std::vector<std::string> prefixes = path_prefixes(object_path, path_);
  for (std::size_t i = 0; i < prefixes.size(); ++i) {
    const std::string& prefix = prefixes[i];
    if (!detail::check_h5_tri(H5Lexists(native(), prefix.c_str(), H5P_DEFAULT), "H5Lexists", *this, prefix)) {
      return false;
    }
    if (i + 1 < prefixes.size()) {
      // A parent that is a dataset, not a group, has no children (and H5Lexists would fail below it).
      h5_id object = detail::own(H5Oopen(native(), prefix.c_str(), H5P_DEFAULT), h5_kind::object, "H5Oopen", *this,
                                 prefix);
      if (!detail::is_group(object.get(), *this, prefix)) return false;
    }
  }
  return true;
}

void h5_file::create_group(const std::string& group_path) {
  detail::h5_quiet quiet;
  // Agreed in two steps: the local checks and property list, then the collective H5Gcreate2.
  h5_id lcpl = detail::agreed(*this, [&] {
    if (exists(group_path)) {
      h5_id object = detail::own(H5Oopen(native(), group_path.c_str(), H5P_DEFAULT), h5_kind::object, "H5Oopen",
                                 *this, group_path);
      if (!detail::is_group(object.get(), *this, group_path)) {
        throw io_error("cannot create group '" + group_path + "' in '" + path_ + "': a dataset has that name");
      }
      return h5_id();  // there already: nothing to create
    }
    h5_id list = detail::own(H5Pcreate(H5P_LINK_CREATE), h5_kind::property_list, "H5Pcreate(link create)", *this,
                             group_path);
    detail::check_h5(H5Pset_create_intermediate_group(list.get(), 1), "H5Pset_create_intermediate_group", *this,
                     group_path);
    return list;
  });
  if (!lcpl) return;
  detail::agreed(*this, [&] {
    detail::own(H5Gcreate2(native(), group_path.c_str(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT), h5_kind::group,
                "H5Gcreate2", *this, group_path);
  });
}

// --- attributes --------------------------------------------------------------------------------------

namespace {

std::string attribute_label(const std::string& object_path, const std::string& name) {
  return object_path + (object_path.ends_with('/') ? "" : "/") + "@" + name;
}

h5_id open_object(const h5_file& file, const std::string& object_path) {
  if (!file.exists(object_path)) {
    throw io_error("no object '" + object_path + "' in '" + file.path() + "' (" + detail::rank_text(file.comm()) +
                   ")");
  }
  return detail::own(H5Oopen(file.native(), object_path.c_str(), H5P_DEFAULT), h5_kind::object, "H5Oopen", file,
                     object_path);
}

/// The dataspace and types of an attribute about to be written. `owned_type`, when set, is both types.
struct attribute_shape {
  h5_id space;
  h5_id owned_type;
  hid_t file_type = H5I_INVALID_HID;
  hid_t memory_type = H5I_INVALID_HID;
};

/// Collective. Writes `data` as attribute `name` with the dataspace and types `describe()` makes, replacing
/// an existing attribute of that name. Making the shape is local, but it is agreed on together with opening
/// the object, before the first collective HDF5 call: a rank that failed there must not leave the others in
/// H5Adelete or H5Acreate2 alone. (Steps are never nested: an inner agreement would meet an outer one.)
template <class Describe>
void write_attribute(h5_file& file, const std::string& object_path, const std::string& name, Describe describe,
                     const void* data) {
  const std::string label = attribute_label(object_path, name);
  if (!file.is_writable()) {
    throw io_error("cannot set attribute '" + label + "': '" + file.path() + "' is open for reading only");
  }
  struct prepared {
    attribute_shape shape;
    h5_id object;
    bool replace = false;
  };
  prepared p = detail::agreed(file, [&] {
    prepared result;
    result.shape = describe(label);
    result.object = open_object(file, object_path);
    result.replace =
        detail::check_h5_tri(H5Aexists(result.object.get(), name.c_str()), "H5Aexists", file, label);
    return result;
  });
  if (p.replace) {
    detail::agreed(file, [&] { detail::check_h5(H5Adelete(p.object.get(), name.c_str()), "H5Adelete", file, label); });
  }
  const hid_t file_type = p.shape.owned_type ? p.shape.owned_type.get() : p.shape.file_type;
  const hid_t memory_type = p.shape.owned_type ? p.shape.owned_type.get() : p.shape.memory_type;
  h5_id attribute = detail::agreed(file, [&] {
    return detail::own(
        H5Acreate2(p.object.get(), name.c_str(), file_type, p.shape.space.get(), H5P_DEFAULT, H5P_DEFAULT),
        h5_kind::attribute, "H5Acreate2", file, label);
  });
  detail::agreed(file, [&] {
    detail::check_h5(detail::injected_write_result(H5Awrite(attribute.get(), memory_type, data)), "H5Awrite", file,
                     label);
  });
}

h5_id scalar_space(const h5_file& file, const std::string& label) {
  return detail::own(H5Screate(H5S_SCALAR), h5_kind::dataspace, "H5Screate", file, label);
}

struct opened_attribute {
  h5_id object;  // the attribute keeps its object open anyway; kept for clarity of ownership
  h5_id attribute;
  h5_id type;
  hssize_t points = 0;
};

opened_attribute open_attribute(const h5_file& file, const std::string& object_path, const std::string& name) {
  const std::string label = attribute_label(object_path, name);
  opened_attribute opened;
  opened.object = open_object(file, object_path);
  if (!detail::check_h5_tri(H5Aexists(opened.object.get(), name.c_str()), "H5Aexists", file, label)) {
    throw io_error("no attribute '" + name + "' on '" + object_path + "' in '" + file.path() + "' (" +
                   detail::rank_text(file.comm()) + ")");
  }
  opened.attribute = detail::own(H5Aopen(opened.object.get(), name.c_str(), H5P_DEFAULT), h5_kind::attribute,
                                 "H5Aopen", file, label);
  opened.type = detail::own(H5Aget_type(opened.attribute.get()), h5_kind::datatype, "H5Aget_type", file, label);
  h5_id space =
      detail::own(H5Aget_space(opened.attribute.get()), h5_kind::dataspace, "H5Aget_space", file, label);
  opened.points = H5Sget_simple_extent_npoints(space.get());
  detail::check_h5(opened.points < 0 ? -1 : 0, "H5Sget_simple_extent_npoints", file, label);
  return opened;
}

[[noreturn]] void throw_wrong_attribute(const h5_file& file, const std::string& object_path, const std::string& name,
                                        const std::string& expected) {
  throw io_error("attribute '" + attribute_label(object_path, name) + "' in '" + file.path() + "' is not " +
                 expected);
}

}  // namespace

/// Parallel HDF5 wants the same attribute data from every rank, and a scalar can differ between ranks (a
/// rank's thread count, say): root's is written. Called inside the write's first agreed step.
template <class T>
void take_roots_value(const h5_file& file, T& value) {
  plx::detail::check_mpi(MPI_Bcast(&value, sizeof(T), MPI_BYTE, 0, file.comm().native()), "MPI_Bcast");
}

void set_attribute(h5_file& file, const std::string& object_path, const std::string& name, double value) {
  detail::h5_quiet quiet;
  write_attribute(
      file, object_path, name,
      [&](const std::string& label) {
        take_roots_value(file, value);
        return attribute_shape{scalar_space(file, label), {}, detail::file_double(), detail::native_double()};
      },
      &value);
}

void set_attribute(h5_file& file, const std::string& object_path, const std::string& name, std::int64_t value) {
  detail::h5_quiet quiet;
  write_attribute(
      file, object_path, name,
      [&](const std::string& label) {
        take_roots_value(file, value);
        return attribute_shape{scalar_space(file, label), {}, detail::file_int64(), detail::native_int64()};
      },
      &value);
}

void set_attribute_uint64(h5_file& file, const std::string& object_path, const std::string& name,
                          std::uint64_t value) {
  detail::h5_quiet quiet;
  write_attribute(
      file, object_path, name,
      [&](const std::string& label) {
        take_roots_value(file, value);
        return attribute_shape{scalar_space(file, label), {}, detail::file_uint64(), detail::native_uint64()};
      },
      &value);
}

void set_attribute(h5_file& file, const std::string& object_path, const std::string& name,
                   const std::string& value) {
  detail::h5_quiet quiet;
  write_attribute(
      file, object_path, name,
      [&](const std::string& label) {
        // Fixed length with room for the terminator: readable by every HDF5 tool, no variable-length heap.
        h5_id type = detail::own(H5Tcopy(H5T_C_S1), h5_kind::datatype, "H5Tcopy", file, label);
        detail::check_h5(H5Tset_size(type.get(), value.size() + 1), "H5Tset_size", file, label);
        detail::check_h5(H5Tset_strpad(type.get(), H5T_STR_NULLTERM), "H5Tset_strpad", file, label);
        detail::check_h5(H5Tset_cset(type.get(), H5T_CSET_UTF8), "H5Tset_cset", file, label);
        return attribute_shape{scalar_space(file, label), std::move(type)};
      },
      value.c_str());
}

void set_attribute(h5_file& file, const std::string& object_path, const std::string& name,
                   std::span<const double> values) {
  detail::h5_quiet quiet;
  const double none = 0.0;  // HDF5 wants a buffer even for zero elements
  write_attribute(
      file, object_path, name,
      [&](const std::string& label) {
        const hsize_t size = values.size();
        return attribute_shape{
            detail::own(H5Screate_simple(1, &size, nullptr), h5_kind::dataspace, "H5Screate_simple", file, label), {},
            detail::file_double(), detail::native_double()};
      },
      values.empty() ? &none : values.data());
}

double get_attribute_double(const h5_file& file, const std::string& object_path, const std::string& name) {
  detail::h5_quiet quiet;
  const opened_attribute opened = open_attribute(file, object_path, name);
  const H5T_class_t type_class = detail::type_class(opened.type.get(), file, attribute_label(object_path, name));
  if ((type_class != H5T_FLOAT && type_class != H5T_INTEGER) || opened.points != 1) {
    throw_wrong_attribute(file, object_path, name, "a single number");
  }
  double value = 0.0;
  detail::check_h5(H5Aread(opened.attribute.get(), detail::native_double(), &value), "H5Aread", file,
                   attribute_label(object_path, name));
  return value;
}

std::int64_t get_attribute_int64(const h5_file& file, const std::string& object_path, const std::string& name) {
  detail::h5_quiet quiet;
  const opened_attribute opened = open_attribute(file, object_path, name);
  if (detail::type_class(opened.type.get(), file, attribute_label(object_path, name)) != H5T_INTEGER ||
      opened.points != 1) {
    throw_wrong_attribute(file, object_path, name, "a single integer");
  }
  std::int64_t value = 0;
  detail::check_h5(H5Aread(opened.attribute.get(), detail::native_int64(), &value), "H5Aread", file,
                   attribute_label(object_path, name));
  return value;
}

std::uint64_t get_attribute_uint64(const h5_file& file, const std::string& object_path, const std::string& name) {
  detail::h5_quiet quiet;
  const opened_attribute opened = open_attribute(file, object_path, name);
  const std::string label = attribute_label(object_path, name);
  if (detail::type_class(opened.type.get(), file, label) != H5T_INTEGER || opened.points != 1) {
    throw_wrong_attribute(file, object_path, name, "a single integer");
  }
  // A signed attribute is read as signed, so that a negative value is refused rather than converted.
  const H5T_sign_t sign = H5Tget_sign(opened.type.get());
  detail::check_h5(sign == H5T_SGN_ERROR ? -1 : 0, "H5Tget_sign", file, label);
  if (sign == H5T_SGN_NONE) {
    std::uint64_t value = 0;
    detail::check_h5(H5Aread(opened.attribute.get(), detail::native_uint64(), &value), "H5Aread", file, label);
    return value;
  }
  std::int64_t value = 0;
  detail::check_h5(H5Aread(opened.attribute.get(), detail::native_int64(), &value), "H5Aread", file, label);
  if (value < 0) throw_wrong_attribute(file, object_path, name, "an integer >= 0");
  return static_cast<std::uint64_t>(value);
}

std::string get_attribute_string(const h5_file& file, const std::string& object_path, const std::string& name) {
  detail::h5_quiet quiet;
  const opened_attribute opened = open_attribute(file, object_path, name);
  const std::string label = attribute_label(object_path, name);
  if (detail::type_class(opened.type.get(), file, label) != H5T_STRING || opened.points != 1) {
    throw_wrong_attribute(file, object_path, name, "a single string");
  }
  const htri_t variable = H5Tis_variable_str(opened.type.get());
  if (detail::check_h5_tri(variable, "H5Tis_variable_str", file, label)) {
    // Read in the file's own type (same character set); HDF5 allocates the text, we free it.
    char* text = nullptr;
    detail::check_h5(H5Aread(opened.attribute.get(), opened.type.get(), &text), "H5Aread", file, label);
    std::string value = text != nullptr ? std::string(text) : std::string();
    H5free_memory(text);
    return value;
  }
  const std::size_t size = detail::type_size(opened.type.get(), file, label);
  std::string buffer(size, '\0');
  detail::check_h5(H5Aread(opened.attribute.get(), opened.type.get(), buffer.data()), "H5Aread", file, label);
  const H5T_str_t padding = H5Tget_strpad(opened.type.get());
  detail::check_h5(padding == H5T_STR_ERROR ? -1 : 0, "H5Tget_strpad", file, label);
  if (padding == H5T_STR_SPACEPAD) {
    buffer.erase(buffer.find_last_not_of(' ') + 1);
  } else {
    buffer.resize(std::min(buffer.find('\0'), buffer.size()));
  }
  return buffer;
}

std::vector<double> get_attribute_doubles(const h5_file& file, const std::string& object_path,
                                          const std::string& name) {
  detail::h5_quiet quiet;
  const opened_attribute opened = open_attribute(file, object_path, name);
  const H5T_class_t type_class = detail::type_class(opened.type.get(), file, attribute_label(object_path, name));
  if (type_class != H5T_FLOAT && type_class != H5T_INTEGER) {
    throw_wrong_attribute(file, object_path, name, "numeric");
  }
  std::vector<double> values(static_cast<std::size_t>(opened.points));
  double none = 0.0;
  detail::check_h5(H5Aread(opened.attribute.get(), detail::native_double(), values.empty() ? &none : values.data()),
                   "H5Aread", file, attribute_label(object_path, name));
  return values;
}

bool has_attribute(const h5_file& file, const std::string& object_path, const std::string& name) {
  detail::h5_quiet quiet;
  h5_id object = open_object(file, object_path);
  return detail::check_h5_tri(H5Aexists(object.get(), name.c_str()), "H5Aexists", file,
                              attribute_label(object_path, name));
}

}  // namespace plx::io
