/// @file
/// An HDF5 dataset read in parallel into one node-shared copy per node (plx::node_shared, see
/// <parallax/dist/node_shared.hpp>).
///
/// Every rank of the file's communicator reads a share of its node's rows straight into the node's shared
/// window, in collective MPI-IO reads over all ranks, so a node's ranks load its copy together and nothing
/// passes through root. Dim 0 of the dataset is the rows; the other dims are flattened into columns (C
/// order), so a (n, 3) dataset is read as n rows of 3 values and matrix<plx::row_major_matrix<double>>()
/// gives it back as an n x 3 Eigen matrix.
///
/// @code
///   auto file = plx::io::h5_file::open_read(rt.world(), "catalogue.h5");
///   const auto positions = plx::io::read_node_shared(file, "/positions");  // n x 3, one copy per node
/// @endcode
#pragma once

#include <cstddef>
#include <string>

#include <parallax/dist/node_shared.hpp>
#include <parallax/io/hdf5_file.hpp>

namespace plx::io {

/// Collective over file.comm(). The dataset `dataset_path` (any numeric type, converted to float64 as HDF5
/// reads it) in one copy per node, read in parallel: each rank reads its share of its node's rows, in
/// collective reads of at most `max_read_bytes` per rank each (at least one row; every rank makes the same
/// number of calls, which bounds what one MPI-IO transfer moves). Throws plx::io_error on every rank together
/// when the dataset is missing, is a scalar, or a read fails on any rank, and plx::config_error when it does
/// not fit in a node's memory.
[[nodiscard]] node_shared<double> read_node_shared(h5_file& file, const std::string& dataset_path,
                                                   std::size_t max_read_bytes = std::size_t{256} << 20);

}  // namespace plx::io
