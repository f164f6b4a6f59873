// The current time as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT", RFC 9110 5.6.7), cached
// per thread and recomputed once a second. Any thread.
#pragma once

#include <string_view>

namespace weir::http {

std::string_view httpDate();

}  // namespace weir::http
