#include <parallax/cosmo/params.hpp>


#include <gtest/gtest.h>

#include <parallax/core/error.hpp>

#include "../support/temp_files.hpp"

namespace {

namespace cosmo = plx::cosmo;

using plx::testing_support::message_of;
using plx::testing_support::write_file;

TEST(CosmoParams, defaults_reproduce_the_workshop) {
  const cosmo::pipeline_params p;
  EXPECT_EQ(p.dim, 2);
  EXPECT_EQ(p.n, 256);
  EXPECT_EQ(p.box, 50.0);
  EXPECT_EQ(p.spectrum.model, "workshop");
  EXPECT_EQ(p.normalisation, "unit-variance");
  ASSERT_EQ(p.times.size(), 10u);
  EXPECT_EQ(p.times.front(), 0.0);
  EXPECT_EQ(p.times.back(), 4.0);
  EXPECT_NO_THROW(cosmo::validate(p));
}

TEST(CosmoParams, times_parse_as_lists_and_ranges) {
  EXPECT_EQ(cosmo::parse_times("0,0.5,2"), (std::vector<double>{0, 0.5, 2}));
  EXPECT_EQ(cosmo::parse_times("1:3:3"), (std::vector<double>{1, 2, 3}));
  EXPECT_NE(message_of([] { (void)cosmo::parse_times("0,x"); }).find("'x' is not a number"), std::string::npos);
  EXPECT_NE(message_of([] { (void)cosmo::parse_times("0:4"); }).find("start:stop:count"), std::string::npos);
}

TEST(CosmoParams, toml_file_overrides_defaults) {
  const auto path = write_file("ok.toml", "dim = 3\nn = 64\nbox = 100.0\nseed = 9\ntimes = [0, 1, 2]\n"
                                          "normalisation = \"sigma8\"\n[spectrum]\nmodel = \"eisenstein-hu\"\n"
                                          "sigma_8 = 0.8\n[fft]\nplan = \"measure\"\n");
  const auto p = cosmo::load_params(path);
  EXPECT_EQ(p.dim, 3);
  EXPECT_EQ(p.n, 64);
  EXPECT_EQ(p.box, 100.0);
  EXPECT_EQ(p.seed, 9u);
  EXPECT_EQ(p.times, (std::vector<double>{0, 1, 2}));
  EXPECT_EQ(p.spectrum.model, "eisenstein-hu");
  EXPECT_EQ(p.spectrum.sigma_8, 0.8);
  EXPECT_EQ(p.plan, "measure");
  EXPECT_NO_THROW(cosmo::validate(p));
}

TEST(CosmoParams, toml_errors_name_file_line_and_key) {
  const auto typo = write_file("typo.toml", "dim = 2\nbxo = 3\n");
  EXPECT_NE(message_of([&] { (void)cosmo::load_params(typo); }).find("typo.toml:2: unknown key 'bxo'"), std::string::npos);
  const auto type = write_file("type.toml", "n = \"big\"\n");
  EXPECT_NE(message_of([&] { (void)cosmo::load_params(type); }).find("type.toml:1: 'n' has the wrong type"),
            std::string::npos);
  const auto syntax = write_file("syntax.toml", "dim = 2\nn = = 3\n");
  EXPECT_NE(message_of([&] { (void)cosmo::load_params(syntax); }).find("syntax.toml:2"), std::string::npos);
  EXPECT_NE(message_of([] { (void)cosmo::load_params("/nonexistent/p.toml"); }).find("/nonexistent/p.toml"),
            std::string::npos);
  const auto section = write_file("section.toml", "[spectrum]\nmodle = \"x\"\n");
  EXPECT_NE(message_of([&] { (void)cosmo::load_params(section); }).find("unknown key 'spectrum.modle'"),
            std::string::npos);
}

TEST(CosmoParams, every_bad_parameter_is_rejected_by_name) {
  const auto rejected = [](auto change, const std::string& needle) {
    cosmo::pipeline_params p;
    change(p);
    const std::string m = message_of([&] { cosmo::validate(p); });
    EXPECT_NE(m.find(needle), std::string::npos) << "expected '" << needle << "' in: " << m;
  };
  rejected([](auto& p) { p.n = 1; }, "--n must be at least 2");
  rejected([](auto& p) { p.box = 0; }, "--box must be positive");
  rejected([](auto& p) { p.box = -5; }, "--box must be positive");
  rejected([](auto& p) { p.dim = 4; }, "--dim must be 2 or 3");
  rejected([](auto& p) { p.times = {0, 2, 1}; }, "--times must be increasing");
  rejected([](auto& p) { p.times = {-1, 2}; }, "--times must be >= 0");
  rejected([](auto& p) { p.spectrum.model = "cdm"; }, "--spectrum: unknown spectrum model 'cdm'");
  rejected([](auto& p) { p.spectrum.model = "table"; }, "--spectrum: the table spectrum needs");
  rejected([](auto& p) { p.normalisation = "peak"; }, "--normalisation: 'peak' is not one of");
  rejected([](auto& p) { p.normalisation = "sigma8"; }, "sigma8 needs dim = 3");
  rejected([](auto& p) { p.plan = "patient"; }, "--plan: 'patient' is not one of");
  rejected([](auto& p) { p.spectrum.model = "table"; p.spectrum.table_path = "/nonexistent/pk.dat"; }, "--table: cannot open spectrum table '/nonexistent/pk.dat'");
}

// A bad value read from the file is named by file, line and key; the same value from a flag by the flag.
TEST(CosmoParams, bad_values_from_the_file_name_file_line_and_key) {
  const auto validated = [](const std::string& name, const std::string& text) {
    const auto path = write_file(name, text);
    return message_of([&] { cosmo::validate(cosmo::load_params(path)); });
  };
  const auto contains = [](const std::string& message, const std::string& needle) {
    EXPECT_NE(message.find(needle), std::string::npos) << "expected '" << needle << "' in: " << message;
  };
  contains(validated("n.toml", "dim = 2\nn = 1\n"), "n.toml:2: 'n' must be at least 2, not 1");
  contains(validated("dim.toml", "dim = 4\n"), "dim.toml:1: 'dim' must be 2 or 3, not 4");
  contains(validated("box.toml", "\nbox = -1.0\n"), "box.toml:2: 'box' must be positive");
  contains(validated("times.toml", "times = [0.0, 2.0, 1.0]\n"), "times.toml:1: 'times' must be increasing");
  contains(validated("times_text.toml", "times = \"0:4\"\n"), "times_text.toml:1: 'times': '0:4' is not start:stop:count");
  contains(validated("spectrum.toml", "[spectrum]\nmodel = \"cdm\"\n"),
           "spectrum.toml:2: 'spectrum.model': unknown spectrum model 'cdm'");
  contains(validated("no_table.toml", "[spectrum]\nmodel = \"table\"\n"),
           "no_table.toml:2: 'spectrum.model': the table spectrum needs a \"k P\" file");
  contains(validated("table.toml", "[spectrum]\nmodel = \"table\"\ntable = \"/nonexistent/pk.dat\"\n"),
           "table.toml:3: 'spectrum.table': cannot open spectrum table '/nonexistent/pk.dat'");
  contains(validated("lcdm.toml", "dim = 3\n[spectrum]\nmodel = \"eisenstein-hu\"\nh = -1.0\n"),
           "lcdm.toml:2: 'spectrum': h = -1 must be positive");
  contains(validated("plan.toml", "[fft]\nplan = \"patient\"\n"), "plan.toml:2: 'fft.plan': 'patient' is not one of");
  contains(validated("sigma8.toml", "normalisation = \"sigma8\"\n"),
           "sigma8.toml:1: 'normalisation': sigma8 needs dim = 3 (--dim is 2)");
}

TEST(CosmoParams, a_flag_takes_over_a_value_and_its_name) {
  const auto path = write_file("n.toml", "n = 1\nbox = 0.0\n");
  cosmo::pipeline_params p = cosmo::load_params(path);
  cosmo::pipeline_flags flags;
  flags.n = 0;
  flags.times = "0,1";
  cosmo::apply_flags(p, flags);
  EXPECT_EQ(p.n, 0);
  EXPECT_EQ(p.times, (std::vector<double>{0, 1}));
  EXPECT_EQ(message_of([&] { cosmo::validate(p); }), "--n must be at least 2, not 0");
  flags.n = 8;
  cosmo::apply_flags(p, flags);
  const std::string m = message_of([&] { cosmo::validate(p); });
  EXPECT_NE(m.find("n.toml:2: 'box' must be positive"), std::string::npos) << m;
  EXPECT_EQ(message_of([&] {
              cosmo::pipeline_flags bad;
              bad.times = "0,x";
              cosmo::apply_flags(p, bad);
            }),
            "--times: 'x' is not a number (in '0,x')");
}

TEST(CosmoParams, seeds_are_unsigned_64_bit) {
  const auto negative = write_file("negative.toml", "dim = 2\nseed = -1\n");
  EXPECT_EQ(message_of([&] { (void)cosmo::load_params(negative); }).substr(negative.size()),
            ":2: 'seed' must be at least 0, not -1");
  // TOML's integers end at 2^63 - 1: larger seeds are written as strings of digits.
  const auto big = write_file("big.toml", "seed = \"18446744073709551615\"\n");
  EXPECT_EQ(cosmo::load_params(big).seed, 18446744073709551615ULL);
  const auto largest_integer = write_file("largest.toml", "seed = 9223372036854775807\n");
  EXPECT_EQ(cosmo::load_params(largest_integer).seed, 9223372036854775807ULL);
  const auto too_big = write_file("too_big.toml", "seed = \"18446744073709551616\"\n");
  EXPECT_NE(message_of([&] { (void)cosmo::load_params(too_big); }).find("too_big.toml:1: 'seed': \"18446744073709551616\" is not a whole number"),
            std::string::npos);
  const auto fraction = write_file("fraction.toml", "seed = 1.5\n");
  EXPECT_NE(message_of([&] { (void)cosmo::load_params(fraction); }).find("fraction.toml:1: 'seed' has the wrong type"),
            std::string::npos);
  // Beyond TOML's integers: toml++ refuses the file, naming the line.
  const auto overflow = write_file("overflow.toml", "\nseed = 10000000000000000000\n");
  EXPECT_NE(message_of([&] { (void)cosmo::load_params(overflow); }).find("overflow.toml:2: "), std::string::npos);
}

TEST(CosmoParams, a_table_must_cover_the_grid) {
  const auto table = write_file("short.dat", "# k P\n0.5 1.0\n1.0 0.5\n2.0 0.25\n");
  cosmo::pipeline_params p;
  p.spectrum.model = "table";
  p.spectrum.table_path = table;
  const std::string m = message_of([&] { cosmo::validate(p); });
  EXPECT_NE(m.find("the grid needs k"), std::string::npos) << m;
}

}  // namespace
