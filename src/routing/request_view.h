// RequestView: the parts of a request that routes match on, as views into the caller's
// request (valid for the duration of one match). Plain values; any thread.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/ascii.h"

namespace weir::routing {

/// Header fields of a request, by name. Implementations live with the request (e.g. an adapter
/// over http::MessageHead); lookups must not allocate.
class HeaderLookup {
 public:
  virtual ~HeaderLookup() = default;
  /// The value of the first field named `name` (ASCII case-insensitive), or nullptr.
  virtual const std::string* find(std::string_view name) const = 0;
};

struct RequestView {
  std::string_view method;  // as received, e.g. "GET"; compared exactly
  std::string_view host;    // Host header as received, or the authority of an absolute-form target
  std::string_view path;    // request target without the query
  std::string_view query;   // after '?', without it; empty when none
  const HeaderLookup* headers = nullptr;  // nullptr: the request has no header fields
};

/// A HeaderLookup over a plain list of fields (tests, the --explain command line).
class HeaderList final : public HeaderLookup {
 public:
  HeaderList() = default;
  HeaderList(std::initializer_list<config::Header> fields) : fields_(fields) {}
  void add(std::string name, std::string value) {
    fields_.push_back(config::Header{std::move(name), std::move(value)});
  }
  const std::string* find(std::string_view name) const override;

 private:
  std::vector<config::Header> fields_;
};

/// The host part of a Host header or authority, for matching: "[::1]:8080" -> "::1",
/// "Example.com:80" -> "Example.com", "example.com." -> "example.com". Case is kept. An
/// unbracketed value with several colons is returned whole.
std::string_view hostOf(std::string_view host_header);

}  // namespace weir::routing
