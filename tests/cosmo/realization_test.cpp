// A realization on one thread (plx-ensemble's task) against plx-cosmo on this test's ranks: serial FFTs
// against FFTW-MPI, initial P(k) and evolved densities against the pipeline's file, bitwise; concurrent
// realizations; and no MPI call inside a realization.
#include <parallax/cosmo/realization.hpp>

#include <omp.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <complex>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <mpi.h>

#include <parallax/cosmo/pipeline.hpp>
#include <parallax/fft/modes.hpp>
#include <parallax/fft/plan.hpp>
#include <parallax/fft/serial_plans.hpp>
#include <parallax/io/hdf5_file.hpp>
#include <parallax/io/slab_io.hpp>
#include <parallax/io/xdmf.hpp>

#include "../support/grid_gather.hpp"
#include "../support/mpi_test.hpp"
#include "../support/temp_files.hpp"

// Every MPI call of a realization would pass through one of these (PMPI interposition): the test counts them.
namespace {
std::atomic<long> mpi_calls{0};
}  // namespace
extern "C" {
int MPI_Send(const void* b, int c, MPI_Datatype t, int d, int g, MPI_Comm m) { ++mpi_calls; return PMPI_Send(b, c, t, d, g, m); }
int MPI_Recv(void* b, int c, MPI_Datatype t, int s, int g, MPI_Comm m, MPI_Status* st) { ++mpi_calls; return PMPI_Recv(b, c, t, s, g, m, st); }
int MPI_Isend(const void* b, int c, MPI_Datatype t, int d, int g, MPI_Comm m, MPI_Request* r) { ++mpi_calls; return PMPI_Isend(b, c, t, d, g, m, r); }
int MPI_Irecv(void* b, int c, MPI_Datatype t, int s, int g, MPI_Comm m, MPI_Request* r) { ++mpi_calls; return PMPI_Irecv(b, c, t, s, g, m, r); }
int MPI_Sendrecv(const void* a, int b, MPI_Datatype c, int d, int e, void* f, int g, MPI_Datatype h, int i, int j,
                 MPI_Comm k, MPI_Status* l) { ++mpi_calls; return PMPI_Sendrecv(a, b, c, d, e, f, g, h, i, j, k, l); }
int MPI_Alltoall(const void* a, int b, MPI_Datatype c, void* d, int e, MPI_Datatype f, MPI_Comm g) { ++mpi_calls; return PMPI_Alltoall(a, b, c, d, e, f, g); }
int MPI_Alltoallv(const void* a, const int* b, const int* c, MPI_Datatype d, void* e, const int* f, const int* g,
                  MPI_Datatype h, MPI_Comm i) { ++mpi_calls; return PMPI_Alltoallv(a, b, c, d, e, f, g, h, i); }
int MPI_Allgather(const void* a, int b, MPI_Datatype c, void* d, int e, MPI_Datatype f, MPI_Comm g) { ++mpi_calls; return PMPI_Allgather(a, b, c, d, e, f, g); }
int MPI_Allreduce(const void* a, void* b, int c, MPI_Datatype d, MPI_Op e, MPI_Comm f) { ++mpi_calls; return PMPI_Allreduce(a, b, c, d, e, f); }
int MPI_Bcast(void* a, int b, MPI_Datatype c, int d, MPI_Comm e) { ++mpi_calls; return PMPI_Bcast(a, b, c, d, e); }
int MPI_Barrier(MPI_Comm c) { ++mpi_calls; return PMPI_Barrier(c); }
int MPI_Waitall(int n, MPI_Request* r, MPI_Status* s) { ++mpi_calls; return PMPI_Waitall(n, r, s); }
int MPI_Comm_size(MPI_Comm c, int* s) { ++mpi_calls; return PMPI_Comm_size(c, s); }
int MPI_Comm_rank(MPI_Comm c, int* r) { ++mpi_calls; return PMPI_Comm_rank(c, r); }
}

namespace {

using plx::testing_support::rt;
namespace fft = plx::fft;
namespace cosmo = plx::cosmo;

// A deterministic real field, the same function of the global cell for any layout.
double test_value(std::ptrdiff_t x, std::ptrdiff_t y, std::ptrdiff_t z) {
  return std::sin(0.37 * static_cast<double>(x) + 1.3 * static_cast<double>(y * y) + 0.11 * static_cast<double>(z * x)) +
         0.01 * static_cast<double>((x * 7 + y * 13 + z * 3) % 17);
}

// Collective: the rank's Fourier planes, concatenated on root in rank order (the 1-rank layout).
std::vector<double> gather_fourier(const plx::communicator& comm, const fft::field& f) {
  const fft::slab_geometry& g = f.geometry();
  const std::ptrdiff_t per_plane = g.dim == 3 ? g.n * g.half() : g.n;
  return plx::testing_support::gather_on_root(comm, std::vector<double>(f.real(), f.real() + 2 * g.fourier_count * per_plane));
}

// The cells of a serial field, unpadded, in global order.
std::vector<double> cells_of(const fft::field& f) {
  std::vector<double> out;
  for (std::ptrdiff_t plane = 0; plane < f.geometry().real_count; ++plane) {
    fft::for_each_cell_in_plane(f.geometry(), plane, [&](std::ptrdiff_t o, auto, auto, auto) { out.push_back(f.real()[o]); });
  }
  return out;
}

// Bitwise equality of two arrays of doubles (NaN-safe, -0 != +0).
bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

class SerialPlans : public ::testing::TestWithParam<std::pair<int, int>> {};

TEST_P(SerialPlans, transform_bitwise_as_fftw_mpi_on_these_ranks) {
  const auto [dim, n] = GetParam();
  const plx::communicator& comm = rt().world();
  const fft::slab_geometry g = fft::make_slab_geometry(comm, dim, n);
  fft::field distributed(g);
  const fft::r2c_plans plans(comm, distributed, fft::plan_mode::estimate);
  for (std::ptrdiff_t plane = 0; plane < g.real_count; ++plane) {
    fft::for_each_cell_in_plane(g, plane, [&](std::ptrdiff_t o, auto x, auto y, auto z) { distributed.real()[o] = test_value(x, y, z); });
  }
  plans.forward(distributed);
  const std::vector<double> fourier = gather_fourier(comm, distributed);
  for (std::size_t i = 0; i < distributed.size(); ++i) distributed.real()[i] *= 1.0000001;  // something new to invert
  plans.backward(distributed);
  const std::vector<double> real = plx::testing_support::gather_real(comm, distributed);
  if (!comm.is_root()) return;

  const fft::serial_r2c_plans serial(dim, n);
  fft::field box(serial.geometry());
  fft::for_each_cell(serial.geometry(), [&](std::ptrdiff_t o, auto x, auto y, auto z) { box.real()[o] = test_value(x, y, z); });
  serial.forward(box);
  const std::vector<double> serial_fourier(box.real(), box.real() + fourier.size());
  EXPECT_TRUE(same_bits(serial_fourier, fourier)) << dim << "D N = " << n;
  for (std::size_t i = 0; i < box.size(); ++i) box.real()[i] *= 1.0000001;
  serial.backward(box);
  EXPECT_TRUE(same_bits(cells_of(box), real)) << dim << "D N = " << n;
}

INSTANTIATE_TEST_SUITE_P(Shapes, SerialPlans,
                         ::testing::Values(std::pair{2, 2}, std::pair{2, 5}, std::pair{2, 64}, std::pair{2, 256},
                                           std::pair{2, 250}, std::pair{3, 2}, std::pair{3, 7}, std::pair{3, 16},
                                           std::pair{3, 30}));

TEST(SerialPlans, geometry_is_the_one_rank_slab) {
  const plx::communicator self = plx::communicator::duplicate_of(MPI_COMM_SELF);
  for (const int dim : {2, 3}) {
    for (const std::ptrdiff_t n : {2, 5, 16, 33}) {
      const fft::slab_geometry a = fft::serial_slab_geometry(dim, n);
      const fft::slab_geometry b = fft::make_slab_geometry(self, dim, n);
      EXPECT_EQ(a.real_start, b.real_start);
      EXPECT_EQ(a.real_count, b.real_count);
      EXPECT_EQ(a.fourier_start, b.fourier_start);
      EXPECT_EQ(a.fourier_count, b.fourier_count);
      EXPECT_EQ(a.alloc_complex, b.alloc_complex) << dim << "D N = " << n;
    }
  }
}

struct agreement_case {
  const char* name;
  int dim;
  std::ptrdiff_t n;
  double box;
  const char* spectrum;
  const char* normalisation;
  std::vector<double> times;
};

class Realization : public ::testing::TestWithParam<agreement_case> {};

// plx-cosmo (run_pipeline on this test's ranks) for seeds 40 and 41 against a realization of each.
TEST_P(Realization, is_bitwise_plx_cosmo_for_its_seed) {
  const agreement_case& c = GetParam();
  cosmo::pipeline_params p;
  p.dim = c.dim;
  p.n = c.n;
  p.box = c.box;
  p.spectrum.model = c.spectrum;
  p.normalisation = c.normalisation;
  p.times = c.times;
  p.force = true;
  const cosmo::realization_maker maker(p);
  for (const std::uint64_t seed : {40u, 41u}) {
    p.seed = seed;
    // temp_path names files after the test, whose parametrised name has a '/': a flat name instead.
    std::string out = ::testing::TempDir() + "/plx_realization_test." + std::to_string(::getpid()) + "." + c.name +
                      "." + std::to_string(seed) + ".h5";
    plx::detail::broadcast_from_root(rt().world(), out);
    p.out = out;
    (void)cosmo::run_pipeline(rt().world(), p, {"test", 1}, {.stages = false});
    if (!rt().is_root()) continue;
    const plx::io::h5_file file = plx::io::h5_file::open_read(plx::communicator::duplicate_of(MPI_COMM_SELF), out);
    std::vector<std::vector<double>> frames;
    const cosmo::realization_spectra r =
        maker.run(seed, [&](std::size_t, const fft::field& f) { frames.push_back(cells_of(f)); });
    EXPECT_TRUE(same_bits(r.power, plx::io::read_all(file, "/power_spectrum/power"))) << c.name << " seed " << seed;
    EXPECT_TRUE(same_bits(maker.k(), plx::io::read_all(file, "/power_spectrum/k")));
    EXPECT_TRUE(same_bits(maker.modes(), plx::io::read_all(file, "/power_spectrum/modes")));
    EXPECT_EQ(frames.size(), c.times.size());
    for (std::size_t i = 0; i < frames.size() && i < c.times.size(); ++i) {
      const std::string frame = "/frames/00" + std::to_string(i) + "/density";
      EXPECT_TRUE(same_bits(frames[i], plx::io::read_all(file, frame))) << c.name << " seed " << seed << " " << frame;
    }
    EXPECT_EQ(r.power_evolved.size(), c.times.size() * maker.bins());
    if (std::string(c.normalisation) != "unit-variance") {
      EXPECT_TRUE(same_bits(maker.input(), plx::io::read_all(file, "/power_spectrum/input")));
    }
    std::filesystem::remove(out);
    std::filesystem::remove(plx::io::xdmf_path_for(out));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, Realization,
    ::testing::Values(agreement_case{"workshop_2d", 2, 64, 50.0, "workshop", "unit-variance", {0.0, 1.5}},
                      agreement_case{"powerlaw_3d", 3, 12, 30.0, "powerlaw", "none", {0.5, 2.0}},
                      agreement_case{"lcdm_3d_odd", 3, 9, 100.0, "eisenstein-hu", "sigma8", {1.0}}),
    [](const auto& test) { return std::string(test.param.name); });

TEST(Realization, runs_on_many_threads_at_once_without_mpi) {
  cosmo::pipeline_params p;
  p.dim = 3;
  p.n = 16;
  p.times = {0.5, 1.0};
  const cosmo::realization_maker maker(p);
  constexpr int count = 6;
  std::vector<cosmo::realization_spectra> one_by_one;
  for (int i = 0; i < count; ++i) one_by_one.push_back(maker.run(100 + static_cast<std::uint64_t>(i)));
  std::vector<cosmo::realization_spectra> together(count);
  const long before = mpi_calls.load();
#pragma omp parallel for num_threads(3) schedule(dynamic, 1)
  for (int i = 0; i < count; ++i) together[static_cast<std::size_t>(i)] = maker.run(100 + static_cast<std::uint64_t>(i));
  const long during = mpi_calls.load() - before;
  EXPECT_EQ(during, 0) << "a realization called MPI";
  rt().world().barrier();  // and the counting works
  EXPECT_GT(mpi_calls.load() - before, 0);
  for (int i = 0; i < count; ++i) {
    EXPECT_TRUE(same_bits(together[static_cast<std::size_t>(i)].power, one_by_one[static_cast<std::size_t>(i)].power));
    EXPECT_TRUE(same_bits(together[static_cast<std::size_t>(i)].power_evolved,
                          one_by_one[static_cast<std::size_t>(i)].power_evolved));
  }
}

TEST(Realization, refuses_bad_parameters_before_any_work) {
  cosmo::pipeline_params p;
  p.n = 1;
  const std::string message = plx::testing_support::message_of([&] { const cosmo::realization_maker maker(p); });
  EXPECT_NE(message.find("--n must be at least 2"), std::string::npos) << message;
}

}  // namespace
