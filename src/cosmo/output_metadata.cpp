#include <parallax/cosmo/output_metadata.hpp>

#include <fmt/format.h>

#include <parallax/io/dimension_scales.hpp>
#include <parallax/io/slab_io.hpp>

namespace plx::cosmo {

std::string length_units(const std::string& spectrum_name) {
  return spectrum_name == "eisenstein-hu" || spectrum_name == "table" ? "Mpc/h" : "box units";
}

std::vector<std::string> write_grid_scales(io::h5_file& file, int dim, std::ptrdiff_t n, double box,
                                           const std::string& length) {
  const char* axes[] = {"x", "y", "z"};
  std::vector<std::string> paths;
  for (int a = 0; a < dim; ++a) {
    const std::string path = std::string("/") + axes[a];
    std::vector<double> q(static_cast<std::size_t>(n));
    for (std::size_t i = 0; i < q.size(); ++i) q[i] = static_cast<double>(i) * box / static_cast<double>(n);
    io::write_from_root(file, path, q);
    io::make_dimension_scale(file, path, axes[a]);
    io::describe_dataset(file, path, length,
                         fmt::format("{} of the grid points (cell corners; axis {} of the arrays)", axes[a], a));
    paths.push_back(path);
  }
  return paths;
}

std::string write_index_scale(io::h5_file& file, const std::string& name, std::size_t count,
                              const std::string& long_name) {
  const std::string path = "/" + name;
  std::vector<double> index(count);
  for (std::size_t i = 0; i < count; ++i) index[i] = static_cast<double>(i);
  io::write_from_root(file, path, index);
  io::make_dimension_scale(file, path, name);
  io::describe_dataset(file, path, "1", long_name);
  return path;
}

}  // namespace plx::cosmo
