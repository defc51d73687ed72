#include <parallax/cosmo/ensemble.hpp>

#include <sys/statvfs.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <iterator>
#include <cstdint>
#include <filesystem>
#include <span>
#include <tuple>
#include <vector>

#include <fmt/format.h>
#include <omp.h>

#include <parallax/core/collectives.hpp>
#include <parallax/core/crc32.hpp>
#include <parallax/core/error.hpp>
#include <parallax/core/memory_usage.hpp>
#include <parallax/cosmo/covariance.hpp>
#include <parallax/cosmo/output_metadata.hpp>
#include <parallax/cosmo/realization.hpp>
#include <parallax/dist/map_to_h5.hpp>
#include <parallax/io/dimension_scales.hpp>
#include <parallax/io/hdf5_file.hpp>
#include <parallax/io/slab_io.hpp>
#include <parallax/version.hpp>

namespace plx::cosmo {

namespace {

using clock = std::chrono::steady_clock;

double seconds_since(clock::time_point start) { return std::chrono::duration<double>(clock::now() - start).count(); }

// The estimates of one spectrum (initial, or one evolved time), flattened for writing.
struct flat_estimate {
  std::vector<double> mean, matrix, correlation, eigenvalues, precision, gaussian_diagonal;

  void append(const covariance_estimate& e) {
    const auto add = [](std::vector<double>& to, const auto& from) {
      // Eigen matrices are column-major; the covariance matrices are symmetric, so either order is C order.
      to.insert(to.end(), from.data(), from.data() + from.size());
    };
    add(mean, e.mean);
    add(matrix, e.matrix);
    add(correlation, e.correlation);
    add(eigenvalues, e.eigenvalues);
    add(precision, e.precision);
    add(gaussian_diagonal, e.gaussian_diagonal);
  }
};

// Collective: the estimates under `group`, `lead` prefixed to every shape (the times axis, or none).
void write_estimates(io::h5_file& file, const std::string& group, const std::vector<hsize_t>& lead,
                     const flat_estimate& e, hsize_t bins) {
  const auto shape = [&](std::initializer_list<hsize_t> tail) {
    std::vector<hsize_t> dims = lead;
    dims.insert(dims.end(), tail);
    return dims;
  };
  io::write_from_root(file, group + "/mean", shape({bins}), e.mean);
  io::write_from_root(file, group + "/matrix", shape({bins, bins}), e.matrix);
  io::write_from_root(file, group + "/correlation", shape({bins, bins}), e.correlation);
  io::write_from_root(file, group + "/eigenvalues", shape({bins}), e.eigenvalues);
  io::write_from_root(file, group + "/precision", shape({bins, bins}), e.precision);
  io::write_from_root(file, group + "/gaussian_diagonal", shape({bins}), e.gaussian_diagonal);
}

// The units of an ensemble's datasets: Mpc/h where the spectrum sets a physical scale, box units otherwise
// (cosmo/output_metadata.hpp), to the powers that a dim-dimensional power spectrum and its covariance have.
struct ensemble_units {
  std::string wavenumber;  // of k
  std::string power;       // of P(k): a volume
  std::string covariance;  // of Cov(P(k), P(k')): a volume squared
  std::string precision;   // of the inverse covariance
};

ensemble_units units_of(const std::string& spectrum_name, int dim) {
  if (length_units(spectrum_name) == "box units") {
    return {"1/(box units)", fmt::format("(box units)^{}", dim), fmt::format("(box units)^{}", 2 * dim),
            fmt::format("(box units)^-{}", 2 * dim)};
  }
  return {"h/Mpc", fmt::format("(Mpc/h)^{}", dim), fmt::format("(Mpc/h)^{}", 2 * dim),
          fmt::format("(h/Mpc)^{}", 2 * dim)};
}

// Collective: units, meanings and named dimensions of the estimates under `group` (as write_estimates wrote
// them): k along the bins, k_prime along a matrix's second axis, and `lead` (the time axis, or none) first.
void describe_estimates(io::h5_file& file, const std::string& group, const std::vector<std::string>& lead,
                        const ensemble_units& units, const std::string& of_what) {
  const auto axes = [&](std::initializer_list<std::string> tail) {
    std::vector<std::string> paths = lead;
    paths.insert(paths.end(), tail);
    return paths;
  };
  const std::string k = "/k";
  const std::string k_prime = "/covariance/k_prime";
  const auto describe = [&](const char* name, const std::vector<std::string>& scales, const std::string& unit,
                            const std::string& meaning) {
    const std::string path = group + "/" + name;
    io::attach_dimension_scales(file, path, scales);
    io::describe_dataset(file, path, unit, meaning + " of " + of_what);
  };
  describe("mean", axes({k}), units.power, "ensemble mean P(k)");
  describe("matrix", axes({k, k_prime}), units.covariance, "covariance matrix Cov(P(k), P(k'))");
  describe("correlation", axes({k, k_prime}), "1", "correlation matrix Cov(k, k') / sqrt(Cov(k, k) Cov(k', k'))");
  describe("eigenvalues", axes({"/eigenvalue"}), units.covariance, "eigenvalues of the covariance matrix");
  describe("precision", axes({k, k_prime}), units.precision,
           "precision matrix (inverse covariance, with the Hartlap factor)");
  describe("gaussian_diagonal", axes({k}), units.covariance, "Gaussian prediction 2 P(k)^2 / modes of the diagonal");
}

// The mean of the off-diagonal entries of each b x b correlation matrix in `flat` (NaN entries skipped).
std::vector<double> mean_off_diagonal(const std::vector<double>& flat, std::size_t b) {
  std::vector<double> means;
  for (std::size_t at = 0; b > 1 && at + b * b <= flat.size(); at += b * b) {
    double sum = 0;
    std::size_t count = 0;
    for (std::size_t i = 0; i < b; ++i) {
      for (std::size_t j = 0; j < b; ++j) {
        const double r = flat[at + i * b + j];
        if (i != j && std::isfinite(r)) {
          sum += r;
          ++count;
        }
      }
    }
    means.push_back(count > 0 ? sum / static_cast<double>(count) : std::nan(""));
  }
  return means;
}

// Collective: reads the rows back on root, estimates, writes /covariance and /power_spectrum. Returns, on root,
// the mean off-diagonal correlation of the initial P(k) and of each evolved one.
std::vector<double> write_summary(io::h5_file& file, const realization_maker& maker, std::size_t m) {
  const std::size_t bins = maker.bins();
  const std::size_t times = maker.times();
  flat_estimate initial;
  flat_estimate evolved;
  detail::on_all_ranks(file.comm(), [&] {
    if (!file.comm().is_root()) return;
    const std::vector<double> power = io::read_all(file, "/realizations/power");
    const std::vector<double> power_evolved = io::read_all(file, "/realizations/power_evolved");
    if (power.size() != m * bins || power_evolved.size() != m * times * bins) {
      throw io_error(fmt::format("{}: /realizations holds {} and {} values, not {} and {}", file.path(), power.size(),
                                 power_evolved.size(), m * bins, m * times * bins));
    }
    using row_major = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const auto rows = static_cast<Eigen::Index>(m);
    const auto cols = static_cast<Eigen::Index>(bins);
    initial.append(estimate_covariance(Eigen::Map<const row_major>(power.data(), rows, cols), maker.modes()));
    for (std::size_t t = 0; t < times; ++t) {
      // Rows of time t: stride T * B between realizations.
      const Eigen::Map<const row_major, 0, Eigen::OuterStride<>> samples(
          power_evolved.data() + t * bins, rows, cols, Eigen::OuterStride<>(static_cast<Eigen::Index>(times * bins)));
      evolved.append(estimate_covariance(samples, maker.modes()));
    }
  });
  const auto b = static_cast<hsize_t>(bins);
  write_estimates(file, "/covariance", {}, initial, b);
  write_estimates(file, "/covariance/evolved", {static_cast<hsize_t>(times)}, evolved, b);
  io::set_attribute(file, "/covariance/evolved", "times", std::span<const double>(maker.params().times));
  io::write_from_root(file, "/power_spectrum/k", maker.k());
  io::write_from_root(file, "/power_spectrum/modes", maker.modes());
  io::write_from_root(file, "/power_spectrum/input", maker.input());
  io::set_attribute(file, "/realizations/power_evolved", "window", std::string("cic"));

  const ensemble_units units = units_of(maker.spectrum().name(), maker.params().dim);
  io::write_from_root(file, "/covariance/k_prime", maker.k());
  io::make_dimension_scale(file, "/covariance/k_prime", "k_prime");
  io::describe_dataset(file, "/covariance/k_prime", units.wavenumber, "wavenumber k' of a matrix's second axis");
  write_index_scale(file, "eigenvalue", bins, "index of the covariance matrix's eigenvalue");
  describe_estimates(file, "/covariance", {}, units, "the initial P(k)");
  describe_estimates(file, "/covariance/evolved", {"/time"}, units, "the evolved P(k) at each time");
  // Along /k, map_to_h5's coordinate (run_ensemble): a dimension is seen from its group and the groups below,
  // and /realizations needs it too.
  for (const char* name : {"k", "modes", "input"}) {
    io::attach_dimension_scales(file, std::string("/power_spectrum/") + name, {"/k"});
  }
  io::describe_dataset(file, "/power_spectrum/k", units.wavenumber, "wavenumber k: the mean |k| of the shell's modes");
  io::describe_dataset(file, "/power_spectrum/modes", "1", "Fourier modes in the shell");
  io::describe_dataset(file, "/power_spectrum/input", units.power, "input power spectrum P(k) at the shell's k");
  std::vector<double> correlation = mean_off_diagonal(initial.correlation, bins);
  const std::vector<double> evolved_correlation = mean_off_diagonal(evolved.correlation, bins);
  correlation.insert(correlation.end(), evolved_correlation.begin(), evolved_correlation.end());
  return correlation;
}

void write_provenance(io::h5_file& file, const realization_maker& maker, std::size_t m) {
  const pipeline_params& p = maker.params();
  io::set_attribute(file, "/", "dim", std::int64_t{p.dim});
  io::set_attribute(file, "/", "N", static_cast<std::int64_t>(p.n));
  io::set_attribute(file, "/", "L", p.box);
  io::set_attribute_uint64(file, "/", "seed", p.seed);
  io::set_attribute(file, "/", "realizations", static_cast<std::int64_t>(m));
  io::set_attribute(file, "/", "spectrum", maker.spectrum().name());
  for (const auto& [name, value] : maker.spectrum().parameters()) io::set_attribute(file, "/", "spectrum_" + name, value);
  if (p.spectrum.model == "table") io::set_attribute(file, "/", "spectrum_table", p.spectrum.table_path);
  io::set_attribute(file, "/", "normalisation", p.normalisation);
  io::set_attribute(file, "/", "times", std::span<const double>(p.times));
  io::set_attribute(file, "/", "parallax_version", std::string(version_string) + " (" + git_hash + ")");
  // The run's ranks, threads and command line are map_to_h5's attributes of each /realizations dataset: those
  // of the run that created the file, so a resumed file equals an uninterrupted one (h5diff) here too.
}

}  // namespace

std::string ensemble_fingerprint(const pipeline_params& p) {
  std::string text = fmt::format("dim={} n={} box={:.17g} seed={} spectrum={} normalisation={} times=", p.dim, p.n,
                                 p.box, p.seed, p.spectrum.model, p.normalisation);
  for (const double t : p.times) text += fmt::format("{:.17g},", t);
  // Only the chosen model's parameters matter (as make_spectrum reads them).
  if (p.spectrum.model == "powerlaw") {
    text += fmt::format(" amplitude={:.17g} index={:.17g}", p.spectrum.amplitude, p.spectrum.index);
  } else if (p.spectrum.model == "eisenstein-hu") {
    text += fmt::format(" omega_m={:.17g} omega_b={:.17g} h={:.17g} n_s={:.17g}", p.spectrum.omega_m,
                        p.spectrum.omega_b, p.spectrum.h, p.spectrum.n_s);
  } else if (p.spectrum.model == "table") {
    // The table's content, not only its name: a table edited between a run and its resume changes P(k).
    std::ifstream table(p.spectrum.table_path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(table)), std::istreambuf_iterator<char>());
    text += fmt::format(" table={} crc32={:08x}", p.spectrum.table_path, crc32(bytes));
  }
  // sigma_8 sets eisenstein-hu's amplitude, and any model's under sigma8 normalisation.
  if (p.spectrum.model == "eisenstein-hu" || p.normalisation == "sigma8") {
    text += fmt::format(" sigma_8={:.17g}", p.spectrum.sigma_8);
  }
  return text;
}

double ensemble_memory_estimate_bytes(int dim, std::ptrdiff_t n, int threads) {
  // A serial r2c grid: n^(dim-1) rows of 2 (n/2 + 1) doubles (as fft::slab_geometry pads them).
  const auto side = static_cast<double>(n);
  const double grid = std::pow(side, dim - 1) * 2 * (std::floor(side / 2) + 1) * sizeof(double);
  // Each thread's dim + 1 grids (realization.cpp's workspace) and its deposit's spill (at most about one
  // more), the maker's measuring field, ROMIO's and HDF5's buffers for the rows.
  return (threads * (dim + 2.0) + 1) * grid + 24.0 * (1 << 20);
}

ensemble_report run_ensemble(const communicator& comm, const ensemble_params& params, map_options options) {
  const auto start = clock::now();
  const std::size_t m = params.realizations;
  // Refused up front, with one line, when a node cannot hold its threads' grids (before the maker allocates).
  detail::on_all_ranks(comm, [&] { validate(params.field); });
  const int threads = options.threads > 0 ? options.threads : omp_get_max_threads();
  check_node_memory(comm, ensemble_memory_estimate_bytes(params.field.dim, params.field.n, threads),
                    fmt::format("a {}^{} grid for each of {} thread{} per rank", params.field.n, params.field.dim,
                                threads, threads == 1 ? "" : "s"),
                    "use a smaller --n or fewer --threads per rank");
  // Every rank builds the same maker (checks, spectrum, plans); one rank's failure is everyone's.
  const auto maker = detail::on_all_ranks(comm, [&] {
    auto made = std::make_unique<realization_maker>(params.field);
    if (made->bins() < 2) {
      // mean_off_diagonal and the correlation matrix need two bins; found here, before any output exists.
      throw config_error(fmt::format("--n {} gives {} P(k) bin(s), but an ensemble's covariance needs at least 2: "
                                     "use --n 4 or more",
                                     params.field.n, made->bins()));
    }
    check_ensemble_size(m, made->bins());
    // A row: P(k), the evolved P(k) at each time (doubles), the seed. Their total must be a file size.
    const std::size_t row_bytes = (made->bins() * (1 + made->times()) + 1) * sizeof(double);
    constexpr std::uint64_t max_file_bytes = std::uint64_t{1} << 62;
    if (m > max_file_bytes / row_bytes) {
      throw config_error(fmt::format("--realizations {}: their rows of {} bytes each would need more than 2^62 bytes "
                                     "(4 EiB), more than any file system holds",
                                     m, row_bytes));
    }
    // Past the size of the output's whole file system, the run would only fail at its first write (EFBIG,
    // ENOSPC) after the partial file and the MPI-IO layer had their say: refused here, as bad input.
    if (comm.is_root()) {
      const std::filesystem::path parent = std::filesystem::path(params.field.out).parent_path();
      struct statvfs disk {};
      if (::statvfs(parent.empty() ? "." : parent.c_str(), &disk) == 0) {
        const double capacity = static_cast<double>(disk.f_blocks) * static_cast<double>(disk.f_frsize);
        const double needed = static_cast<double>(m) * static_cast<double>(row_bytes);
        if (capacity > 0 && needed > capacity) {
          throw config_error(fmt::format("--realizations {}: their rows of {} bytes each need {:.3g} bytes, more than "
                                         "the whole file system of '{}' holds ({:.3g} bytes)",
                                         m, row_bytes, needed, params.field.out, capacity));
        }
      }
    }
    return made;
  });
  const std::size_t bins = maker->bins();
  const std::size_t times = maker->times();

  // Named dimensions (realization, time, k) and units, so that xarray opens the file (dist/h5_column.hpp).
  const ensemble_units units = units_of(maker->spectrum().name(), params.field.dim);
  h5_output out(comm, params.field.out,
                h5_output_options{
                    .resume = params.resume,
                    .overwrite = params.field.force,
                    .fingerprint = ensemble_fingerprint(params.field),
                    .row_dimension = "realization",
                    .coordinates = {{"k", maker->k(), units.wavenumber, "wavenumber k: the mean |k| of the shell's modes"},
                                    {"time", params.field.times, "1", "linear growth factor D of an evolved field"}}});
  const std::uint64_t first_seed = params.field.seed;
  const auto task = [&](std::size_t i) {
    const std::uint64_t seed = first_seed + i;  // wraps past 2^64 - 1, as plx-cosmo's seed would
    realization_spectra r = maker->run(seed);
    return std::tuple<std::vector<double>, std::vector<double>, std::uint64_t>{std::move(r.power),
                                                                               std::move(r.power_evolved), seed};
  };
  if (options.label == "map") options.label = "ensemble";
  const auto map_start = clock::now();
  map_to_h5(out, m, task,
            {{"/realizations/power", {bins}, {"k"}, units.power, "power spectrum P(k) of the realization's field"},
             {"/realizations/power_evolved",
              {times, bins},
              {"time", "k"},
              units.power,
              "power spectrum P(k) of the realization's Zel'dovich particles (CIC) at each time"},
             {"/realizations/seed", {}, {}, "1", "seed of the realization's Gaussian field"}},
            options);
  const double map_seconds = seconds_since(map_start);

  io::h5_file file = out.open();
  ensemble_report report;
  report.map_seconds = map_seconds;
  report.mean_correlation = write_summary(file, *maker, m);
  write_provenance(file, *maker, m);
  file.close();
  out.commit();

  report.realizations = m;
  report.computed = m - static_cast<std::size_t>(out.rows_resumed());
  report.bins = bins;
  report.output = params.field.out;
  report.seconds = seconds_since(start);
  return report;
}

}  // namespace plx::cosmo
