/// @file
/// A plx-cosmo output read back by the tools that continue from it (plx-web): the grid and seed from its root
/// attributes, and the potential, whole on every rank or as a rank's slab.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <parallax/core/communicator.hpp>
#include <parallax/dist/node_shared.hpp>
#include <parallax/fft/field.hpp>
#include <parallax/io/hdf5_file.hpp>

namespace plx::cosmo {

/// An open plx-cosmo file and the grid it describes.
struct cosmo_input {
  std::string path;      ///< the file as given
  int dim = 0;           ///< 2 or 3 (attribute dim)
  std::ptrdiff_t n = 0;  ///< cells per side (attribute N)
  double box = 0;        ///< box size (attribute L)
  std::uint64_t seed = 0;  ///< the seed of the Gaussian field (attribute seed)
  std::string spectrum;  ///< attribute `spectrum` ("" when the file has none): it sets the length units
  io::h5_file file;      ///< open for reading
};

/// Collective. Opens `path` and checks that it is a plx-cosmo output: an HDF5 file with the root attributes
/// dim (2 or 3), N (>= 2), L (> 0) and seed, and a dataset /potential of shape N^dim. Throws
/// plx::config_error on every rank, naming the file and what is wrong ("input 'x.h5' is not a plx-cosmo
/// file: it has no attribute 'dim'", "input 'x.h5' has no /potential"): bad input, exit code 2 in the apps.
[[nodiscard]] cosmo_input open_cosmo_input(const communicator& comm, const std::string& path);

/// Collective. The whole /potential (N^dim values, C order, box units) for every rank, in one copy per node
/// that the node's ranks share (plx::node_shared): each rank reads a share of its node's planes, in
/// collective reads of at most 256 MiB per rank, so no transfer nears MPI's 2^31 limits and a node of R
/// ranks holds one grid, not R. Throws plx::io_error on every rank if a read fails on any, and
/// plx::config_error on every rank if the grid does not fit in a node's memory or holds a value that is not
/// finite (NaN, Inf: the message names the first such cell the ranks found).
[[nodiscard]] node_shared<double> read_whole_potential(cosmo_input& input);

/// Copies the planes `field` owns (see slab.hpp) out of a whole grid (`whole`: N^dim values, C order) into
/// its real-space rows; the padding is left alone. Throws plx::error if `whole` has the wrong size.
void copy_slab(std::span<const double> whole, fft::field& field);

}  // namespace plx::cosmo
