// Test driver of plx::web::write_adhesion_times (plx-web itself belongs to the app): reads a plx-cosmo file's
// /potential on every rank and writes the adhesion structures at the given growth factors.
//   mpirun -n R plx_web_adhesion_driver COSMO.h5 OUT.h5 --times 0.5,2
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include <parallax/app/run_app.hpp>
#include <parallax/io/hdf5_file.hpp>
#include <parallax/io/slab_io.hpp>
#include <parallax/web/adhesion.hpp>

int main(int argc, char** argv) {
  CLI::App cli{"write_adhesion_times on a plx-cosmo file", "plx_web_adhesion_driver"};
  std::string input;
  std::string output;
  std::string times_text = "0.5,2";
  cli.add_option("input", input, "plx-cosmo file")->required();
  cli.add_option("output", output, "output HDF5 file")->required();
  cli.add_option("--times", times_text, "growth factors, comma-separated");
  return plx::run_app(argc, argv, cli, [&](plx::runtime& rt) {
    std::vector<double> times;
    std::stringstream list(times_text);
    for (std::string item; std::getline(list, item, ',');) times.push_back(std::stod(item));
    auto in = plx::io::h5_file::open_read(rt.world(), input);
    const auto dim = static_cast<int>(plx::io::get_attribute_int64(in, "/", "dim"));
    const std::int64_t n = plx::io::get_attribute_int64(in, "/", "N");
    const double box = plx::io::get_attribute_double(in, "/", "L");
    const std::vector<double> potential = plx::io::read_all(in, "/potential");
    in.close();
    auto out = plx::io::h5_file::create(rt.world(), output);
    plx::web::write_adhesion_times(rt.world(), dim, n, box, potential, times, {}, out);
    out.close();
    return 0;
  });
}
