// The YAML config loader: loadFile()/loadString() from config.h. Walks the document once with a
// Reader, section by section (routes with a RouteReader), then cross-checks names and listen
// addresses.

#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <map>
#include <optional>
#include <sstream>
#include <system_error>

#include "config/config.h"
#include "config/host_port.h"
#include "config/policy_reader.h"
#include "config/reader.h"
#include "config/route_reader.h"

namespace weir::config {
namespace {

// Where the second YAML document of `yaml` starts, if there is one. Documents are counted with a
// parser that stops at the second: yaml-cpp 0.7's LoadAll loops on some malformed text (",a: [1"
// yields empty documents without consuming input) until memory runs out.
std::optional<Position> secondDocument(const std::string& yaml) {
  // Keeps the position of a document's first node.
  struct FirstNode : YAML::EventHandler {
    std::optional<Position> pos;
    void note(const YAML::Mark& m) {
      if (!pos) pos = Position{m.line + 1, m.column + 1};
    }
    void OnDocumentStart(const YAML::Mark&) override {}
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark& m, YAML::anchor_t) override { note(m); }
    void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { note(m); }
    void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                  const std::string&) override {
      note(m);
    }
    void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {
      note(m);
    }
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                    YAML::EmitterStyle::value) override {
      note(m);
    }
    void OnMapEnd() override {}
  };
  std::istringstream in(yaml);
  YAML::Parser parser(in);
  FirstNode first, second;
  if (!parser.HandleNextDocument(first) || !parser.HandleNextDocument(second)) return std::nullopt;
  return second.pos.value_or(Position{});
}

constexpr int64_t kMaxWorkers = 256;
constexpr int64_t kMaxWeight = 1000;
constexpr int64_t kMaxIdle = 100'000;
constexpr int64_t kMaxConnections = 100'000'000;

bool isWildcard(const std::string& host) { return host == "0.0.0.0" || host == "::"; }

// Whether binding both would clash: same port (other than 0, which the OS picks) and the same
// host, or a wildcard of the same family on one side.
bool overlaps(const HostPort& a, const HostPort& b) {
  if (a.port != b.port || a.port == 0) return false;
  if (a.host == b.host) return true;
  bool a6 = a.host.find(':') != std::string::npos;
  bool b6 = b.host.find(':') != std::string::npos;
  return a6 == b6 && (isWildcard(a.host) || isWildcard(b.host));
}

// Reads a whole file; the error is the system's reason.
std::optional<std::string> readWholeFile(const std::string& path, std::string& why) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    why = std::generic_category().message(errno);
    return std::nullopt;
  }
  std::string text;
  char buf[64 * 1024];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  int err = std::ferror(f) ? errno : 0;
  std::fclose(f);
  if (err) {
    why = std::generic_category().message(err);
    return std::nullopt;
  }
  return text;
}

// Walks one document into a Config. Reads upstreams before listeners so that routes can be
// checked against the upstream names.
class Loader {
 public:
  explicit Loader(Reader& r) : r_(r) {}

  Config read(const Item& root) {
    Config c;
    if (!r_.mapping(root, {"workers", "listeners", "upstreams", "limits", "timeouts", "access_log",
                           "admin", "alerts", "pid_file", "watch"}))
      return c;
    if (auto v = r_.optional(root, "workers")) readWorkers(*v, c.workers);
    if (auto v = r_.optional(root, "upstreams")) c.upstreams = readUpstreams(*v);
    if (auto v = r_.required(root, "listeners")) c.listeners = readListeners(*v);
    if (auto v = r_.optional(root, "limits")) readLimits(*v, c.limits);
    if (auto v = r_.optional(root, "timeouts")) readTimeouts(*v, c.timeouts);
    if (auto v = r_.optional(root, "access_log")) readAccessLog(*v, c.access_log);
    if (auto v = r_.optional(root, "admin")) c.admin = readAdmin(*v);
    if (auto v = r_.optional(root, "alerts")) c.alerts = readAlerts(r_, *v);
    if (auto v = r_.optional(root, "pid_file"))
      if (auto s = r_.nonEmptyString(*v)) c.pid_file = *s;
    if (auto v = r_.optional(root, "watch"))
      if (auto b = r_.boolean(*v)) c.watch = *b;
    return c;
  }

 private:
  void readWorkers(const Item& v, int& out) {
    if (!v.node.IsScalar()) {
      r_.fail(v, "must be auto or 1.." + std::to_string(kMaxWorkers));
      return;
    }
    const std::string& s = v.node.Scalar();
    if (s == "auto") {
      out = 0;
      return;
    }
    int n = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || n < 1 || n > kMaxWorkers) {
      r_.fail(v, "must be auto or 1.." + std::to_string(kMaxWorkers) + ", got '" + s + "'");
      return;
    }
    out = n;
  }

  // Records `name` for a list; reports a repeat at `at`.
  void claimName(std::map<std::string, std::string>& taken, const std::string& name, const Item& at,
                 const std::string& owner) {
    auto [it, fresh] = taken.emplace(name, owner);
    if (!fresh) r_.fail(at, "duplicate name '" + name + "', already used by " + it->second);
  }

  // --- upstreams ---

  std::vector<Upstream> readUpstreams(const Item& v) {
    std::vector<Upstream> out;
    auto entries = r_.sequence(v, false);
    if (!entries) {
      upstream_names_known_ = false;
      return out;
    }
    std::map<std::string, std::string> names;
    for (const Item& e : *entries) {
      out.push_back(readUpstream(e));
      const Upstream& u = out.back();
      if (u.name.empty()) {
        upstream_names_known_ = false;
        continue;
      }
      if (auto name = r_.optional(e, "name")) claimName(names, u.name, *name, e.path);
      upstream_timeouts_.emplace(u.name, u.timeouts);
    }
    return out;
  }

  Upstream readUpstream(const Item& item) {
    Upstream u;
    u.pos = item.pos;
    if (!r_.mapping(
            item, {"name", "servers", "balance", "hash_key", "slow_start", "sticky", "health_check",
                   "passive", "panic", "retries", "tls", "keepalive", "timeouts"}))
      return u;
    if (auto v = r_.optional(item, "tls")) u.tls = readUpstreamTls(*v);
    if (auto v = r_.required(item, "name"))
      if (auto s = r_.nonEmptyString(*v)) u.name = *s;
    if (auto v = r_.required(item, "servers")) {
      if (auto entries = r_.sequence(*v, true)) {
        std::vector<std::pair<HostPort, std::string>> seen;  // address, path
        for (const Item& e : *entries) {
          u.servers.push_back(readServer(e));
          const HostPort& a = u.servers.back().address;
          if (a.port == 0) continue;  // unreadable; already reported
          auto same = std::find_if(seen.begin(), seen.end(), [&](const auto& s) {
            return s.first.host == a.host && s.first.port == a.port;
          });
          if (same != seen.end())
            r_.fail(*r_.optional(e, "address"),
                    "duplicate server, already listed as " + same->second);
          else
            seen.emplace_back(a, e.path);
        }
      }
    }
    readBalancing(item, u);
    if (auto v = r_.optional(item, "health_check")) u.health_check = readHealthCheck(r_, *v);
    if (auto v = r_.optional(item, "passive")) u.passive = readPassive(r_, *v);
    if (auto v = r_.optional(item, "retries")) u.retries = readRetries(r_, *v);
    if (auto v = r_.optional(item, "panic")) {
      if (auto s = r_.string(*v)) {
        if (*s == "fail_open")
          u.panic_fail_open = true;
        else if (*s == "fail_closed")
          u.panic_fail_open = false;
        else
          r_.fail(*v, "must be fail_open or fail_closed, got '" + *s + "'");
      }
    }
    if (auto v = r_.optional(item, "keepalive")) {
      if (r_.mapping(*v, {"max_idle", "idle_timeout"})) {
        r_.readInteger(*v, "max_idle", 0, kMaxIdle, u.keepalive.max_idle);
        r_.readDuration(*v, "idle_timeout", u.keepalive.idle_timeout);
      }
    }
    if (auto v = r_.optional(item, "timeouts")) {
      if (r_.mapping(*v, {"connect", "response"})) {
        r_.readDuration(*v, "connect", u.timeouts.connect);
        r_.readDuration(*v, "response", u.timeouts.response);
      }
    }
    return u;
  }

  Server readServer(const Item& item) {
    Server s;
    s.pos = item.pos;
    if (!r_.mapping(item, {"address", "weight", "backup", "max_conns"})) return s;
    if (auto v = r_.required(item, "address")) {
      if (auto text = r_.nonEmptyString(*v)) {
        auto addr = parseServerAddress(*text);
        if (addr)
          s.address = std::move(*addr);
        else
          r_.fail(*v, addr.error().detail);
      }
    }
    r_.readInteger(item, "weight", 1, kMaxWeight, s.weight);
    if (auto v = r_.optional(item, "backup"))
      if (auto b = r_.boolean(*v)) s.backup = *b;
    r_.readInteger(item, "max_conns", 0, kMaxConnections, s.max_conns);
    return s;
  }

  void readBalancing(const Item& item, Upstream& u) {
    static constexpr std::string_view kPolicies[] = {
        "round_robin", "least_conn", "random", "p2c", "ewma", "ring_hash", "maglev", "first"};
    bool policy_known = true;
    if (auto v = r_.optional(item, "balance")) {
      policy_known = false;
      if (auto s = r_.string(*v)) {
        if (std::find(std::begin(kPolicies), std::end(kPolicies), *s) == std::end(kPolicies)) {
          r_.fail(*v,
                  "must be one of round_robin, least_conn, random, p2c, ewma, ring_hash, "
                  "maglev, first; got '" +
                      *s + "'");
        } else {
          u.balance = *s;
          policy_known = true;
        }
      }
    }
    if (auto v = r_.optional(item, "hash_key")) {
      if (auto s = r_.nonEmptyString(*v)) {
        if (auto key = parseHashKey(*s)) {
          u.hash_key = std::move(*key);
          if (policy_known && u.balance != "ring_hash" && u.balance != "maglev")
            r_.fail(*v, "hash_key needs balance: ring_hash or maglev");
        } else {
          r_.fail(*v, "must be client_ip, uri, header:NAME, cookie:NAME or query:NAME, got '" + *s +
                          "'");
        }
      }
    }
    if ((u.balance == "ring_hash" || u.balance == "maglev") && !u.hash_key)
      u.hash_key = HashKey{HashKey::Kind::ClientIp, "", "client_ip"};
    if (auto v = r_.optional(item, "slow_start"))
      if (auto d = r_.duration(*v, /*allow_zero=*/true)) u.slow_start = *d;
    if (auto v = r_.optional(item, "sticky")) {
      if (r_.mapping(*v, {"cookie", "ttl"})) {
        Sticky st;
        if (auto c = r_.required(*v, "cookie")) {
          if (auto name = r_.nonEmptyString(*c)) {
            if (name->find_first_of(" \t;=,\"") != std::string::npos)
              r_.fail(*c, "not a valid cookie name");
            st.cookie = *name;
          }
        }
        r_.readDuration(*v, "ttl", st.ttl);
        u.sticky = std::move(st);
      }
    }
  }

  static std::optional<HashKey> parseHashKey(const std::string& s) {
    if (s == "client_ip") return HashKey{HashKey::Kind::ClientIp, "", s};
    if (s == "uri") return HashKey{HashKey::Kind::Uri, "", s};
    const std::pair<std::string_view, HashKey::Kind> prefixed[] = {
        {"header:", HashKey::Kind::Header},
        {"cookie:", HashKey::Kind::Cookie},
        {"query:", HashKey::Kind::Query}};
    for (const auto& [prefix, kind] : prefixed) {
      if (s.size() > prefix.size() && s.compare(0, prefix.size(), prefix) == 0)
        return HashKey{kind, s.substr(prefix.size()), s};
    }
    return std::nullopt;
  }

  ListenerTls readListenerTls(const Item& item) {
    ListenerTls t;
    t.pos = item.pos;
    if (!r_.mapping(item, {"certificates", "min_version", "ciphers", "alpn", "session_tickets",
                           "client_ca", "client_auth", "ocsp_staple"}))
      return t;
    if (auto v = r_.required(item, "certificates")) {
      if (auto entries = r_.sequence(*v, true)) {
        for (const Item& e : *entries) {
          if (!r_.mapping(e, {"cert", "key"})) continue;
          ListenerTls::Certificate c;
          if (auto x = r_.required(e, "cert"))
            if (auto s = r_.nonEmptyString(*x)) c.cert = *s;
          if (auto x = r_.required(e, "key"))
            if (auto s = r_.nonEmptyString(*x)) c.key = *s;
          t.certificates.push_back(std::move(c));
        }
      }
    }
    if (auto v = r_.optional(item, "min_version")) {
      std::string text = v->node.IsScalar() ? v->node.Scalar() : "";
      if (text == "1.2" || text == "1.3")
        t.min_version = text;
      else
        r_.fail(*v, "must be \"1.2\" or \"1.3\", got '" + text + "'");
    }
    if (auto v = r_.optional(item, "ciphers"))
      if (auto s = r_.nonEmptyString(*v)) t.ciphers = *s;
    if (auto v = r_.optional(item, "alpn")) {
      if (auto entries = r_.sequence(*v, false)) {
        t.alpn.clear();
        for (const Item& e : *entries)
          if (auto s = r_.nonEmptyString(e)) t.alpn.push_back(*s);
      }
    }
    if (auto v = r_.optional(item, "session_tickets"))
      if (auto b = r_.boolean(*v)) t.session_tickets = *b;
    if (auto v = r_.optional(item, "client_ca"))
      if (auto s = r_.nonEmptyString(*v)) t.client_ca = *s;
    if (auto v = r_.optional(item, "client_auth")) {
      if (auto s = r_.string(*v)) {
        if (*s == "require" || *s == "optional")
          t.client_auth = *s;
        else
          r_.fail(*v, "must be require or optional, got '" + *s + "'");
      }
    }
    if (auto v = r_.optional(item, "ocsp_staple"))
      if (auto s = r_.nonEmptyString(*v)) t.ocsp_staple = *s;
    return t;
  }

  UpstreamTls readUpstreamTls(const Item& item) {
    UpstreamTls t;
    t.pos = item.pos;
    if (!r_.mapping(item,
                    {"enabled", "verify", "ca_file", "server_name", "client_cert", "client_key"}))
      return t;
    if (auto v = r_.optional(item, "enabled"))
      if (auto b = r_.boolean(*v)) t.enabled = *b;
    if (auto v = r_.optional(item, "verify"))
      if (auto b = r_.boolean(*v)) t.verify = *b;
    auto str = [&](const char* key, std::string& out) {
      if (auto v = r_.optional(item, key))
        if (auto s = r_.nonEmptyString(*v)) out = *s;
    };
    str("ca_file", t.ca_file);
    str("server_name", t.server_name);
    str("client_cert", t.client_cert);
    str("client_key", t.client_key);
    if (t.client_cert.empty() != t.client_key.empty())
      r_.fail(item, "client_cert and client_key go together");
    return t;
  }

  Admin readAdmin(const Item& item) {
    Admin a;
    a.pos = item.pos;
    if (!r_.mapping(item, {"listen", "token_file"})) return a;
    if (auto v = r_.required(item, "listen")) {
      if (auto text = r_.nonEmptyString(*v)) {
        auto addr = parseListenAddress(*text);
        if (addr)
          a.listen = std::move(*addr);
        else
          r_.fail(*v, addr.error().detail);
      }
    }
    if (auto v = r_.optional(item, "token_file")) {
      if (auto path = r_.nonEmptyString(*v)) {
        a.token_file = *path;
        std::string why;
        auto text = readWholeFile(*path, why);
        while (text && !text->empty() && std::isspace(static_cast<unsigned char>(text->back())))
          text->pop_back();
        if (!text)
          r_.fail(*v, "cannot read " + *path + ": " + why);
        else if (text->empty())
          r_.fail(*v, *path + " is empty");
        else
          a.token = std::move(*text);
      }
    }
    const std::string& host = a.listen.host;
    const bool loopback = host == "127.0.0.1" || host == "::1" || host.rfind("127.", 0) == 0;
    if (!a.listen.text.empty() && !loopback && a.token_file.empty()) {
      if (auto v = r_.optional(item, "listen"))
        r_.fail(*v, "a non-loopback admin address needs a token_file");
    }
    return a;
  }

  // --- listeners ---

  std::vector<Listener> readListeners(const Item& v) {
    std::vector<Listener> out;
    auto entries = r_.sequence(v, true);
    if (!entries) return out;
    std::map<std::string, std::string> names;
    std::vector<std::pair<HostPort, std::string>> bound;  // address, path
    for (const Item& e : *entries) {
      out.push_back(readListener(e));
      const Listener& l = out.back();
      if (!l.name.empty()) claimName(names, l.name, *r_.optional(e, "name"), e.path);
      if (l.listen.text.empty()) continue;  // unreadable; already reported
      auto clash = std::find_if(bound.begin(), bound.end(),
                                [&](const auto& b) { return overlaps(b.first, l.listen); });
      if (clash != bound.end())
        r_.fail(*r_.optional(e, "listen"), "duplicate listen address: " + clash->second +
                                               " already listens on " + clash->first.text);
      else
        bound.emplace_back(l.listen, e.path);
    }
    return out;
  }

  Listener readListener(const Item& item) {
    Listener l;
    l.pos = item.pos;
    if (!r_.mapping(item, {"name", "listen", "routes", "tls", "https_redirect"})) return l;
    if (auto v = r_.optional(item, "tls")) l.tls = readListenerTls(*v);
    if (auto v = r_.optional(item, "https_redirect"))
      if (auto b = r_.boolean(*v)) l.https_redirect = *b;
    if (l.tls && l.https_redirect) {
      if (auto v = r_.optional(item, "https_redirect"))
        r_.fail(*v, "only for plain listeners (this one has tls)");
    }
    if (auto v = r_.required(item, "name"))
      if (auto s = r_.nonEmptyString(*v)) l.name = *s;
    if (auto v = r_.required(item, "listen")) {
      if (auto text = r_.nonEmptyString(*v)) {
        auto addr = parseListenAddress(*text);
        if (addr)
          l.listen = std::move(*addr);
        else
          r_.fail(*v, addr.error().detail);
      }
    }
    if (auto v = r_.required(item, "routes")) {
      if (auto entries = r_.sequence(*v, true)) {
        RouteReader routes(r_, upstream_timeouts_, upstream_names_known_);
        for (const Item& e : *entries) l.routes.push_back(routes.read(e));
      }
    }
    return l;
  }

  // --- process-wide sections ---

  void readLimits(const Item& item, Limits& l) {
    if (!r_.mapping(item,
                    {"max_connections", "max_header_bytes", "max_uri_bytes", "max_body_bytes"}))
      return;
    r_.readInteger(item, "max_connections", 1, kMaxConnections, l.max_connections);
    r_.readSize(item, "max_header_bytes", l.max_header_bytes, 1);
    r_.readSize(item, "max_uri_bytes", l.max_uri_bytes, 1);
    r_.readSize(item, "max_body_bytes", l.max_body_bytes);
  }

  void readTimeouts(const Item& item, Timeouts& t) {
    if (!r_.mapping(item, {"client_header", "client_body", "keepalive", "shutdown_grace"})) return;
    r_.readDuration(item, "client_header", t.client_header);
    r_.readDuration(item, "client_body", t.client_body);
    r_.readDuration(item, "keepalive", t.keepalive);
    r_.readDuration(item, "shutdown_grace", t.shutdown_grace, /*allow_zero=*/true);
  }

  void readAccessLog(const Item& item, AccessLog& log) {
    if (!r_.mapping(item, {"path", "format"})) return;
    if (auto v = r_.optional(item, "path"))
      if (auto s = r_.nonEmptyString(*v)) log.path = *s;
    if (auto v = r_.optional(item, "format")) {
      auto s = r_.string(*v);
      if (s == "combined")
        log.format = LogFormat::Combined;
      else if (s == "json")
        log.format = LogFormat::Json;
      else if (s)
        r_.fail(*v, "must be combined or json, got '" + *s + "'");
    }
  }

  Reader& r_;
  std::map<std::string, UpstreamTimeouts> upstream_timeouts_;  // by upstream name
  bool upstream_names_known_ = true;  // false: some upstream's name is unreadable
};

}  // namespace

LoadResult loadString(const std::string& yaml, const std::string& name) {
  Reader r(name);
  Config config;
  try {
    const YAML::Node doc = YAML::Load(yaml);  // the first document
    if (doc.IsNull()) {
      r.fail({}, "", "config is empty");
    } else {
      if (auto second = secondDocument(yaml))
        r.fail(*second, "", "only one YAML document is allowed");
      config = Loader(r).read(Item{doc, "", positionOf(doc)});
    }
  } catch (const YAML::Exception& e) {
    Position pos = e.mark.is_null() ? Position{} : Position{e.mark.line + 1, e.mark.column + 1};
    r.fail(pos, "", "invalid YAML: " + e.msg);
  } catch (const std::exception& e) {
    r.fail({}, "", std::string("cannot load: ") + e.what());
  } catch (...) {
    r.fail({}, "", "cannot load: unknown error");
  }
  LoadResult out;
  out.errors = r.takeErrors();
  if (out.errors.empty()) {
    config.file = name;
    out.config = std::move(config);
  }
  return out;
}

LoadResult loadFile(const std::string& path) {
  std::string why;
  std::optional<std::string> text;
  try {
    text = readWholeFile(path, why);
  } catch (const std::exception& e) {
    why = e.what();
  }
  if (!text) {
    LoadResult out;
    out.errors.push_back(ConfigError{path, {}, "", "cannot read: " + why});
    return out;
  }
  return loadString(*text, path);
}

}  // namespace weir::config
