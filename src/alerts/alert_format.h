// Alert messages: the e-mail (RFC 5322) and webhook (JSON) renderings of a batch of state
// changes. Pure functions of their arguments; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "alerts/alert.h"

namespace weir::alerts {

/// "2024-05-01T12:00:00.123Z" (ISO 8601, UTC, milliseconds).
std::string isoTime(uint64_t unix_ms);

/// "Wed, 01 May 2024 12:00:00 +0000" (RFC 5322 3.3 date-time).
std::string rfc5322Date(uint64_t unix_ms);

/// The bare address of a mailbox: "Weir <weir@example.com>" -> "weir@example.com"; a bare
/// address is returned as is (trimmed).
std::string emailAddress(std::string_view mailbox);

/// "[weir] 1 server state change", "[weir] 2 server state changes" (no prefix: no leading space).
std::string emailSubject(size_t changes, std::string_view subject_prefix);

/// A complete RFC 5322 message, CRLF line endings: Date (date_unix_ms), From, To (comma
/// separated), Subject (emailSubject), Message-ID (derived from the date and the content, at the
/// From domain), MIME-Version, Content-Type text/plain; charset=utf-8, 8bit; then one body line
/// per change: "<ISO time> <upstream> <server> <old> → <new>: <reason>". CR, LF and other control
/// characters in any field become spaces, so a field cannot add headers or lines.
std::string formatEmail(const std::vector<StateChange>& changes, std::string_view from,
                        const std::vector<std::string>& to, std::string_view subject_prefix,
                        uint64_t date_unix_ms);

/// {"source":"weir","changes":[{"upstream","server","old_state","new_state","at" (ISO time),
/// "at_unix_ms","reason"}]}; invalid UTF-8 is replaced with U+FFFD.
std::string formatWebhook(const std::vector<StateChange>& changes);

}  // namespace weir::alerts
