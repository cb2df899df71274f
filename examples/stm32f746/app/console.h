// A minimal formatter for the console: no printf (newlib's pulls in stdio and the heap), no floats.
#pragma once
#include <cstddef>
#include <cstdint>

namespace mcufw {

class Line {
 public:
  Line& str(const char* s);
  Line& json_str(const char* s);  // "s" with quotes and JSON escapes
  Line& i64(int64_t v);
  Line& u64(uint64_t v);
  Line& hex(uint32_t v);
  void end();  // appends '\n' and writes the line to the console

 private:
  void put(char c);
  void flush();
  char buf_[256];
  size_t n_ = 0;
};

}  // namespace mcufw
