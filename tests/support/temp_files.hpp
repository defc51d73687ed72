// Scratch files for unit tests, and the message of an expected plx::config_error.
//
// ctest runs each discovered test as its own process, several at once and perhaps beside another build's
// run, so every name carries the test's name and the process id; the files go when the process exits.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <system_error>
#include <vector>

#include <gtest/gtest.h>

#include <parallax/core/error.hpp>

namespace plx::testing_support {

inline std::string temp_path(const std::string& name) {
  struct cleanup {
    std::vector<std::string> paths;
    ~cleanup() {
      std::error_code ignored;
      for (const auto& path : paths) std::filesystem::remove_all(path, ignored);
    }
  };
  static cleanup files;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  files.paths.push_back(::testing::TempDir() + "/plx_" + info->test_suite_name() + "." + info->name() + "." +
                        std::to_string(::getpid()) + "_" + name);
  return files.paths.back();
}

/// Writes `text` to a fresh temp_path(name) and returns the path.
inline std::string write_file(const std::string& name, const std::string& text) {
  const std::string path = temp_path(name);
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

/// What the plx::config_error thrown by `f` says, or "no config_error".
inline std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const plx::config_error& e) {
    return e.what();
  }
  return "no config_error";
}

}  // namespace plx::testing_support
