/// @file
/// CRC-32 (IEEE 802.3 / zlib, reflected polynomial 0xedb88320): the checksum of parallax's durable records
/// (task-farm journal, map checkpoints), so a torn or corrupted record is recognised. The same value as
/// zlib's crc32() and Python's zlib.crc32; zlib itself is not linked for 20 lines.
#pragma once

#include <cstdint>
#include <string_view>

namespace plx {

/// CRC-32 of `bytes`, continuing from `previous` (the CRC of the bytes before, 0 to start).
[[nodiscard]] std::uint32_t crc32(std::string_view bytes, std::uint32_t previous = 0);

}  // namespace plx
