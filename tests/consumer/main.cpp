// Built against an installed parallax: the umbrella header and the exported target are all it needs.
#include <cstdio>

#include <parallax/parallax.hpp>

int main(int argc, char** argv) {
  plx::runtime_options options;
  options.quiet = true;
  plx::runtime rt(argc, argv, options);
  const auto squares = plx::map(rt.world(), 10, [](std::size_t i) { return int(i * i); });
  if (rt.is_root()) {
    std::printf("consumer: parallax %s, squares[9] = %d\n", plx::version_string, squares[9]);
    return squares[9] == 81 ? 0 : 1;
  }
  return 0;
}
