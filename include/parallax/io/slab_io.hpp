/// @file
/// Distributed arrays in one HDF5 file: every rank writes and reads its own slab of planes straight into the
/// shared file (nothing is gathered to root): writes with pwrite() into the dataset's bytes where its storage
/// allows (contiguous, as write_distributed creates it), else, and reads, with collective MPI-IO.
///
/// Index convention (the FFTW-MPI slab layout): a dataset of global shape (d0, d1, ..., dk) is stored in
/// C order (last index fastest). Dim 0 is split over ranks: a rank holds the `count0` consecutive planes
/// [offset0, offset0 + count0), which may be none (count0 = 0; that rank still takes part in every call).
/// Vector fields put their components last: a 3D displacement field is (N, N, N, 3).
///
/// In memory, a rank's block is row-major too, except that consecutive innermost rows (runs of dk
/// elements) start `row_stride` elements apart, so element (i0, i1, ..., ik) with local plane i0 sits at
/// @code{.unparsed}
///   ((i0 * d1 + i1) * d2 + ... ) * row_stride + ik.
/// @endcode
/// Example: FFTW's in-place real-to-complex array of an N^3 grid pads rows to 2 * (N / 2 + 1) doubles:
///
/// @code
///   plx::io::write_distributed(file, "/density",
///                              {.global_dims = {N, N, N}, .offset0 = local_0_start, .count0 = local_n0,
///                               .row_stride = 2 * (N / 2 + 1)},
///                              std::span(field, alloc_local_in_doubles));
/// @endcode
///
/// The padding is left out on the way: rows are packed 1 MiB at a time for the write (or skipped by a strided
/// HDF5 memory selection); no copy of the slab is made.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <parallax/io/hdf5_file.hpp>

namespace plx::io {

/// The part of a distributed array one rank holds, and how it is laid out in its memory.
struct slab_block {
  std::vector<hsize_t> global_dims;  ///< shape of the whole dataset, slowest dim first; dim 0 is split
  hsize_t offset0 = 0;               ///< first plane of dim 0 held by this rank
  hsize_t count0 = 0;                ///< planes held by this rank (0 is fine)
  /// Elements from the start of one innermost row to the next in memory, >= global_dims.back();
  /// 0 means unpadded (global_dims.back()). Must be 0 for 1D arrays.
  hsize_t row_stride = 0;
};

/// Doubles a buffer must hold for `block` (the last row needs no padding after it).
[[nodiscard]] std::size_t local_buffer_size(const slab_block& block);

/// Collective. Creates the float64 dataset `dataset_path` (and missing parent groups) with shape
/// `block.global_dims` and writes this rank's planes from `local` (laid out as described above).
///
/// Every rank must pass the same path and global_dims, and the ranks' plane ranges must tile
/// [0, global_dims[0]) exactly; this is checked with one small allgather (a mismatch would otherwise
/// corrupt the file or hang), and any violation, or a bad block on any rank (a `local` too small for it,
/// a row_stride below the row length), throws plx::io_error on every rank. If the dataset already exists
/// with the same shape it is overwritten; another shape throws.
void write_distributed(h5_file& file, const std::string& dataset_path, const slab_block& block,
                       std::span<const double> local);

/// Collective. The same for unsigned 8-bit labels (a cell's cosmic-web class), stored as H5T_STD_U8LE.
void write_distributed(h5_file& file, const std::string& dataset_path, const slab_block& block,
                       std::span<const std::uint8_t> local);

/// Collective. Part of a distributed array, for a rank that writes its planes in several calls (say, a
/// packed copy of a few planes at a time instead of a copy of the whole slab): writes planes
/// [block.offset0, block.offset0 + block.count0) of `dataset_path`, created by the first call with shape
/// block.global_dims and overwritten after. The ranks' ranges in one call must not overlap but need not
/// tile dim 0; every rank makes the same number of calls (count0 = 0 when it has nothing left), and
/// covering every plane over the calls is the caller's job. Fails on every rank as write_distributed does.
void write_distributed_part(h5_file& file, const std::string& dataset_path, const slab_block& block,
                            std::span<const double> local);

/// Collective. The same, with the block spelled out, for raw arrays such as FFTW's: `data` must hold
/// local_buffer_size() doubles for this block (it cannot be checked here; prefer the form above where the
/// buffer's size is known) and may be null when count0 is 0. `row_stride` 0 means unpadded rows.
void write_distributed(h5_file& file, const std::string& dataset_path, std::span<const hsize_t> dims,
                       hsize_t offset0, hsize_t count0, const double* data, hsize_t row_stride = 0);

/// Collective. Reads this rank's planes of an existing dataset into `local` (laid out as described above;
/// padding elements are left untouched). `block.global_dims` must equal the dataset's shape. Ranges may
/// overlap or leave planes out. Throws plx::io_error on every rank if any rank's block is invalid.
void read_distributed(h5_file& file, const std::string& dataset_path, const slab_block& block,
                      std::span<double> local);

/// Collective. Reads planes [offset0, offset0 + count0) of an existing dataset into a contiguous vector
/// (count0 * d1 * ... * dk values; empty for count0 = 0).
[[nodiscard]] std::vector<double> read_distributed(h5_file& file, const std::string& dataset_path,
                                                   hsize_t offset0, hsize_t count0);

/// Collective. Creates the float64 dataset `dataset_path` of shape `dims` and writes root's `root_data`
/// (product(dims) values, C order) into it; for small arrays held by root (a power spectrum). Both `dims`
/// and `root_data` are taken from root: other ranks may pass anything (e.g. empty spans) and select
/// nothing. Throws plx::io_error on every rank if root's data has the wrong size.
void write_from_root(h5_file& file, const std::string& dataset_path, std::span<const hsize_t> dims,
                     std::span<const double> root_data);
/// Collective. A 1D dataset of root's `root_data`.
void write_from_root(h5_file& file, const std::string& dataset_path, std::span<const double> root_data);

/// The whole dataset, flattened in C order, on the calling rank (for small datasets). Independent: any
/// rank may call it alone.
[[nodiscard]] std::vector<double> read_all(const h5_file& file, const std::string& dataset_path);

namespace detail {
/// Sets the most bytes one rank hands to one H5Dwrite in write_distributed (64 MiB; at least 1), on the direct
/// path the bytes after which it starts the writeback and the most of one pwrite (1 MiB, or fewer), and returns
/// the previous value. For tests, which exercise several pieces with small arrays.
hsize_t set_write_piece_bytes(hsize_t bytes) noexcept;
/// Turns write_distributed's direct path (slab_io.cpp) on (the default) or off, returning the previous
/// setting. For tests, which compare the two paths' files.
bool set_direct_slab_writes(bool on) noexcept;
}  // namespace detail

/// The shape of a dataset, slowest dim first. Independent. Throws plx::io_error if it is missing.
[[nodiscard]] std::vector<hsize_t> dataset_dims(const h5_file& file, const std::string& dataset_path);

}  // namespace plx::io
