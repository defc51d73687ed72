#include <parallax/app/number_option.hpp>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace {

// Parses `args` (after the program name) and returns the error message, or "" when the parse succeeded.
std::string parse(CLI::App& app, std::vector<std::string> args) {
  std::vector<const char*> argv = {"app"};
  for (const auto& a : args) argv.push_back(a.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    return e.what();
  }
  return {};
}

TEST(NumberOption, text_that_is_not_a_number_is_named) {
  for (const std::string bad : {"abc", "1x", " 1", "0x10", "inf", "nan", "1e", ".", "--1"}) {
    CLI::App app;
    int n = 0;
    plx::add_number(app, "--n", n, "cells", plx::at_least(2));
    EXPECT_EQ(parse(app, {"--n=" + bad}), "--n: '" + bad + "' is not a number") << bad;
  }
}

TEST(NumberOption, bounds_are_stated_without_309_digits) {
  CLI::App app;
  int n = 0;
  double box = 0;
  std::size_t slots = 0;
  plx::add_number(app, "--n", n, "cells", plx::at_least(2));
  plx::add_number(app, "--box", box, "box", plx::positive());
  plx::add_number(app, "--slots,-s", slots, "slots", plx::between(1, 8));
  EXPECT_EQ(parse(app, {"--n", "1"}), "--n must be at least 2, not 1");
  EXPECT_EQ(parse(app, {"--box", "0"}), "--box must be positive, not 0");
  EXPECT_EQ(parse(app, {"--box", "-0.5"}), "--box must be positive, not -0.5");
  EXPECT_EQ(parse(app, {"-s", "9"}), "--slots must be at most 8, not 9");
  EXPECT_EQ(parse(app, {"--n", "2.5"}), "--n: '2.5' is not a whole number");
}

TEST(NumberOption, accepted_values_reach_the_target) {
  CLI::App app;
  int n = 0;
  double box = 0;
  std::optional<std::ptrdiff_t> cells;
  std::optional<double> unset;
  plx::add_number(app, "--n", n, "cells");
  plx::add_number(app, "--box", box, "box");
  plx::add_number(app, "--cells", cells, "cells");
  plx::add_number(app, "--unset", unset, "not given");
  EXPECT_EQ(parse(app, {"--n", "1e3", "--box", "-2.5e-3", "--cells", "+12"}), "");
  EXPECT_EQ(n, 1000);
  EXPECT_EQ(box, -2.5e-3);
  EXPECT_EQ(cells, 12);
  EXPECT_FALSE(unset.has_value());
}

TEST(NumberOption, unsigned_64_bit_takes_its_whole_range_and_refuses_negatives) {
  const auto seed_of = [](const std::string& text, std::string& message) {
    CLI::App app;
    std::uint64_t seed = 7;
    plx::add_number(app, "--seed", seed, "seed");
    message = parse(app, {"--seed", text});
    return seed;
  };
  std::string message;
  EXPECT_EQ(seed_of("18446744073709551615", message), std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(message, "");
  EXPECT_EQ(seed_of("10000000000000000000", message), 10000000000000000000ULL);
  EXPECT_EQ(message, "");
  seed_of("-3", message);
  EXPECT_EQ(message, "--seed must be at least 0, not -3");
  seed_of("18446744073709551616", message);
  EXPECT_EQ(message, "--seed must be at most 18446744073709551615, not 18446744073709551616");
}

TEST(NumberOption, int_range_is_the_types) {
  CLI::App app;
  int n = 0;
  plx::add_number(app, "--n", n, "cells");
  EXPECT_EQ(parse(app, {"--n", "3000000000"}), "--n must be at most 2147483647, not 3000000000");
}

TEST(NumberOption, a_bad_value_exits_like_any_bad_command_line) {
  CLI::App app;
  int n = 0;
  plx::add_number(app, "--n", n, "cells", plx::at_least(2));
  try {
    app.parse("--n 1", false);
    FAIL() << "no error";
  } catch (const CLI::ParseError& e) {
    EXPECT_NE(e.get_exit_code(), 0);
  }
}

}  // namespace
