#include <parallax/io/xdmf.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <system_error>

#include <parallax/core/detail/removal_on_signal.hpp>
#include <parallax/core/error.hpp>

namespace plx::io {

namespace {

std::string escaped(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

/// Shortest text that reads back as the same double.
std::string number(double value) {
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

/// "N N N" (count times).
std::string repeated(const std::string& word, int count) {
  std::string out;
  for (int i = 0; i < count; ++i) out += (i == 0 ? "" : " ") + word;
  return out;
}

void validate(const xdmf_grid& grid) {
  if (grid.dimensions != 2 && grid.dimensions != 3) {
    throw config_error("XDMF grid: dimensions must be 2 or 3, not " + std::to_string(grid.dimensions));
  }
  if (grid.cells_per_side == 0) throw config_error("XDMF grid: cells_per_side must be positive");
  if (!(grid.box_size > 0.0) || !std::isfinite(grid.box_size)) {
    throw config_error("XDMF grid: box_size must be positive and finite, not " + number(grid.box_size));
  }
}

std::string h5_file_name(const std::string& h5_path) {
  const std::string name = std::filesystem::path(h5_path).filename().string();
  if (name.empty()) throw config_error("XDMF: '" + h5_path + "' does not name an HDF5 file");
  // XDMF splits "file:/dataset" at the colon.
  if (name.find(':') != std::string::npos) {
    throw config_error("XDMF: the HDF5 file name '" + name + "' must not contain ':'");
  }
  return name;
}

/// The DataItem of a whole float64 dataset.
std::string hdf_item(const std::string& dimensions, const std::string& file_name, const std::string& dataset) {
  return "<DataItem Dimensions=\"" + dimensions + "\" NumberType=\"Float\" Precision=\"8\" Format=\"HDF\">" +
         escaped(file_name + ":" + dataset) + "</DataItem>";
}

void validate(const xdmf_field& field) {
  if (field.name.empty()) throw config_error("XDMF field: the name is empty (dataset '" + field.dataset + "')");
  if (field.dataset.empty() || field.dataset.front() != '/') {
    throw config_error("XDMF field '" + field.name + "': dataset path '" + field.dataset +
                       "' must be absolute (start with '/')");
  }
}

/// The Attribute elements of one field, each line starting with `indent`.
std::string attributes(const xdmf_grid& grid, const std::string& file_name, const xdmf_field& field,
                       const std::string& indent) {
  validate(field);
  const std::string points = repeated(std::to_string(grid.cells_per_side), grid.dimensions);
  const std::string in = indent + "  ";
  if (!field.vector) {
    return indent + "<Attribute Name=\"" + escaped(field.name) + "\" AttributeType=\"Scalar\" Center=\"Node\">\n" + in +
           hdf_item(points, file_name, field.dataset) + "\n" + indent + "</Attribute>\n";
  }
  const std::string components = std::to_string(grid.dimensions);
  const std::string stored = points + " " + components;
  if (grid.dimensions == 3) {
    return indent + "<Attribute Name=\"" + escaped(field.name) + "\" AttributeType=\"Vector\" Center=\"Node\">\n" + in +
           hdf_item(stored, file_name, field.dataset) + "\n" + indent + "</Attribute>\n";
  }
  // ParaView vectors have 3 components: a 2D vector becomes one scalar per component, each a hyperslab
  // (rows: start, stride, count over the dataset's dims) of the stored array.
  std::string text;
  const std::string in2 = in + "  ";
  const std::string n = std::to_string(grid.cells_per_side);
  const std::string rank = std::to_string(grid.dimensions + 1);
  for (int c = 0; c < grid.dimensions; ++c) {
    const std::string start = repeated("0", grid.dimensions) + " " + std::to_string(c);
    const std::string stride = repeated("1", grid.dimensions + 1);
    const std::string count = points + " 1";
    text += indent + "<Attribute Name=\"" + escaped(field.name + "_" + std::to_string(c)) +
            "\" AttributeType=\"Scalar\" Center=\"Node\">\n";
    text += in + "<DataItem ItemType=\"HyperSlab\" Dimensions=\"" + count + "\" Type=\"HyperSlab\">\n";
    text += in2 + "<DataItem Dimensions=\"3 " + rank + "\" NumberType=\"UInt\" Format=\"XML\">" + start + " " + stride +
            " " + count + "</DataItem>\n";
    text += in2 + hdf_item(stored, file_name, field.dataset) + "\n";
    text += in + "</DataItem>\n";
    text += indent + "</Attribute>\n";
  }
  return text;
}

/// One Uniform grid: topology, geometry and attributes, each line starting with `indent`.
std::string uniform_grid(const xdmf_grid& grid, const std::string& file_name, std::span<const xdmf_field> fields,
                         const std::string& grid_name, const double* time, const std::string& indent) {
  const std::string points = repeated(std::to_string(grid.cells_per_side), grid.dimensions);
  const bool three_d = grid.dimensions == 3;
  const std::string spacing = number(grid.box_size / static_cast<double>(grid.cells_per_side));
  const std::string in = indent + "  ";
  const std::string in2 = in + "  ";
  auto small_item = [&](const char* name, const std::string& values) {
    return in2 + "<DataItem Name=\"" + name + "\" Dimensions=\"" + std::to_string(grid.dimensions) +
           "\" NumberType=\"Float\" Precision=\"8\" Format=\"XML\">" + values + "</DataItem>\n";
  };

  std::string text = indent + "<Grid Name=\"" + escaped(grid_name) + "\" GridType=\"Uniform\">\n";
  if (time != nullptr) text += in + "<Time Value=\"" + number(*time) + "\"/>\n";
  text += in + "<Topology TopologyType=\"" + (three_d ? "3DCoRectMesh" : "2DCoRectMesh") + "\" Dimensions=\"" +
          points + "\"/>\n";
  text += in + "<Geometry GeometryType=\"" + (three_d ? "ORIGIN_DXDYDZ" : "ORIGIN_DXDY") + "\">\n";
  text += small_item("Origin", repeated("0", grid.dimensions));
  text += small_item("Spacing", repeated(spacing, grid.dimensions));
  text += in + "</Geometry>\n";
  for (const xdmf_field& field : fields) text += attributes(grid, file_name, field, in);
  text += indent + "</Grid>\n";
  return text;
}

constexpr const char* header =
    "<?xml version=\"1.0\" ?>\n"
    "<!DOCTYPE Xdmf SYSTEM \"Xdmf.dtd\" []>\n"
    "<Xdmf Version=\"3.0\" xmlns:xi=\"http://www.w3.org/2001/XInclude\">\n"
    "  <Domain>\n";
constexpr const char* footer =
    "  </Domain>\n"
    "</Xdmf>\n";

/// write(2) of all of `text` to a new file, then close; "" or the system's reason (errno), which names a
/// full disk ("No space left on device") as such.
std::string write_new_file(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) return std::strerror(errno);
  std::string_view rest = text;
  while (!rest.empty()) {
    const ssize_t wrote = ::write(fd, rest.data(), rest.size());
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) {
      const std::string reason = wrote < 0 ? std::strerror(errno) : "no progress";
      ::close(fd);
      return reason;
    }
    rest.remove_prefix(static_cast<std::size_t>(wrote));
  }
  // close() reports delayed write errors on some file systems (NFS).
  if (::close(fd) != 0) return std::strerror(errno);
  return {};
}

void write_atomically(const std::string& path, const std::string& text) {
  const std::string temporary = path + ".tmp." + std::to_string(static_cast<long long>(getpid()));
  // A SIGINT or SIGTERM meanwhile removes it (the apps' stop signals); forgotten once renamed or removed.
  plx::detail::register_removal_on_signal(temporary);
  struct forget {
    const std::string& path;
    ~forget() { plx::detail::unregister_removal_on_signal(path); }
  } forget_temporary{temporary};
  if (const std::string reason = write_new_file(temporary, text); !reason.empty()) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    throw io_error("cannot write the XDMF file '" + temporary + "' (for '" + path + "'): " + reason);
  }
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  if (error) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    throw io_error("cannot rename '" + temporary + "' to '" + path + "': " + error.message());
  }
}

}  // namespace

std::string xdmf_document(const xdmf_grid& grid, const std::string& h5_path, std::span<const xdmf_field> fields,
                          std::span<const xdmf_frame> frames) {
  validate(grid);
  const std::string file_name = h5_file_name(h5_path);
  if (fields.empty() && frames.empty()) throw config_error("XDMF: no fields and no frames to describe");
  std::string text = header;
  if (!fields.empty()) text += uniform_grid(grid, file_name, fields, "fields", nullptr, "    ");
  if (!frames.empty()) {
    text += "    <Grid Name=\"frames\" GridType=\"Collection\" CollectionType=\"Temporal\">\n";
    for (std::size_t i = 0; i < frames.size(); ++i) {
      if (!std::isfinite(frames[i].time)) {
        throw config_error("XDMF frame " + std::to_string(i) + ": time must be finite");
      }
      text += uniform_grid(grid, file_name, frames[i].fields, "frame_" + std::to_string(i), &frames[i].time,
                           "      ");
    }
    text += "    </Grid>\n";
  }
  return text + footer;
}

std::string xdmf_path_for(const std::string& h5_path) {
  return std::filesystem::path(h5_path).replace_extension(".xmf").string();
}

void write_xdmf_file(const std::string& xdmf_path, const std::string& h5_path, const xdmf_grid& grid,
                     std::span<const xdmf_field> fields, std::span<const xdmf_frame> frames) {
  write_atomically(xdmf_path, xdmf_document(grid, h5_path, fields, frames));
}

}  // namespace plx::io
