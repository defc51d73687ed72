/// @file
/// What a dataset means, in the conventions the Python ecosystem reads: `units` and `long_name` attributes
/// (CF, as xarray and netCDF tools show them) and HDF5 dimension scales (H5DS: a 1D dataset named as a
/// dimension and attached to the dimensions it labels), so that
///
///   xarray.open_dataset("cosmo.h5", engine="h5netcdf")
///
/// gives named dimensions (x, y, z, k, ...) with coordinates instead of phony_dim_0, phony_dim_1.
///
///   plx::io::write_from_root(file, "/power_spectrum/k", bins, k);
///   plx::io::make_dimension_scale(file, "/power_spectrum/k", "k");
///   plx::io::write_from_root(file, "/power_spectrum/power", bins, power);
///   plx::io::attach_dimension_scales(file, "/power_spectrum/power", {"/power_spectrum/k"});
///   plx::io::describe_dataset(file, "/power_spectrum/power", "(Mpc/h)^3", "measured power spectrum P(k)");
#pragma once

#include <string>
#include <vector>

#include <parallax/io/hdf5_file.hpp>

namespace plx::io {

/// Collective. Makes the existing 1D dataset `scale_path` a dimension scale named `name` (H5DSset_scale).
/// Throws plx::io_error on every rank if it is missing or HDF5 fails on any rank.
void make_dimension_scale(h5_file& file, const std::string& scale_path, const std::string& name);

/// Collective. Creates `path` as a dimension without coordinates of `length` entries (a netCDF "dimension
/// but not a variable": an uint8 scale that is never written, so its blocks are never touched; xarray names
/// the dimension by the path's last part and shows no coordinate for it), and returns `path`.
std::string make_dimension(h5_file& file, const std::string& path, hsize_t length);

/// Collective. Attaches `scale_paths[d]` (dimension scales of the right length) to dimension d of
/// `dataset_path`, for each d given; an empty path leaves that dimension without one.
void attach_dimension_scales(h5_file& file, const std::string& dataset_path,
                             const std::vector<std::string>& scale_paths);

/// Collective. The string attributes `units` (CF style: "1" for a pure number, "Mpc/h", "(Mpc/h)^3") and
/// `long_name` (what the values are) of `object_path`.
void describe_dataset(h5_file& file, const std::string& object_path, const std::string& units,
                      const std::string& long_name);

}  // namespace plx::io
