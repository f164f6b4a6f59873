// Result<T>: a value or an Error, for code that does not throw (the data path).
// Error says which side failed and whether a retry is safe (ARCHITECTURE.md, Errors).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace weir {

enum class Side : uint8_t { Downstream, Upstream, Internal };

enum class ErrorCode : uint8_t {
  Ok,
  BadRequest,
  HeaderTooLarge,
  UriTooLong,
  BodyTooLarge,
  VersionNotSupported,
  NotImplemented,
  NoRoute,
  NoEndpoint,
  ConnectFailed,
  ConnectTimeout,
  ResponseTimeout,
  UpstreamReset,
  BadResponse,
  ClientTimeout,
  ClientClosed,
  InvalidArgument,
  Io,
};

struct Error {
  ErrorCode code = ErrorCode::Io;
  Side side = Side::Internal;
  bool retryable = false;
  std::string detail;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

}  // namespace weir
