// The fault-site registry: every place that can fail in a test is declared once, and the sweep can list them.
#include <parallax/core/detail/fault_injection.hpp>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <new>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

namespace {

namespace fs = std::filesystem;
using plx::detail::fault_kind;

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The sources of the library and apps (tests arm sites; they do not declare them).
std::vector<fs::path> sources() {
  std::vector<fs::path> found;
  for (const char* top : {"src", "include", "apps"}) {
    for (const auto& entry : fs::recursive_directory_iterator(fs::path(PLX_SOURCE_DIR) / top)) {
      const auto ext = entry.path().extension();
      if (entry.is_regular_file() && (ext == ".cpp" || ext == ".hpp")) found.push_back(entry.path());
    }
  }
  return found;
}

TEST(FaultRegistry, lists_every_site_once_with_a_description) {
  std::set<std::string> names;
  for (const auto& site : plx::detail::all_fault_sites()) {
    EXPECT_TRUE(names.insert(site.name).second) << site.name << " is declared twice";
    EXPECT_NE(std::string(site.what), "") << site.name;
    EXPECT_EQ(plx::detail::find_fault_site(site.name), &site);
    if (site.kind == fault_kind::io) {
      EXPECT_NE(site.error_number, 0) << site.name << " reports no errno";
    }
  }
  EXPECT_GT(names.size(), 40u);
  EXPECT_EQ(plx::detail::find_fault_site("hdf5.wirte"), nullptr);
}

TEST(FaultRegistry, every_mpi_call_that_check_mpi_names_is_a_site) {
  const std::regex mpi_name(R"re("(MPI_[A-Za-z_]+)")re");
  std::size_t checked = 0;
  for (const auto& path : sources()) {
    const std::string text = read_text(path);
    if (text.find("check_mpi(") == std::string::npos) continue;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), mpi_name); it != std::sregex_iterator(); ++it) {
      const std::string name = (*it)[1];
      if (name == "MPI_LOCALNRANKS") continue;  // an environment variable, not a call
      ++checked;
      const auto* site = plx::detail::find_fault_site(name);
      EXPECT_NE(site, nullptr) << name << " (" << path << ") is checked but not in the registry";
      if (site != nullptr) {
        EXPECT_EQ(site->kind, fault_kind::mpi) << name;
      }
    }
  }
  EXPECT_GT(checked, 50u);
}

TEST(FaultRegistry, every_declared_non_mpi_site_is_used_and_every_use_is_declared) {
  const std::regex use(R"re(fault_sites::(\w+))re");
  std::set<std::string> used;
  for (const auto& path : sources()) {
    if (path.filename() == "fault_injection.hpp" || path.filename() == "fault_injection.cpp") continue;
    const std::string text = read_text(path);
    for (auto it = std::sregex_iterator(text.begin(), text.end(), use); it != std::sregex_iterator(); ++it) {
      used.insert((*it)[1]);
    }
  }
  // The constants' identifiers are the names with '.' as '_'.
  std::set<std::string> declared;
  for (const auto& site : plx::detail::all_fault_sites()) {
    if (site.kind == fault_kind::mpi) continue;
    std::string id = site.name;
    for (char& c : id) c = c == '.' ? '_' : c;
    declared.insert(id);
  }
  for (const auto& id : used) EXPECT_TRUE(declared.count(id)) << id << " is used but not declared";
  for (const auto& id : declared) EXPECT_TRUE(used.count(id)) << id << " is declared but no code passes it";
}

TEST(FaultRegistry, arming_an_unknown_name_is_refused) {
  EXPECT_THROW(plx::detail::arm_fault("hdf5.wirte"), std::invalid_argument);
  EXPECT_THROW(plx::detail::arm_fault("MPI_Bcats"), std::invalid_argument);
}

TEST(FaultRegistry, an_armed_site_fails_after_its_skipped_passes_with_its_errno) {
  using plx::detail::fault_sites::fs_write;
  plx::detail::arm_fault(fs_write, 2, 1, 0);
  EXPECT_EQ(plx::detail::injected_errno(fs_write), 0);
  EXPECT_EQ(plx::detail::injected_errno(fs_write), ENOSPC);
  EXPECT_EQ(plx::detail::injected_errno(fs_write), ENOSPC);
  EXPECT_EQ(plx::detail::injected_errno(fs_write), 0);
  plx::detail::arm_fault("fs.write", 1, 0, EDQUOT);
  EXPECT_EQ(plx::detail::injected_errno(fs_write), EDQUOT);
  plx::detail::arm_fault(plx::detail::fault_sites::alloc_buffer);
  EXPECT_THROW(plx::detail::allocation_point(plx::detail::fault_sites::alloc_buffer), std::bad_alloc);
  EXPECT_NO_THROW(plx::detail::allocation_point(plx::detail::fault_sites::alloc_buffer));
  plx::detail::arm_fault("MPI_Bcast");
  EXPECT_FALSE(plx::detail::mpi_fault_point("MPI_Allreduce"));
  EXPECT_TRUE(plx::detail::mpi_fault_point("MPI_Bcast"));
  plx::detail::disarm_faults();
}

}  // namespace
