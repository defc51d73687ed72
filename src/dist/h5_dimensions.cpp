#include <parallax/dist/detail/h5_dimensions.hpp>

#include <map>

#include <fmt/format.h>

#include <parallax/core/error.hpp>
#include <parallax/io/dimension_scales.hpp>
#include <parallax/io/slab_io.hpp>

namespace plx::detail {

namespace {

/// "/a/b" -> "a_b": a column's path as part of a dimension name.
std::string flat_name(const std::string& path) {
  std::string out;
  for (const char ch : path) {
    if (ch != '/') {
      out.push_back(ch);
    } else if (!out.empty() && out.back() != '_') {
      out.push_back('_');
    }
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out;
}

std::string base_name(const std::string& path) { return path.substr(path.find_last_of('/') + 1); }

const h5_coordinate* coordinate_of(const std::string& name, const std::vector<h5_coordinate>& coordinates) {
  for (const auto& c : coordinates) {
    if (c.dimension == name) return &c;
  }
  return nullptr;
}

/// Where the scale of dimension `name` goes.
std::string scale_path(const std::string& name, const std::vector<h5_coordinate>& coordinates) {
  const h5_coordinate* c = coordinate_of(name, coordinates);
  return c && !c->path.empty() ? c->path : "/" + name;
}

/// Whether two HDF5 paths are the same object or one lies inside the other.
bool paths_overlap(const std::string& a, const std::string& b) {
  const auto inside = [](const std::string& inner, const std::string& outer) {
    return inner.size() > outer.size() && inner.starts_with(outer) && inner[outer.size()] == '/';
  };
  return a == b || inside(a, b) || inside(b, a);
}

void check_name(const std::string& name, const std::string& where) {
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
    throw config_error(fmt::format("map_to_h5: {}: '{}' is not a dimension name (give a non-empty name without '/')",
                                   where, name));
  }
}

}  // namespace

std::vector<h5_named_dataset> h5_named_datasets(const std::vector<h5_store_column>& columns, std::uint64_t n,
                                                const std::string& row_dimension) {
  std::vector<h5_named_dataset> datasets;
  for (const auto& column : columns) {
    const std::string flat = flat_name(column.path);
    // The axes after the first: a row's (fixed) or a value's (ragged) own dimensions.
    const auto add_axes = [&](h5_named_dataset& d, const std::vector<hsize_t>& shape) {
      for (std::size_t a = 0; a < shape.size(); ++a) {
        d.dims.push_back(a < column.dims.size() ? column.dims[a] : fmt::format("{}_{}", flat, a + 1));
        d.lengths.push_back(shape[a]);
      }
    };
    if (!column.ragged) {
      h5_named_dataset d{column.path, {row_dimension}, {n}, column.units, column.long_name};
      add_axes(d, column.row_dims);
      datasets.push_back(std::move(d));
      continue;
    }
    h5_named_dataset values{column.path + "/values", {flat + "_value"}, {h5_unknown_length}, column.units,
                            column.long_name};
    add_axes(values, column.layout.dims);
    datasets.push_back(std::move(values));
    datasets.push_back(h5_named_dataset{column.path + "/offsets",
                                        {row_dimension + "_edge"},
                                        {n + 1},
                                        "1",
                                        "CSR offsets: row i is values[offsets[i]:offsets[i + 1]]"});
  }
  return datasets;
}

void check_h5_dimensions(const std::vector<h5_store_column>& columns, std::uint64_t n,
                         const std::string& row_dimension, const std::vector<h5_coordinate>& coordinates) {
  check_name(row_dimension, "the row dimension");
  for (const auto& column : columns) {
    const std::size_t axes = column.ragged ? column.layout.dims.size() : column.row_dims.size();
    if (column.dims.size() > axes) {
      throw config_error(fmt::format("map_to_h5: column '{}' names {} dimensions, but its {} {} {}", column.path,
                                     column.dims.size(), column.ragged ? "values have" : "rows have", axes,
                                     axes == 1 ? "dimension" : "dimensions"));
    }
    for (const auto& name : column.dims) check_name(name, fmt::format("column '{}'", column.path));
  }
  struct seen {
    std::uint64_t length;
    std::string where;
  };
  std::map<std::string, seen> lengths;
  for (const auto& d : h5_named_datasets(columns, n, row_dimension)) {
    for (std::size_t a = 0; a < d.dims.size(); ++a) {
      const auto [at, inserted] = lengths.try_emplace(d.dims[a], seen{d.lengths[a], d.path});
      if (!inserted && at->second.length != d.lengths[a]) {
        throw config_error(fmt::format("map_to_h5: dimension '{}' has {} entries in '{}' but {} in '{}': give them "
                                       "different names",
                                       d.dims[a], at->second.length, at->second.where, d.lengths[a], d.path));
      }
    }
  }
  for (const auto& [name, where] : lengths) {
    const std::string scale = scale_path(name, coordinates);
    for (const auto& column : columns) {
      if (paths_overlap(scale, column.path)) {
        throw config_error(fmt::format("map_to_h5: the dataset '{}' of dimension '{}' would collide with column '{}': "
                                       "rename the dimension or the column",
                                       scale, name, column.path));
      }
    }
  }
  for (std::size_t i = 0; i < coordinates.size(); ++i) {
    const h5_coordinate& c = coordinates[i];
    const auto found = lengths.find(c.dimension);
    if (found == lengths.end()) {
      throw config_error(fmt::format("map_to_h5: coordinates of '{}', which is no dimension of the columns",
                                     c.dimension));
    }
    if (coordinate_of(c.dimension, coordinates) != &c) {
      throw config_error(fmt::format("map_to_h5: two sets of coordinates of dimension '{}'", c.dimension));
    }
    if (found->second.length == h5_unknown_length || c.values.size() != found->second.length) {
      throw config_error(fmt::format("map_to_h5: {} coordinates of dimension '{}', which has {} entries (in '{}')",
                                     c.values.size(), c.dimension, found->second.length, found->second.where));
    }
    if (!c.path.empty() && (c.path.front() != '/' || base_name(c.path) != c.dimension)) {
      throw config_error(fmt::format("map_to_h5: the coordinates of '{}' go to '{}': give an absolute path whose "
                                     "last part is the dimension's name (xarray names dimensions so)",
                                     c.dimension, c.path));
    }
  }
}

void write_h5_dimensions(io::h5_file& file, const std::vector<h5_store_column>& columns, std::uint64_t n,
                         const std::string& row_dimension, const std::vector<h5_coordinate>& coordinates) {
  std::map<std::string, std::string> scales;  // dimension name -> its scale's path
  for (const auto& d : h5_named_datasets(columns, n, row_dimension)) {
    std::vector<std::string> paths;
    for (std::size_t a = 0; a < d.dims.size(); ++a) {
      const std::string& name = d.dims[a];
      auto found = scales.find(name);
      if (found == scales.end()) {
        std::uint64_t length = d.lengths[a];
        if (length == h5_unknown_length) {  // a ragged column's values: as many as its rows hold, known now
          length = io::dataset_dims(file, d.path).at(a);
        }
        std::string path = scale_path(name, coordinates);
        if (const h5_coordinate* c = coordinate_of(name, coordinates)) {
          io::write_from_root(file, path, c->values);
          io::make_dimension_scale(file, path, name);
          if (!c->units.empty()) io::set_attribute(file, path, "units", c->units);
          if (!c->long_name.empty()) io::set_attribute(file, path, "long_name", c->long_name);
        } else {
          io::make_dimension(file, path, length);
        }
        found = scales.emplace(name, std::move(path)).first;
      }
      paths.push_back(found->second);
    }
    io::attach_dimension_scales(file, d.path, paths);
    if (!d.units.empty()) io::set_attribute(file, d.path, "units", d.units);
    if (!d.long_name.empty()) io::set_attribute(file, d.path, "long_name", d.long_name);
  }
}

}  // namespace plx::detail
