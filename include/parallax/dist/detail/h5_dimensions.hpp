// The named dimensions of map_to_h5's columns (see <parallax/dist/h5_column.hpp> for the naming rules):
// checked on every rank before any row is computed, and written by root's store at the end.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <parallax/dist/detail/h5_row_store.hpp>
#include <parallax/dist/h5_column.hpp>
#include <parallax/io/hdf5_file.hpp>

namespace plx::detail {

/// The length of an axis that only the end knows (a ragged column's values).
inline constexpr std::uint64_t h5_unknown_length = ~std::uint64_t{0};

/// One dataset that a column makes (a fixed column: itself; a ragged one: its /values and /offsets), with
/// a name for each axis.
struct h5_named_dataset {
  std::string path;
  std::vector<std::string> dims;
  std::vector<std::uint64_t> lengths;  ///< h5_unknown_length where only the end knows it
  std::string units;
  std::string long_name;
};

/// The datasets of `columns` over `n` rows, every axis named.
std::vector<h5_named_dataset> h5_named_datasets(const std::vector<h5_store_column>& columns, std::uint64_t n,
                                                const std::string& row_dimension);

/// Throws plx::config_error naming the column: a dimension name that is empty or holds '/', more names
/// than a row has dimensions, one name with two lengths, a dimension's dataset on a column's path, a
/// coordinate of an unknown dimension or with another number of values. The same on every rank.
void check_h5_dimensions(const std::vector<h5_store_column>& columns, std::uint64_t n,
                         const std::string& row_dimension, const std::vector<h5_coordinate>& coordinates);

/// Root's store, at the end, in its file (open on MPI_COMM_SELF): one dimension scale per name (the
/// coordinate's values, or a dimension without coordinates at /<name>), attached to every axis of every
/// column, and the columns' units and long_name.
void write_h5_dimensions(io::h5_file& file, const std::vector<h5_store_column>& columns, std::uint64_t n,
                         const std::string& row_dimension, const std::vector<h5_coordinate>& coordinates);

}  // namespace plx::detail
