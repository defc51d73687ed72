/// @file
/// Payloads: the values that travel between ranks (map inputs, results, reduction values).
///
/// A payload is one of
///   - an arithmetic or enum type, or a trivially copyable class (sent as its bytes);
///   - std::string, std::complex;
///   - std::vector, std::array, std::pair, std::tuple, std::optional, std::variant of payloads;
///   - a dense Eigen matrix or array (Eigen::Matrix, Eigen::Array, fixed or dynamic size);
///   - a class with a cereal `serialize` (or `save`/`load`) function.
/// Encoding is cereal's portable binary archive; parallax only teaches cereal the first and fourth
/// kinds. Pointers are not payloads (an address means nothing on another rank), and neither is a
/// trivially copyable class that holds one: parallax cannot see inside it, so that is on the user.
/// Using any other type is a compile-time error that names the type and this list.
#pragma once

#include <array>
#include <complex>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <Eigen/Core>
#include <cereal/archives/binary.hpp>
#include <cereal/types/array.hpp>
#include <cereal/types/complex.hpp>
#include <cereal/types/optional.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/tuple.hpp>
#include <cereal/types/utility.hpp>
#include <cereal/types/variant.hpp>
#include <cereal/types/vector.hpp>

#include <parallax/core/error.hpp>
#include <parallax/dist/detail/byte_stream.hpp>

namespace plx {

namespace detail {

template <class T, template <class...> class Template>
inline constexpr bool is_specialization_v = false;
template <template <class...> class Template, class... Args>
inline constexpr bool is_specialization_v<Template<Args...>, Template> = true;

template <class T>
inline constexpr bool is_std_array_v = false;
template <class T, std::size_t N>
inline constexpr bool is_std_array_v<std::array<T, N>> = true;

template <class T>
concept eigen_dense = std::is_base_of_v<Eigen::PlainObjectBase<std::remove_cv_t<T>>, std::remove_cv_t<T>> &&
                      std::is_trivially_copyable_v<typename T::Scalar>;

template <class T>
concept cereal_aware = cereal::traits::has_member_serialize<T, cereal::BinaryOutputArchive>::value ||
                       cereal::traits::has_member_save<T, cereal::BinaryOutputArchive>::value ||
                       cereal::traits::has_non_member_serialize<T, cereal::BinaryOutputArchive>::value;

/// Standard templates cereal already knows; they must not also match the raw-bytes rule.
template <class T>
inline constexpr bool is_cereal_std_v =
    is_specialization_v<T, std::pair> || is_specialization_v<T, std::tuple> ||
    is_specialization_v<T, std::optional> || is_specialization_v<T, std::variant> ||
    is_specialization_v<T, std::complex> || is_specialization_v<T, std::vector> ||
    is_specialization_v<T, std::basic_string> || is_std_array_v<T>;

/// A user's trivially copyable class without its own cereal functions: sent as raw bytes.
template <class T>
concept raw_bytes_class = std::is_class_v<T> && std::is_trivially_copyable_v<T> && !is_cereal_std_v<T> &&
                          !eigen_dense<T> && !cereal_aware<T>;

template <class T>
constexpr bool payload_check();

template <class Tuple, std::size_t... I>
constexpr bool all_payloads(std::index_sequence<I...>) {
  return (payload_check<std::tuple_element_t<I, Tuple>>() && ...);
}
template <class Variant, std::size_t... I>
constexpr bool all_alternatives(std::index_sequence<I...>) {
  return (payload_check<std::variant_alternative_t<I, Variant>>() && ...);
}

template <class T>
constexpr bool payload_check() {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_pointer_v<U> || std::is_member_pointer_v<U> || std::is_reference_v<T>) {
    return false;
  } else if constexpr (std::is_arithmetic_v<U> || std::is_enum_v<U>) {
    return true;
  } else if constexpr (is_specialization_v<U, std::basic_string>) {
    return std::is_same_v<U, std::string>;
  } else if constexpr (is_specialization_v<U, std::vector>) {
    return payload_check<typename U::value_type>();
  } else if constexpr (is_std_array_v<U>) {
    return payload_check<typename U::value_type>();
  } else if constexpr (is_specialization_v<U, std::pair>) {
    return payload_check<typename U::first_type>() && payload_check<typename U::second_type>();
  } else if constexpr (is_specialization_v<U, std::tuple>) {
    return all_payloads<U>(std::make_index_sequence<std::tuple_size_v<U>>{});
  } else if constexpr (is_specialization_v<U, std::optional>) {
    return payload_check<typename U::value_type>();
  } else if constexpr (is_specialization_v<U, std::variant>) {
    return all_alternatives<U>(std::make_index_sequence<std::variant_size_v<U>>{});
  } else if constexpr (is_specialization_v<U, std::complex>) {
    return std::is_arithmetic_v<typename U::value_type>;
  } else if constexpr (eigen_dense<U>) {
    return true;
  } else if constexpr (cereal_aware<U>) {
    return true;
  } else {
    return std::is_trivially_copyable_v<U> && std::is_class_v<U>;
  }
}

}  // namespace detail

/// A type that can travel between ranks (see the list at the top of this header).
template <class T>
concept payload = detail::payload_check<T>();

namespace detail {

/// Appends the cereal encoding of `value` to `out`.
template <class T>
void encode_into(std::vector<char>& out, const T& value) {
  vector_writer_buf buffer(out);
  std::ostream stream(&buffer);
  cereal::BinaryOutputArchive archive(stream);
  archive(value);
}

/// Decodes one T from `bytes`; throws plx::error if they do not hold a whole T.
template <class T>
T decode_from(std::span<const char> bytes) {
  span_reader_buf buffer(bytes);
  std::istream stream(&buffer);
  cereal::BinaryInputArchive archive(stream);
  T value{};
  try {
    archive(value);
  } catch (const cereal::Exception& e) {
    throw error(std::string("parallax: corrupt payload: ") + e.what());
  }
  return value;
}

}  // namespace detail
}  // namespace plx

// Teaching cereal two kinds of payload. Non-member save/load in namespace cereal are found through the
// archive's namespace, which is how cereal documents support for types one does not own.
namespace cereal {

template <class T>
  requires plx::detail::raw_bytes_class<T>
void CEREAL_SAVE_FUNCTION_NAME(BinaryOutputArchive& archive, const T& value) {
  archive(binary_data(&value, sizeof(T)));
}
template <class T>
  requires plx::detail::raw_bytes_class<T>
void CEREAL_LOAD_FUNCTION_NAME(BinaryInputArchive& archive, T& value) {
  archive(binary_data(&value, sizeof(T)));
}

template <class M>
  requires plx::detail::eigen_dense<M>
void CEREAL_SAVE_FUNCTION_NAME(BinaryOutputArchive& archive, const M& matrix) {
  archive(static_cast<std::int64_t>(matrix.rows()), static_cast<std::int64_t>(matrix.cols()));
  archive(binary_data(matrix.data(), static_cast<std::size_t>(matrix.size()) * sizeof(typename M::Scalar)));
}
template <class M>
  requires plx::detail::eigen_dense<M>
void CEREAL_LOAD_FUNCTION_NAME(BinaryInputArchive& archive, M& matrix) {
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  archive(rows, cols);
  const bool fits = (M::RowsAtCompileTime == Eigen::Dynamic || M::RowsAtCompileTime == rows) &&
                    (M::ColsAtCompileTime == Eigen::Dynamic || M::ColsAtCompileTime == cols) && rows >= 0 &&
                    cols >= 0;
  if (!fits) {
    throw plx::error("parallax: received a " + std::to_string(rows) + "x" + std::to_string(cols) +
                     " Eigen matrix for a type of another fixed size");
  }
  matrix.resize(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
  archive(binary_data(matrix.data(), static_cast<std::size_t>(matrix.size()) * sizeof(typename M::Scalar)));
}

}  // namespace cereal
