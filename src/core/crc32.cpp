#include <parallax/core/crc32.hpp>

#include <array>

namespace plx {

namespace {
constexpr std::array<std::uint32_t, 256> crc_table = [] {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t n = 0; n < 256; ++n) {
    std::uint32_t c = n;
    for (int bit = 0; bit < 8; ++bit) c = (c & 1U) != 0 ? 0xedb88320U ^ (c >> 1U) : c >> 1U;
    table[n] = c;
  }
  return table;
}();
}  // namespace

std::uint32_t crc32(std::string_view bytes, std::uint32_t previous) {
  std::uint32_t c = previous ^ 0xffffffffU;
  for (const char ch : bytes) c = crc_table[(c ^ static_cast<unsigned char>(ch)) & 0xffU] ^ (c >> 8U);
  return c ^ 0xffffffffU;
}

}  // namespace plx
