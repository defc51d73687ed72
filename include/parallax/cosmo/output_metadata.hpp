/// @file
/// Units and named dimensions shared by the cosmology apps' outputs (plx-cosmo, plx-web): the grid's
/// coordinate scales /x, /y (, /z) and the length unit the spectrum implies. See io/dimension_scales.hpp.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <parallax/io/hdf5_file.hpp>

namespace plx::cosmo {

/// "Mpc/h" for the spectra that set a physical scale (eisenstein-hu; a CLASS/CAMB table, whose k is in h/Mpc),
/// "box units" for the others (workshop, powerlaw, or an unknown name).
[[nodiscard]] std::string length_units(const std::string& spectrum_name);

/// Collective. Writes /x, /y (and /z in 3D): the grid points' coordinates i L / N, in `length` units, as
/// dimension scales named x, y, z, and returns their paths (for io::attach_dimension_scales). Existing ones
/// are rewritten.
std::vector<std::string> write_grid_scales(io::h5_file& file, int dim, std::ptrdiff_t n, double box,
                                           const std::string& length);

/// Collective. Writes /`name` (0, 1, ..., count - 1) as a dimension scale named `name` with the given
/// meaning (units "1"), for an axis of components or eigenvalues, and returns its path.
std::string write_index_scale(io::h5_file& file, const std::string& name, std::size_t count,
                              const std::string& long_name);

}  // namespace plx::cosmo
