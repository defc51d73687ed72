// plx-ensemble: the covariance of P(k) from an ensemble of realizations of the cosmology pipeline, one
// realization per task over every rank x thread, rows straight into HDF5 (resumable), covariance on root.
#include <cstdio>
#include <string>

#include <parallax/app/json_line.hpp>
#include <parallax/app/number_option.hpp>
#include <parallax/app/run_app.hpp>
#include <parallax/app/stop_signals.hpp>
#include <parallax/core/collectives.hpp>
#include <parallax/cosmo/ensemble.hpp>
#include <parallax/cosmo/params.hpp>

int main(int argc, char** argv) {
  CLI::App cli{"Covariance of the power spectrum from an ensemble of realizations: realization i is plx-cosmo's\n"
               "field for seed S + i, evolved by Zel'dovich to each --times; P(k) of each, rows into HDF5, then\n"
               "the mean, covariance, correlation, eigenvalues and (Hartlap) precision matrix on root.\n"
               "Field options as plx-cosmo's; flags override the parameter file. Exit 75: stopped by a signal\n"
               "with the finished realizations saved (rerun with --resume).",
               "plx-ensemble"};
  std::string params_file;
  cli.add_option("params", params_file, "TOML parameter file (plx-cosmo's keys)")->check(CLI::ExistingFile);
  plx::cosmo::pipeline_flags flags;
  std::size_t realizations = 0;
  bool resume = false;
  bool json = false;
  bool progress = false;
  plx::add_number(cli, "--realizations", realizations, "M, the number of realizations (more than bins + 2)")
      ->required();
  plx::add_number(cli, "--seed", flags.seed, "seed S of realization 0; realization i uses S + i (default 42)");
  cli.add_option("--out", flags.out, "output HDF5 file (default ensemble.h5)");
  cli.add_flag("--resume", resume, "continue a stopped run of the same parameters: compute only missing realizations");
  cli.add_flag("--force", flags.force, "overwrite an existing output (and discard an unfinished run)");
  cli.add_flag("--json", json, "print one JSON object: realizations, seconds, realizations_per_s, output, ...");
  cli.add_flag("--progress", progress, "progress on stderr (after --resume, counts the realizations left)");
  plx::add_number(cli, "--dim", flags.dim, "2 or 3 (default 2)");
  plx::add_number(cli, "--n", flags.n, "cells per side (default 256; P(k) has n/2 bins)");
  plx::add_number(cli, "--box", flags.box, "box size L (default 50)");
  cli.add_option("--spectrum", flags.spectrum, "workshop | powerlaw | eisenstein-hu | table (default workshop)");
  cli.add_option("--table", flags.table, "P(k) table for --spectrum table (two columns k P, as CLASS/CAMB write)");
  cli.add_option("--normalisation", flags.normalisation,
                 "unit-variance | sigma8 | none (default unit-variance, which correlates the bins; none for "
                 "Gaussian errors)");
  cli.add_option("--times", flags.times, "growth factors of the evolved spectra: list 0.5,1 or start:stop:count (default 1)");

  // SIGTERM, SIGINT or SIGUSR1 (SLURM's warning before the time limit): no new realization starts, the running
  // ones finish and are stored, and the app exits with 75 for the batch script to requeue and resume.
  plx::install_stop_signals(plx::stop_mode::drain, "plx-ensemble", true);
  return plx::run_app(argc, argv, cli, [&](plx::runtime& rt) {
    plx::cosmo::ensemble_params p;
    p.field.times = {1.0};
    p.field.out = "ensemble.h5";
    if (!params_file.empty()) {
      const plx::cosmo::pipeline_params defaults = p.field;
      p.field = plx::detail::on_all_ranks(rt.world(), [&] { return plx::cosmo::load_params(params_file, defaults); });
    }
    plx::detail::on_all_ranks(rt.world(), [&] { plx::cosmo::apply_flags(p.field, flags); });  // one line from root
    p.realizations = realizations;
    p.resume = resume;

    plx::map_options options;
    options.progress = progress;
    options.stop = &plx::stop_requested();

    const plx::cosmo::ensemble_report r = plx::cosmo::run_ensemble(rt.world(), p, options);
    if (!rt.is_root()) return 0;
    const double per_s = r.map_seconds > 0 ? static_cast<double>(r.computed) / r.map_seconds : 0.0;
    if (json) {
      plx::print_json_line({{"realizations", r.realizations},
                            {"computed", r.computed},
                            {"seconds", plx::rounded(r.seconds, 6)},
                            {"map_seconds", plx::rounded(r.map_seconds, 6)},
                            {"realizations_per_s", plx::rounded_significant(per_s, 6)},
                            {"bins", r.bins},
                            {"times", p.field.times.size()},
                            {"dim", p.field.dim},
                            {"n", p.field.n},
                            {"mean_correlation", r.mean_correlation},
                            {"ranks", rt.size()},
                            {"threads", rt.threads()},
                            {"output", r.output}});
    } else {
      std::printf("wrote %s: %zu realizations (%zu computed now) of %d^%d cells, %zu bins, %zu times, %d ranks x %d "
                  "threads, %.3f s (%.1f realizations/s)\n",
                  r.output.c_str(), r.realizations, r.computed, static_cast<int>(p.field.n), p.field.dim, r.bins,
                  p.field.times.size(), rt.size(), rt.threads(), r.seconds, per_s);
      // What an ensemble is for: how correlated the bins are, and how mode coupling grows that with D.
      std::printf("mean off-diagonal correlation of P(k): %.3f initial", r.mean_correlation.at(0));
      for (std::size_t t = 0; t < p.field.times.size(); ++t) {
        std::printf(", %.3f at D = %g", r.mean_correlation.at(t + 1), p.field.times[t]);
      }
      std::printf("\n");
    }
    return 0;
  });
}
