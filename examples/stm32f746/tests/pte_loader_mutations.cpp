// Host test of app/pte_loader.cpp, built with -fsanitize=address,undefined:
//
//   pte_loader_mutations MODEL.pte
//
// Feeds the loader the file itself, every truncation of it, and every single-byte corruption (xor 0xff, 0x00, 0x80
// and 0x01 at each position). Bytes past the logical end are poisoned for ASan, so any read outside the buffer aborts
// the test. Every result must be a PteError; a kOk result must point inside the buffer. Prints one JSON line with the
// count of each error code; exits 0 on success.
#include <sanitizer/asan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "pte_loader.h"

namespace {

int g_counts[32];
int g_bad = 0;

void check(const std::vector<unsigned char>& bytes, size_t len) {
  const size_t cap = (len + 127) / 128 * 128 + 128;
  auto* buf = static_cast<unsigned char*>(std::aligned_alloc(128, cap));
  std::memcpy(buf, bytes.data(), len);
  ASAN_POISON_MEMORY_REGION(buf + len, cap - len);
  mcufw::PteDelegate d;
  const mcufw::PteError e = mcufw::pte_find_delegate(buf, len, &d);
  const int code = int(e);
  if (code < 0 || code >= 32) {
    ++g_bad;
  } else {
    ++g_counts[code];
  }
  if (e == mcufw::PteError::kOk && (d.data < buf || d.data + d.size > buf + len)) {
    std::fprintf(stderr, "delegate outside buffer (len %zu)\n", len);
    ++g_bad;
  }
  ASAN_UNPOISON_MEMORY_REGION(buf + len, cap - len);
  std::free(buf);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  std::FILE* f = std::fopen(argv[1], "rb");
  if (f == nullptr) return 2;
  std::vector<unsigned char> bytes;
  int c;
  while ((c = std::fgetc(f)) != EOF) bytes.push_back(static_cast<unsigned char>(c));
  std::fclose(f);

  check(bytes, bytes.size());
  if (g_counts[0] != 1) {
    std::fprintf(stderr, "the unmodified file was rejected\n");
    return 1;
  }
  for (size_t len = 0; len < bytes.size(); ++len) check(bytes, len);
  const unsigned char patterns[] = {0xff, 0x00, 0x80, 0x01};
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (unsigned char pat : patterns) {
      std::vector<unsigned char> m = bytes;
      m[i] = pat == 0xff ? static_cast<unsigned char>(m[i] ^ 0xff) : pat;
      check(m, m.size());
    }
  }
  std::printf("{\"bad\":%d,\"counts\":{", g_bad);
  bool first = true;
  for (int i = 0; i < 32; ++i) {
    if (g_counts[i] == 0) continue;
    std::printf("%s\"%d\":%d", first ? "" : ",", i, g_counts[i]);
    first = false;
  }
  std::printf("}}\n");
  return g_bad == 0 ? 0 : 1;
}
