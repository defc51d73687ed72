// Packing one task result into the bytes of an HDF5 row (detail::h5_pack_values), without MPI or a file.
#include <parallax/dist/h5_row.hpp>

#include <array>
#include <vector>

#include <Eigen/Dense>
#include <gtest/gtest.h>

namespace {

using plx::detail::h5_pack_values;

// An empty result packs nothing. Its data() and the store's space for it may both be null (an empty Eigen
// object, and the first empty ragged row of a store that holds no bytes yet): memcpy(nullptr, nullptr, 0) is
// undefined behaviour, which the asan preset's UBSan reports, so packing must not call it at all.
TEST(H5Row, empty_results_pack_nothing_even_from_and_to_null_pointers) {
  const Eigen::VectorXd vector;
  const Eigen::MatrixXf matrix;
  const std::vector<double> values;
  ASSERT_EQ(vector.data(), nullptr);
  h5_pack_values(vector, nullptr);
  h5_pack_values(matrix, nullptr);
  h5_pack_values(values, nullptr);
  h5_pack_values(Eigen::RowVectorXi(0), nullptr);
}

TEST(H5Row, runtime_sized_results_pack_row_major) {
  Eigen::MatrixXd matrix(2, 3);  // column-major in memory
  matrix << 1, 2, 3, 4, 5, 6;
  std::array<double, 6> out{};
  h5_pack_values(matrix, reinterpret_cast<char*>(out.data()));
  EXPECT_EQ(out, (std::array<double, 6>{1, 2, 3, 4, 5, 6}));

  const Eigen::VectorXd vector = Eigen::VectorXd::LinSpaced(3, 7, 9);
  std::array<double, 3> three{};
  h5_pack_values(vector, reinterpret_cast<char*>(three.data()));
  EXPECT_EQ(three, (std::array<double, 3>{7, 8, 9}));

  const std::vector<float> values{1.5F, -2.5F};
  std::array<float, 2> two{};
  h5_pack_values(values, reinterpret_cast<char*>(two.data()));
  EXPECT_EQ(two, (std::array<float, 2>{1.5F, -2.5F}));
}

}  // namespace
