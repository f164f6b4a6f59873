#include "config/policy_reader.h"

#include <cctype>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace weir::config {
namespace {

std::optional<int> parseInt(std::string_view s) {
  int v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// "10%" or "0.1": a share in [0, 1].
std::optional<double> parseShare(const std::string& s) {
  if (s.empty()) return std::nullopt;
  try {
    size_t used = 0;
    double v = std::stod(s, &used);
    if (used + 1 == s.size() && s.back() == '%')
      v /= 100.0;
    else if (used != s.size())
      return std::nullopt;
    if (v < 0 || v > 1) return std::nullopt;
    return v;
  } catch (...) {
    return std::nullopt;
  }
}

std::optional<int> readStatus(Reader& r, const Item& item) {
  auto n = r.integer(item, 100, 599);
  if (!n) return std::nullopt;
  return static_cast<int>(*n);
}

}  // namespace

std::optional<std::pair<int, int>> parseStatusRange(const std::string& text) {
  size_t dash = text.find('-');
  auto lo = parseInt(std::string_view(text).substr(0, dash));
  auto hi = dash == std::string::npos ? lo : parseInt(std::string_view(text).substr(dash + 1));
  if (!lo || !hi || *lo < 100 || *hi > 599 || *lo > *hi) return std::nullopt;
  return std::make_pair(*lo, *hi);
}

std::optional<std::string> readSecretFile(Reader& r, const Item& at, const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    r.fail(at, "cannot read " + path);
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  if (s.empty()) {
    r.fail(at, path + " is empty");
    return std::nullopt;
  }
  return s;
}

HealthCheck readHealthCheck(Reader& r, const Item& item) {
  HealthCheck h;
  h.pos = item.pos;
  if (!r.mapping(item, {"type", "path", "host", "method", "interval", "timeout", "rise", "fall",
                        "expect_status", "expect_body", "jitter", "initial_state"}))
    return h;
  if (auto v = r.optional(item, "type")) {
    if (auto s = r.string(*v)) {
      if (*s == "http")
        h.type = HealthCheck::Type::Http;
      else if (*s == "tcp")
        h.type = HealthCheck::Type::Tcp;
      else
        r.fail(*v, "must be http or tcp, got '" + *s + "'");
    }
  }
  if (auto v = r.optional(item, "path")) {
    if (auto s = r.nonEmptyString(*v)) {
      if (s->front() != '/')
        r.fail(*v, "must start with '/'");
      else
        h.path = *s;
    }
  }
  if (auto v = r.optional(item, "host"))
    if (auto s = r.nonEmptyString(*v)) h.host = *s;
  if (auto v = r.optional(item, "method"))
    if (auto s = r.nonEmptyString(*v)) h.method = *s;
  r.readDuration(item, "interval", h.interval);
  r.readDuration(item, "timeout", h.timeout);
  r.readInteger(item, "rise", 1, 100, h.rise);
  r.readInteger(item, "fall", 1, 100, h.fall);
  if (auto v = r.optional(item, "expect_status")) {
    std::string text = v->node.IsScalar() ? v->node.Scalar() : "";
    if (auto range = parseStatusRange(text)) {
      h.status_lo = range->first;
      h.status_hi = range->second;
    } else {
      r.fail(*v, "must be a status or a range like \"200-399\"");
    }
  }
  if (auto v = r.optional(item, "expect_body"))
    if (auto s = r.string(*v)) h.expect_body = *s;
  if (auto v = r.optional(item, "jitter")) {
    std::string text = v->node.IsScalar() ? v->node.Scalar() : "";
    if (auto share = parseShare(text))
      h.jitter = *share;
    else
      r.fail(*v, "must be a share like 10% or 0.1");
  }
  if (auto v = r.optional(item, "initial_state")) {
    if (auto s = r.string(*v)) {
      if (*s == "healthy")
        h.initially_healthy = true;
      else if (*s == "unhealthy")
        h.initially_healthy = false;
      else
        r.fail(*v, "must be healthy or unhealthy, got '" + *s + "'");
    }
  }
  if (h.timeout >= h.interval) {
    if (auto v = r.optional(item, "timeout")) r.fail(*v, "must be shorter than interval");
  }
  return h;
}

Passive readPassive(Reader& r, const Item& item) {
  Passive p;
  if (!r.mapping(item, {"consecutive_failures", "ejection", "max_ejection", "max_ejected_percent",
                        "failure_statuses"}))
    return p;
  r.readInteger(item, "consecutive_failures", 1, 1000, p.consecutive_failures);
  r.readDuration(item, "ejection", p.ejection);
  r.readDuration(item, "max_ejection", p.max_ejection);
  r.readInteger(item, "max_ejected_percent", 0, 100, p.max_ejected_percent);
  if (auto v = r.optional(item, "failure_statuses")) {
    if (auto entries = r.sequence(*v, false))
      for (const Item& e : *entries)
        if (auto s = readStatus(r, e)) p.failure_statuses.push_back(*s);
  }
  if (p.max_ejection < p.ejection) {
    if (auto v = r.optional(item, "max_ejection")) r.fail(*v, "must not be shorter than ejection");
  }
  return p;
}

Retries readRetries(Reader& r, const Item& item) {
  Retries t;
  if (!r.mapping(item,
                 {"attempts", "on", "budget", "per_try_timeout", "backoff", "max_retry_body"}))
    return t;
  r.readInteger(item, "attempts", 0, 10, t.attempts);
  if (auto v = r.optional(item, "on")) {
    if (auto entries = r.sequence(*v, false)) {
      t.on_connect_failure = t.on_timeout = t.on_reset = false;
      t.on_statuses.clear();
      for (const Item& e : *entries) {
        auto s = r.string(e);
        if (!s) continue;
        if (*s == "connect_failure")
          t.on_connect_failure = true;
        else if (*s == "timeout")
          t.on_timeout = true;
        else if (*s == "reset")
          t.on_reset = true;
        else if (auto code = parseInt(*s); code && *code >= 500 && *code <= 599)
          t.on_statuses.push_back(*code);
        else
          r.fail(e, "must be connect_failure, timeout, reset or a 5xx status, got '" + *s + "'");
      }
    }
  }
  if (auto v = r.optional(item, "budget")) {
    std::string text = v->node.IsScalar() ? v->node.Scalar() : "";
    if (auto share = parseShare(text))
      t.budget = *share;
    else
      r.fail(*v, "must be a share like 20% or 0.2");
  }
  r.readDuration(item, "per_try_timeout", t.per_try_timeout);
  r.readDuration(item, "backoff", t.backoff, /*allow_zero=*/true);
  r.readSize(item, "max_retry_body", t.max_retry_body);
  return t;
}

Alerts readAlerts(Reader& r, const Item& item) {
  Alerts a;
  if (!r.mapping(item, {"email", "webhook", "batch"})) return a;
  r.readDuration(item, "batch", a.batch, /*allow_zero=*/true);
  if (auto v = r.optional(item, "email")) {
    if (r.mapping(*v, {"url", "from", "to", "username", "password_file", "starttls"})) {
      AlertEmail e;
      if (auto u = r.required(*v, "url")) {
        if (auto s = r.nonEmptyString(*u)) {
          if (s->rfind("smtp://", 0) != 0 && s->rfind("smtps://", 0) != 0)
            r.fail(*u, "must start with smtp:// or smtps://");
          e.url = *s;
        }
      }
      if (auto f = r.required(*v, "from"))
        if (auto s = r.nonEmptyString(*f)) e.from = *s;
      if (auto t = r.required(*v, "to")) {
        if (auto entries = r.sequence(*t, true))
          for (const Item& x : *entries)
            if (auto s = r.nonEmptyString(x)) e.to.push_back(*s);
      }
      if (auto u = r.optional(*v, "username"))
        if (auto s = r.nonEmptyString(*u)) e.username = *s;
      if (auto p = r.optional(*v, "password_file")) {
        if (auto s = r.nonEmptyString(*p)) {
          e.password_file = *s;
          if (auto secret = readSecretFile(r, *p, *s)) e.password = *secret;
        }
      }
      if (auto st = r.optional(*v, "starttls"))
        if (auto b = r.boolean(*st)) e.starttls = *b;
      a.email = std::move(e);
    }
  }
  if (auto v = r.optional(item, "webhook")) {
    if (r.mapping(*v, {"url"})) {
      AlertWebhook w;
      if (auto u = r.required(*v, "url")) {
        if (auto s = r.nonEmptyString(*u)) {
          if (s->rfind("http://", 0) != 0 && s->rfind("https://", 0) != 0)
            r.fail(*u, "must start with http:// or https://");
          w.url = *s;
        }
      }
      a.webhook = std::move(w);
    }
  }
  return a;
}

}  // namespace weir::config
