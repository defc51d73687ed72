// A mistyped option is named with the nearest known one, before CLI11 could take its value as a positional.
#include <parallax/app/unknown_option.hpp>

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace {

struct cosmo_like {
  CLI::App cli{"test", "plx-test"};
  int n = 0;
  std::string out;
  std::string params;
  bool json = false;
  cosmo_like() {
    cli.add_option("--n", n, "cells");
    cli.add_option("--out", out, "output");
    cli.add_option("params", params, "TOML file");
    cli.add_flag("--json", json, "JSON");
    cli.add_flag("-q,--quiet", json, "quiet");
  }
  std::optional<std::string> unknown(std::vector<std::string> args) const { return plx::find_unknown_option(cli, args); }
};

TEST(UnknownOption, a_typo_is_named_with_the_nearest_known_option) {
  const cosmo_like app;
  EXPECT_EQ(app.unknown({"--nn", "64"}).value_or(""),
            "unknown option '--nn': did you mean '--n'? (plx-test --help lists the options)");
  EXPECT_EQ(app.unknown({"--n", "8", "--outt=a.h5"}).value_or(""),
            "unknown option '--outt': did you mean '--out'? (plx-test --help lists the options)");
  EXPECT_EQ(app.unknown({"--jsn"}).value_or("").find("did you mean '--json'?") != std::string::npos, true);
}

TEST(UnknownOption, a_name_far_from_every_option_gets_no_guess) {
  const cosmo_like app;
  EXPECT_EQ(app.unknown({"--realizations", "5"}).value_or(""),
            "unknown option '--realizations' (plx-test --help lists the options)");
  EXPECT_TRUE(app.unknown({"-z"}).has_value());
}

TEST(UnknownOption, known_options_values_negative_numbers_and_positionals_pass) {
  const cosmo_like app;
  EXPECT_FALSE(app.unknown({}).has_value());
  EXPECT_FALSE(app.unknown({"run.toml", "--n", "-3", "--out=a.h5", "--json", "-q", "--help"}).has_value());
  EXPECT_FALSE(app.unknown({"--n", "-0.5e3"}).has_value());
  EXPECT_FALSE(app.unknown({"--", "--anything", "-x"}).has_value());
}

TEST(UnknownOption, subcommands_options_are_known) {
  CLI::App cli{"bench", "plx-bench"};
  int n2 = 0;
  cli.add_subcommand("web", "web")->add_option("--n2", n2, "cells");
  EXPECT_FALSE(plx::find_unknown_option(cli, std::vector<std::string>{"web", "--n2", "64"}).has_value());
  EXPECT_TRUE(plx::find_unknown_option(cli, std::vector<std::string>{"web", "--n3", "64"}).has_value());
}

TEST(UnknownOption, nearest_name_wants_a_close_match) {
  const std::vector<std::string> known{"--times", "--threads", "--threshold"};
  EXPECT_EQ(plx::nearest_name("--tims", known), "--times");
  EXPECT_EQ(plx::nearest_name("--thresold", known), "--threshold");
  EXPECT_EQ(plx::nearest_name("--zzzzzzzz", known), "");
}

}  // namespace
