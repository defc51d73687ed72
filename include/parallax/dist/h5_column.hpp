/// @file
/// What map_to_h5 writes where: the columns (one dataset per element of a task's result) and what their
/// dimensions are called, so that xarray and netCDF tools open the file with named dimensions, coordinates
/// and units instead of phony_dim_0, phony_dim_1:
///
///     plx::map_to_h5(comm, m, task, "ensemble.h5",
///                    {{"/realizations/power", {bins}, {"k"}, "(Mpc/h)^3", "power spectrum P(k)"},
///                     {"/realizations/seed", {}, {}, "1", "seed of the realization"}},
///                    options, {.row_dimension = "realization",
///                              .coordinates = {{"k", k_values, "h/Mpc", "wavenumber", "/k"}}});
///
///     xarray.open_dataset("ensemble.h5", engine="h5netcdf", group="realizations")
///         -> power (realization, k), seed (realization), with k as a coordinate
///
/// Every dimension of every column is an HDF5 dimension scale (H5DS). The rows' dimension is
/// h5_output_options::row_dimension ("row" unless named). A column's own dimensions are named by
/// h5_column::dims; the ones left unnamed are called `<path>_<axis>` (the path without its first slash,
/// '/' made '_': "/a/b" axis 1 is "a_b_1"). A ragged column's /values run along `<path>_value` and its
/// /offsets along `<row dimension>_edge` (n + 1 of them). A dimension with values (a coordinate,
/// h5_coordinate) is a dataset of those values; one without is a netCDF "dimension without a variable":
/// a scale that takes no storage, at `/<name>` in the file's root group.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace plx {

/// One output dataset: where one element of the task's result goes, and what its dimensions mean.
struct h5_column {
  std::string path;  ///< absolute, e.g. "/realizations/power"; missing groups are created
  /// For runtime-sized results only: the shape of every row (its product is the number of values); empty
  /// makes the column ragged (CSR). Must stay empty for fixed-shape types.
  std::vector<std::uint64_t> row_shape{};
  /// Names of the dimensions of one row (of one value, for a ragged column), in order, e.g. {"time", "k"}
  /// for rows of shape (times, bins); fewer names than dimensions leave the last ones with the default
  /// name (see the top of this file). The same name on two columns must have the same length.
  std::vector<std::string> dims{};
  std::string units{};      ///< the `units` attribute (CF style: "1", "Mpc/h", "(Mpc/h)^3"); empty: none
  std::string long_name{};  ///< the `long_name` attribute: what the values are; empty: none
};

/// Values along a named dimension of the columns (what xarray calls a coordinate), written once at the
/// end of the map as a float64 dimension scale.
struct h5_coordinate {
  std::string dimension;       ///< the row dimension or a name in some column's dims
  std::vector<double> values;  ///< one per index along the dimension
  std::string units{};         ///< the `units` attribute; empty: none
  std::string long_name{};     ///< the `long_name` attribute; empty: none
  std::string path{};          ///< the dataset's absolute path; empty: "/<dimension>"
};

}  // namespace plx
