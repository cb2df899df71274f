#include "console.h"

#include "board.h"

namespace mcufw {

void Line::put(char c) {
  if (n_ == sizeof(buf_)) flush();
  buf_[n_++] = c;
}

void Line::flush() {
  if (n_ > 0) board::write(buf_, n_);
  n_ = 0;
}

Line& Line::str(const char* s) {
  while (*s) put(*s++);
  return *this;
}

Line& Line::json_str(const char* s) {
  put('"');
  for (; *s; ++s) {
    const char c = *s;
    if (c == '"' || c == '\\') {
      put('\\');
      put(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      put(' ');
    } else {
      put(c);
    }
  }
  put('"');
  return *this;
}

Line& Line::u64(uint64_t v) {
  char tmp[20];
  int k = 0;
  do {
    tmp[k++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (k > 0) put(tmp[--k]);
  return *this;
}

Line& Line::i64(int64_t v) {
  if (v < 0) {
    put('-');
    return u64(static_cast<uint64_t>(-(v + 1)) + 1);
  }
  return u64(static_cast<uint64_t>(v));
}

Line& Line::hex(uint32_t v) {
  static const char digits[] = "0123456789abcdef";
  put('0');
  put('x');
  for (int shift = 28; shift >= 0; shift -= 4) put(digits[(v >> shift) & 0xf]);
  return *this;
}

void Line::end() {
  put('\n');
  flush();
}

}  // namespace mcufw
