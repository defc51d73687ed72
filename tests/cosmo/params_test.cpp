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
  rejected([](auto& p) { p.spectrum.model = "cdm"; }, "cdm");
  rejected([](auto& p) { p.normalisation = "peak"; }, "normalisation 'peak'");
  rejected([](auto& p) { p.normalisation = "sigma8"; }, "sigma8 needs dim = 3");
  rejected([](auto& p) { p.plan = "patient"; }, "plan 'patient'");
  rejected([](auto& p) { p.spectrum.model = "table"; p.spectrum.table_path = "/nonexistent/pk.dat"; }, "/nonexistent/pk.dat");
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
