#include "proxy/worker_context.h"

namespace weir::proxy {

void RequestIdGenerator::next(char out[32]) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int half = 0; half < 2; ++half) {
    uint64_t v = random();
    for (int i = 0; i < 16; ++i) {
      out[half * 16 + i] = kHex[v & 0xf];
      v >>= 4;
    }
  }
}

}  // namespace weir::proxy
