#include <parallax/app/json_line.hpp>

#include <cmath>
#include <limits>
#include <string>

#include <gtest/gtest.h>

namespace {

TEST(JsonLine, separators_and_key_order_are_those_of_python) {
  const plx::json line = {{"b", 1}, {"a", "x"}, {"list", {1.5, 2.0}}, {"flag", true}, {"nested", {{"k", nullptr}}}};
  EXPECT_EQ(plx::json_line(line), R"({"b": 1, "a": "x", "list": [1.5, 2.0], "flag": true, "nested": {"k": null}})");
}

TEST(JsonLine, a_path_with_quotes_and_backslashes_stays_valid_json) {
  const std::string path = "we\"ird\\name\t\n.h5";
  const std::string line = plx::json_line({{"out", path}});
  EXPECT_EQ(line, R"({"out": "we\"ird\\name\t\n.h5"})");
  EXPECT_EQ(nlohmann::json::parse(line).at("out").get<std::string>(), path);
}

TEST(JsonLine, bad_utf8_and_non_finite_numbers_still_give_json) {
  const std::string line =
      plx::json_line({{"out", std::string("a\xff" "b.h5")}, {"x", std::numeric_limits<double>::quiet_NaN()}});
  const auto parsed = nlohmann::json::parse(line);
  EXPECT_EQ(parsed.at("out").get<std::string>(), "a\xef\xbf\xbd" "b.h5");
  EXPECT_TRUE(parsed.at("x").is_null());
}

TEST(JsonLine, rounding_keeps_the_digits_printf_showed) {
  EXPECT_EQ(plx::rounded(0.1234567, 6), 0.123457);
  EXPECT_EQ(plx::rounded(2.0 / 3.0, 1), 0.7);
  EXPECT_EQ(plx::rounded_significant(396123456.7, 6), 396123000.0);
  EXPECT_EQ(plx::json_line({{"t", plx::rounded(0.1234567, 6)}}), R"({"t": 0.123457})");
  EXPECT_TRUE(std::isinf(plx::rounded(std::numeric_limits<double>::infinity(), 3)));
}

}  // namespace
