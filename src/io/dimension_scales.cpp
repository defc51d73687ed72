// H5DS calls (HDF5's high-level library) wrapped in the agreed steps of hdf5_file.hpp: they write attributes,
// which parallel HDF5 wants from every rank in the same order, so a failure on one rank must stop them all.
// They are writes: the fault site hdf5.write reaches them (injected_write_result), as it reaches H5Awrite.
#include <parallax/io/dimension_scales.hpp>

#include <hdf5_hl.h>

#include <fmt/format.h>

#include <parallax/core/error.hpp>

namespace plx::io {

void make_dimension_scale(h5_file& file, const std::string& scale_path, const std::string& name) {
  detail::h5_quiet quiet;
  h5_id scale = detail::agreed(file, [&] { return detail::open_dataset(file, scale_path); });
  detail::agreed(file, [&] {
    detail::check_h5(detail::injected_write_result(H5DSset_scale(scale.get(), name.c_str())), "H5DSset_scale", file,
                     scale_path);
  });
}

std::string make_dimension(h5_file& file, const std::string& path, hsize_t length) {
  // netCDF-4's mark of a dimension without a variable, with the length as netCDF-C writes it (%10d).
  const std::string name = fmt::format("This is a netCDF dimension but not a netCDF variable.{:10}", length);
  const hsize_t dims[1] = {length};
  h5_id scale = detail::create_dataset(file, path, dims, detail::file_uint8());
  detail::h5_quiet quiet;
  detail::agreed(file, [&] {
    detail::check_h5(detail::injected_write_result(H5DSset_scale(scale.get(), name.c_str())), "H5DSset_scale", file,
                     path);
  });
  return path;
}

void attach_dimension_scales(h5_file& file, const std::string& dataset_path,
                             const std::vector<std::string>& scale_paths) {
  detail::h5_quiet quiet;
  h5_id dataset = detail::agreed(file, [&] { return detail::open_dataset(file, dataset_path); });
  for (unsigned d = 0; d < scale_paths.size(); ++d) {
    if (scale_paths[d].empty()) continue;
    h5_id scale = detail::agreed(file, [&] { return detail::open_dataset(file, scale_paths[d]); });
    detail::agreed(file, [&] {
      detail::check_h5(detail::injected_write_result(H5DSattach_scale(dataset.get(), scale.get(), d)), "H5DSattach_scale",
                       file, dataset_path);
    });
  }
}

void describe_dataset(h5_file& file, const std::string& object_path, const std::string& units,
                      const std::string& long_name) {
  set_attribute(file, object_path, "units", units);
  set_attribute(file, object_path, "long_name", long_name);
}

}  // namespace plx::io
