#include "alerts/alert_format.h"

#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

namespace weir::alerts {
namespace {

constexpr size_t kMaxFieldBytes = 400;  // keeps body lines under RFC 5322's 998 octets

std::tm utc(uint64_t unix_ms) {
  const auto secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return tm;
}

// One line's worth of text: control characters become spaces, long values are cut.
std::string clean(std::string_view s, size_t max_bytes = kMaxFieldBytes) {
  if (s.size() > max_bytes) {
    size_t n = max_bytes;  // do not split a UTF-8 sequence: back up over continuation bytes
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
    s = s.substr(0, n);
  }
  std::string out(s);
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = ' ';
  }
  return out;
}

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

}  // namespace

std::string isoTime(uint64_t unix_ms) {
  const std::tm tm = utc(unix_ms);
  char buf[40];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char ms[8];
  std::snprintf(ms, sizeof ms, ".%03uZ", static_cast<unsigned>(unix_ms % 1000));
  return std::string(buf, n) + ms;
}

std::string rfc5322Date(uint64_t unix_ms) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::tm tm = utc(unix_ms);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday % 7],
                tm.tm_mday, kMonths[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

std::string emailAddress(std::string_view mailbox) {
  const size_t open = mailbox.rfind('<');
  if (open != std::string_view::npos) {
    const size_t close = mailbox.find('>', open);
    if (close != std::string_view::npos)
      return std::string(mailbox.substr(open + 1, close - open - 1));
  }
  const size_t b = mailbox.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  const size_t e = mailbox.find_last_not_of(" \t");
  return std::string(mailbox.substr(b, e - b + 1));
}

std::string emailSubject(size_t changes, std::string_view subject_prefix) {
  std::string s = clean(subject_prefix);
  if (!s.empty()) s += ' ';
  s += std::to_string(changes);
  s += changes == 1 ? " server state change" : " server state changes";
  return s;
}

std::string formatEmail(const std::vector<StateChange>& changes, std::string_view from,
                        const std::vector<std::string>& to, std::string_view subject_prefix,
                        uint64_t date_unix_ms) {
  std::string body;
  for (const StateChange& c : changes) {
    body += isoTime(c.at_unix_ms);
    body += ' ';
    body += clean(c.upstream);
    body += ' ';
    body += clean(c.server);
    body += ' ';
    body += clean(c.old_state);
    body += " \u2192 ";
    body += clean(c.new_state);
    if (!c.reason.empty()) {
      body += ": ";
      body += clean(c.reason);
    }
    body += "\r\n";
  }

  const std::string from_address = emailAddress(from);
  const size_t at = from_address.rfind('@');
  const std::string domain = at == std::string::npos || at + 1 == from_address.size()
                                 ? "weir.invalid"
                                 : clean(from_address.substr(at + 1));
  char id[80];
  std::snprintf(id, sizeof id, "<weir.%llu.%016llx@", static_cast<unsigned long long>(date_unix_ms),
                static_cast<unsigned long long>(fnv1a(body)));

  std::string to_list;
  for (const std::string& rcpt : to) {
    if (!to_list.empty()) to_list += ", ";
    to_list += clean(rcpt);
  }

  std::string msg;
  msg.reserve(body.size() + 512);
  msg += "Date: " + rfc5322Date(date_unix_ms) + "\r\n";
  msg += "From: " + clean(from) + "\r\n";
  msg += "To: " + to_list + "\r\n";
  msg += "Subject: " + emailSubject(changes.size(), subject_prefix) + "\r\n";
  msg += "Message-ID: " + std::string(id) + domain + ">\r\n";
  msg += "MIME-Version: 1.0\r\n";
  msg += "Content-Type: text/plain; charset=utf-8\r\n";
  msg += "Content-Transfer-Encoding: 8bit\r\n";
  msg += "Auto-Submitted: auto-generated\r\n";
  msg += "\r\n";
  msg += body;
  return msg;
}

std::string formatWebhook(const std::vector<StateChange>& changes) {
  nlohmann::json list = nlohmann::json::array();
  for (const StateChange& c : changes) {
    list.push_back({{"upstream", c.upstream},
                    {"server", c.server},
                    {"old_state", c.old_state},
                    {"new_state", c.new_state},
                    {"at", isoTime(c.at_unix_ms)},
                    {"at_unix_ms", c.at_unix_ms},
                    {"reason", c.reason}});
  }
  const nlohmann::json doc = {{"source", "weir"}, {"changes", std::move(list)}};
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace weir::alerts
