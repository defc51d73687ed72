#include <parallax/io/slab_io.hpp>

#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <numeric>
#include <utility>

#include <mpi.h>

#include <parallax/core/error.hpp>
#include <parallax/io/atomic_output.hpp>
#include <parallax/io/detail/direct_write.hpp>
#include <parallax/io/detail/file_sync.hpp>

namespace plx::io {

namespace {

using detail::check_h5;
using detail::own;

std::string context(const char* function, const h5_file& file, const std::string& path) {
  return std::string(function) + "('" + path + "' in '" + file.path() + "'): ";
}

hsize_t product(std::span<const hsize_t> values) {
  return std::accumulate(values.begin(), values.end(), hsize_t{1}, std::multiplies<>());
}

hsize_t effective_stride(const slab_block& block) {
  return block.row_stride == 0 && !block.global_dims.empty() ? block.global_dims.back() : block.row_stride;
}

/// What is wrong with this rank's block on its own ("" if nothing), for `available` doubles of memory.
std::string local_problem(const slab_block& block, std::size_t available) {
  const auto& dims = block.global_dims;
  if (dims.empty()) return "global_dims is empty";
  if (std::ranges::find(dims, hsize_t{0}) != dims.end()) return "global_dims has a zero extent";
  if (dims.size() == 1 && block.row_stride != 0) return "row_stride must be 0 for a 1D array";
  if (block.row_stride != 0 && block.row_stride < dims.back()) {
    return "row_stride " + std::to_string(block.row_stride) + " is below the row length " +
           std::to_string(dims.back());
  }
  if (block.offset0 > dims[0] || block.count0 > dims[0] - block.offset0) {
    return "planes [" + std::to_string(block.offset0) + ", " + std::to_string(block.offset0 + block.count0) +
           ") exceed dim 0 of extent " + std::to_string(dims[0]);
  }
  const std::size_t needed = local_buffer_size(block);
  if (available < needed) {
    return "the local buffer holds " + std::to_string(available) + " elements, the block needs " +
           std::to_string(needed);
  }
  return {};
}

std::uint64_t shape_hash(const std::string& path, std::span<const hsize_t> dims) {
  std::uint64_t hash = 1469598103934665603ULL;  // FNV-1a
  auto mix = [&hash](std::uint64_t byte) { hash = (hash ^ byte) * 1099511628211ULL; };
  for (const char c : path) mix(static_cast<unsigned char>(c));
  mix(0xff);
  for (const hsize_t d : dims) {
    for (int shift = 0; shift < 64; shift += 8) mix((static_cast<std::uint64_t>(d) >> shift) & 0xffU);
  }
  return hash;
}

/// Collective. One allgather decides, identically on every rank, whether the write may go ahead: every
/// block valid, the same path and shape everywhere, plane ranges tiling dim 0 (with `whole`; else not
/// overlapping). Throws on every rank if not. Returns the most planes any rank holds.
hsize_t agree_on_write(const h5_file& file, const std::string& path, const slab_block& block,
                       const std::string& local_failure, const std::string& prefix, bool whole) {
  const communicator& comm = file.comm();
  const std::uint64_t mine[4] = {block.offset0, block.count0, shape_hash(path, block.global_dims),
                                 local_failure.empty() ? 0U : 1U};
  std::vector<std::uint64_t> all(4 * static_cast<std::size_t>(comm.size()));
  plx::detail::check_mpi(MPI_Allgather(mine, 4, MPI_UINT64_T, all.data(), 4, MPI_UINT64_T, comm.native()),
                         "MPI_Allgather");
  bool any_failed = false;
  for (std::size_t r = 0; r < all.size() / 4; ++r) any_failed = any_failed || all[4 * r + 3] != 0;
  if (any_failed) detail::agree_or_throw(comm, prefix, local_failure);  // lowest failing rank's reason

  struct range {
    std::uint64_t offset, count;
    int rank;
  };
  std::vector<range> ranges;
  for (int r = 0; r < comm.size(); ++r) {
    const std::uint64_t* claim = &all[4 * static_cast<std::size_t>(r)];
    if (claim[2] != all[2]) {
      throw io_error(prefix + "rank " + std::to_string(r) + " passes another path or global_dims than rank 0");
    }
    if (claim[1] > 0) ranges.push_back({claim[0], claim[1], r});
  }
  std::ranges::sort(ranges, {}, &range::offset);
  std::uint64_t next = 0;
  for (const range& part : ranges) {
    if (part.offset != next && (whole || part.offset < next)) {
      throw io_error(prefix + "the ranks' planes do not tile dim 0: rank " + std::to_string(part.rank) +
                     " starts at plane " + std::to_string(part.offset) + ", expected " + std::to_string(next) +
                     (part.offset < next ? " (overlap)" : " (gap)"));
    }
    next = part.offset + part.count;
  }
  if (whole && next != block.global_dims[0]) {
    throw io_error(prefix + "the ranks' planes cover [0, " + std::to_string(next) + ") of dim 0 of extent " +
                   std::to_string(block.global_dims[0]));
  }
  std::uint64_t most = 0;
  for (const range& part : ranges) most = std::max(most, part.count);
  return most;
}

/// The memory and file selections of one rank's block. Dataspaces are built for every rank, an empty
/// one selecting nothing, because the collective transfer needs every rank's call.
struct selections {
  h5_id memory;
  h5_id file;
};

selections select_block(const h5_file& file, const std::string& path, hid_t dataset, const slab_block& block) {
  const auto& dims = block.global_dims;
  selections result;
  result.file = own(H5Dget_space(dataset), h5_kind::dataspace, "H5Dget_space", file, path);
  if (block.count0 == 0) {
    const hsize_t one = 1;
    result.memory = own(H5Screate_simple(1, &one, nullptr), h5_kind::dataspace, "H5Screate_simple", file, path);
    check_h5(H5Sselect_none(result.memory.get()), "H5Sselect_none", file, path);
    check_h5(H5Sselect_none(result.file.get()), "H5Sselect_none", file, path);
    return result;
  }
  std::vector<hsize_t> start(dims.size(), 0);
  std::vector<hsize_t> count(dims.begin(), dims.end());
  start[0] = block.offset0;
  count[0] = block.count0;
  check_h5(H5Sselect_hyperslab(result.file.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr),
           "H5Sselect_hyperslab(file)", file, path);

  // Memory: the same block, with rows padded to the stride; select the unpadded part.
  std::vector<hsize_t> memory_dims = count;
  memory_dims.back() = dims.size() == 1 ? block.count0 : effective_stride(block);
  result.memory = own(H5Screate_simple(static_cast<int>(memory_dims.size()), memory_dims.data(), nullptr),
                      h5_kind::dataspace, "H5Screate_simple", file, path);
  if (memory_dims != count) {
    const std::vector<hsize_t> origin(dims.size(), 0);
    check_h5(H5Sselect_hyperslab(result.memory.get(), H5S_SELECT_SET, origin.data(), nullptr, count.data(), nullptr),
             "H5Sselect_hyperslab(memory)", file, path);
  }
  return result;
}

/// The most bytes a rank hands to one H5Dwrite (see write_distributed); tests make it smaller.
hsize_t write_piece_bytes = hsize_t{64} << 20;

/// Starts the disk on this rank's planes of `dataset`, just written (see write_distributed for why). Nothing
/// for an empty block, or when the dataset has no single address (not contiguous: HADDR_UNDEF).
void start_writeback(const h5_file& file, hid_t dataset, const slab_block& block, std::size_t element_bytes) noexcept {
  if (block.count0 == 0) return;
  const haddr_t address = H5Dget_offset(dataset);
  if (address == HADDR_UNDEF) {
    H5Eclear2(H5E_DEFAULT);
    return;
  }
  const auto& dims = block.global_dims;
  const hsize_t plane_bytes = product(std::span(dims).subspan(1)) * element_bytes;
  detail::start_writeback(file.path(), address + block.offset0 * plane_bytes, block.count0 * plane_bytes);
}

/// Whether write_block writes the slabs itself where it can (see there); tests switch it off to compare.
bool direct_slab_writes = true;
/// The bytes of one pwrite on the direct path (fewer when write_piece_bytes is smaller, in tests).
constexpr hsize_t direct_write_bytes = hsize_t{1} << 20;

void check_writable(const h5_file& file, const std::string& prefix) {
  if (!file.is_open()) throw io_error(prefix + "the file is closed");
  if (!file.is_writable()) throw io_error(prefix + "the file is open for reading only");
}

}  // namespace

namespace detail {
hsize_t set_write_piece_bytes(hsize_t bytes) noexcept { return std::exchange(write_piece_bytes, std::max<hsize_t>(bytes, 1)); }
bool set_direct_slab_writes(bool on) noexcept { return std::exchange(direct_slab_writes, on); }
}  // namespace detail

std::size_t local_buffer_size(const slab_block& block) {
  const auto& dims = block.global_dims;
  if (dims.empty() || block.count0 == 0) return 0;
  if (dims.size() == 1) return block.count0;
  const hsize_t rows = block.count0 * product(std::span(dims).subspan(1, dims.size() - 2));
  return rows == 0 ? 0 : (rows - 1) * effective_stride(block) + dims.back();
}

namespace {

/// The HDF5 types (in memory, in the file) of the element types the writers take.
template <class T>
struct element_types;
template <>
struct element_types<double> {
  static hid_t memory() noexcept { return detail::native_double(); }
  static hid_t file() noexcept { return detail::file_double(); }
};
template <>
struct element_types<std::uint8_t> {
  static hid_t memory() noexcept { return detail::native_uint8(); }
  static hid_t file() noexcept { return detail::file_uint8(); }
};

/// Where the dataset's elements lie in the file when they are one range of it in the memory type's own bytes,
/// else HADDR_UNDEF. H5Dget_offset is defined only for contiguous storage inside the file, allocated (parallel
/// HDF5 allocates at creation): not for chunked or compact datasets, nor external storage.
haddr_t direct_address(const h5_file& file, const std::string& path, hid_t dataset, hsize_t bytes, hid_t memory_type) {
  const haddr_t address = H5Dget_offset(dataset);
  if (address == HADDR_UNDEF) {
    H5Eclear2(H5E_DEFAULT);
    return HADDR_UNDEF;
  }
  if (H5Dget_storage_size(dataset) != bytes) return HADDR_UNDEF;
  h5_id type = own(H5Dget_type(dataset), h5_kind::datatype, "H5Dget_type", file, path);
  // Another byte order (an existing dataset written elsewhere) would need HDF5's conversion.
  if (!detail::check_h5_tri(H5Tequal(type.get(), memory_type), "H5Tequal", file, path)) return HADDR_UNDEF;
  return address;
}

template <class T>
void write_rows_agreed(h5_file& file, const std::string& path, const slab_block& block, std::span<const T> local,
                       haddr_t address, hsize_t plane_elements);

/// Collective, after a direct write failed on some rank (agreed): whether `file` can still be closed. The
/// close flushes HDF5's metadata; on a full disk that fails on the ranks that write it and not on the others,
/// which then wait in different collective calls inside H5Fclose (a hang). A temporary output is discarded
/// anyway, so root first truncates it to nothing, which frees its blocks. With room left on its disk (1 MiB:
/// the metadata of our files is a few KiB per dataset), the close is safe and every rank finalises MPI as
/// usual. Otherwise (the disk still full), false: the file is abandoned unclosed, and the run ends with
/// MPI_Abort after its message (h5_file::close).
bool room_to_close(const h5_file& file) {
  int room = 0;
  if (file.comm().is_root()) {
    // A discarded temporary is emptied first (which frees its blocks); a file that is kept (a map_to_h5
    // partial, a user's file) is left as it is, and closes safely when the disk has room anyway.
    if (is_unfinished_output(file.path())) static_cast<void>(::truncate(file.path().c_str(), 0));
    struct statvfs disk {};
    const std::filesystem::path parent = std::filesystem::path(file.path()).parent_path();
    room = ::statvfs(parent.empty() ? "." : parent.c_str(), &disk) == 0 &&
                   static_cast<double>(disk.f_bavail) * static_cast<double>(disk.f_frsize) >= (1 << 20)
               ? 1
               : 0;
  }
  plx::detail::check_mpi(MPI_Bcast(&room, 1, MPI_INT, 0, file.comm().native()), "MPI_Bcast");
  return room != 0;
}

/// The direct path of write_block (see below): writes this rank's planes into the dataset's bytes with
/// write_rows_at and returns true, on every rank, or returns false on every rank when any cannot.
template <class T>
bool write_directly(h5_file& file, const std::string& path, hid_t dataset, const slab_block& block,
                    std::span<const T> local) {
  const auto& dims = block.global_dims;
  const hsize_t plane_elements = product(std::span(dims).subspan(1));
  const haddr_t address = detail::agreed(file, [&] {
    return direct_address(file, path, dataset, dims[0] * plane_elements * sizeof(T), element_types<T>::memory());
  });
  // The same answer everywhere (the address is metadata, which every rank holds alike), but whether to take
  // part in H5Dwrite's collective calls must be one decision: checked, not assumed.
  const int mine = direct_slab_writes && address != HADDR_UNDEF ? 1 : 0;
  int everywhere = 0;
  plx::detail::check_mpi(MPI_Allreduce(&mine, &everywhere, 1, MPI_INT, MPI_MIN, file.comm().native()),
                         "MPI_Allreduce");
  if (everywhere == 0) return false;
  try {
    write_rows_agreed(file, path, block, local, address, plane_elements);
  } catch (const io_error&) {
    // Agreed on every rank (agreed() throws only what all ranks throw). The file is abandoned; see
    // room_to_close for whether it can still be closed.
    if (!room_to_close(file)) detail::mark_poisoned(file);
    throw;
  }
  return true;
}

template <class T>
void write_rows_agreed(h5_file& file, const std::string& path, const slab_block& block, std::span<const T> local,
                       haddr_t address, hsize_t plane_elements) {
  const auto& dims = block.global_dims;
  detail::agreed(file, [&] {
    int error = 0;
    if (block.count0 > 0) {
      detail::strided_rows rows{.data = reinterpret_cast<const std::byte*>(local.data())};
      if (dims.size() == 1) {
        rows.rows = 1;
        rows.row_bytes = rows.stride_bytes = block.count0 * sizeof(T);
      } else {
        rows.rows = block.count0 * (plane_elements / dims.back());
        rows.row_bytes = dims.back() * sizeof(T);
        rows.stride_bytes = effective_stride(block) * sizeof(T);
      }
      error = detail::write_rows_at(file.path(), address + block.offset0 * plane_elements * sizeof(T), rows,
                                    std::min(write_piece_bytes, direct_write_bytes), write_piece_bytes);
    }
    errno = error;
    try {
      detail::check_h5(detail::injected_write_result(error == 0 ? 0 : -1), "pwrite", file, path);
    } catch (const detail::h5_call_error& e) {
      // HDF5 never saw this write (our own pwrite into the dataset's bytes): its state is sound, so this is not
      // an HDF5 failure, which would poison the file and end the job with MPI_Abort (agree_on_step). Every rank
      // throws the agreed io_error, and the file is closed as after any agreed failure.
      throw io_error(e.what());
    }
  });
}

// How the slabs reach the disk, and why (issue 12). Measured with `plx-bench io`: plx-cosmo's write stage at
// 3D N = 256 (640 MiB: density, potential, displacement) on 2 ranks against dd conv=fdatasync of the same bytes
// in the same directory, on the shared 2-core VM (ext4 on a virtio disk), whose disk and page cache swing by
// 2-3x from minute to minute. Variants that can be switched inside one process were timed in turns in one run
// (medians of 5); the others in runs of their own, where only large differences count. "write" is the time to
// hand the data to the kernel, "commit" the final fsync.
//
// The direct path (write_directly, taken whenever it can be): each rank's planes are one contiguous byte range
// of a contiguous dataset, at H5Dget_offset(dataset) + offset0 * plane bytes, so every rank writes its range
// itself with pwrite() through its own descriptor (io/detail/direct_write.hpp), past HDF5's raw-data path.
// - Safe because HDF5 never writes those bytes: the dataset's storage is allocated at creation (parallel HDF5
//   forces H5D_ALLOC_TIME_EARLY), never filled (H5D_FILL_TIME_NEVER), and no H5Dwrite or H5Dread touches it in
//   this call, so neither the MPI-IO driver (which has no sieve buffer) nor a raw-data cache holds any of it;
//   metadata lives at other addresses. The file's bytes are the ones H5Dwrite writes (checked against it in
//   tests/io/hdf5_test.cpp, padded rows, odd N and empty ranks, 1-4 ranks).
// - Not taken (H5Dwrite below, on every rank alike) where H5Dget_offset is undefined (chunked or compact,
//   external storage), the storage is not exactly the elements, or an existing dataset's type is not the
//   memory type byte for byte (conversion needed).
// - Failures stay collective: the write is one agreed step, so ENOSPC on one rank throws the same io_error on
//   every rank (as a failed H5Dwrite, the file is then never H5Fclose'd; the fault site "hdf5.write" injects
//   here as it does into H5Dwrite, once per call).
// - Many nodes: plain pwrite()s of disjoint byte ranges of one shared file are what POSIX-compliant parallel
//   file systems (Lustre, GPFS) are built for, and NFS writes back only the bytes a client dirtied (no
//   read-modify-write of whole pages across clients); each rank's descriptor is closed (NFS: flushed, a failed
//   write-back reported) before the agreed step, and root's fsync at commit stays the one sync, as with
//   MPI-IO, which on such systems also ends in pwrite() per rank.
// - Buffered pwrite()s of 1 MiB (padded rows packed into a 1 MiB buffer, contiguous ones written in place)
//   and early writeback (start_writeback, see below) after every 64 MiB. Timed in turns in one run against
//   the H5Dwrite path below (load average 2.0-3.5, other agents' builds running; medians of 5 runs of 5):
//   plx/dd 1.13 against 0.93 at N = 256, 1.04 against 0.81 at N = 128; again, the final code against the
//   build before it (load average 2.5-5.3): 0.92 against 0.64 at N = 256, 0.92 against 0.40 at N = 128. The size of the write() calls
//   decides, in runs of 3 against each other (ratio to dd at N = 256, then N = 128): without early writeback
//   8 MiB 0.47-0.61 / 0.31-0.33, 2 MiB 0.75-0.89 / 0.50-0.78, 1 MiB 0.82-0.96 / 0.57-0.91, 256 KiB
//   0.76-1.03 / 0.76-0.96; 64 MiB writes, each followed by its writeback, 0.20-0.25 (N = 256); 1 MiB with
//   writeback every 64 MiB 0.95-1.05 / 0.72-0.85, the H5Dwrite path 0.59-1.10 / 0.80-0.97 in that run.
//   Probably because a buffered write holds the file's inode lock for its whole length, so that with large
//   writes one rank waits while the other copies.
// - O_DIRECT (page-aligned staging buffer, whole pages direct, an unaligned head and tail buffered, as
//   map_to_h5 does): slower on this disk. At N = 256 0.47-0.76 with 8 MiB writes, 0.34-0.44 with 64 MiB and
//   0.52-0.67 with 1 MiB, against 0.55-1.05 for the H5Dwrite path in the same runs; at N = 128 0.30-0.68.
//   dd itself with oflag=direct (8 MiB blocks, then fdatasync) took 0.72-1.07 s against 0.52-0.66 s
//   buffered, and 2 or 4 parallel O_DIRECT streams into one file 0.98-1.28 s: the page cache and the
//   kernel's writeback beat synchronous direct writes here. Not taken. Nor H5Pset_alignment, which only
//   O_DIRECT would need (buffered writes take any offset; see the alignment item below).
//
// The H5Dwrite path, for the datasets the direct path cannot take, as tuned before it (load average 10-12,
// dd 0.92 s):
// - Collective transfer (H5FD_MPIO_COLLECTIVE), Open MPI's default OMPIO. Each rank's planes are one
//   contiguous range of the file, and OMPIO writes them straight from the strided FFTW rows (pwritev of
//   1024 rows) or the packed buffer (pwrite), with no copy and no exchange between ranks. Kept.
// - Independent transfer (same OMPIO): write 6.7 s against 1.65 s, and 1.22 s against 1.15 s, in two pairs
//   of runs; 4.8 s against 1.5 s timed in turns. Never faster: not taken.
// - ROMIO (OMPI_MCA_io=romio321, collective buffering through 16 MiB aggregator buffers): write 4.7 s
//   against 1.65 s in one pair of runs, 0.7 s in an interrupted second run; independent 5.5 s. No
//   consistent gain, so no collective-buffering or striping hints are set either: OMPIO needs none for
//   contiguous per-rank ranges, and which MPI-IO component runs is the user's MPI setting (OMPI_MCA_io).
// - Alignment 1 MiB for objects >= 1 MiB (H5Pset_alignment, h5_create_options): write 1.35 and 2.54 s
//   against 1.65 and 1.15 s: no gain on ext4, whose page cache takes any offset. Left as an option
//   (map_to_h5 uses it for O_DIRECT), so the files keep their layout.
// - Independent metadata writes (H5Pset_coll_metadata_write off): write 1.07 s, within the noise: kept on.
// - Contiguous layout, allocated at creation (parallel HDF5 forces H5D_ALLOC_TIME_EARLY) without a fill pass
//   (H5D_FILL_TIME_NEVER, create_double_dataset): every element is written once. Chunking would add a chunk
//   index and cut each rank's range at chunk edges, for nothing here (no compression, no extension).
// - One sync, at the end (atomic_output::commit): no H5Fflush or MPI_File_sync per dataset.
// - Early writeback (start_writeback): after each piece every rank asks the kernel to start writing its
//   planes (sync_file_range without waiting), so the disk works while the next piece is handed over or, in
//   plx-cosmo, the next frame computed, and the final fsync finds less left. Timed in turns (one run, dd
//   0.92 s): 2.78 s -> 2.45 s (ratio to dd 0.33 -> 0.38) with whole slabs, 2.01 s -> 1.89 s with 16 MiB
//   pieces. Taken.
// - Pieces of at most write_piece_bytes (64 MiB) per rank and H5Dwrite, whole planes each: OMPIO hands a
//   contiguous buffer to the kernel as one pwrite (200 MB per rank for the displacement), which took
//   0.5-6.5 s while the 2 MiB pwritev of the padded fields ran steadily. Timed in turns with early
//   writeback, three runs: 16 MiB 2.01 -> 1.89 s against whole slabs 2.45 s; then 2 / 16 / 64 MiB / whole
//   4.11 / 4.15 / 1.79 / 1.54 s (dd 0.79 s); then 16 / 64 MiB / whole 2.76 / 1.19 / 1.71 s (dd 0.84 s, ratio
//   of 64 MiB 0.71). Small pieces make sync_file_range wait on a busy disk; 64 MiB taken.
//
// write_distributed (`whole`: the ranks' planes tile dim 0) and write_distributed_part.
// write_from_root too, with every plane on root (`function` names the caller in messages).
template <class T>
void write_block(h5_file& file, const std::string& dataset_path, const slab_block& block, std::span<const T> local,
                 bool whole, const char* function = nullptr) {
  detail::h5_quiet quiet;
  const std::string prefix =
      context(function != nullptr ? function : whole ? "write_distributed" : "write_distributed_part", file, dataset_path);
  check_writable(file, prefix);
  const std::string failure = local_problem(block, local.size());
  hsize_t most_planes = 0;
  try {
    most_planes = agree_on_write(
        file, dataset_path, block,
        failure.empty() ? failure : prefix + failure + " (" + detail::rank_text(file.comm()) + ")", "", whole);
  } catch (const io_error&) {
    detail::mark_failed(file);  // the verdict is the same on every rank
    throw;
  }

  // Agreed steps (hdf5_file.hpp): the collective H5Dwrite can fail on the ranks that write to disk only.
  h5_id dataset = detail::create_dataset(file, dataset_path, block.global_dims, element_types<T>::file());
  if (write_directly(file, dataset_path, dataset.get(), block, local)) return;
  h5_id transfer = detail::agreed(file, [&] { return detail::collective_transfer(file, dataset_path); });
  // In pieces of whole planes (see above for why): every rank makes the same number of collective writes,
  // selecting nothing once it has run out of planes.
  const hsize_t plane_bytes = product(std::span(block.global_dims).subspan(1)) * sizeof(T);
  const hsize_t piece_planes = std::max<hsize_t>(1, write_piece_bytes / plane_bytes);
  // Elements from one plane to the next in memory (rows of a plane times the row stride).
  const auto& dims = block.global_dims;
  const hsize_t plane_elements = dims.size() == 1 ? 1 : product(std::span(dims).subspan(1, dims.size() - 2)) * effective_stride(block);
  const T none{};  // HDF5 wants a buffer even when this rank selects nothing
  for (hsize_t first = 0; first < std::max<hsize_t>(most_planes, 1); first += piece_planes) {
    slab_block piece = block;
    piece.offset0 = block.offset0 + std::min(first, block.count0);
    piece.count0 = first < block.count0 ? std::min(piece_planes, block.count0 - first) : 0;
    const T* data = piece.count0 > 0 ? local.data() + first * plane_elements : &none;
    selections selected = detail::agreed(file, [&] { return select_block(file, dataset_path, dataset.get(), piece); });
    detail::agreed(file, [&] {
      check_h5(detail::injected_write_result(H5Dwrite(dataset.get(), element_types<T>::memory(), selected.memory.get(),
                                                      selected.file.get(), transfer.get(), data)),
               "H5Dwrite", file, dataset_path);
    });
    start_writeback(file, dataset.get(), piece, sizeof(T));
  }
}

}  // namespace

void write_distributed(h5_file& file, const std::string& dataset_path, const slab_block& block,
                       std::span<const double> local) {
  write_block(file, dataset_path, block, local, true);
}

void write_distributed(h5_file& file, const std::string& dataset_path, const slab_block& block,
                       std::span<const std::uint8_t> local) {
  write_block(file, dataset_path, block, local, true);
}

void write_distributed_part(h5_file& file, const std::string& dataset_path, const slab_block& block,
                            std::span<const double> local) {
  write_block(file, dataset_path, block, local, false);
}

void write_distributed(h5_file& file, const std::string& dataset_path, std::span<const hsize_t> dims,
                       hsize_t offset0, hsize_t count0, const double* data, hsize_t row_stride) {
  const slab_block block{.global_dims = std::vector<hsize_t>(dims.begin(), dims.end()),
                         .offset0 = offset0,
                         .count0 = count0,
                         .row_stride = row_stride};
  const std::size_t size = data == nullptr ? 0 : local_buffer_size(block);
  write_distributed(file, dataset_path, block, std::span<const double>(data, size));
}

void read_distributed(h5_file& file, const std::string& dataset_path, const slab_block& block,
                      std::span<double> local) {
  detail::h5_quiet quiet;
  const std::string prefix = context("read_distributed", file, dataset_path);
  std::string failure;
  h5_id dataset;
  try {
    // Missing dataset or wrong shape: the same on every rank, but agreeing keeps all ranks in step anyway.
    dataset = detail::open_dataset(file, dataset_path);
    failure = local_problem(block, local.size());
    if (failure.empty()) {
      const std::vector<hsize_t> dims = dataset_dims(file, dataset_path);
      if (dims != block.global_dims) failure = "global_dims differ from the dataset's shape";
    }
  } catch (const io_error& error) {
    failure = error.what();
  }
  detail::agree_or_throw(file, prefix,
                         failure.empty() ? failure : failure + " (" + detail::rank_text(file.comm()) + ")");

  selections selected;
  h5_id transfer;
  detail::agreed(file, [&] {
    selected = select_block(file, dataset_path, dataset.get(), block);
    transfer = detail::collective_transfer(file, dataset_path);
  });
  double none = 0.0;
  detail::agreed(file, [&] {
    check_h5(detail::injected_read_result(H5Dread(dataset.get(), detail::native_double(), selected.memory.get(),
                                                  selected.file.get(), transfer.get(),
                                                  local.empty() ? &none : local.data())),
             "H5Dread", file, dataset_path);
  });
}

std::vector<double> read_distributed(h5_file& file, const std::string& dataset_path, hsize_t offset0,
                                     hsize_t count0) {
  slab_block block{.global_dims = {}, .offset0 = offset0, .count0 = count0, .row_stride = 0};
  std::string failure;
  try {
    detail::h5_quiet quiet;
    block.global_dims = dataset_dims(file, dataset_path);
  } catch (const io_error& error) {
    failure = error.what();
  }
  detail::agree_or_throw(file, "", failure);
  std::vector<double> local(local_buffer_size(block));
  read_distributed(file, dataset_path, block, local);
  return local;
}

void write_from_root(h5_file& file, const std::string& dataset_path, std::span<const hsize_t> dims,
                     std::span<const double> root_data) {
  detail::h5_quiet quiet;
  const communicator& comm = file.comm();
  const std::string prefix = context("write_from_root", file, dataset_path);
  check_writable(file, prefix);
  std::string failure;
  if (comm.is_root() && product(dims) != root_data.size()) {
    failure = "root passes " + std::to_string(root_data.size()) + " values for " + std::to_string(product(dims)) +
              " elements";
  }
  detail::agree_or_throw(file, prefix, failure);

  // Root's shape, on every rank: creating the dataset is collective and needs the same arguments.
  int rank_count = static_cast<int>(dims.size());
  plx::detail::check_mpi(MPI_Bcast(&rank_count, 1, MPI_INT, 0, comm.native()), "MPI_Bcast");
  std::vector<std::uint64_t> shape(dims.begin(), dims.end());
  shape.resize(static_cast<std::size_t>(rank_count));
  plx::detail::check_mpi(MPI_Bcast(shape.data(), rank_count, MPI_UINT64_T, 0, comm.native()), "MPI_Bcast");
  const std::vector<hsize_t> global(shape.begin(), shape.end());

  if (!global.empty() && product(global) > 0) {
    // Root holds every plane: the slabs' path, so a dataset of many GiB (plx-web's filaments) goes out in
    // 1 MiB pwrites, or H5Dwrites of at most 64 MiB, never as one MPI-IO transfer past 2^31 bytes.
    const slab_block block{.global_dims = global, .offset0 = 0, .count0 = comm.is_root() ? global[0] : 0, .row_stride = 0};
    write_block(file, dataset_path, block, comm.is_root() ? root_data : std::span<const double>(), true, "write_from_root");
    return;
  }
  h5_id dataset = detail::create_double_dataset(file, dataset_path, global);
  // An empty dataset has no storage to write to (HDF5 fails on it); the shape alone is the content. Every
  // rank sees root's shape, so every rank skips.
  if (product(global) == 0) return;
  h5_id file_space;
  h5_id memory_space;
  h5_id transfer;
  detail::agreed(file, [&] {
    file_space = own(H5Dget_space(dataset.get()), h5_kind::dataspace, "H5Dget_space", file, dataset_path);
    memory_space = own(H5Scopy(file_space.get()), h5_kind::dataspace, "H5Scopy", file, dataset_path);
    if (!comm.is_root()) {
      check_h5(H5Sselect_none(file_space.get()), "H5Sselect_none", file, dataset_path);
      check_h5(H5Sselect_none(memory_space.get()), "H5Sselect_none", file, dataset_path);
    }
    transfer = detail::collective_transfer(file, dataset_path);
  });
  const double none = 0.0;
  const double* data = comm.is_root() && !root_data.empty() ? root_data.data() : &none;
  // Root alone has data, but the write is collective and its failure (root's disk) is everyone's.
  detail::agreed(file, [&] {
    check_h5(detail::injected_write_result(H5Dwrite(dataset.get(), detail::native_double(), memory_space.get(),
                                                    file_space.get(), transfer.get(), data)),
             "H5Dwrite", file, dataset_path);
  });
}

void write_from_root(h5_file& file, const std::string& dataset_path, std::span<const double> root_data) {
  const hsize_t size = root_data.size();
  write_from_root(file, dataset_path, std::span(&size, 1), root_data);
}

std::vector<double> read_all(const h5_file& file, const std::string& dataset_path) {
  detail::h5_quiet quiet;
  h5_id dataset = detail::open_dataset(file, dataset_path);
  h5_id space = own(H5Dget_space(dataset.get()), h5_kind::dataspace, "H5Dget_space", file, dataset_path);
  const hssize_t points = H5Sget_simple_extent_npoints(space.get());
  check_h5(points < 0 ? -1 : 0, "H5Sget_simple_extent_npoints", file, dataset_path);
  std::vector<double> values(static_cast<std::size_t>(points));
  if (values.empty()) return values;
  // Independent transfer (the default list), so one rank may read alone.
  check_h5(H5Dread(dataset.get(), detail::native_double(), detail::all_selection(), detail::all_selection(),
                   H5P_DEFAULT, values.data()),
           "H5Dread", file, dataset_path);
  return values;
}

std::vector<hsize_t> dataset_dims(const h5_file& file, const std::string& dataset_path) {
  detail::h5_quiet quiet;
  h5_id dataset = detail::open_dataset(file, dataset_path);
  h5_id space = own(H5Dget_space(dataset.get()), h5_kind::dataspace, "H5Dget_space", file, dataset_path);
  return detail::space_dims(space.get(), file, dataset_path);
}

}  // namespace plx::io
