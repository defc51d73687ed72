#include <parallax/cosmo/spectrum.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <numbers>
#include <string>

#include <gtest/gtest.h>

#include <parallax/core/error.hpp>

namespace {

using plx::cosmo::eisenstein_hu_spectrum;
using plx::cosmo::lcdm_parameters;
using plx::cosmo::powerlaw_spectrum;
using plx::cosmo::sigma_r;
using plx::cosmo::spectrum_config;
using plx::cosmo::table_spectrum;
using plx::cosmo::workshop_spectrum;

constexpr double pi = std::numbers::pi;

/// Runs `fn` and returns the message of the plx::config_error it throws ("" and a failure if none).
template <class Fn>
std::string config_error_of(Fn&& fn) {
  try {
    fn();
  } catch (const plx::config_error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected plx::config_error";
  return {};
}

/// A file under the test temp dir, named after the running test so that parallel ctest runs don't collide.
std::string write_temp_file(const std::string& suffix, const std::string& content) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string path = ::testing::TempDir() + "plx_spectrum_" + info->test_suite_name() + "_" +
                           info->name() + "_" + suffix + ".dat";
  std::ofstream out(path, std::ios::trunc);
  out << content;
  EXPECT_TRUE(out.good()) << path;
  return path;
}

/// sigma(R) for P = k^-2: sigma^2 = 1/(2 pi^2 R) int_0^inf W(x)^2 dx, and int_0^inf W^2 dx = 3 pi / 5 for
/// W = 3 (sin x - x cos x) / x^3 (by parts, or Parseval: 9 int (sin x - x cos x)^2 / x^6 dx = 9 pi / 15),
/// so sigma^2 = 3 / (10 pi R).
double sigma_powerlaw_minus_two(double radius) { return std::sqrt(3.0 / (10.0 * pi * radius)); }

// ----------------------------------------------------------------------------------------- workshop

TEST(SpectrumWorkshop, matches_formula) {
  const workshop_spectrum p;
  EXPECT_DOUBLE_EQ(p(1.0), std::exp(-0.01));
  EXPECT_DOUBLE_EQ(p(4.0), std::exp(-0.16) / 2.0);
  EXPECT_DOUBLE_EQ(p(10.0), std::exp(-1.0) / std::sqrt(10.0));
  EXPECT_DOUBLE_EQ(p(0.01), std::exp(-1e-6) * 10.0);
  EXPECT_EQ(p.name(), "workshop");
  EXPECT_TRUE(p.parameters().empty());
  EXPECT_FALSE(p.k_range().has_value());
}

TEST(SpectrumWorkshop, rejects_non_positive_k) {
  const workshop_spectrum p;
  EXPECT_NE(config_error_of([&] { (void)p(0.0); }).find("k = 0"), std::string::npos);
  EXPECT_THROW((void)p(-1.0), plx::config_error);
  EXPECT_THROW((void)p(std::numeric_limits<double>::quiet_NaN()), plx::config_error);
}

// ----------------------------------------------------------------------------------------- powerlaw

TEST(SpectrumPowerlaw, matches_formula) {
  const powerlaw_spectrum p(2.5, -1.5);
  EXPECT_DOUBLE_EQ(p(1.0), 2.5);
  EXPECT_DOUBLE_EQ(p(4.0), 2.5 / 8.0);
  EXPECT_DOUBLE_EQ(p(0.01), 2.5 * 1000.0);
  EXPECT_EQ(p.name(), "powerlaw");
  const auto params = p.parameters();
  ASSERT_EQ(params.size(), 2U);
  EXPECT_EQ(params[0].first, "amplitude");
  EXPECT_DOUBLE_EQ(params[0].second, 2.5);
  EXPECT_EQ(params[1].first, "index");
  EXPECT_DOUBLE_EQ(params[1].second, -1.5);
}

TEST(SpectrumPowerlaw, rejects_bad_parameters) {
  EXPECT_NE(config_error_of([] { powerlaw_spectrum(0.0, -1.0); }).find("amplitude"), std::string::npos);
  EXPECT_NE(config_error_of([] { powerlaw_spectrum(-2.0, -1.0); }).find("amplitude"), std::string::npos);
  EXPECT_NE(config_error_of([] { powerlaw_spectrum(1.0, std::numeric_limits<double>::infinity()); })
                .find("index"),
            std::string::npos);
}

// ------------------------------------------------------------------------------------------ sigma_r

TEST(SpectrumSigmaR, powerlaw_minus_two_matches_closed_form) {
  const powerlaw_spectrum p(1.0, -2.0);
  for (const double radius : {0.5, 1.0, 3.0, 8.0, 100.0}) {
    const double expected = sigma_powerlaw_minus_two(radius);
    EXPECT_NEAR(sigma_r(p, radius) / expected, 1.0, 1e-4) << "R = " << radius;
  }
}

TEST(SpectrumSigmaR, scales_with_amplitude_and_radius) {
  // sigma^2 ~ A R^-(3 + n): for n = -1, doubling R halves sigma; 4 A doubles it.
  const powerlaw_spectrum p(1.0, -1.0);
  const powerlaw_spectrum p4(4.0, -1.0);
  EXPECT_NEAR(sigma_r(p, 2.0) / sigma_r(p, 1.0), 0.5, 1e-6);
  EXPECT_NEAR(sigma_r(p4, 1.0) / sigma_r(p, 1.0), 2.0, 1e-9);
}

TEST(SpectrumSigmaR, rejects_bad_radius) {
  const workshop_spectrum p;
  EXPECT_NE(config_error_of([&] { (void)sigma_r(p, 0.0); }).find("radius"), std::string::npos);
  EXPECT_THROW((void)sigma_r(p, -8.0), plx::config_error);
  EXPECT_THROW((void)sigma_r(p, std::numeric_limits<double>::quiet_NaN()), plx::config_error);
}

// ------------------------------------------------------------------------------------ eisenstein-hu

TEST(SpectrumEisensteinHu, transfer_tends_to_one_at_large_scales) {
  const eisenstein_hu_spectrum eh;
  EXPECT_NEAR(eh.transfer(1e-5), 1.0, 1e-5);
  EXPECT_LT(eh.transfer(1e-5), 1.0);
  EXPECT_DOUBLE_EQ(eh.transfer(0.0), 1.0);
  EXPECT_NEAR(eh.transfer(1e-12), 1.0, 1e-12);  // no 0/0 in the baryon terms
  EXPECT_THROW((void)eh.transfer(-1.0), plx::config_error);
}

TEST(SpectrumEisensteinHu, transfer_decreases_on_coarse_grid) {
  const eisenstein_hu_spectrum eh;
  double previous = eh.transfer(1e-4);
  for (int i = 1; i <= 20; ++i) {  // 1e-4 .. 10 h/Mpc, four points a decade
    const double k = 1e-4 * std::pow(10.0, i / 4.0);
    const double t = eh.transfer(k);
    EXPECT_LT(t, previous) << "k = " << k;
    EXPECT_GT(t, 0.0) << "k = " << k;
    previous = t;
  }
}

TEST(SpectrumEisensteinHu, transfer_shows_baryon_wiggles) {
  // A smooth CDM-like T has ln T concave in ln k: the second difference stays negative. The acoustic term
  // of eq. 21 adds oscillations with period 2 pi / s in k, so in 0.05..0.3 h/Mpc (s ~ 100 Mpc/h, about
  // four periods) the second difference must change sign several times.
  const eisenstein_hu_spectrum eh;
  const auto log_t = [&eh](int i) { return std::log(eh.transfer(0.05 * std::pow(6.0, i / 60.0))); };
  int sign_changes = 0;
  int previous_sign = 0;
  for (int i = 1; i < 60; ++i) {
    const double second = log_t(i + 1) - 2.0 * log_t(i) + log_t(i - 1);
    const int sign = second > 0.0 ? 1 : -1;
    if (previous_sign != 0 && sign != previous_sign) ++sign_changes;
    previous_sign = sign;
  }
  EXPECT_GE(sign_changes, 4);

  // The zero-baryon limit of the same formula (T_0 tilde with alpha_c = beta_c = 1, eqs. 19-20) has none.
  const double k_eq = 0.0746 * 0.3111 * 0.6766 * 0.6766 / std::pow(2.7255 / 2.7, 2);
  const auto log_t0 = [k_eq](int i) {
    const double q = 0.05 * std::pow(6.0, i / 60.0) * 0.6766 / (13.41 * k_eq);
    const double l = std::log(std::numbers::e + 1.8 * q);
    return std::log(l / (l + (14.2 + 386.0 / (1.0 + 69.9 * std::pow(q, 1.08))) * q * q));
  };
  for (int i = 1; i < 60; ++i) EXPECT_LT(log_t0(i + 1) - 2.0 * log_t0(i) + log_t0(i - 1), 0.0) << i;
}

TEST(SpectrumEisensteinHu, transfer_values_for_planck_2018) {
  const eisenstein_hu_spectrum eh;
  // By hand at k = 0.1 h/Mpc: omhh = 0.1424, k_eq = 0.01043/Mpc (eq. 3), q = 0.0677 / (13.41 k_eq) = 0.484
  // (eq. 10); T_0 tilde(q, 1, 1) = ln(e + 0.87) / (ln(e + 0.87) + 25.9 q^2) = 0.174 (eqs. 19-20). Baryons
  // (f_b = 0.158) suppress it further: alpha_c = 0.87 < 1 raises C, and T_b is a few per cent. The full
  // formula gives 0.1319.
  EXPECT_GT(eh.transfer(0.1), 0.12);
  EXPECT_LT(eh.transfer(0.1), 0.145);
  EXPECT_GT(eh.transfer(0.01), 0.74);
  EXPECT_LT(eh.transfer(0.01), 0.82);
  EXPECT_GT(eh.transfer(1.0), 0.003);
  EXPECT_LT(eh.transfer(1.0), 0.006);
}

TEST(SpectrumEisensteinHu, sound_horizon_agrees_with_fit) {
  // Eq. 26 approximates eq. 6 to about 2%: s = 44.5 ln(9.83 / omhh) / sqrt(1 + 10 obhh^(3/4)) Mpc.
  const lcdm_parameters planck;
  const eisenstein_hu_spectrum eh(planck);
  const double hh = planck.h * planck.h;
  const double s_fit_mpc = 44.5 * std::log(9.83 / (planck.omega_m * hh)) /
                           std::sqrt(1.0 + 10.0 * std::pow(planck.omega_b * hh, 0.75));
  EXPECT_NEAR(eh.sound_horizon_mpc_h() / planck.h / s_fit_mpc, 1.0, 0.02);
}

TEST(SpectrumEisensteinHu, normalised_to_sigma_8) {
  const eisenstein_hu_spectrum planck;
  EXPECT_NEAR(sigma_r(planck, 8.0), 0.8102, 1e-4 * 0.8102);

  lcdm_parameters other;
  other.omega_m = 0.25;
  other.omega_b = 0.04;
  other.h = 0.72;
  other.n_s = 1.0;
  other.sigma_8 = 0.9;
  const eisenstein_hu_spectrum eh(other);
  EXPECT_NEAR(sigma_r(eh, 8.0), 0.9, 1e-4 * 0.9);
  // Less power on larger spheres.
  EXPECT_LT(sigma_r(eh, 16.0), 0.9);
  EXPECT_GT(sigma_r(eh, 4.0), 0.9);
}

TEST(SpectrumEisensteinHu, spectrum_is_amplitude_times_k_ns_t_squared) {
  const eisenstein_hu_spectrum eh;
  for (const double k : {1e-3, 0.02, 0.1, 0.7}) {
    const double t = eh.transfer(k);
    EXPECT_NEAR(eh(k) / (eh.amplitude() * std::pow(k, 0.9665) * t * t), 1.0, 1e-12) << "k = " << k;
  }
  EXPECT_EQ(eh.name(), "eisenstein-hu");
  bool has_amplitude = false;
  for (const auto& [name, value] : eh.parameters()) {
    if (name == "amplitude") has_amplitude = value == eh.amplitude();
    if (name == "omega_m") {
      EXPECT_DOUBLE_EQ(value, 0.3111);
    }
  }
  EXPECT_TRUE(has_amplitude);
  EXPECT_THROW((void)eh(0.0), plx::config_error);
}

TEST(SpectrumEisensteinHu, rejects_bad_parameters) {
  const auto error_for = [](auto change) {
    lcdm_parameters parameters;
    change(parameters);
    return config_error_of([&] { eisenstein_hu_spectrum{parameters}; });
  };
  const std::string both = error_for([](lcdm_parameters& p) { p.omega_b = 0.4; });
  EXPECT_NE(both.find("omega_b"), std::string::npos) << both;
  EXPECT_NE(both.find("omega_m"), std::string::npos) << both;
  EXPECT_NE(error_for([](lcdm_parameters& p) { p.h = 0.0; }).find("h = 0"), std::string::npos);
  EXPECT_NE(error_for([](lcdm_parameters& p) { p.sigma_8 = -0.8; }).find("sigma_8"), std::string::npos);
  EXPECT_NE(error_for([](lcdm_parameters& p) { p.omega_m = 0.0; }).find("omega_m"), std::string::npos);
  EXPECT_NE(error_for([](lcdm_parameters& p) { p.omega_b = 0.0; }).find("omega_b"), std::string::npos);
  EXPECT_NE(error_for([](lcdm_parameters& p) { p.n_s = std::numeric_limits<double>::quiet_NaN(); }).find("n_s"),
            std::string::npos);
}

// -------------------------------------------------------------------------------------------- table

TEST(SpectrumTable, interpolates_log_log) {
  const std::string path = write_temp_file("pk",
                                           "# CLASS-like header\n"
                                           "#    1:k (h/Mpc)     2:P (Mpc/h)^3    3:extra\n"
                                           "\n"
                                           "1.0e-02  1.0e+03  7.0\n"
                                           "   1.0e-01\t2.5e+03  8.0  9.0  # trailing comment\n"
                                           "\r\n"
                                           "1.0e+00 +4.0e+01  x\n"
                                           "1.0e+01 1.0e-01\r\n");
  const table_spectrum table(path);
  EXPECT_EQ(table.name(), "table");
  EXPECT_EQ(table.rows(), 4U);
  EXPECT_EQ(table.path(), path);
  ASSERT_TRUE(table.k_range().has_value());
  EXPECT_EQ(table.k_range()->first, 1e-2);
  EXPECT_EQ(table.k_range()->second, 10.0);

  // Exact at the nodes, the range ends included.
  EXPECT_EQ(table(1e-2), 1e3);
  EXPECT_EQ(table(1e-1), 2.5e3);
  EXPECT_EQ(table(1.0), 40.0);
  EXPECT_EQ(table(10.0), 0.1);

  // Between nodes, a power law through the two neighbours: P = P_i (k / k_i)^slope.
  const double slope = std::log(2.5e3 / 1e3) / std::log(10.0);
  for (const double k : {0.02, std::sqrt(1e-3), 0.05, 0.09}) {
    EXPECT_NEAR(table(k) / (1e3 * std::pow(k / 1e-2, slope)), 1.0, 1e-13) << "k = " << k;
  }
  EXPECT_NEAR(table(std::sqrt(10.0)), std::sqrt(40.0 * 0.1), 1e-13);  // geometric mean at the log midpoint

  const auto params = table.parameters();
  ASSERT_EQ(params.size(), 3U);
  EXPECT_EQ(params[0].first, "k_min");
  EXPECT_EQ(params[0].second, 1e-2);
  EXPECT_EQ(params[1].first, "k_max");
  EXPECT_EQ(params[1].second, 10.0);
  EXPECT_EQ(params[2].second, 4.0);
}

TEST(SpectrumTable, out_of_range_names_k_and_range) {
  const std::string path = write_temp_file("pk", "0.01 100\n10 1\n");
  const table_spectrum table(path);
  const std::string below = config_error_of([&] { (void)table(0.005); });
  EXPECT_NE(below.find("k = 0.005"), std::string::npos) << below;
  EXPECT_NE(below.find("[0.01, 10]"), std::string::npos) << below;
  EXPECT_NE(below.find(path), std::string::npos) << below;
  const std::string above = config_error_of([&] { (void)table(10.5); });
  EXPECT_NE(above.find("k = 10.5"), std::string::npos) << above;
  EXPECT_THROW((void)table(std::numeric_limits<double>::quiet_NaN()), plx::config_error);
}

TEST(SpectrumTable, loading_errors_name_file_and_line) {
  struct bad_file {
    const char* suffix;
    const char* content;
    const char* line;  // expected "line N"
    const char* what;  // expected part of the message
  };
  const bad_file cases[] = {
      {"word", "# k P\n0.1 10\n0.2 ten\n0.3 5\n", "line 3", "'ten'"},
      {"word_k", "0.1 10\n\n\nabc 5\n", "line 4", "'abc'"},
      {"one_column", "0.1 10\n0.2\n", "line 2", "two columns"},
      {"not_increasing", "# header\n0.1 10\n0.2 5\n0.2 4\n", "line 4", "does not increase"},
      {"decreasing", "0.1 10\n0.05 5\n", "line 2", "does not increase"},
      {"k_zero", "0 10\n0.1 5\n", "line 1", "k = 0"},
      {"k_negative", "0.1 10\n# c\n-0.2 5\n", "line 3", "k = -0.2"},
      {"p_zero", "0.1 10\n0.2 0\n", "line 2", "P = 0"},
      {"p_negative", "0.1 10\n0.2 5\n0.3 -1e-3\n", "line 3", "P = -0.001"},
      {"nan", "0.1 nan\n0.2 5\n", "line 1", "'nan'"},
  };
  for (const auto& c : cases) {
    const std::string path = write_temp_file(c.suffix, c.content);
    const std::string message = config_error_of([&] { table_spectrum{path}; });
    EXPECT_NE(message.find(path), std::string::npos) << c.suffix << ": " << message;
    EXPECT_NE(message.find(c.line), std::string::npos) << c.suffix << ": " << message;
    EXPECT_NE(message.find(c.what), std::string::npos) << c.suffix << ": " << message;
  }
}

TEST(SpectrumTable, too_few_rows_and_missing_file) {
  for (const char* content : {"", "# only a comment\n\n", "0.1 10\n# one row\n"}) {
    const std::string path = write_temp_file("short", content);
    const std::string message = config_error_of([&] { table_spectrum{path}; });
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find("at least 2"), std::string::npos) << message;
  }
  const std::string missing = ::testing::TempDir() + "plx_spectrum_no_such_file.dat";
  std::remove(missing.c_str());
  const std::string message = config_error_of([&] { table_spectrum{missing}; });
  EXPECT_NE(message.find(missing), std::string::npos) << message;
  // A directory opens but cannot be read.
  EXPECT_THROW(table_spectrum{::testing::TempDir()}, plx::config_error);
}

TEST(SpectrumTable, sigma_r_of_tabulated_powerlaw) {
  // Log-log interpolation reproduces a power law exactly, so one row a decade suffices.
  std::string content = "# k  P = k^-2\n";
  for (int e = -7; e <= 5; ++e) {
    const double k = std::pow(10.0, e);
    char row[64];
    std::snprintf(row, sizeof row, "%.17g %.17g\n", k, 1.0 / (k * k));
    content += row;
  }
  const table_spectrum table(write_temp_file("pk", content));
  EXPECT_NEAR(sigma_r(table, 1.0) / sigma_powerlaw_minus_two(1.0), 1.0, 1e-4);

  // A table shorter than the integration range contributes only over its own range.
  const table_spectrum narrow(write_temp_file("narrow", "0.01 1e4\n100 1e-4\n"));
  const double full = sigma_powerlaw_minus_two(1.0);
  EXPECT_LT(sigma_r(narrow, 1.0), full);
  EXPECT_GT(sigma_r(narrow, 1.0), 0.99 * full);  // misses int_0^0.01 W^2 dx ~ 0.01 of 3 pi / 5
  EXPECT_THROW((void)sigma_r(narrow, 1e7), plx::config_error);  // range [1e-12, 1e-4] misses the table
}

TEST(SpectrumTable, sigma_r_of_tabulated_eisenstein_hu) {
  // The pipeline's other route: an LCDM table as CLASS would write it, 40 rows a decade.
  const eisenstein_hu_spectrum eh;
  std::string content = "# Eisenstein & Hu 1998, Planck 2018\n# k (h/Mpc)   P (Mpc/h)^3\n";
  for (int i = 0; i <= 40 * 9; ++i) {
    const double k = 1e-5 * std::pow(10.0, i / 40.0);
    char row[64];
    std::snprintf(row, sizeof row, "%.10e %.10e\n", k, eh(k));
    content += row;
  }
  const table_spectrum table(write_temp_file("eh", content));
  EXPECT_NEAR(sigma_r(table, 8.0), 0.8102, 1e-3);
}

// ------------------------------------------------------------------------------------------ factory

TEST(SpectrumFactory, builds_each_model) {
  spectrum_config config;
  EXPECT_EQ(plx::cosmo::make_spectrum(config)->name(), "workshop");

  config.model = "powerlaw";
  config.amplitude = 3.0;
  config.index = -2.0;
  const auto powerlaw = plx::cosmo::make_spectrum(config);
  EXPECT_EQ(powerlaw->name(), "powerlaw");
  EXPECT_DOUBLE_EQ((*powerlaw)(2.0), 0.75);

  config.model = "eisenstein-hu";
  config.sigma_8 = 0.75;
  const auto eh = plx::cosmo::make_spectrum(config);
  EXPECT_EQ(eh->name(), "eisenstein-hu");
  EXPECT_NEAR(sigma_r(*eh, 8.0), 0.75, 1e-4 * 0.75);

  config.model = "table";
  config.table_path = write_temp_file("pk", "0.1 10\n1 1\n");
  const auto table = plx::cosmo::make_spectrum(config);
  EXPECT_EQ(table->name(), "table");
  EXPECT_DOUBLE_EQ((*table)(std::sqrt(0.1)), std::sqrt(10.0));
}

TEST(SpectrumFactory, unknown_model_lists_known_ones) {
  spectrum_config config;
  config.model = "bbks";
  const std::string message = config_error_of([&] { (void)plx::cosmo::make_spectrum(config); });
  for (const char* name : {"'bbks'", "workshop", "powerlaw", "eisenstein-hu", "table"}) {
    EXPECT_NE(message.find(name), std::string::npos) << name << " in: " << message;
  }
}

TEST(SpectrumFactory, bad_values_name_the_parameter) {
  const auto message_for = [](auto change) {
    spectrum_config config;
    change(config);
    return config_error_of([&] { (void)plx::cosmo::make_spectrum(config); });
  };
  const std::string baryons = message_for([](spectrum_config& c) {
    c.model = "eisenstein-hu";
    c.omega_b = 0.3111;
  });
  EXPECT_NE(baryons.find("omega_b"), std::string::npos) << baryons;
  EXPECT_NE(baryons.find("omega_m"), std::string::npos) << baryons;
  EXPECT_NE(message_for([](spectrum_config& c) {
              c.model = "eisenstein-hu";
              c.h = -0.7;
            }).find("h = -0.7"),
            std::string::npos);
  EXPECT_NE(message_for([](spectrum_config& c) {
              c.model = "eisenstein-hu";
              c.sigma_8 = 0.0;
            }).find("sigma_8"),
            std::string::npos);
  EXPECT_NE(message_for([](spectrum_config& c) {
              c.model = "powerlaw";
              c.amplitude = 0.0;
            }).find("amplitude"),
            std::string::npos);
  EXPECT_NE(message_for([](spectrum_config& c) { c.model = "table"; }).find("table_path"), std::string::npos);
  // The workshop model reads none of the numbers.
  spectrum_config workshop;
  workshop.h = -1.0;
  EXPECT_NO_THROW((void)plx::cosmo::make_spectrum(workshop));
}

}  // namespace
