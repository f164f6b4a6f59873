#include "balance/first.h"

namespace weir::balance {

std::optional<size_t> First::pick(const PickContext& ctx) {
  for (size_t i = 0; i < size_; ++i) {
    if (ctx.excluded == nullptr || !ctx.excluded->test(i)) return i;
  }
  return std::nullopt;
}

}  // namespace weir::balance
