// The umbrella header on its own compiles and is enough for a program (README: "The library").
#include <parallax/parallax.hpp>

int main(int argc, char** argv) {
  plx::runtime_options options;
  options.quiet = true;
  plx::runtime rt(argc, argv, options);
  // One name from each module, so a header dropped from the umbrella fails here too.
  [[maybe_unused]] const plx::fft::slab_geometry* geometry = nullptr;
  [[maybe_unused]] const plx::io::slab_block* block = nullptr;
  [[maybe_unused]] const plx::farm::command_spec* spec = nullptr;
  [[maybe_unused]] const plx::cosmo::pipeline_params* params = nullptr;
  [[maybe_unused]] const plx::farm::farm_options* farm = nullptr;
  return 0;
}
