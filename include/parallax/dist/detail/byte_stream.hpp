// std::streambuf adapters so cereal's binary archives write into a growing byte vector and read from a
// received buffer without the copies std::stringstream would make.
#pragma once

#include <cstddef>
#include <span>
#include <streambuf>
#include <vector>

namespace plx::detail {

/// Appends everything written to `out`.
class vector_writer_buf final : public std::streambuf {
 public:
  explicit vector_writer_buf(std::vector<char>& out) : out_(out) {}

 protected:
  int_type overflow(int_type ch) override {
    if (!traits_type::eq_int_type(ch, traits_type::eof())) out_.push_back(traits_type::to_char_type(ch));
    return traits_type::not_eof(ch);
  }
  std::streamsize xsputn(const char* data, std::streamsize count) override {
    out_.insert(out_.end(), data, data + count);
    return count;
  }

 private:
  std::vector<char>& out_;
};

/// Reads from a byte range it does not own.
class span_reader_buf final : public std::streambuf {
 public:
  explicit span_reader_buf(std::span<const char> bytes) {
    // streambuf's get area is non-const by signature only; nothing here writes through it.
    char* begin = const_cast<char*>(bytes.data());
    setg(begin, begin, begin + bytes.size());
  }
  [[nodiscard]] std::size_t remaining() const { return static_cast<std::size_t>(egptr() - gptr()); }
};

}  // namespace plx::detail
