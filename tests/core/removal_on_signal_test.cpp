#include <parallax/core/detail/removal_on_signal.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace {

namespace fs = std::filesystem;

std::string touch(const std::string& name) {
  const std::string path = (fs::temp_directory_path() / (name + "." + std::to_string(getpid()))).string();
  std::ofstream(path) << "unfinished";
  return path;
}

TEST(RemovalOnSignal, removes_what_is_registered_and_only_that) {
  const std::string registered = touch("plx_removal_registered");
  const std::string released = touch("plx_removal_released");
  EXPECT_TRUE(plx::detail::register_removal_on_signal(registered));
  EXPECT_TRUE(plx::detail::register_removal_on_signal(released));
  plx::detail::unregister_removal_on_signal(released);  // committed: a signal must leave it alone

  EXPECT_EQ(plx::detail::remove_registered_files(), 1);
  EXPECT_FALSE(fs::exists(registered));
  EXPECT_TRUE(fs::exists(released));
  EXPECT_EQ(plx::detail::remove_registered_files(), 0);  // forgotten once removed
  fs::remove(released);
}

TEST(RemovalOnSignal, a_full_table_or_a_long_path_is_refused_not_fatal) {
  EXPECT_FALSE(plx::detail::register_removal_on_signal(""));
  EXPECT_FALSE(plx::detail::register_removal_on_signal(std::string(5000, 'x')));
  int accepted = 0;
  while (accepted < 100 && plx::detail::register_removal_on_signal("/nonexistent/plx/" + std::to_string(accepted))) {
    ++accepted;
  }
  EXPECT_GT(accepted, 0);
  EXPECT_LT(accepted, 100);
  for (int i = 0; i < accepted; ++i) plx::detail::unregister_removal_on_signal("/nonexistent/plx/" + std::to_string(i));
  EXPECT_EQ(plx::detail::remove_registered_files(), 0);
  EXPECT_TRUE(plx::detail::register_removal_on_signal("/nonexistent/plx/again"));  // slots are free again
  plx::detail::unregister_removal_on_signal("/nonexistent/plx/again");
}

}  // namespace
