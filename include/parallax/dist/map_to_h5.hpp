/// @file
/// Maps whose results go straight into an HDF5 file: result i becomes row i of a dataset while the map runs,
/// no rank holds all the results, and a run stopped at any instant (a time limit, kill -9, a full disk)
/// resumes with only the rows that are not on disk yet. What dask's to_hdf5 is to a laptop, for a cluster.
///
///   plx::map_to_h5(rt.world(), 100'000'000, [](std::size_t i) { return std::sqrt(double(i)); },
///                  "roots.h5", {{"/roots"}});                  // h5py: h5py.File("roots.h5")["/roots"][7]
///
/// Results and columns. A task returns one value per column, or a std::tuple with one element per column:
///
///   auto task = [](std::size_t i) { return std::tuple{power(i), evolved(i), seed(i)}; };
///   plx::map_to_h5(comm, m, task, "ensemble.h5",
///                  {{"/realizations/power", {bins}},                 // std::vector<double> of bins values
///                   {"/realizations/power_evolved", {times, bins}},  // std::vector<double>, times*bins values
///                   {"/realizations/seed"}});                       // std::uint64_t
///
/// Row types (details in <parallax/dist/h5_row.hpp>): arithmetic types, std::array, fixed-size Eigen vectors
/// and matrices, structs named with PLX_H5_FIELDS (HDF5 compounds) give datasets of shape (n, type's shape).
/// Runtime-sized results (std::vector<T>, dynamic Eigen) with a `row_shape` give (n, row_shape...): a result
/// of another length fails its task (plx::task_error names the task and rank).
/// Without a row_shape they are ragged, stored as CSR, the layout h5py users know from scipy.sparse:
///   PATH/values   all rows' values, row 0 first (shape (total, value's shape))
///   PATH/offsets  n + 1 uint64: row i is values[offsets[i]:offsets[i+1]]
/// CSR rather than HDF5 variable-length types: numpy reads it as two plain arrays in one call each (h5py
/// turns a vlen dataset into n separate objects), any HDF5 tool reads it, and it is written with large
/// sequential writes instead of one heap object per row.
///
/// Durability (see dist/detail/h5_row_store.hpp for the files): root writes the rows into `<path>.partial`,
/// whose HDF5 metadata is complete before the first row and unchanged while rows are written, and records
/// in `<path>.journal` which rows are on disk (synced) once per `checkpoint_interval` and at the end. At
/// the end it writes `rows_done`, builds the CSR columns, and renames the file to `path`: a file at `path`
/// is always complete. Run again with `resume` after any stop: rows in the journal are not computed again,
/// and the finished file equals, dataset by dataset, that of a run that was never stopped. A journal of
/// another map (other n, columns, types, or fingerprint) is refused with plx::config_error.
///
/// Memory: root holds at most 2 x buffer_bytes of rows (plus 8 bytes per buffered row); other ranks hold
/// only what the map layer sends (map_options::message_bytes). Root's writer thread writes one buffer while
/// the map fills the other.
///
/// Attributes of every column (dataset, or group for CSR): n, rows_done, label (map_options::label),
/// schedule, ranks, threads, parallax_version, command_line (of the run that created the file, or of the
/// resumed run that rebuilt it after a crash while it was being finished).
///
/// Named dimensions and units (<parallax/dist/h5_column.hpp>): every axis of every column is an HDF5
/// dimension scale, named by h5_column::dims and h5_output_options::row_dimension, and columns carry the
/// `units` and `long_name` they are given, so xarray.open_dataset(path, engine="h5netcdf") needs no phony dims.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <parallax/core/communicator.hpp>
#include <parallax/core/error.hpp>
#include <parallax/dist/detail/h5_row_store.hpp>
#include <parallax/dist/detail/index_ranges.hpp>
#include <parallax/dist/detail/resumable_map.hpp>
#include <parallax/dist/h5_column.hpp>
#include <parallax/dist/h5_row.hpp>
#include <parallax/dist/map.hpp>
#include <parallax/io/hdf5_file.hpp>

namespace plx {

/// Where and how map_to_h5 writes: resume or overwrite, buffering, durability, the dimensions' names.
struct h5_output_options {
  bool resume = false;     ///< continue the unfinished run whose journal is beside the file
  bool overwrite = false;  ///< replace an existing file (at commit) and discard an unfinished run (--force)
  /// What the rows depend on besides n and types (the caller's parameters, as text): a resume with another
  /// fingerprint is refused.
  std::string fingerprint;
  /// Rows root buffers before a write; two such buffers at most.
  std::size_t buffer_bytes = std::size_t{8} << 20;
  /// At most this long between a row reaching root and it being on disk (if the map keeps running).
  std::chrono::duration<double> checkpoint_interval = std::chrono::seconds(5);
  /// The name of the rows' dimension (of every fixed column's first axis), for xarray and netCDF tools.
  std::string row_dimension = "row";
  /// Values of named dimensions, written as coordinates at the end (see <parallax/dist/h5_column.hpp>).
  std::vector<h5_coordinate> coordinates{};
};

/// An HDF5 file being filled by map_to_h5, then completed by the caller, then committed. Collective
/// object: construct, call, commit on every rank of `comm`. One map_to_h5 per output.
///
/// Preflight (the constructor), plx::config_error on every rank: another run holds the work files (their
/// lock names its host and pid); `path` exists and neither `overwrite` (use --force) nor `resume` of an
/// unfinished run (a killed --force rerun: the old file stays until the new one is committed); an
/// unfinished run's journal is there and not `resume` (with `overwrite` alone it is discarded); the
/// directory is missing or not writable. Root holds the work files' lock (`path`.lock, flock) from here
/// until the object is destroyed.
///
/// Destroyed without commit (an error, a stop): root writes and records the rows it has, and keeps the
/// work files for a resume. Nothing finished is deleted.
class h5_output {
 public:
  /// Collective. The preflight above, over `comm`; the file is created by map_to_h5.
  h5_output(const communicator& comm, std::string path, h5_output_options options = {});
  ~h5_output();
  // Owns root's row store (a thread, files).
  h5_output(const h5_output&) = delete;
  h5_output& operator=(const h5_output&) = delete;
  h5_output(h5_output&&) = delete;
  h5_output& operator=(h5_output&&) = delete;

  /// Collective, after map_to_h5: the unfinished file opened for reading and writing on every rank
  /// (MPI-IO), to read rows back and add datasets. Close it before commit(). If the run dies from here
  /// to the commit, a resume rebuilds the file from its rows and runs this step again.
  io::h5_file open();
  /// Collective: renames the finished file to `path()` (replacing an old one under `overwrite`) and
  /// removes the work files. Throws plx::io_error on every rank if that fails.
  void commit();

  /// The final file's path (it exists once committed).
  [[nodiscard]] const std::string& path() const noexcept { return paths_.final_path; }
  /// The unfinished file's path, `path()`.partial, where the rows go until the commit.
  [[nodiscard]] std::string partial_path() const { return paths_.partial(); }
  /// The communicator of the output (a duplicate of the one given).
  [[nodiscard]] const communicator& comm() const noexcept { return comm_; }
  /// Whether commit() has renamed the finished file to path().
  [[nodiscard]] bool is_committed() const noexcept { return committed_; }
  /// Rows already on disk when map_to_h5 started (a resume), on every rank.
  [[nodiscard]] std::uint64_t rows_resumed() const noexcept { return rows_resumed_; }

  // --- used by map_to_h5 ------------------------------------------------------------------------
  /// Collective. Opens root's row store; returns the rows still to compute, on every rank.
  detail::index_ranges begin_rows(std::uint64_t n, std::vector<detail::h5_store_column> columns,
                                  const std::string& descriptor, const map_options& options);
  /// Root's store (null elsewhere).
  [[nodiscard]] detail::h5_row_store* store() noexcept { return store_.get(); }
  /// Collective. After the map: every row on disk, CSR columns built, rows_done set.
  void end_rows();
  /// Not collective: the map failed; root writes and records what it has now (never throws).
  void abandon_rows() noexcept;
  /// The header of the journal: n, the columns and the fingerprint.
  [[nodiscard]] std::string descriptor(std::uint64_t n, const std::vector<detail::h5_store_column>& columns) const;

 private:
  communicator comm_;
  detail::h5_output_paths paths_;
  h5_output_options options_;
  std::unique_ptr<detail::work_files_lock> lock_;  // root's; released after store_ is gone
  std::unique_ptr<detail::h5_row_store> store_;
  std::uint64_t rows_resumed_ = 0;
  bool begun_ = false;
  bool rows_done_ = false;
  bool committed_ = false;
};

namespace detail {

template <class T>
inline constexpr bool is_tuple_v = is_specialization_v<T, std::tuple>;

/// The result's elements, one per column.
template <class Result>
constexpr std::size_t h5_column_count() {
  if constexpr (is_tuple_v<Result>) {
    return std::tuple_size_v<Result>;
  } else {
    return 1;
  }
}

template <std::size_t C, class Result>
decltype(auto) h5_element(Result& r) {
  if constexpr (is_tuple_v<Result>) {
    return std::get<C>(r);
  } else {
    return (r);
  }
}

template <class Result, std::size_t C>
using h5_element_t = std::remove_cvref_t<decltype(h5_element<C>(std::declval<Result&>()))>;

template <class T>
constexpr void require_h5_row() {
  static_assert(h5_fixed_row<T>() || h5_runtime_row<T>(),
                "plx::map_to_h5: each result (or tuple element) must be an arithmetic type, std::array, Eigen "
                "vector/matrix, a struct with PLX_H5_FIELDS, or a std::vector of those (see <parallax/dist/h5_row.hpp>)");
}

/// Throws plx::config_error naming both paths when two columns have the same path, or one lies inside
/// another (a ragged column "/r" is the group of "/r/values" and "/r/offsets"; a fixed one is a dataset,
/// which has no children). Checked on every rank before any row is computed.
void check_column_paths(const std::vector<h5_store_column>& columns);

/// The store's view of column C: checks the column's row_shape against the type.
template <class T>
h5_store_column h5_store_column_of(const h5_column& spec) {
  h5_store_column column;
  column.path = spec.path;
  column.layout = h5_layout_of<T>();
  column.dims = spec.dims;
  column.units = spec.units;
  column.long_name = spec.long_name;
  if (spec.path.empty() || spec.path.front() != '/') {
    throw config_error("map_to_h5: a column's path must be absolute (\"/group/name\"), not '" + spec.path + "'");
  }
  if constexpr (h5_fixed_row<T>()) {
    if (!spec.row_shape.empty()) {
      throw config_error("map_to_h5: column '" + spec.path +
                         "' has a row_shape, but its type has a fixed shape (leave row_shape empty)");
    }
    column.row_dims = column.layout.dims;
    column.row_bytes = column.layout.bytes;
  } else if (spec.row_shape.empty()) {
    column.ragged = true;
    column.row_bytes = column.layout.bytes;  // of one value
  } else {
    column.row_dims.assign(spec.row_shape.begin(), spec.row_shape.end());
    std::size_t values = 1;
    for (const auto d : spec.row_shape) values *= static_cast<std::size_t>(d);
    column.row_dims.insert(column.row_dims.end(), column.layout.dims.begin(), column.layout.dims.end());
    column.row_bytes = values * column.layout.bytes;
  }
  return column;
}

template <class Result, std::size_t... C>
std::vector<h5_store_column> h5_store_columns(const std::vector<h5_column>& specs, std::index_sequence<C...>) {
  (require_h5_row<h5_element_t<Result, C>>(), ...);
  if (specs.size() != sizeof...(C)) {
    throw config_error("map_to_h5: the task's result has " + std::to_string(sizeof...(C)) +
                       " element(s) but " + std::to_string(specs.size()) + " column(s) were given");
  }
  std::vector<h5_store_column> columns;  // (h5_store_column is move-only: no initializer list)
  (columns.push_back(h5_store_column_of<h5_element_t<Result, C>>(specs[C])), ...);
  check_column_paths(columns);
  return columns;
}

/// Values a runtime-sized column with a row_shape must have per row (0: any, ragged).
inline std::size_t h5_expected_values(const h5_store_column& column) {
  if (column.ragged) return 0;
  const std::size_t value = column.layout.bytes;
  return value == 0 ? 0 : column.row_bytes / value;
}

/// In the task (on the rank that ran it): a runtime-sized result of the wrong length fails that task.
template <class Result, std::size_t... C>
void h5_check_lengths(const Result& r, const std::vector<h5_store_column>& columns, std::index_sequence<C...>) {
  const auto check = [&](const auto& element, const h5_store_column& column) {
    using T = std::remove_cvref_t<decltype(element)>;
    if constexpr (h5_runtime_row<T>()) {
      const std::size_t expected = h5_expected_values(column);
      if (expected != 0 && h5_value_count(element) != expected) {
        throw config_error("map_to_h5: column '" + column.path + "' takes rows of " + std::to_string(expected) +
                           " values, but the task returned " + std::to_string(h5_value_count(element)));
      }
    }
  };
  (check(h5_element<C>(const_cast<Result&>(r)), columns[C]), ...);
}

/// On root, in the sink: packs one result into the store as row `row`.
template <class Result, std::size_t... C>
void h5_store_row(h5_row_store& store, std::uint64_t row, const Result& r, std::index_sequence<C...>) {
  const auto pack = [&](const auto& element, std::size_t c) {
    using T = std::remove_cvref_t<decltype(element)>;
    const h5_store_column& column = store.columns()[c];
    if constexpr (h5_fixed_row<T>()) {
      h5_pack_fixed(element, store.fixed_space(c));
    } else if (column.ragged) {
      h5_pack_values(element, store.ragged_space(c, h5_value_count(element) * column.row_bytes));
    } else {
      h5_pack_values(element, store.fixed_space(c));
    }
  };
  store.begin_row(row);
  try {
    (pack(h5_element<C>(const_cast<Result&>(r)), C), ...);
  } catch (...) {
    store.end_row(false);
    throw;
  }
  store.end_row(true);
}

}  // namespace detail

/// Collective. Map over [0, n) whose results become rows of the datasets `columns` of `out` (one column per
/// result element, see the top of this file), durably as they arrive on root, in any order. Rows already
/// on disk in a resumed output are not computed again. Fail-fast like plx::map (plx::task_error,
/// plx::timeout_error, plx::stopped_error on every rank); the rows finished before a failure stay on disk
/// for a resume. Call out.open() / out.commit() afterwards.
template <class Fn>
void map_to_h5(h5_output& out, std::size_t n, Fn&& fn, const std::vector<h5_column>& columns,
               const map_options& options = {}) {
  static_assert(std::invocable<Fn&, std::size_t>, "plx::map_to_h5: the task must be callable as fn(std::size_t index)");
  using Result = detail::index_result_t<Fn>;
  detail::require_result_payload<Result>();
  constexpr auto elements = std::make_index_sequence<detail::h5_column_count<Result>()>();
  std::vector<detail::h5_store_column> store_columns =
      detail::on_all_ranks(out.comm(), [&] { return detail::h5_store_columns<Result>(columns, elements); });
  const std::string descriptor = out.descriptor(n, store_columns);
  const detail::index_ranges missing = out.begin_rows(n, store_columns, descriptor, options);
  try {
    detail::map_missing(
        out.comm(), missing,
        [&](std::size_t row) {
          Result r = std::invoke(fn, row);
          detail::h5_check_lengths(r, store_columns, elements);
          return r;
        },
        [&](std::size_t row, Result&& r) { detail::h5_store_row(*out.store(), row, r, elements); }, options);
  } catch (...) {
    out.abandon_rows();
    throw;
  }
  out.end_rows();
}

/// Collective. The whole of it in one call: creates (or resumes) `path`, maps, commits.
template <class Fn>
void map_to_h5(const communicator& comm, std::size_t n, Fn&& fn, const std::string& path,
               const std::vector<h5_column>& columns, const map_options& options = {},
               const h5_output_options& output = {}) {
  h5_output out(comm, path, output);
  map_to_h5(out, n, std::forward<Fn>(fn), columns, options);
  out.commit();
}

}  // namespace plx
