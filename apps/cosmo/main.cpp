// plx-cosmo: Gaussian random density field, potential, Zel'dovich frames and power spectrum on distributed
// FFTs, written to one parallel HDF5 file.
#include <cstdio>
#include <string>

#include <parallax/app/json_line.hpp>
#include <parallax/app/number_option.hpp>
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
  plx::cosmo::pipeline_flags flags;
  bool json = false;
  plx::add_number(cli, "--dim", flags.dim, "2 or 3 (default 2)");
  plx::add_number(cli, "--n", flags.n, "cells per side (default 256)");
  plx::add_number(cli, "--box", flags.box, "box size L (default 50)");
  plx::add_number(cli, "--seed", flags.seed, "random seed, 0 to 2^64 - 1 (default 42)");
  cli.add_option("--spectrum", flags.spectrum, "workshop | powerlaw | eisenstein-hu | table (default workshop)");
  cli.add_option("--table", flags.table, "P(k) table for --spectrum table (two columns k P, as CLASS/CAMB write)");
  cli.add_option("--normalisation", flags.normalisation, "unit-variance | sigma8 | none (default unit-variance)");
  cli.add_option("--times", flags.times, "growth factors of the frames: list 0,1,2 or start:stop:count (default 0:4:10)");
  cli.add_option("--out", flags.out, "output HDF5 file (default cosmo.h5); an .xmf sidecar is written next to it");
  cli.add_flag("--force", flags.force, "overwrite an existing output file");
  cli.add_option("--plan", flags.plan, "FFTW planning: estimate (bitwise reproducible, default) | measure");
  cli.add_option("--wisdom", flags.wisdom, "FFTW wisdom file: loaded before planning, saved after");
  bool progress = false;
  cli.add_flag("--progress", progress, "a line per frame as it is written (the stages' lines come without it)");
  cli.add_flag("--json", json, "print one JSON object: stage timings (s), peak memory and its estimate per rank (MiB)");

  return plx::run_app(argc, argv, cli, [&](plx::runtime& rt) {
    plx::cosmo::pipeline_params p;
    // Every rank reads the file; a rank that cannot must not leave the others waiting.
    if (!params_file.empty()) {
      p = plx::detail::on_all_ranks(rt.world(), [&] { return plx::cosmo::load_params(params_file); });
    }
    // Flags override the file; validation (in run_pipeline) names a bad value's flag, or its file and line.
    // A --times that does not parse fails alike on every rank: one line from root.
    plx::detail::on_all_ranks(rt.world(), [&] { plx::cosmo::apply_flags(p, flags); });

    std::string command_line;
    for (int i = 0; i < argc; ++i) command_line += (i ? " " : "") + std::string(argv[i]);
    const plx::cosmo::pipeline_report r =
        plx::cosmo::run_pipeline(rt.world(), p, {command_line, rt.threads()},
                                 {.stages = !json, .frames = progress});
    if (!rt.is_root()) return 0;
    const auto& t = r.seconds;
    if (json) {
      plx::json rss = plx::json::array();
      for (const double mb : r.peak_rss_mb) rss.push_back(plx::rounded(mb, 1));
      plx::json estimate = plx::json::array();
      for (const double mb : r.memory_estimate_mb) estimate.push_back(plx::rounded(mb, 1));
      plx::print_json_line({{"noise", plx::rounded(t.noise, 6)},
                            {"density", plx::rounded(t.density, 6)},
                            {"potential", plx::rounded(t.potential, 6)},
                            {"displacement", plx::rounded(t.displacement, 6)},
                            {"frames", plx::rounded(t.frames, 6)},
                            {"power_spectrum", plx::rounded(t.power_spectrum, 6)},
                            {"write", plx::rounded(t.write, 6)},
                            {"plan", plx::rounded(t.plan, 6)},
                            {"total", plx::rounded(t.total, 6)},
                            {"peak_rss_mb", rss},
                            {"memory_estimate_mb", estimate},
                            {"dim", p.dim},
                            {"n", p.n},
                            {"ranks", rt.size()},
                            {"threads", rt.threads()},
                            {"out", r.output}});
    } else {
      std::printf("wrote %s (+ .xmf): %d^%d cells, %zu frames, %d ranks x %d threads, %.3f s\n", r.output.c_str(),
                  static_cast<int>(p.n), p.dim, p.times.size(), rt.size(), rt.threads(), t.total);
    }
    return 0;
  });
}
