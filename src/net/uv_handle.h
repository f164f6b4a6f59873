// Close, then free: a libuv handle's memory is released only in its close callback, and the
// C++ owner may go first (ARCHITECTURE.md, Lifetimes 1). Any thread that owns the loop.
#pragma once

#include <uv.h>

namespace weir::net {

/// Clears `handle->data` (callbacks can no longer reach the owner), closes it and frees it in
/// the close callback. Sets `handle` to nullptr. Safe on nullptr.
template <typename UvT>
void closeHandle(UvT*& handle) noexcept {
  UvT* raw = handle;
  handle = nullptr;
  if (!raw) return;
  raw->data = nullptr;
  auto* h = reinterpret_cast<uv_handle_t*>(raw);
  if (uv_is_closing(h)) return;
  uv_close(h, [](uv_handle_t* closed) { delete reinterpret_cast<UvT*>(closed); });
}

}  // namespace weir::net
