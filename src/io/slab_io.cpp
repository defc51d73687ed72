#include <parallax/io/slab_io.hpp>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <numeric>
#include <utility>

#include <mpi.h>

#include <parallax/core/error.hpp>
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

void check_writable(const h5_file& file, const std::string& prefix) {
  if (!file.is_open()) throw io_error(prefix + "the file is closed");
  if (!file.is_writable()) throw io_error(prefix + "the file is open for reading only");
}

}  // namespace

namespace detail {
hsize_t set_write_piece_bytes(hsize_t bytes) noexcept { return std::exchange(write_piece_bytes, std::max<hsize_t>(bytes, 1)); }
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

// How the slabs reach the disk, and why (issue 12). Measured with `plx-bench io`: plx-cosmo's write stage at
// 3D N = 256 (640 MiB: density, potential, displacement) on 2 ranks against dd conv=fdatasync of the same bytes
// in the same directory, on the shared 2-core VM at load average 10-12 (other builds running), whose disk
// and page cache swing by 2-3x from minute to minute. Variants that can be switched inside one process were
// timed in turns in one run (medians of 5; dd 0.92 s there); the others in runs of their own, where only
// large differences count. "write" is the time to hand the data to the kernel, "commit" the final fsync.
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
template <class T>
void write_block(h5_file& file, const std::string& dataset_path, const slab_block& block, std::span<const T> local,
                 bool whole) {
  detail::h5_quiet quiet;
  const std::string prefix = context(whole ? "write_distributed" : "write_distributed_part", file, dataset_path);
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
