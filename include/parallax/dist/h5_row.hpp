/// @file
/// How one task result becomes one row of an HDF5 dataset (see map_to_h5.hpp).
///
/// Fixed-shape results, one row each, the dataset is n x (shape of the type):
///   - arithmetic types (not bool): a scalar row, dataset shape (n);
///   - std::array<E, N> of those (nested arrays too): shape (n, N, ...);
///   - fixed-size Eigen vectors and matrices: (n, rows) for a vector, (n, rows, cols) for a matrix, stored
///     row-major as numpy expects (Eigen's column-major storage is transposed on the way);
///   - trivially copyable structs, written as an HDF5 compound type whose fields the user names once, in the
///     struct's namespace:
///
///       struct sample { double x; float y; std::int32_t id; std::array<double, 3> v; };
///       PLX_H5_FIELDS(sample, x, y, id, v)        // h5py: f["/samples"]["x"], f["/samples"][7]["v"]
///
///     Fields may be arithmetic, std::array of arithmetic, fixed-size Eigen vectors, or structs with fields
///     of their own.
/// Runtime-sized results (std::vector<E> with E one of the fixed types above, dynamic-size Eigen vectors and
/// matrices): either every row has the same shape, given with the column (h5_column::row_shape, e.g.
/// {times, bins} for a vector of times*bins values, stored as an n x times x bins dataset), or rows are
/// ragged and stored the way h5py users know from CSR matrices (see map_to_h5.hpp).
///
/// Rows are written as raw bytes at the dataset's address, so the file's datatype is the machine's native
/// one (little-endian on x86-64 and ARM64; HDF5 converts on reading elsewhere).
#pragma once

#include <hdf5.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include <Eigen/Core>

#include <parallax/dist/payload.hpp>
#include <parallax/io/hdf5_file.hpp>

namespace plx {

/// One named field of a compound row type (what PLX_H5_FIELDS writes for each name).
template <class Struct, class Member>
struct h5_field {
  const char* name;        ///< the compound member's name in the file
  Member Struct::*member;  ///< the struct's member it holds
};

namespace detail {

/// Scalar types parallax stores, and the HDF5 native type of each.
enum class h5_scalar { i8, u8, i16, u16, i32, u32, i64, u64, f32, f64 };
hid_t h5_native(h5_scalar kind) noexcept;

template <class T>
concept h5_arithmetic = std::is_arithmetic_v<T> && !std::is_same_v<T, bool>;

template <h5_arithmetic T>
constexpr h5_scalar h5_scalar_of() {
  if constexpr (std::is_floating_point_v<T>) {
    static_assert(sizeof(T) == 4 || sizeof(T) == 8, "plx: only float and double are stored as HDF5 floats");
    return sizeof(T) == 4 ? h5_scalar::f32 : h5_scalar::f64;
  } else if constexpr (std::is_signed_v<T>) {
    return sizeof(T) == 1 ? h5_scalar::i8 : sizeof(T) == 2 ? h5_scalar::i16 : sizeof(T) == 4 ? h5_scalar::i32 : h5_scalar::i64;
  } else {
    return sizeof(T) == 1 ? h5_scalar::u8 : sizeof(T) == 2 ? h5_scalar::u16 : sizeof(T) == 4 ? h5_scalar::u32 : h5_scalar::u64;
  }
}

template <class T>
concept h5_compound = std::is_class_v<T> && requires(const T* p) { plx_h5_fields(p); };

template <class T>
concept h5_fixed_eigen = eigen_dense<T> && T::SizeAtCompileTime != Eigen::Dynamic && h5_arithmetic<typename T::Scalar>;
template <class T>
concept h5_dynamic_eigen = eigen_dense<T> && T::SizeAtCompileTime == Eigen::Dynamic && h5_arithmetic<typename T::Scalar>;

/// True for the fixed-shape row types listed at the top.
template <class T>
constexpr bool h5_fixed_row() {
  if constexpr (h5_arithmetic<T> || h5_fixed_eigen<T>) {
    return true;
  } else if constexpr (h5_compound<T>) {
    return std::is_trivially_copyable_v<T> && std::is_default_constructible_v<T>;
  } else if constexpr (is_std_array_v<T>) {
    return h5_fixed_row<typename T::value_type>() && !h5_fixed_eigen<typename T::value_type>;
  } else {
    return false;
  }
}

/// True for the runtime-sized row types listed at the top.
template <class T>
constexpr bool h5_runtime_row() {
  if constexpr (h5_dynamic_eigen<T>) {
    return true;
  } else if constexpr (is_specialization_v<T, std::vector>) {
    return h5_fixed_row<typename T::value_type>() && !h5_fixed_eigen<typename T::value_type>;
  } else {
    return false;
  }
}

/// The layout of one row type: its element datatype (scalar or compound, an owned copy) and the dims
/// of one row (fixed types) or of one value (runtime-sized types: the dims a value adds after the row's
/// own axes), and the bytes those take.
struct h5_layout {
  io::h5_id type;
  std::vector<hsize_t> dims;
  std::size_t bytes = 0;
  bool runtime_sized = false;

  h5_layout() = default;
  /// A copy owns a copy of the datatype (H5Tcopy).
  h5_layout(const h5_layout& other);
  h5_layout& operator=(const h5_layout& other);
  h5_layout(h5_layout&&) noexcept = default;
  h5_layout& operator=(h5_layout&&) noexcept = default;
  ~h5_layout() = default;
};

h5_layout h5_scalar_layout(h5_scalar kind);
/// An array datatype of `base` with `dims` (for a compound's array fields).
io::h5_id h5_array_type(hid_t base, const std::vector<hsize_t>& dims);
/// An empty compound datatype of `bytes` bytes, and the insertion of one field.
io::h5_id h5_compound_type(std::size_t bytes);
void h5_insert_field(const io::h5_id& compound, const char* name, std::size_t offset, const h5_layout& field);
/// A short readable text of a datatype and dims ("float64[3]", "{x:float64,id:int32}"), for resume checks.
std::string h5_describe(hid_t type, const std::vector<hsize_t>& dims);

template <class T>
h5_layout h5_layout_of();

template <class Struct, class Member>
void h5_add_field(const io::h5_id& compound, const Struct& probe, const h5_field<Struct, Member>& field) {
  static_assert(h5_fixed_row<Member>(),
                "PLX_H5_FIELDS: a field must be arithmetic, a std::array of those, a fixed-size Eigen vector or a "
                "struct with PLX_H5_FIELDS of its own");
  if constexpr (h5_fixed_eigen<Member>) {
    static_assert(Member::RowsAtCompileTime == 1 || Member::ColsAtCompileTime == 1,
                  "PLX_H5_FIELDS: an Eigen field must be a vector (a matrix is stored column-major in memory)");
  }
  const auto offset = static_cast<std::size_t>(reinterpret_cast<const char*>(&(probe.*field.member)) -
                                               reinterpret_cast<const char*>(&probe));
  h5_insert_field(compound, field.name, offset, h5_layout_of<Member>());
}

template <class T>
h5_layout h5_layout_of() {
  if constexpr (h5_arithmetic<T>) {
    return h5_scalar_layout(h5_scalar_of<T>());
  } else if constexpr (h5_fixed_eigen<T>) {
    h5_layout l = h5_scalar_layout(h5_scalar_of<typename T::Scalar>());
    if (T::RowsAtCompileTime != 1 && T::ColsAtCompileTime != 1) {
      l.dims = {static_cast<hsize_t>(T::RowsAtCompileTime), static_cast<hsize_t>(T::ColsAtCompileTime)};
    } else {
      l.dims = {static_cast<hsize_t>(T::SizeAtCompileTime)};
    }
    l.bytes = sizeof(typename T::Scalar) * static_cast<std::size_t>(T::SizeAtCompileTime);
    return l;
  } else if constexpr (h5_dynamic_eigen<T>) {
    h5_layout l = h5_scalar_layout(h5_scalar_of<typename T::Scalar>());
    l.runtime_sized = true;
    return l;
  } else if constexpr (is_std_array_v<T>) {
    h5_layout l = h5_layout_of<typename T::value_type>();
    l.dims.insert(l.dims.begin(), static_cast<hsize_t>(std::tuple_size_v<T>));
    l.bytes *= std::tuple_size_v<T>;
    return l;
  } else if constexpr (is_specialization_v<T, std::vector>) {
    h5_layout l = h5_layout_of<typename T::value_type>();
    l.runtime_sized = true;
    return l;
  } else {
    static_assert(h5_compound<T>, "plx: this type has no HDF5 row layout (see <parallax/dist/h5_row.hpp>)");
    static_assert(std::is_trivially_copyable_v<T>, "PLX_H5_FIELDS: the struct must be trivially copyable");
    h5_layout l;
    l.type = h5_compound_type(sizeof(T));
    const T probe{};
    std::apply([&](const auto&... field) { (h5_add_field(l.type, probe, field), ...); },
               plx_h5_fields(static_cast<const T*>(nullptr)));
    l.bytes = sizeof(T);
    return l;
  }
}

/// Number of values in a runtime-sized result.
template <class T>
std::size_t h5_value_count(const T& v) {
  return static_cast<std::size_t>(v.size());
}

/// Writes a fixed-shape row's bytes to `out` (h5_layout_of<T>().bytes of them).
template <class T>
void h5_pack_fixed(const T& v, char* out) {
  if constexpr (h5_fixed_eigen<T>) {
    using row_major = Eigen::Matrix<typename T::Scalar, T::RowsAtCompileTime, T::ColsAtCompileTime,
                                    T::ColsAtCompileTime == 1 ? Eigen::ColMajor : Eigen::RowMajor>;
    Eigen::Map<row_major>(reinterpret_cast<typename T::Scalar*>(out)) = v;
  } else {
    static_assert(std::is_trivially_copyable_v<T>);
    std::memcpy(out, &v, sizeof(T));
  }
}

/// Writes a runtime-sized result's values to `out` (count * value bytes), row-major for matrices.
template <class T>
void h5_pack_values(const T& v, char* out) {
  // An empty result has nothing to copy, and both pointers may be null (an empty Eigen object's data(), and
  // `out` for an empty ragged row in a store that holds no bytes yet): memcpy with a null pointer is
  // undefined behaviour even for zero bytes.
  if (h5_value_count(v) == 0) return;
  if constexpr (h5_dynamic_eigen<T>) {
    using S = typename T::Scalar;
    if (v.rows() == 1 || v.cols() == 1) {
      std::memcpy(out, v.data(), sizeof(S) * static_cast<std::size_t>(v.size()));
    } else {
      Eigen::Map<Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(reinterpret_cast<S*>(out),
                                                                                     v.rows(), v.cols()) = v;
    }
  } else {
    std::memcpy(out, v.data(), sizeof(typename T::value_type) * v.size());
  }
}

}  // namespace detail
}  // namespace plx

// Implementation of PLX_H5_FIELDS: a for-each over the field names (the __VA_OPT__ recursion idiom; up
// to 256 fields).
#define PLX_DETAIL_H5_PARENS ()
#define PLX_DETAIL_H5_EXPAND(...) PLX_DETAIL_H5_EXPAND3(PLX_DETAIL_H5_EXPAND3(PLX_DETAIL_H5_EXPAND3(PLX_DETAIL_H5_EXPAND3(__VA_ARGS__))))
#define PLX_DETAIL_H5_EXPAND3(...) PLX_DETAIL_H5_EXPAND2(PLX_DETAIL_H5_EXPAND2(PLX_DETAIL_H5_EXPAND2(PLX_DETAIL_H5_EXPAND2(__VA_ARGS__))))
#define PLX_DETAIL_H5_EXPAND2(...) PLX_DETAIL_H5_EXPAND1(PLX_DETAIL_H5_EXPAND1(PLX_DETAIL_H5_EXPAND1(PLX_DETAIL_H5_EXPAND1(__VA_ARGS__))))
#define PLX_DETAIL_H5_EXPAND1(...) __VA_ARGS__
#define PLX_DETAIL_H5_FOR_EACH(macro, ...) __VA_OPT__(PLX_DETAIL_H5_EXPAND(PLX_DETAIL_H5_FOR_EACH_STEP(macro, __VA_ARGS__)))
#define PLX_DETAIL_H5_FOR_EACH_STEP(macro, first, ...) \
  macro(first) __VA_OPT__(, PLX_DETAIL_H5_FOR_EACH_AGAIN PLX_DETAIL_H5_PARENS(macro, __VA_ARGS__))
#define PLX_DETAIL_H5_FOR_EACH_AGAIN() PLX_DETAIL_H5_FOR_EACH_STEP
#define PLX_DETAIL_H5_FIELD(name) ::plx::h5_field<plx_h5_self, decltype(plx_h5_self::name)>{#name, &plx_h5_self::name}

/// Names the fields of a trivially copyable struct once, so that map_to_h5 stores it as an HDF5 compound
/// (h5py reads it as a numpy structured array). Write it in the struct's own namespace, after the struct:
///   PLX_H5_FIELDS(sample, x, y, id)
#define PLX_H5_FIELDS(Type, ...)                                                       \
  [[maybe_unused]] inline auto plx_h5_fields(const Type*) {                           \
    using plx_h5_self = Type;                                                          \
    return std::make_tuple(PLX_DETAIL_H5_FOR_EACH(PLX_DETAIL_H5_FIELD, __VA_ARGS__)); \
  }
