// plx-pi: Monte Carlo estimate of pi over MPI ranks x OpenMP threads.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

#include <parallax/app/json_line.hpp>
#include <parallax/app/number_option.hpp>
#include <parallax/app/run_app.hpp>
#include <parallax/mc/pi.hpp>

int main(int argc, char** argv) {
  CLI::App cli{"Monte Carlo estimate of pi over MPI ranks x OpenMP threads.\n"
               "Same --seed gives the same estimate, to the last digit, for any ranks and threads.",
               "plx-pi"};
  double samples_requested = 1e8;  // a double so that 1e9 works on the command line
  std::uint64_t seed = 42;
  bool json = false;
  bool progress = false;
  plx::add_number(cli, "--samples,-n", samples_requested, "points to draw (1e9 notation accepted)",
                  {.min = 1, .max = 9.2e18, .whole = true})
      ->capture_default_str();
  plx::add_number(cli, "--seed", seed, "random seed, 0 to 2^64 - 1")->capture_default_str();
  cli.add_flag("--json", json, "print one JSON object: pi, std_error, samples, seed, ranks, threads, seconds, samples_per_s");
  cli.add_flag("--progress", progress, "show progress on stderr");

  return plx::run_app(argc, argv, cli, [&](plx::runtime& rt) {
    const auto samples = static_cast<std::uint64_t>(samples_requested);
    plx::map_options options;
    options.progress = progress;
    rt.world().barrier();
    const auto start = std::chrono::steady_clock::now();
    const plx::mc::pi_estimate e = plx::mc::estimate_pi(rt.world(), samples, seed, options);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (rt.is_root()) {
      if (json) {
        plx::print_json_line({{"pi", e.pi},
                              {"std_error", plx::rounded_significant(e.std_error, 6)},
                              {"samples", e.samples},
                              {"seed", seed},
                              {"ranks", rt.size()},
                              {"threads", rt.threads()},
                              {"seconds", plx::rounded(seconds, 6)},
                              {"samples_per_s", plx::rounded_significant(static_cast<double>(e.samples) / seconds, 6)}});
      } else {
        std::printf("pi ~= %.12f +- %.2g  (error %.2g, %llu samples, seed %llu)\n", e.pi, e.std_error,
                    e.pi - 3.14159265358979323846, static_cast<unsigned long long>(e.samples),
                    static_cast<unsigned long long>(seed));
        std::printf("%d ranks x %d threads, %.3f s, %.3g samples/s\n", rt.size(), rt.threads(), seconds,
                    static_cast<double>(e.samples) / seconds);
      }
    }
    return 0;
  });
}
