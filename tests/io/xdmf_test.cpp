// XDMF text for ParaView/VisIt: topology, geometry, dimensions and dataset paths in 2D and 3D, the temporal
// collection, well-formed XML, and the errors for descriptions no reader could use. No MPI.
#include <parallax/io/xdmf.hpp>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <parallax/core/detail/fault_injection.hpp>
#include <parallax/core/error.hpp>

namespace {

using plx::io::xdmf_field;
using plx::io::xdmf_frame;
using plx::io::xdmf_grid;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::size_t occurrences(const std::string& text, const std::string& part) {
  std::size_t count = 0;
  for (std::size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++count;
  return count;
}

/// A light well-formedness check: tags nest and close in order, attribute values are quoted, text has no
/// raw '<' and every '&' starts an entity. Returns "" when fine, else what is wrong.
std::string xml_problem(const std::string& text) {
  std::vector<std::string> open;
  std::size_t at = 0;
  bool root_seen = false;
  while (at < text.size()) {
    if (text[at] != '<') {
      const std::size_t next = text.find('<', at);
      const std::string chars = text.substr(at, next == std::string::npos ? std::string::npos : next - at);
      for (std::size_t amp = chars.find('&'); amp != std::string::npos; amp = chars.find('&', amp + 1)) {
        if (chars.find(';', amp) == std::string::npos) return "bare '&' in text";
      }
      if (open.empty() && chars.find_first_not_of(" \n\t\r") != std::string::npos) return "text outside the root";
      at = next == std::string::npos ? text.size() : next;
      continue;
    }
    const std::size_t end = text.find('>', at);
    if (end == std::string::npos) return "unterminated tag";
    const std::string tag = text.substr(at + 1, end - at - 1);
    at = end + 1;
    if (tag.starts_with('?') || tag.starts_with('!')) continue;  // declaration, DOCTYPE
    if (std::count(tag.begin(), tag.end(), '"') % 2 != 0) return "unbalanced quotes in <" + tag + ">";
    if (tag.starts_with('/')) {
      const std::string name = tag.substr(1);
      if (open.empty() || open.back() != name) {
        return "</" + name + "> closes " + (open.empty() ? "nothing" : open.back());
      }
      open.pop_back();
      continue;
    }
    const std::string name = tag.substr(0, tag.find_first_of(" \n\t/"));
    if (name.empty()) return "empty tag name";
    if (open.empty()) {
      if (root_seen) return "second root element <" + name + ">";
      root_seen = true;
    }
    if (!tag.ends_with('/')) open.push_back(name);
  }
  if (!open.empty()) return "<" + open.back() + "> is never closed";
  return root_seen ? "" : "no root element";
}

const xdmf_grid grid_3d{.dimensions = 3, .cells_per_side = 64, .box_size = 500.0};
const xdmf_grid grid_2d{.dimensions = 2, .cells_per_side = 16, .box_size = 1.0};

TEST(Xdmf, three_d_grid_uses_corect_mesh_and_origin_spacing) {
  const std::vector<xdmf_field> fields = {{"density", "/density", false}, {"displacement", "/displacement", true}};
  const std::string text = plx::io::xdmf_document(grid_3d, "/scratch/run_42/run.h5", fields);

  EXPECT_TRUE(text.starts_with("<?xml version=\"1.0\" ?>"));
  EXPECT_TRUE(contains(text, "<Xdmf Version=\"3.0\""));
  EXPECT_TRUE(contains(text, "<Topology TopologyType=\"3DCoRectMesh\" Dimensions=\"64 64 64\"/>"));
  EXPECT_TRUE(contains(text, "<Geometry GeometryType=\"ORIGIN_DXDYDZ\">"));
  EXPECT_TRUE(contains(text, "Dimensions=\"3\" NumberType=\"Float\" Precision=\"8\" Format=\"XML\">0 0 0</DataItem>"));
  EXPECT_TRUE(contains(text, ">7.8125 7.8125 7.8125</DataItem>")) << "spacing L/N = 500/64";
  EXPECT_TRUE(contains(text, "<Attribute Name=\"density\" AttributeType=\"Scalar\" Center=\"Node\">"));
  EXPECT_TRUE(contains(text, "<DataItem Dimensions=\"64 64 64\" NumberType=\"Float\" Precision=\"8\" "
                             "Format=\"HDF\">run.h5:/density</DataItem>"));
  EXPECT_TRUE(contains(text, "<Attribute Name=\"displacement\" AttributeType=\"Vector\" Center=\"Node\">"));
  EXPECT_TRUE(contains(text, "Dimensions=\"64 64 64 3\" NumberType=\"Float\" Precision=\"8\" "
                             "Format=\"HDF\">run.h5:/displacement</DataItem>"));
  EXPECT_FALSE(contains(text, "/scratch")) << "only the base name: the .xdmf sits beside the file";
  EXPECT_FALSE(contains(text, "Temporal")) << "no frames, no collection";
  EXPECT_EQ(xml_problem(text), "");
}

TEST(Xdmf, two_d_grid_and_its_vectors_as_component_slabs) {
  const std::vector<xdmf_field> fields = {{"density", "/density", false}, {"displacement", "/displacement", true}};
  const std::string text = plx::io::xdmf_document(grid_2d, "run2d.h5", fields);

  EXPECT_TRUE(contains(text, "<Topology TopologyType=\"2DCoRectMesh\" Dimensions=\"16 16\"/>"));
  EXPECT_TRUE(contains(text, "<Geometry GeometryType=\"ORIGIN_DXDY\">"));
  EXPECT_TRUE(contains(text, "Dimensions=\"2\" NumberType=\"Float\" Precision=\"8\" Format=\"XML\">0 0</DataItem>"));
  EXPECT_TRUE(contains(text, ">0.0625 0.0625</DataItem>"));
  EXPECT_FALSE(contains(text, "DXDYDZ"));
  EXPECT_TRUE(contains(text, "Format=\"HDF\">run2d.h5:/density</DataItem>"));
  // ParaView vectors need 3 components: one scalar per stored component, as a hyperslab of (16, 16, 2).
  EXPECT_FALSE(contains(text, "AttributeType=\"Vector\""));
  EXPECT_TRUE(contains(text, "<Attribute Name=\"displacement_0\" AttributeType=\"Scalar\" Center=\"Node\">"));
  EXPECT_TRUE(contains(text, "<Attribute Name=\"displacement_1\" AttributeType=\"Scalar\" Center=\"Node\">"));
  EXPECT_TRUE(contains(text, "<DataItem ItemType=\"HyperSlab\" Dimensions=\"16 16 1\" Type=\"HyperSlab\">"));
  const std::string slab_spec = "<DataItem Dimensions=\"3 3\" NumberType=\"UInt\" Format=\"XML\">";
  EXPECT_TRUE(contains(text, slab_spec + "0 0 0 1 1 1 16 16 1</DataItem>")) << "start, stride, count of component 0";
  EXPECT_TRUE(contains(text, slab_spec + "0 0 1 1 1 1 16 16 1</DataItem>"));
  EXPECT_EQ(occurrences(text, "Dimensions=\"16 16 2\""), 2U);
  EXPECT_EQ(xml_problem(text), "");
}

TEST(Xdmf, frames_form_a_temporal_collection_with_their_times) {
  const std::vector<xdmf_field> fields = {{"density", "/density", false}};
  std::vector<xdmf_frame> frames;
  const std::vector<double> times = {0.1, 0.5, 1.0};
  for (std::size_t i = 0; i < times.size(); ++i) {
    frames.push_back({times[i], {{"density", "/frames/00" + std::to_string(i) + "/density", false}}});
  }
  const std::string text = plx::io::xdmf_document(grid_3d, "run.h5", fields, frames);

  EXPECT_TRUE(contains(text, "<Grid Name=\"fields\" GridType=\"Uniform\">"));
  EXPECT_TRUE(contains(text, "<Grid Name=\"frames\" GridType=\"Collection\" CollectionType=\"Temporal\">"));
  EXPECT_EQ(occurrences(text, "<Time Value="), 3U);
  const std::size_t t0 = text.find("<Time Value=\"0.1\"/>");
  const std::size_t t1 = text.find("<Time Value=\"0.5\"/>");
  const std::size_t t2 = text.find("<Time Value=\"1\"/>");
  ASSERT_NE(t0, std::string::npos);
  ASSERT_NE(t1, std::string::npos);
  ASSERT_NE(t2, std::string::npos);
  EXPECT_LT(t0, t1);
  EXPECT_LT(t1, t2);
  for (std::size_t i = 0; i < times.size(); ++i) {
    const std::string item = "run.h5:/frames/00" + std::to_string(i) + "/density</DataItem>";
    EXPECT_TRUE(contains(text, item)) << item;
  }
  // Each frame's grid carries its own topology and geometry.
  EXPECT_EQ(occurrences(text, "3DCoRectMesh"), 4U);
  EXPECT_EQ(occurrences(text, "GridType=\"Uniform\""), 4U);
  EXPECT_EQ(xml_problem(text), "");

  // Frames alone: just the collection.
  const std::string only_frames = plx::io::xdmf_document(grid_3d, "run.h5", {}, frames);
  EXPECT_FALSE(contains(only_frames, "Name=\"fields\""));
  EXPECT_EQ(xml_problem(only_frames), "");
}

TEST(Xdmf, names_are_escaped_and_the_checker_catches_broken_xml) {
  const std::vector<xdmf_field> fields = {{"rho<&>\"'", "/a&b", false}};
  const std::string text = plx::io::xdmf_document(grid_2d, "run.h5", fields);
  EXPECT_TRUE(contains(text, "Name=\"rho&lt;&amp;&gt;&quot;&apos;\""));
  EXPECT_TRUE(contains(text, ">run.h5:/a&amp;b</DataItem>"));
  EXPECT_EQ(xml_problem(text), "");

  EXPECT_NE(xml_problem("<a><b></a></b>"), "");
  EXPECT_NE(xml_problem("<a x=\"1></a>"), "");
  EXPECT_NE(xml_problem("<a>x & y</a>"), "");
  EXPECT_NE(xml_problem("<a>"), "");
  EXPECT_EQ(xml_problem("<?xml version=\"1.0\" ?>\n<a><b/>t</a>\n"), "");
}

TEST(Xdmf, invalid_descriptions_are_config_errors) {
  const std::vector<xdmf_field> fields = {{"density", "/density", false}};
  const std::vector<xdmf_field> relative = {{"density", "density", false}};
  const std::vector<xdmf_field> unnamed = {{"", "/density", false}};
  const std::vector<xdmf_frame> nan_time = {{std::numeric_limits<double>::quiet_NaN(), fields}};
  EXPECT_THROW(static_cast<void>(plx::io::xdmf_document({4, 8, 1.0}, "a.h5", fields)), plx::config_error);
  EXPECT_THROW(static_cast<void>(plx::io::xdmf_document({3, 0, 1.0}, "a.h5", fields)), plx::config_error);
  EXPECT_THROW(static_cast<void>(plx::io::xdmf_document({3, 8, 0.0}, "a.h5", fields)), plx::config_error);
  EXPECT_THROW(static_cast<void>(plx::io::xdmf_document(grid_3d, "a.h5", relative)), plx::config_error);
  EXPECT_THROW(static_cast<void>(plx::io::xdmf_document(grid_3d, "a.h5", unnamed)), plx::config_error);
  EXPECT_THROW(static_cast<void>(plx::io::xdmf_document(grid_3d, "run:1.h5", fields)), plx::config_error);
  EXPECT_THROW(static_cast<void>(plx::io::xdmf_document(grid_3d, "dir/", fields)), plx::config_error);
  EXPECT_THROW(static_cast<void>(plx::io::xdmf_document(grid_3d, "a.h5", {})), plx::config_error);
  EXPECT_THROW(static_cast<void>(plx::io::xdmf_document(grid_3d, "a.h5", {}, nan_time)), plx::config_error);
}

TEST(Xdmf, sidecar_name_replaces_the_extension) {
  EXPECT_EQ(plx::io::xdmf_path_for("out/run.h5"), "out/run.xmf");
  EXPECT_EQ(plx::io::xdmf_path_for("run"), "run.xmf");
  EXPECT_EQ(plx::io::xdmf_path_for("/data/z0.5.hdf5"), "/data/z0.5.xmf");
}

TEST(Xdmf, file_is_written_whole_without_leftovers) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(::testing::TempDir()) / ("plx_xdmf_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::vector<xdmf_field> fields = {{"density", "/density", false}};
  const std::string path = (dir / "run.xdmf").string();
  plx::io::write_xdmf_file(path, (dir / "run.h5").string(), grid_3d, fields);
  plx::io::write_xdmf_file(path, (dir / "run.h5").string(), grid_2d, fields);  // replaces
  std::ifstream in(path);
  const std::string written((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto entries = std::distance(fs::directory_iterator(dir), fs::directory_iterator());
  EXPECT_THROW(plx::io::write_xdmf_file((dir / "missing" / "run.xdmf").string(), "run.h5", grid_3d, fields),
               plx::io_error);
  fs::remove_all(dir);

  EXPECT_EQ(written, plx::io::xdmf_document(grid_2d, "run.h5", fields));
  EXPECT_EQ(entries, 1) << "no temporary file left behind";
}

TEST(Xdmf, an_injected_failure_leaves_no_file_and_names_the_reason) {
  namespace fs = std::filesystem;
  namespace sites = plx::detail::fault_sites;
  const fs::path dir = fs::path(::testing::TempDir()) / ("plx_xdmf_fault_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::vector<xdmf_field> fields = {{"density", "/density", false}};
  const std::string path = (dir / "run.xmf").string();
  std::vector<std::string> messages;
  for (const plx::detail::fault_site* site : {&sites::fs_open, &sites::fs_write, &sites::fs_sync, &sites::fs_close,
                                              &sites::fs_rename}) {
    plx::detail::arm_fault(*site);
    try {
      plx::io::write_xdmf_file(path, (dir / "run.h5").string(), grid_3d, fields);
      messages.push_back(std::string(site->name) + ": no error");
    } catch (const plx::io_error& e) {
      messages.push_back(e.what());
    }
    plx::detail::disarm_faults();
  }
  const auto entries = std::distance(fs::directory_iterator(dir), fs::directory_iterator());
  fs::remove_all(dir);
  EXPECT_EQ(entries, 0) << "no temporary file left behind, and no document";
  ASSERT_EQ(messages.size(), 5u);
  EXPECT_NE(messages[0].find("No space left on device"), std::string::npos) << messages[0];
  EXPECT_NE(messages[1].find("cannot write the XDMF file"), std::string::npos) << messages[1];
  EXPECT_NE(messages[1].find("No space left on device"), std::string::npos) << messages[1];
  EXPECT_NE(messages[2].find("Input/output error"), std::string::npos) << messages[2];
  EXPECT_NE(messages[3].find("Input/output error"), std::string::npos) << messages[3];
  EXPECT_NE(messages[4].find("cannot rename '"), std::string::npos) << messages[4];
}

}  // namespace
