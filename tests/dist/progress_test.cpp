#include <parallax/dist/progress.hpp>

#include <cstdio>

#include <gtest/gtest.h>

namespace {

TEST(ProgressFormat, plain_line_has_counts_rate_and_eta) {
  const std::string line = plx::format_progress("farm", 250, 1000, 10.0, false);
  EXPECT_EQ(line, "farm  250/1000   25.0%  25.0/s  ETA 0:00:30");
}

TEST(ProgressFormat, bar_is_proportional) {
  const std::string line = plx::format_progress("x", 500, 1000, 1.0, true);
  EXPECT_NE(line.find("[============>           ]"), std::string::npos) << line;
}

TEST(ProgressFormat, unknown_rate_has_no_eta) {
  EXPECT_NE(plx::format_progress("x", 0, 10, 0.0, false).find("ETA --:--"), std::string::npos);
}

TEST(ProgressMeter, writes_plain_lines_to_a_file_and_a_final_line) {
  std::FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  plx::progress_meter meter("job", 10, true, file, std::chrono::seconds(0));
  EXPECT_TRUE(meter.due());
  meter.update(5);
  meter.finish(10);
  std::rewind(file);
  char buffer[512] = {};
  const std::size_t n = std::fread(buffer, 1, sizeof(buffer) - 1, file);
  std::fclose(file);
  const std::string text(buffer, n);
  EXPECT_NE(text.find("job  5/10"), std::string::npos) << text;
  EXPECT_NE(text.find("job  10/10  100.0%"), std::string::npos) << text;
  EXPECT_EQ(text.find('\r'), std::string::npos) << "no carriage returns in a log file";
}

TEST(ProgressMeter, disabled_meter_prints_nothing) {
  std::FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  plx::progress_meter meter("job", 10, false, file, std::chrono::seconds(0));
  EXPECT_FALSE(meter.due());
  meter.update(5);
  meter.finish(10);
  EXPECT_EQ(std::ftell(file), 0);
  std::fclose(file);
}

}  // namespace
