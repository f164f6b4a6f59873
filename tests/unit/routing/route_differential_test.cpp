// RouteTable's index against a naive matcher written from the spec: random route lists and
// random requests drawn from small, overlapping vocabularies, so that hosts, wildcards, prefixes
// and the other conditions collide often. Both must give the first route in config order whose
// every condition holds.
#include <gtest/gtest.h>
#include <re2/re2.h>

#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "routing/request_view.h"
#include "routing/route_table.h"

namespace weir::routing {
namespace {

using config::HeaderMatch;
using config::Route;
using Kind = HeaderMatch::Kind;

// --- the naive matcher ---

std::string lowered(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::optional<std::string> firstParam(std::string_view query, const std::string& name) {
  size_t start = 0;
  while (start <= query.size() && !query.empty()) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    std::string_view part = query.substr(start, end - start);
    size_t eq = part.find('=');
    std::string key(part.substr(0, eq));
    if (key == name) return eq == std::string_view::npos ? "" : std::string(part.substr(eq + 1));
    start = end + 1;
  }
  return std::nullopt;
}

class NaiveMatcher {
 public:
  explicit NaiveMatcher(const std::vector<Route>& routes) : routes_(routes) {
    auto compile = [](const std::string& p, bool case_sensitive) {
      RE2::Options o;
      o.set_log_errors(false);
      o.set_case_sensitive(case_sensitive);
      return std::make_shared<RE2>(p, o);
    };
    for (const Route& r : routes) {
      Regexes x;
      if (r.match.host_regex) x.host = compile(*r.match.host_regex, false);
      if (r.match.path_regex) x.path = compile(*r.match.path_regex, true);
      for (const HeaderMatch& h : r.match.headers)
        x.headers.push_back(h.kind == Kind::Regex ? compile(h.value, true) : nullptr);
      regexes_.push_back(std::move(x));
    }
  }

  std::optional<size_t> match(const RequestView& req) const {
    const std::string host = lowered(hostOf(req.host));
    for (size_t i = 0; i < routes_.size(); ++i)
      if (holds(routes_[i].match, regexes_[i], host, req)) return i;
    return std::nullopt;
  }

 private:
  struct Regexes {
    std::shared_ptr<RE2> host, path;
    std::vector<std::shared_ptr<RE2>> headers;
  };

  static bool holds(const config::RouteMatch& m, const Regexes& x, const std::string& host,
                    const RequestView& req) {
    if (m.host) {
      const std::string want = lowered(*m.host);
      if (want.starts_with("*.")) {
        const std::string suffix = want.substr(1);
        if (!(host.size() > suffix.size() && host.ends_with(suffix))) return false;
      } else if (host != want) {
        return false;
      }
    }
    if (x.host && !RE2::FullMatch(host, *x.host)) return false;
    if (m.path && req.path != *m.path) return false;
    if (m.path_prefix && req.path.substr(0, m.path_prefix->size()) != *m.path_prefix) return false;
    if (x.path && !RE2::PartialMatch(req.path, *x.path)) return false;
    if (!m.methods.empty()) {
      bool any = false;
      for (const auto& method : m.methods) any = any || method == req.method;
      if (!any) return false;
    }
    for (size_t i = 0; i < m.headers.size(); ++i) {
      const std::string* v = req.headers ? req.headers->find(m.headers[i].name) : nullptr;
      switch (m.headers[i].kind) {
        case Kind::Exact:
          if (!v || *v != m.headers[i].value) return false;
          break;
        case Kind::Regex:
          if (!v || !RE2::PartialMatch(*v, *x.headers[i])) return false;
          break;
        case Kind::Present:
          if (!v) return false;
          break;
        case Kind::Absent:
          if (v) return false;
          break;
      }
    }
    for (const auto& q : m.query) {
      auto v = firstParam(req.query, q.name);
      if (!v || *v != q.value) return false;
    }
    return true;
  }

  std::vector<Route> routes_;
  std::vector<Regexes> regexes_;
};

// --- random routes and requests ---

class Generator {
 public:
  explicit Generator(uint32_t seed) : rng_(seed) {}

  Route route() {
    Route r;
    r.upstream = "u";
    int host = pick(10);
    if (host < 3)
      r.match.host = one({"a.com", "b.com", "x.a.com", "y.x.a.com", "A.Com", "c.org", "::1"});
    else if (host < 5)
      r.match.host = one({"*.a.com", "*.x.a.com", "*.com", "*.b.com", "*.A.COM"});
    else if (host < 6)
      r.match.host_regex = one({"^[xy]\\..*", "a\\.com", ".*b.*", "(?:x|y)\\.a\\.com"});
    if (pick(10) < 2) r.match.path = one({"/", "/a", "/a/b", "/ab", "/b", "/b/c", ""});
    if (pick(10) < 4) r.match.path_prefix = one({"/", "/a", "/a/", "/ab", "/b/c", "/a/b/", ""});
    if (pick(10) < 1) r.match.path_regex = one({"^/a", "b$", "[0-9]", "^/$"});
    if (pick(10) < 2) {
      r.match.methods = {one({"GET", "POST"})};
      if (pick(2)) r.match.methods.push_back("PUT");
    }
    for (int n = pick(10) < 2 ? 1 + pick(2) : 0; n > 0; --n) {
      const char* name = one({"X-A", "x-b"});
      switch (pick(4)) {
        case 0:
          r.match.headers.push_back({name, Kind::Exact, one({"1", "2"})});
          break;
        case 1:
          r.match.headers.push_back({name, Kind::Regex, one({"^1", "2$", "(?i)z"})});
          break;
        case 2:
          r.match.headers.push_back({name, Kind::Present, ""});
          break;
        default:
          r.match.headers.push_back({name, Kind::Absent, ""});
      }
    }
    if (pick(10) < 2) r.match.query.push_back({one({"v", "w"}), one({"1", ""})});
    return r;
  }

  // The request points at string literals and at `headers`, refilled on each call.
  RequestView request(HeaderList& headers) {
    headers = HeaderList();
    if (pick(2)) headers.add(one({"X-A", "x-a"}), one({"1", "2", "12", "Z"}));
    if (pick(3) == 0) headers.add(one({"X-B", "x-b"}), one({"1", "2"}));
    if (pick(4) == 0) headers.add("X-A", "2");
    return RequestView{
        .method = one({"GET", "POST", "PUT", "DELETE", ""}),
        .host = one({"a.com", "A.COM", "b.com", "x.a.com", "X.A.com:8080", "y.x.a.com",
                     "z.y.x.a.com", "a.com.", "c.org", "d.c.org", "com", ".com", "q.com",
                     "[::1]:80", "::1", "", "ab.com", "xa.com"}),
        .path = one({"/", "/a", "/a/", "/a/b", "/a/b/", "/ab", "/abc", "/b", "/b/c", "/b/c/d", "/1",
                     "", "/a/b/9", "/A"}),
        .query = one({"", "v=1", "v=2&v=1", "w", "w=", "a=1&v=1", "v=1&w", "v"}),
        .headers = pick(8) ? &headers : nullptr,
    };
  }

 private:
  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  template <size_t N>
  const char* one(const char* const (&options)[N]) {
    return options[pick(static_cast<int>(N))];
  }

  std::mt19937 rng_;
};

void expectSameAnswers(const std::vector<Route>& routes, Generator& gen, int requests,
                       int& matched) {
  RouteTable table(routes);
  NaiveMatcher naive(routes);
  HeaderList headers;
  for (int i = 0; i < requests; ++i) {
    RequestView req = gen.request(headers);
    auto want = naive.match(req);
    auto got = table.match(req);
    ASSERT_EQ(got, want) << "host '" << req.host << "' path '" << req.path << "' method '"
                         << req.method << "' query '" << req.query << "' among " << routes.size()
                         << " routes";
    if (req.headers == nullptr && req.method.empty() && req.query.empty()) {
      ASSERT_EQ(table.match(req.host, req.path), want);
    }
    matched += want.has_value();
  }
}

TEST(RouteDifferential, IndexAgreesWithNaiveFirstMatchOnManySmallTables) {
  Generator gen(20240601);
  int matched = 0;
  for (int t = 0; t < 400; ++t) {
    std::vector<Route> routes(1 + t % 60);
    for (auto& r : routes) r = gen.route();
    expectSameAnswers(routes, gen, 200, matched);
  }
  EXPECT_GT(matched, 400 * 200 / 5);  // the vocabularies overlap enough to exercise matches
}

TEST(RouteDifferential, IndexAgreesWithNaiveFirstMatchOnLargeTables) {
  Generator gen(7);
  int matched = 0;
  for (int t = 0; t < 3; ++t) {
    std::vector<Route> routes(3000);
    for (auto& r : routes) r = gen.route();
    expectSameAnswers(routes, gen, 5000, matched);
  }
  EXPECT_GT(matched, 3 * 5000 / 2);
}

}  // namespace
}  // namespace weir::routing
