#include <parallax/dist/payload.hpp>

#include <array>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include <Eigen/Dense>
#include <gtest/gtest.h>

namespace {

struct particle {  // a user's trivially copyable struct: sent as bytes
  double x, y, z;
  int id;
  friend bool operator==(const particle&, const particle&) = default;
};

struct with_cereal {  // a user's type with its own cereal function
  std::string name;
  std::vector<int> values;
  template <class Archive>
  void serialize(Archive& archive) {
    archive(name, values);
  }
  friend bool operator==(const with_cereal&, const with_cereal&) = default;
};

struct not_sendable {
  std::map<int, int> lookup;  // std::map is not a payload
};

// The compile-time contract.
static_assert(plx::payload<int>);
static_assert(plx::payload<particle>);
static_assert(plx::payload<std::string>);
static_assert(plx::payload<std::vector<particle>>);
static_assert(plx::payload<std::array<double, 3>>);
static_assert(plx::payload<std::pair<int, std::string>>);
static_assert(plx::payload<std::tuple<int, double, std::vector<std::string>>>);
static_assert(plx::payload<std::optional<std::vector<double>>>);
static_assert(plx::payload<std::variant<int, std::string>>);
static_assert(plx::payload<Eigen::MatrixXd>);
static_assert(plx::payload<Eigen::Vector3d>);
static_assert(plx::payload<with_cereal>);
static_assert(!plx::payload<int*>);
static_assert(!plx::payload<std::unique_ptr<int>>);
static_assert(!plx::payload<not_sendable>);
static_assert(!plx::payload<std::vector<const char*>>);

template <class T>
T round_trip(const T& value) {
  std::vector<char> bytes;
  plx::detail::encode_into(bytes, value);
  return plx::detail::decode_from<T>(bytes);
}

TEST(Payload, scalars_and_trivially_copyable_structs_round_trip) {
  EXPECT_EQ(round_trip(42), 42);
  EXPECT_EQ(round_trip(2.5), 2.5);
  const particle p{1.0, 2.0, 3.0, 7};
  EXPECT_EQ(round_trip(p), p);
  const std::vector<particle> ps = {p, {4, 5, 6, 8}};
  EXPECT_EQ(round_trip(ps), ps);
}

TEST(Payload, standard_containers_round_trip) {
  const std::tuple<int, std::string, std::vector<double>> t{3, "three", {1.5, 2.5}};
  EXPECT_EQ(round_trip(t), t);
  const std::optional<std::string> none;
  EXPECT_EQ(round_trip(none), none);
  const std::variant<int, std::string> v = std::string("text");
  EXPECT_EQ(round_trip(v), v);
  const std::array<std::pair<int, float>, 2> a = {{{1, 1.5F}, {2, 2.5F}}};
  EXPECT_EQ(round_trip(a), a);
}

TEST(Payload, eigen_matrices_round_trip_with_their_shape) {
  Eigen::MatrixXd m(3, 2);
  m << 1, 2, 3, 4, 5, 6;
  EXPECT_EQ(round_trip(m), m);
  const Eigen::Vector3d v(1, 2, 3);
  EXPECT_EQ(round_trip(v), v);
  const Eigen::ArrayXXf empty(0, 4);
  EXPECT_EQ(round_trip(empty).cols(), 4);
}

TEST(Payload, fixed_size_eigen_refuses_another_shape) {
  std::vector<char> bytes;
  plx::detail::encode_into(bytes, Eigen::MatrixXd::Zero(2, 2).eval());
  EXPECT_THROW((void)plx::detail::decode_from<Eigen::Vector3d>(bytes), plx::error);
}

TEST(Payload, user_cereal_types_round_trip) {
  const with_cereal w{"name", {1, 2, 3}};
  EXPECT_EQ(round_trip(w), w);
}

TEST(Payload, truncated_bytes_are_an_error_not_garbage) {
  std::vector<char> bytes;
  plx::detail::encode_into(bytes, std::string("a long enough string"));
  bytes.resize(bytes.size() / 2);
  EXPECT_THROW((void)plx::detail::decode_from<std::string>(bytes), plx::error);
}

}  // namespace
