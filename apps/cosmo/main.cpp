// plx-cosmo: Gaussian random density field, potential, Zel'dovich frames and power spectrum on distributed
// FFTs, written to one parallel HDF5 file.
#include <cstdio>
#include <string>

#include <fmt/format.h>

#include <parallax/app/run_app.hpp>
#include <parallax/core/collectives.hpp>
#include <parallax/cosmo/params.hpp>
#include <parallax/cosmo/pipeline.hpp>

int main(int argc, char** argv) {
  CLI::App cli{"Cosmology pipeline on distributed FFTs: density, potential, Zel'dovich frames, P(k) -> HDF5.\n"
               "Defaults reproduce the teaching workshop (2D, N=256, L=50, P(k)=exp(-k^2/100)/sqrt(k)).\n"
               "Command-line flags override the parameter file.",
               "plx-cosmo"};
  std::string params_file;
  cli.add_option("params", params_file, "TOML parameter file")->check(CLI::ExistingFile);
  // Flags are read into optionals so that only the ones given override the file.
  std::optional<int> dim;
  std::optional<std::ptrdiff_t> n;
  std::optional<double> box;
  std::optional<std::uint64_t> seed;
  std::optional<std::string> spectrum, normalisation, times, out, plan, wisdom, table;
  bool force = false;
  bool json = false;
  cli.add_option("--dim", dim, "2 or 3 (default 2)");
  cli.add_option("--n", n, "cells per side (default 256)");
  cli.add_option("--box", box, "box size L (default 50)");
  cli.add_option("--seed", seed, "random seed (default 42)");
  cli.add_option("--spectrum", spectrum, "workshop | powerlaw | eisenstein-hu | table (default workshop)");
  cli.add_option("--table", table, "P(k) table for --spectrum table (two columns k P, as CLASS/CAMB write)");
  cli.add_option("--normalisation", normalisation, "unit-variance | sigma8 | none (default unit-variance)");
  cli.add_option("--times", times, "growth factors of the frames: list 0,1,2 or start:stop:count (default 0:4:10)");
  cli.add_option("--out", out, "output HDF5 file (default cosmo.h5); an .xmf sidecar is written next to it");
  cli.add_flag("--force", force, "overwrite an existing output file");
  cli.add_option("--plan", plan, "FFTW planning: estimate (bitwise reproducible, default) | measure");
  cli.add_option("--wisdom", wisdom, "FFTW wisdom file: loaded before planning, saved after");
  cli.add_flag("--json", json, "print one JSON object: stage timings (s) and peak memory per rank (MiB)");

  return plx::run_app(argc, argv, cli, [&](plx::runtime& rt) {
    plx::cosmo::pipeline_params p;
    // Every rank reads the file; a rank that cannot must not leave the others waiting.
    if (!params_file.empty()) {
      p = plx::detail::on_all_ranks(rt.world(), [&] { return plx::cosmo::load_params(params_file); });
    }
    if (dim) p.dim = *dim;
    if (n) p.n = *n;
    if (box) p.box = *box;
    if (seed) p.seed = *seed;
    if (spectrum) p.spectrum.model = *spectrum;
    if (table) p.spectrum.table_path = *table;
    if (normalisation) p.normalisation = *normalisation;
    if (times) p.times = plx::cosmo::parse_times(*times);
    if (out) p.out = *out;
    if (plan) p.plan = *plan;
    if (wisdom) p.wisdom = *wisdom;
    p.force = p.force || force;

    std::string command_line;
    for (int i = 0; i < argc; ++i) command_line += (i ? " " : "") + std::string(argv[i]);
    const plx::cosmo::pipeline_report r =
        plx::cosmo::run_pipeline(rt.world(), p, {command_line, rt.threads()}, !json);
    if (!rt.is_root()) return 0;
    const auto& t = r.seconds;
    if (json) {
      std::string rss;
      for (const double mb : r.peak_rss_mb) rss += (rss.empty() ? "" : ", ") + fmt::format("{:.1f}", mb);
      std::printf("%s\n", fmt::format(R"({{"noise": {:.6f}, "density": {:.6f}, "potential": {:.6f}, )"
                                      R"("displacement": {:.6f}, "frames": {:.6f}, "power_spectrum": {:.6f}, )"
                                      R"("write": {:.6f}, "plan": {:.6f}, "total": {:.6f}, "peak_rss_mb": [{}], )"
                                      R"("dim": {}, "n": {}, "ranks": {}, "threads": {}, "out": "{}"}})",
                                      t.noise, t.density, t.potential, t.displacement, t.frames, t.power_spectrum,
                                      t.write, t.plan, t.total, rss, p.dim, p.n, rt.size(), rt.threads(), r.output)
                              .c_str());
    } else {
      std::printf("wrote %s (+ .xmf): %d^%d cells, %zu frames, %d ranks x %d threads, %.3f s\n", r.output.c_str(),
                  static_cast<int>(p.n), p.dim, p.times.size(), rt.size(), rt.threads(), t.total);
    }
    return 0;
  });
}
