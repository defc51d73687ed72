#include <parallax/cosmo/spectrum.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <fstream>
#include <numbers>
#include <string_view>
#include <system_error>

#include <parallax/core/error.hpp>

namespace plx::cosmo {

namespace {

/// Shortest text that reads back as the same double, for error messages.
std::string to_text(double value) {
  std::array<char, 32> buffer{};
  const auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  if (ec != std::errc{}) return "?";
  return {buffer.data(), end};
}

void require_wavenumber(double k, const char* model) {
  if (!(k > 0.0) || !std::isfinite(k)) {
    throw config_error(std::string(model) + " spectrum: k = " + to_text(k) +
                       " is not a positive finite wavenumber");
  }
}

void require_finite(double value, const char* name) {
  if (!std::isfinite(value)) throw config_error(std::string(name) + " = " + to_text(value) + " is not finite");
}

void require_positive(double value, const char* name) {
  if (!(value > 0.0) || !std::isfinite(value)) {
    throw config_error(std::string(name) + " = " + to_text(value) + " must be positive and finite");
  }
}

constexpr double cube(double x) { return x * x * x; }

/// sin(x)/x, without the 0/0 at x = 0.
double sinc(double x) {
  if (std::abs(x) < 1e-4) return 1.0 - x * x / 6.0;  // next term x^4/120 < 1e-17
  return std::sin(x) / x;
}

/// Fourier transform of the spherical top hat, 3 (sin x - x cos x) / x^3. Below x = 0.01 the difference
/// cancels to x^3/3 and loses digits, so the Taylor series takes over (next term x^8/1330560 < 1e-21).
double top_hat_window(double x) {
  if (x < 1e-2) {
    const double x2 = x * x;
    return 1.0 - x2 / 10.0 + x2 * x2 / 280.0 - x2 * x2 * x2 / 15120.0;
  }
  return 3.0 * (std::sin(x) - x * std::cos(x)) / cube(x);
}

// 7-point Gauss / 15-point Kronrod rule on [-1, 1] (QUADPACK's qk15). Odd Kronrod nodes are the Gauss nodes.
constexpr std::array<double, 8> kronrod_nodes = {
    0.991455371120812639206854697526329, 0.949107912342758524526189684047851,
    0.864864423359769072789712788640926, 0.741531185599394439863864773280788,
    0.586087235467691130294144845693013, 0.405845151377397166906606412076961,
    0.207784955007898467600689403773245, 0.000000000000000000000000000000000};
constexpr std::array<double, 8> kronrod_weights = {
    0.022935322010529224963732008058970, 0.063092092629978553290700663189204,
    0.104790010322250183839876322541518, 0.140653259715525918745189590510238,
    0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
    0.204432940075298892414161999234649, 0.209482141084727828012999174891714};
constexpr std::array<double, 4> gauss_weights = {  // for kronrod_nodes[1], [3], [5], [7]
    0.129484966168869693270611432679082, 0.279705391489276667901467771423780,
    0.381830050505118944950369775488975, 0.417959183673469387755102040816327};

struct panel {
  double a;
  double b;
  double value;  // Kronrod estimate
  double error;  // |Kronrod - Gauss|, a generous bound for smooth integrands
  friend bool operator<(const panel& lhs, const panel& rhs) { return lhs.error < rhs.error; }
};

template <class Fn>
panel gauss_kronrod(const Fn& f, double a, double b) {
  const double centre = 0.5 * (a + b);
  const double half = 0.5 * (b - a);
  const double f_centre = f(centre);
  double kronrod = kronrod_weights[7] * f_centre;
  double gauss = gauss_weights[3] * f_centre;
  for (std::size_t i = 0; i < 7; ++i) {
    const double dx = half * kronrod_nodes[i];
    const double pair = f(centre - dx) + f(centre + dx);
    kronrod += kronrod_weights[i] * pair;
    if (i % 2 == 1) gauss += gauss_weights[i / 2] * pair;
  }
  return {a, b, kronrod * half, std::abs(kronrod - gauss) * half};
}

/// Globally adaptive quadrature (QUADPACK's QAG strategy): start from `initial_panels` equal panels, then
/// keep bisecting the panel with the largest error estimate until the summed estimate is below
/// rel_tol * |integral| or the panel budget is spent.
template <class Fn>
double integrate(const Fn& f, double a, double b, int initial_panels, double rel_tol) {
  constexpr std::size_t max_panels = 20000;
  std::vector<panel> heap;  // max-heap on the error estimate
  heap.reserve(max_panels + 1);
  const double width = (b - a) / initial_panels;
  for (int i = 0; i < initial_panels; ++i) {
    const double hi = i + 1 == initial_panels ? b : a + (i + 1) * width;
    heap.push_back(gauss_kronrod(f, a + i * width, hi));
  }
  std::make_heap(heap.begin(), heap.end());
  // Running totals are updated by differences and summed afresh now and then, so they cannot drift.
  const auto sum = [&heap](double panel::*member) {
    double total = 0.0;
    for (const panel& p : heap) total += p.*member;
    return total;
  };
  double value = sum(&panel::value);
  double error = sum(&panel::error);
  while (heap.size() < max_panels && error > rel_tol * std::abs(value)) {
    std::pop_heap(heap.begin(), heap.end());
    const panel worst = heap.back();
    heap.pop_back();
    value -= worst.value;
    error -= worst.error;
    const double mid = 0.5 * (worst.a + worst.b);
    for (const panel& half : {gauss_kronrod(f, worst.a, mid), gauss_kronrod(f, mid, worst.b)}) {
      heap.push_back(half);
      std::push_heap(heap.begin(), heap.end());
      value += half.value;
      error += half.error;
    }
    if (heap.size() % 128 == 0) {
      value = sum(&panel::value);
      error = sum(&panel::error);
    }
  }
  return sum(&panel::value);
}

}  // namespace

// ---------------------------------------------------------------------------------------------- sigma_r

double sigma_r(const power_spectrum& p, double radius) {
  if (!(radius > 0.0) || !std::isfinite(radius)) {
    throw config_error("sigma_r: radius R = " + to_text(radius) + " must be positive and finite");
  }
  // The top hat cuts P off beyond k ~ 1/R as (kR)^-4; below 1e-5/R, k^3 P(k) is negligible for any
  // spectrum with n > -3 (for which sigma exists at all).
  double k_lo = 1e-5 / radius;
  double k_hi = 1e3 / radius;
  if (const auto range = p.k_range()) {
    k_lo = std::max(k_lo, range->first);
    k_hi = std::min(k_hi, range->second);
    if (!(k_lo < k_hi)) {
      throw config_error("sigma_r: the " + p.name() + " spectrum's k range [" + to_text(range->first) + ", " +
                         to_text(range->second) + "] misses the integration range [" +
                         to_text(1e-5 / radius) + ", " + to_text(1e3 / radius) + "] for R = " + to_text(radius));
    }
  }
  // In t = ln k: sigma^2 = 1/(2 pi^2) int k^3 P(k) W(kR)^2 dt. The Gauss-Kronrod nodes lie strictly inside
  // [ln k_lo, ln k_hi], so a table is never asked for a k just outside its range.
  const auto integrand = [&p, radius](double t) {
    const double k = std::exp(t);
    const double w = top_hat_window(k * radius);
    return cube(k) * p(k) * w * w;
  };
  const double log_lo = std::log(k_lo);
  const double log_hi = std::log(k_hi);
  const int initial_panels = std::max(4, static_cast<int>(std::ceil(2.0 * (log_hi - log_lo))));
  const double integral = integrate(integrand, log_lo, log_hi, initial_panels, 1e-9);
  return std::sqrt(integral / (2.0 * std::numbers::pi * std::numbers::pi));
}

// ------------------------------------------------------------------------------------------- workshop

double workshop_spectrum::operator()(double k) const {
  require_wavenumber(k, "workshop");
  return std::exp(-k * k / 100.0) / std::sqrt(k);
}

// ------------------------------------------------------------------------------------------- powerlaw

powerlaw_spectrum::powerlaw_spectrum(double amplitude, double index) : amplitude_(amplitude), index_(index) {
  require_positive(amplitude, "amplitude");
  require_finite(index, "index");
}

double powerlaw_spectrum::operator()(double k) const {
  require_wavenumber(k, "powerlaw");
  return amplitude_ * std::pow(k, index_);
}

std::vector<std::pair<std::string, double>> powerlaw_spectrum::parameters() const {
  return {{"amplitude", amplitude_}, {"index", index_}};
}

// -------------------------------------------------------------------------------------- eisenstein-hu
//
// Equation numbers refer to Eisenstein & Hu 1998, ApJ 496, 605. The paper works in Mpc (not Mpc/h), with
// omhh = Omega_m h^2 and obhh = Omega_b h^2; the class converts k at its boundary.

eisenstein_hu_spectrum::eisenstein_hu_spectrum(const lcdm_parameters& parameters) : parameters_(parameters) {
  require_positive(parameters.omega_m, "omega_m");
  require_positive(parameters.omega_b, "omega_b");
  if (!(parameters.omega_b < parameters.omega_m)) {
    throw config_error("omega_b = " + to_text(parameters.omega_b) + " must be smaller than omega_m = " +
                       to_text(parameters.omega_m) + " (omega_m counts baryons and dark matter)");
  }
  require_positive(parameters.h, "h");
  require_finite(parameters.n_s, "n_s");
  require_positive(parameters.sigma_8, "sigma_8");
  require_positive(parameters.t_cmb_k, "t_cmb_k");

  const double omhh = parameters.omega_m * parameters.h * parameters.h;
  const double obhh = parameters.omega_b * parameters.h * parameters.h;
  const double theta = parameters.t_cmb_k / 2.7;  // Theta_2.7
  const double theta2 = theta * theta;
  const double theta4 = theta2 * theta2;
  f_baryon_ = parameters.omega_b / parameters.omega_m;

  // Eq. 2: redshift of matter-radiation equality (really 1 + z_eq).
  const double z_equality = 2.50e4 * omhh / theta4;
  // Eq. 3: scale of the particle horizon at equality, 1/Mpc.
  k_equality_mpc_ = 0.0746 * omhh / theta2;
  // Eq. 4: drag epoch, when the baryons are released from the photons.
  const double z_drag_b1 = 0.313 * std::pow(omhh, -0.419) * (1.0 + 0.607 * std::pow(omhh, 0.674));
  const double z_drag_b2 = 0.238 * std::pow(omhh, 0.223);
  const double z_drag = 1291.0 * std::pow(omhh, 0.251) / (1.0 + 0.659 * std::pow(omhh, 0.828)) *
                        (1.0 + z_drag_b1 * std::pow(obhh, z_drag_b2));
  // Eq. 5: baryon-to-photon momentum density ratio R = 31.5 obhh Theta^-4 (z / 10^3)^-1, at z_drag and z_eq.
  const double r_drag = 31.5 * obhh / theta4 * (1000.0 / (1.0 + z_drag));
  const double r_equality = 31.5 * obhh / theta4 * (1000.0 / z_equality);
  // Eq. 6: sound horizon at the drag epoch, Mpc.
  sound_horizon_mpc_ = 2.0 / (3.0 * k_equality_mpc_) * std::sqrt(6.0 / r_equality) *
                       std::log((std::sqrt(1.0 + r_drag) + std::sqrt(r_drag + r_equality)) /
                                (1.0 + std::sqrt(r_equality)));
  // Eq. 7: Silk damping scale, 1/Mpc.
  k_silk_mpc_ = 1.6 * std::pow(obhh, 0.52) * std::pow(omhh, 0.73) * (1.0 + std::pow(10.4 * omhh, -0.95));

  // Eq. 11: CDM suppression alpha_c.
  const double alpha_c_a1 = std::pow(46.9 * omhh, 0.670) * (1.0 + std::pow(32.1 * omhh, -0.532));
  const double alpha_c_a2 = std::pow(12.0 * omhh, 0.424) * (1.0 + std::pow(45.0 * omhh, -0.582));
  alpha_c_ = std::pow(alpha_c_a1, -f_baryon_) * std::pow(alpha_c_a2, -cube(f_baryon_));
  // Eq. 12: CDM log shift beta_c.
  const double beta_c_b1 = 0.944 / (1.0 + std::pow(458.0 * omhh, -0.708));
  const double beta_c_b2 = std::pow(0.395 * omhh, -0.0266);
  beta_c_ = 1.0 / (1.0 + beta_c_b1 * (std::pow(1.0 - f_baryon_, beta_c_b2) - 1.0));

  // Eqs. 14-15: baryon suppression alpha_b = 2.07 k_eq s (1 + R_d)^-3/4 G((1 + z_eq) / (1 + z_d)).
  const double y = z_equality / (1.0 + z_drag);
  const double sqrt_1py = std::sqrt(1.0 + y);
  const double g = y * (-6.0 * sqrt_1py + (2.0 + 3.0 * y) * std::log((sqrt_1py + 1.0) / (sqrt_1py - 1.0)));
  alpha_b_ = 2.07 * k_equality_mpc_ * sound_horizon_mpc_ * std::pow(1.0 + r_drag, -0.75) * g;
  // Eq. 23: node shift of the acoustic oscillations.
  beta_node_ = 8.41 * std::pow(omhh, 0.435);
  // Eq. 24: baryon envelope shift.
  beta_b_ = 0.5 + f_baryon_ + (3.0 - 2.0 * f_baryon_) * std::sqrt(std::pow(17.2 * omhh, 2.0) + 1.0);

  // The amplitude: sigma_r is linear in A, so one integral with A = 1 fixes it. The class is final, so the
  // virtual call in sigma_r reaches this class's operator(), whose members are all set by now.
  amplitude_ = 1.0;
  const double sigma_8_unit = sigma_r(*this, 8.0);
  amplitude_ = parameters.sigma_8 * parameters.sigma_8 / (sigma_8_unit * sigma_8_unit);
}

double eisenstein_hu_spectrum::transfer_mpc(double k) const {
  // Eq. 10: wavenumber in units of the equality scale.
  const double q = k / (13.41 * k_equality_mpc_);
  const double ks = k * sound_horizon_mpc_;

  // Eqs. 19-20: T_0 tilde(k, alpha_c, beta_c), the pressureless (CDM-like) shape. Equals 1 at q = 0.
  const double q_pow = std::pow(q, 1.08);
  const auto t0_tilde = [q, q_pow](double alpha_c, double beta_c) {
    const double l = std::log(std::numbers::e + 1.8 * beta_c * q);
    const double c = 14.2 / alpha_c + 386.0 / (1.0 + 69.9 * q_pow);
    return l / (l + c * q * q);
  };

  // Eqs. 17-18: CDM part, interpolating between no suppression (small scales) and alpha_c.
  const double f = 1.0 / (1.0 + std::pow(ks / 5.4, 4.0));
  const double t_cdm = f * t0_tilde(1.0, beta_c_) + (1.0 - f) * t0_tilde(alpha_c_, beta_c_);

  // Eq. 22: shifted sound horizon s_tilde = s / (1 + (beta_node / (k s))^3)^(1/3); k s_tilde -> 0 as k -> 0
  // (the cube may overflow to inf there, which gives the right limit 0).
  const double ks_tilde = ks / std::cbrt(1.0 + cube(beta_node_ / ks));
  // Eq. 21: baryon part, j0(k s_tilde) times [T_0 tilde(k, 1, 1) / (1 + (k s / 5.2)^2) + the acoustic
  // term alpha_b / (1 + (beta_b / k s)^3) exp(-(k / k_silk)^1.4)].
  const double acoustic =
      alpha_b_ / (1.0 + cube(beta_b_ / ks)) * std::exp(-std::pow(k / k_silk_mpc_, 1.4));
  const double t_baryon = sinc(ks_tilde) * (t0_tilde(1.0, 1.0) / (1.0 + (ks / 5.2) * (ks / 5.2)) + acoustic);

  // Eq. 16: T = (Omega_b / Omega_m) T_b + (Omega_c / Omega_m) T_c.
  return f_baryon_ * t_baryon + (1.0 - f_baryon_) * t_cdm;
}

double eisenstein_hu_spectrum::transfer(double k) const {
  if (!(k >= 0.0) || !std::isfinite(k)) {
    throw config_error("eisenstein-hu transfer: k = " + to_text(k) + " h/Mpc is not a finite k >= 0");
  }
  if (k == 0.0) return 1.0;  // the limit; avoids 0/0 in the beta/ks ratios
  return transfer_mpc(k * parameters_.h);
}

double eisenstein_hu_spectrum::operator()(double k) const {
  require_wavenumber(k, "eisenstein-hu");
  const double t = transfer_mpc(k * parameters_.h);
  return amplitude_ * std::pow(k, parameters_.n_s) * t * t;
}

std::vector<std::pair<std::string, double>> eisenstein_hu_spectrum::parameters() const {
  return {{"omega_m", parameters_.omega_m}, {"omega_b", parameters_.omega_b}, {"h", parameters_.h},
          {"n_s", parameters_.n_s},         {"sigma_8", parameters_.sigma_8}, {"t_cmb_k", parameters_.t_cmb_k},
          {"amplitude", amplitude_}};
}

// ---------------------------------------------------------------------------------------------- table

namespace {

/// Parses a whole field as a double. from_chars refuses a leading '+', which some writers emit.
std::optional<double> parse_double(std::string_view field) {
  if (!field.empty() && field.front() == '+') field.remove_prefix(1);
  double value = 0.0;
  const auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
  if (ec != std::errc{} || end != field.data() + field.size() || !std::isfinite(value)) return std::nullopt;
  return value;
}

/// Splits a line into at most `count` whitespace-separated fields.
std::vector<std::string_view> first_fields(std::string_view line, std::size_t count) {
  std::vector<std::string_view> fields;
  constexpr std::string_view blanks = " \t\r\f\v";
  std::size_t pos = line.find_first_not_of(blanks);
  while (pos != std::string_view::npos && fields.size() < count) {
    const std::size_t end = line.find_first_of(blanks, pos);
    fields.push_back(line.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos));
    pos = end == std::string_view::npos ? end : line.find_first_not_of(blanks, end);
  }
  return fields;
}

}  // namespace

table_spectrum::table_spectrum(std::string path) : path_(std::move(path)) {
  std::ifstream in(path_);
  if (!in) {
    const std::string reason = std::error_code(errno, std::generic_category()).message();
    throw config_error("cannot open spectrum table '" + path_ + "': " + reason);
  }
  const auto where = [this](std::size_t line_number) {
    return "spectrum table '" + path_ + "', line " + std::to_string(line_number) + ": ";
  };
  std::string line;
  std::size_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    std::string_view text = line;
    if (const auto hash = text.find('#'); hash != std::string_view::npos) text = text.substr(0, hash);
    const auto fields = first_fields(text, 2);
    if (fields.empty()) continue;  // blank or comment
    if (fields.size() < 2) throw config_error(where(line_number) + "expected two columns \"k P\", got one");
    const auto k = parse_double(fields[0]);
    if (!k) throw config_error(where(line_number) + "k '" + std::string(fields[0]) + "' is not a number");
    const auto p = parse_double(fields[1]);
    if (!p) throw config_error(where(line_number) + "P '" + std::string(fields[1]) + "' is not a number");
    if (!(*k > 0.0)) throw config_error(where(line_number) + "k = " + to_text(*k) + " is not positive");
    if (!(*p > 0.0)) throw config_error(where(line_number) + "P = " + to_text(*p) + " is not positive");
    if (!k_.empty() && !(*k > k_.back())) {
      throw config_error(where(line_number) + "k = " + to_text(*k) + " does not increase (previous k = " +
                         to_text(k_.back()) + ")");
    }
    k_.push_back(*k);
    p_.push_back(*p);
  }
  // getline stops on end of file (eof) or on a read error (bad), e.g. when the path is a directory.
  if (in.bad() || !in.eof()) throw config_error("cannot read spectrum table '" + path_ + "'");
  if (k_.size() < 2) {
    throw config_error("spectrum table '" + path_ + "' has " + std::to_string(k_.size()) +
                       " data rows; interpolation needs at least 2");
  }
  log_k_.reserve(k_.size());
  log_p_.reserve(p_.size());
  for (std::size_t i = 0; i < k_.size(); ++i) {
    log_k_.push_back(std::log(k_[i]));
    log_p_.push_back(std::log(p_[i]));
  }
}

double table_spectrum::operator()(double k) const {
  if (!(k >= k_.front() && k <= k_.back())) {
    throw config_error("spectrum table '" + path_ + "': k = " + to_text(k) + " is outside its range [" +
                       to_text(k_.front()) + ", " + to_text(k_.back()) + "]");
  }
  // First node > k, so k lies in [k_[i - 1], k_[i]); k == k_max lands on the last node.
  const auto upper = std::upper_bound(k_.begin(), k_.end(), k);
  const auto i = static_cast<std::size_t>(upper - k_.begin()) - 1;
  if (k == k_[i]) return p_[i];  // exact at the nodes, no exp(log(P)) round trip
  const double t = (std::log(k) - log_k_[i]) / (log_k_[i + 1] - log_k_[i]);
  return std::exp(log_p_[i] + t * (log_p_[i + 1] - log_p_[i]));
}

std::vector<std::pair<std::string, double>> table_spectrum::parameters() const {
  return {{"k_min", k_.front()}, {"k_max", k_.back()}, {"rows", static_cast<double>(k_.size())}};
}

std::optional<std::pair<double, double>> table_spectrum::k_range() const {
  return std::pair{k_.front(), k_.back()};
}

// -------------------------------------------------------------------------------------------- factory

bool is_spectrum_model(const std::string& name) {
  return name == "workshop" || name == "powerlaw" || name == "eisenstein-hu" || name == "table";
}

std::unique_ptr<power_spectrum> make_spectrum(const spectrum_config& config) {
  if (config.model == "workshop") return std::make_unique<workshop_spectrum>();
  if (config.model == "powerlaw") return std::make_unique<powerlaw_spectrum>(config.amplitude, config.index);
  if (config.model == "eisenstein-hu") {
    lcdm_parameters parameters;
    parameters.omega_m = config.omega_m;
    parameters.omega_b = config.omega_b;
    parameters.h = config.h;
    parameters.n_s = config.n_s;
    parameters.sigma_8 = config.sigma_8;
    return std::make_unique<eisenstein_hu_spectrum>(parameters);
  }
  if (config.model == "table") {
    if (config.table_path.empty()) throw config_error("table_path is empty; model 'table' needs a \"k P\" file");
    return std::make_unique<table_spectrum>(config.table_path);
  }
  throw config_error("unknown spectrum model '" + config.model +
                     "' (known: workshop, powerlaw, eisenstein-hu, table)");
}

}  // namespace plx::cosmo
