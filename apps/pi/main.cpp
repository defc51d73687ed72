// plx-pi: Monte Carlo estimate of pi over MPI ranks x OpenMP threads.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

#include <fmt/format.h>

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
  cli.add_option("--samples,-n", samples_requested, "points to draw (1e9 notation accepted)")
      ->capture_default_str()
      ->check([](const std::string& text) -> std::string {
        double value = 0;
        try {
          value = std::stod(text);
        } catch (const std::exception&) {
          return "'" + text + "' is not a number";
        }
        if (!(value >= 1 && value <= 9.2e18)) return "must be between 1 and 9.2e18, not " + text;
        if (value != std::floor(value)) return "must be a whole number of samples, not " + text;
        return {};
      });
  cli.add_option("--seed", seed, "random seed")->capture_default_str();
  cli.add_flag("--json", json,
               "print one JSON object: pi, std_error, samples, seed, ranks, threads, seconds, samples_per_s");
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
        std::printf("%s\n", fmt::format(R"({{"pi": {:.17g}, "std_error": {:.6g}, "samples": {}, "seed": {}, )"
                                        R"("ranks": {}, "threads": {}, "seconds": {:.6f}, "samples_per_s": {:.6g}}})",
                                        e.pi, e.std_error, e.samples, seed, rt.size(), rt.threads(), seconds,
                                        static_cast<double>(e.samples) / seconds)
                                .c_str());
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
