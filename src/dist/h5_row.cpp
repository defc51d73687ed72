#include <parallax/dist/h5_row.hpp>

#include <fmt/format.h>

#include <parallax/core/error.hpp>

namespace plx::detail {

namespace {

io::h5_id owned_type(hid_t id, const char* call) {
  if (id < 0) throw io_error(std::string("map_to_h5: ") + call + " failed to make an HDF5 datatype");
  return io::h5_id(id, io::h5_kind::datatype);
}

}  // namespace

h5_layout::h5_layout(const h5_layout& other)
    : type(other.type ? owned_type(H5Tcopy(other.type.get()), "H5Tcopy") : io::h5_id()),
      dims(other.dims),
      bytes(other.bytes),
      runtime_sized(other.runtime_sized) {}

h5_layout& h5_layout::operator=(const h5_layout& other) {
  if (this != &other) *this = h5_layout(other);
  return *this;
}

hid_t h5_native(h5_scalar kind) noexcept {
  switch (kind) {
    case h5_scalar::i8: return H5T_NATIVE_INT8;
    case h5_scalar::u8: return H5T_NATIVE_UINT8;
    case h5_scalar::i16: return H5T_NATIVE_INT16;
    case h5_scalar::u16: return H5T_NATIVE_UINT16;
    case h5_scalar::i32: return H5T_NATIVE_INT32;
    case h5_scalar::u32: return H5T_NATIVE_UINT32;
    case h5_scalar::i64: return H5T_NATIVE_INT64;
    case h5_scalar::u64: return H5T_NATIVE_UINT64;
    case h5_scalar::f32: return H5T_NATIVE_FLOAT;
    case h5_scalar::f64: return H5T_NATIVE_DOUBLE;
  }
  return H5I_INVALID_HID;
}

h5_layout h5_scalar_layout(h5_scalar kind) {
  h5_layout l;
  l.type = owned_type(H5Tcopy(h5_native(kind)), "H5Tcopy");
  l.bytes = H5Tget_size(l.type.get());
  return l;
}

io::h5_id h5_array_type(hid_t base, const std::vector<hsize_t>& dims) {
  return owned_type(H5Tarray_create2(base, static_cast<unsigned>(dims.size()), dims.data()), "H5Tarray_create2");
}

io::h5_id h5_compound_type(std::size_t bytes) {
  return owned_type(H5Tcreate(H5T_COMPOUND, bytes), "H5Tcreate");
}

void h5_insert_field(const io::h5_id& compound, const char* name, std::size_t offset, const h5_layout& field) {
  herr_t status = 0;
  if (field.dims.empty()) {
    status = H5Tinsert(compound.get(), name, offset, field.type.get());
  } else {
    const io::h5_id array = h5_array_type(field.type.get(), field.dims);
    status = H5Tinsert(compound.get(), name, offset, array.get());
  }
  if (status < 0) throw io_error(fmt::format("map_to_h5: cannot add the field '{}' to an HDF5 compound type", name));
}

std::string h5_describe(hid_t type, const std::vector<hsize_t>& dims) {
  std::string text;
  switch (H5Tget_class(type)) {
    case H5T_INTEGER:
      text = fmt::format("{}int{}", H5Tget_sign(type) == H5T_SGN_NONE ? "u" : "", 8 * H5Tget_size(type));
      break;
    case H5T_FLOAT:
      text = fmt::format("float{}", 8 * H5Tget_size(type));
      break;
    case H5T_ARRAY: {
      const int rank = H5Tget_array_ndims(type);
      std::vector<hsize_t> inner(static_cast<std::size_t>(rank > 0 ? rank : 0));
      if (rank > 0) H5Tget_array_dims2(type, inner.data());
      const io::h5_id base(H5Tget_super(type), io::h5_kind::datatype);
      text = h5_describe(base.get(), inner);
      break;
    }
    case H5T_COMPOUND: {
      text.push_back('{');  // (text = "{" trips a false -Wrestrict in g++ 12)
      const int members = H5Tget_nmembers(type);
      for (int m = 0; m < members; ++m) {
        char* name = H5Tget_member_name(type, static_cast<unsigned>(m));
        const io::h5_id member(H5Tget_member_type(type, static_cast<unsigned>(m)), io::h5_kind::datatype);
        text += fmt::format("{}{}:{}", m ? "," : "", name ? name : "?", h5_describe(member.get(), {}));
        H5free_memory(name);
      }
      text += "}";
      break;
    }
    default:
      text = "other";
  }
  for (const hsize_t d : dims) text += fmt::format("[{}]", d);
  return text;
}

}  // namespace plx::detail
