// Stats rendering: a StatsReport built by hand, read back from JSON, from CSV (parsed again) and
// from the Prometheus text (checked line by line by a strict parser of format 0.0.4).
#include "admin/stats_format.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace weir::admin {
namespace {

using server::ServerReport;
using server::StatsReport;
using server::UpstreamReport;

constexpr std::string_view kOddName = "odd\"up\\stream\nname";  // every escaped character

LatencyHistogram histogramOf(std::initializer_list<uint64_t> us) {
  LatencyHistogram h;
  for (uint64_t v : us) h.observe(v);
  return h;
}

ServerReport serverOf(std::string address, uint64_t requests, uint64_t ok, uint64_t errors,
                      LatencyHistogram latency) {
  ServerReport s;
  s.address = std::move(address);
  s.state = "enabled";
  s.traffic.requests = requests;
  s.traffic.responses[2] = ok;
  s.traffic.responses[5] = errors;
  s.latency = latency;
  return s;
}

StatsReport sampleReport() {
  StatsReport r;
  r.totals.connections_accepted = 40;
  r.totals.connections_rejected = 2;
  r.totals.connections_open = 3;
  r.totals.traffic.requests = 100;
  r.totals.traffic.responses[2] = 90;
  r.totals.traffic.responses[4] = 6;
  r.totals.traffic.responses[5] = 4;
  r.totals.traffic.bytes_in = 12'345;
  r.totals.traffic.bytes_out = 678'901;
  r.totals.fail(FailureReason::ConnectFailure);
  r.totals.fail(FailureReason::ConnectFailure);
  r.totals.fail(FailureReason::NoRoute);
  r.totals.tls_handshake_failures = {{"http request", 3}, {"no shared cipher", 2}};
  r.totals.latency = histogramOf({100, 700, 3'000, 3'000, 40'000, 2'000'000, 90'000'000});

  server::ListenerReport l;
  l.name = "public";
  l.address = "127.0.0.1:8080";
  l.connections = 40;
  l.traffic.requests = 100;
  l.traffic.responses[2] = 90;
  l.routes.resize(2);
  l.routes[0].requests = 70;
  l.routes[1].requests = 30;
  l.routes[1].responses[4] = 6;
  r.listeners.push_back(l);

  UpstreamReport web;
  web.name = "web";
  web.servers.push_back(serverOf("127.0.0.1:9001", 50, 48, 2, histogramOf({800, 1'200, 9'000})));
  web.servers.push_back(serverOf("[::1]:9002", 20, 20, 0, histogramOf({30'000, 30'000})));
  web.servers[1].state = "draining";
  web.servers[1].weight = 5;
  web.servers[1].backup = true;
  web.servers[1].in_flight = 2;
  web.servers[1].idle_connections = 4;
  web.servers[0].failures = 3;
  web.servers[0].connect_failures = 1;
  r.upstreams.push_back(web);

  UpstreamReport odd;
  odd.name = std::string(kOddName);
  odd.servers.push_back(serverOf("10.0.0.1:80", 0, 0, 0, {}));
  odd.servers[0].state = "disabled";
  r.upstreams.push_back(odd);
  return r;
}

ProcessInfo sampleInfo() {
  ProcessInfo info;
  info.generation = 7;
  info.uptime_seconds = 12.5;
  info.last_reload_ok = false;
  info.last_reload_generation = 7;
  info.last_reload_at_unix_ms = 1'700'000'000'123;
  info.last_reload_errors = {"weir.yaml:3:1: bogus: unknown key"};
  info.reload_failures = 2;
  return info;
}

// ---------------------------------------------------------------------------------------------
// JSON

TEST(StatsJson, CarriesProcessTotalsListenersAndUpstreams) {
  const auto j = statsJson(sampleReport(), sampleInfo());
  EXPECT_EQ(j["generation"], 7);
  EXPECT_DOUBLE_EQ(j["uptime_seconds"].get<double>(), 12.5);
  EXPECT_EQ(j["last_reload"]["ok"], false);
  EXPECT_EQ(j["last_reload"]["generation"], 7);
  EXPECT_EQ(j["last_reload"]["at"], "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(j["last_reload"]["errors"][0], "weir.yaml:3:1: bogus: unknown key");
  EXPECT_EQ(j["reload_failures"], 2);

  const auto& t = j["totals"];
  EXPECT_EQ(t["connections"]["accepted"], 40);
  EXPECT_EQ(t["connections"]["rejected"], 2);
  EXPECT_EQ(t["connections"]["open"], 3);
  EXPECT_EQ(t["requests"], 100);
  EXPECT_EQ(t["responses"]["2xx"], 90);
  EXPECT_EQ(t["responses"]["4xx"], 6);
  EXPECT_EQ(t["responses"]["5xx"], 4);
  EXPECT_EQ(t["responses"]["1xx"], 0);
  EXPECT_EQ(t["bytes_in"], 12'345);
  EXPECT_EQ(t["bytes_out"], 678'901);
  EXPECT_EQ(t["failures"]["connect_failure"], 2);
  EXPECT_EQ(t["failures"]["no_route"], 1);
  EXPECT_EQ(t["failures"]["bad_request"], 0);
  EXPECT_EQ(t["failures"].size(), static_cast<size_t>(FailureReason::kCount));
  EXPECT_EQ(t["tls_handshake_failures"]["http request"], 3);
  EXPECT_EQ(t["tls_handshake_failures"]["no shared cipher"], 2);
  EXPECT_EQ(t["tls_handshake_failures"].size(), 2u);
  const LatencyHistogram h = sampleReport().totals.latency;
  EXPECT_NEAR(t["latency"]["p50"].get<double>(), h.quantileUs(0.5) / 1000, 0.001);
  EXPECT_NEAR(t["latency"]["p99"].get<double>(), h.quantileUs(0.99) / 1000, 0.001);

  const auto& l = j["listeners"][0];
  EXPECT_EQ(l["name"], "public");
  EXPECT_EQ(l["address"], "127.0.0.1:8080");
  EXPECT_EQ(l["connections"], 40);
  EXPECT_EQ(l["requests"], 100);
  EXPECT_EQ(l["routes"][1]["index"], 1);
  EXPECT_EQ(l["routes"][1]["requests"], 30);
  EXPECT_EQ(l["routes"][1]["responses"]["4xx"], 6);
}

TEST(StatsJson, DescribesEveryUpstreamServer) {
  const auto j = statsJson(sampleReport(), sampleInfo());
  ASSERT_EQ(j["upstreams"].size(), 2u);
  EXPECT_EQ(j["upstreams"][0]["name"], "web");
  EXPECT_EQ(j["upstreams"][1]["name"], std::string(kOddName));
  const auto& s = j["upstreams"][0]["servers"][1];
  EXPECT_EQ(s["address"], "[::1]:9002");
  EXPECT_EQ(s["state"], "draining");
  EXPECT_EQ(s["weight"], 5);
  EXPECT_EQ(s["backup"], true);
  EXPECT_EQ(s["in_flight"], 2);
  EXPECT_EQ(s["idle_connections"], 4);
  EXPECT_EQ(s["requests"], 20);
  EXPECT_EQ(s["responses"]["2xx"], 20);
  EXPECT_EQ(s["failures"], 0);
  // Both observations fell in the 25..50 ms bucket: interpolated inside it.
  EXPECT_NEAR(s["latency"]["p50"].get<double>(), 37.5, 0.001);
  const auto& first = j["upstreams"][0]["servers"][0];
  EXPECT_EQ(first["failures"], 3);
  EXPECT_EQ(first["connect_failures"], 1);
  // An upstream with no traffic reports zero latency rather than nothing.
  EXPECT_EQ(j["upstreams"][1]["servers"][0]["latency"]["p90"], 0.0);
}

// ---------------------------------------------------------------------------------------------
// CSV

std::vector<std::vector<std::string>> parseCsv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      EXPECT_TRUE(field.empty()) << "quote inside an unquoted field";
      quoted = true;
    } else if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
    } else if (c == '\r') {
      EXPECT_EQ(text[i + 1], '\n') << "bare CR";
    } else if (c == '\n') {
      row.push_back(std::move(field));
      field.clear();
      rows.push_back(std::move(row));
      row.clear();
    } else {
      field += c;
    }
  }
  EXPECT_FALSE(quoted);
  EXPECT_TRUE(field.empty() && row.empty()) << "last line without CRLF";
  return rows;
}

TEST(StatsCsv, HasAHeaderAndOneRowPerServer) {
  const auto rows = parseCsv(statsCsv(sampleReport()));
  ASSERT_EQ(rows.size(), 4u);
  const std::vector<std::string> header = {
      "upstream",         "server", "state",  "weight", "backup", "in_flight",
      "requests",         "2xx",    "3xx",    "4xx",    "5xx",    "failures",
      "connect_failures", "p50_ms", "p90_ms", "p99_ms"};
  EXPECT_EQ(rows[0], header);
  for (const auto& row : rows) EXPECT_EQ(row.size(), header.size());

  EXPECT_EQ(rows[1][0], "web");
  EXPECT_EQ(rows[1][1], "127.0.0.1:9001");
  EXPECT_EQ(rows[1][2], "enabled");
  EXPECT_EQ(rows[1][6], "50");
  EXPECT_EQ(rows[1][7], "48");
  EXPECT_EQ(rows[1][10], "2");
  EXPECT_EQ(rows[1][11], "3");
  EXPECT_EQ(rows[1][12], "1");

  EXPECT_EQ(rows[2][1], "[::1]:9002");
  EXPECT_EQ(rows[2][2], "draining");
  EXPECT_EQ(rows[2][3], "5");
  EXPECT_EQ(rows[2][4], "true");
  EXPECT_EQ(rows[2][5], "2");
  EXPECT_EQ(rows[2][13], "37.500");

  EXPECT_EQ(rows[3][0], std::string(kOddName));  // quoted and read back intact
  EXPECT_EQ(rows[3][2], "disabled");
  EXPECT_EQ(rows[3][15], "0.000");
}

// ---------------------------------------------------------------------------------------------
// Prometheus text format 0.0.4, checked strictly.

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  std::string le;  // the `le` label, kept apart
  double value = 0;
};

struct Family {
  std::string type;
  std::string help;
  std::vector<Sample> samples;
};

bool isMetricName(std::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const bool ok = std::isalpha(c) || c == '_' || c == ':' || (i > 0 && std::isdigit(c));
    if (!ok) return false;
  }
  return true;
}

bool isLabelName(std::string_view s) {
  if (s.empty() || s.starts_with("__")) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (!(std::isalpha(c) || c == '_' || (i > 0 && std::isdigit(c)))) return false;
  }
  return true;
}

bool parseValue(std::string_view text, double& out) {
  if (text == "+Inf") {
    out = INFINITY;
    return true;
  }
  if (text == "-Inf") {
    out = -INFINITY;
    return true;
  }
  if (text == "NaN") {
    out = NAN;
    return true;
  }
  if (text.empty()) return false;
  std::string s(text);
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

// Parses `name{a="x",b="y"} value`; records a failure and returns false on anything else.
bool parseSample(std::string_view line, Sample& s) {
  size_t i = 0;
  while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
  s.name = std::string(line.substr(0, i));
  if (!isMetricName(s.name)) {
    ADD_FAILURE() << "bad metric name in: " << line;
    return false;
  }
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      size_t eq = line.find('=', i);
      if (eq == std::string_view::npos) return false;
      std::string name(line.substr(i, eq - i));
      if (!isLabelName(name)) {
        ADD_FAILURE() << "bad label name '" << name << "' in: " << line;
        return false;
      }
      i = eq + 1;
      if (i >= line.size() || line[i] != '"') {
        ADD_FAILURE() << "unquoted label value in: " << line;
        return false;
      }
      ++i;
      std::string value;
      for (; i < line.size() && line[i] != '"'; ++i) {
        if (line[i] == '\\') {
          ++i;
          if (i >= line.size()) return false;
          if (line[i] == 'n') {
            value += '\n';
          } else if (line[i] == '\\' || line[i] == '"') {
            value += line[i];
          } else {
            ADD_FAILURE() << "bad escape in: " << line;
            return false;
          }
        } else if (line[i] == '\n') {
          return false;
        } else {
          value += line[i];
        }
      }
      if (i >= line.size()) return false;
      ++i;  // closing quote
      if (s.labels.count(name) || (name == "le" && !s.le.empty())) {
        ADD_FAILURE() << "duplicate label in: " << line;
        return false;
      }
      if (name == "le") {
        s.le = value;
      } else {
        s.labels[name] = value;
      }
      if (i < line.size() && line[i] == ',') ++i;
    }
    if (i >= line.size()) return false;
    ++i;  // '}'
  }
  if (i >= line.size() || line[i] != ' ') {
    ADD_FAILURE() << "no value in: " << line;
    return false;
  }
  if (!parseValue(line.substr(i + 1), s.value)) {
    ADD_FAILURE() << "bad value in: " << line;
    return false;
  }
  return true;
}

// The family a sample belongs to: its own name, or for histograms the name before the suffix.
std::string familyOf(const std::string& sample, const std::map<std::string, Family>& families) {
  if (families.count(sample)) return sample;
  for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
    if (sample.size() > suffix.size() && sample.ends_with(suffix)) {
      std::string base = sample.substr(0, sample.size() - suffix.size());
      auto it = families.find(base);
      if (it != families.end() && it->second.type == "histogram") return base;
    }
  }
  return {};
}

std::map<std::string, Family> parseExposition(const std::string& text) {
  std::map<std::string, Family> families;
  std::set<std::string> finished;  // families whose samples have ended
  std::string current;
  EXPECT_TRUE(text.ends_with('\n'));
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    EXPECT_FALSE(line.empty()) << "empty line";
    EXPECT_EQ(line.find('\r'), std::string::npos);
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      const bool help = line[2] == 'H';
      std::string rest = line.substr(7);
      const size_t sp = rest.find(' ');
      if (sp == std::string::npos) {
        ADD_FAILURE() << "no text after the name: " << line;
        continue;
      }
      std::string name = rest.substr(0, sp);
      std::string arg = rest.substr(sp + 1);
      EXPECT_TRUE(isMetricName(name)) << line;
      EXPECT_TRUE(name.starts_with("weir_")) << line;
      if (name != current) {
        EXPECT_EQ(finished.count(name), 0u) << "family " << name << " is not contiguous";
        if (!current.empty()) finished.insert(current);
        current = name;
      }
      Family& f = families[name];
      EXPECT_TRUE(f.samples.empty()) << "HELP/TYPE after samples of " << name;
      if (help) {
        EXPECT_TRUE(f.help.empty()) << "second HELP for " << name;
        EXPECT_FALSE(arg.empty());
        f.help = arg;
      } else {
        EXPECT_TRUE(f.type.empty()) << "second TYPE for " << name;
        EXPECT_TRUE(arg == "counter" || arg == "gauge" || arg == "histogram") << line;
        f.type = arg;
      }
      continue;
    }
    EXPECT_NE(line[0], '#') << "unknown comment: " << line;
    Sample s;
    if (!parseSample(line, s)) {
      ADD_FAILURE() << "unparsable: " << line;
      continue;
    }
    const std::string family = familyOf(s.name, families);
    EXPECT_FALSE(family.empty()) << "sample without a TYPE: " << line;
    EXPECT_EQ(family, current) << "sample outside its family's group: " << line;
    if (family.empty()) continue;
    Family& f = families[family];
    if (f.type == "counter") {
      EXPECT_TRUE(s.name.ends_with("_total")) << line;
    }
    if (f.type != "histogram") {
      EXPECT_TRUE(s.le.empty()) << line;
    }
    EXPECT_GE(s.value, 0) << line;
    f.samples.push_back(std::move(s));
  }
  for (const auto& [name, f] : families) {
    EXPECT_FALSE(f.type.empty()) << name << " has no TYPE";
    EXPECT_FALSE(f.help.empty()) << name << " has no HELP";
    EXPECT_FALSE(f.samples.empty()) << name << " has no samples";
  }
  return families;
}

// Buckets of each series ascend in `le`, are cumulative and end with +Inf == _count; _sum is there.
void checkHistogram(const std::string& name, const Family& f) {
  std::map<std::map<std::string, std::string>, std::vector<const Sample*>> series;
  for (const auto& s : f.samples) series[s.labels].push_back(&s);
  for (const auto& [labels, samples] : series) {
    double last_le = -1, last_count = 0, count = -1, sum = -1;
    bool inf = false;
    for (const Sample* s : samples) {
      if (s->name == name + "_bucket") {
        EXPECT_FALSE(inf) << "bucket after +Inf in " << name;
        double le = 0;
        ASSERT_TRUE(parseValue(s->le, le)) << name << " le=" << s->le;
        EXPECT_GT(le, last_le) << name;
        EXPECT_GE(s->value, last_count) << name << ": buckets are not cumulative";
        last_le = le;
        last_count = s->value;
        inf = std::isinf(le);
      } else if (s->name == name + "_sum") {
        sum = s->value;
      } else if (s->name == name + "_count") {
        count = s->value;
      } else {
        ADD_FAILURE() << "unexpected sample " << s->name << " in histogram " << name;
      }
    }
    EXPECT_TRUE(inf) << name << " has no +Inf bucket";
    EXPECT_EQ(count, last_count) << name << ": +Inf bucket != _count";
    EXPECT_GE(sum, 0) << name << " has no _sum";
  }
}

double valueOf(const Family& f, const std::string& name,
               const std::map<std::string, std::string>& labels, const std::string& le = {}) {
  for (const auto& s : f.samples)
    if (s.name == name && s.labels == labels && s.le == le) return s.value;
  ADD_FAILURE() << "no sample " << name;
  return -1;
}

TEST(MetricsText, IsValidExpositionFormat) {
  const auto families = parseExposition(statsPrometheus(sampleReport(), sampleInfo()));
  for (const auto& [name, f] : families)
    if (f.type == "histogram") checkHistogram(name, f);
  EXPECT_EQ(families.at("weir_request_duration_seconds").type, "histogram");
  EXPECT_EQ(families.at("weir_upstream_request_duration_seconds").type, "histogram");
  EXPECT_EQ(families.at("weir_connections_open").type, "gauge");
  EXPECT_EQ(families.at("weir_upstream_in_flight").type, "gauge");
  EXPECT_EQ(families.at("weir_requests_total").type, "counter");
}

TEST(MetricsText, ReportsTheCounters) {
  const auto fams = parseExposition(statsPrometheus(sampleReport(), sampleInfo()));
  auto v = [&](const std::string& family, const std::map<std::string, std::string>& labels = {}) {
    return valueOf(fams.at(family), family, labels);
  };
  EXPECT_EQ(v("weir_config_generation"), 7);
  EXPECT_EQ(v("weir_reload_failures_total"), 2);
  EXPECT_EQ(v("weir_connections_accepted_total"), 40);
  EXPECT_EQ(v("weir_connections_rejected_total"), 2);
  EXPECT_EQ(v("weir_connections_open"), 3);
  EXPECT_EQ(v("weir_requests_total"), 100);
  EXPECT_EQ(v("weir_responses_total", {{"class", "2xx"}}), 90);
  EXPECT_EQ(v("weir_responses_total", {{"class", "5xx"}}), 4);
  EXPECT_EQ(v("weir_bytes_received_total"), 12'345);
  EXPECT_EQ(v("weir_bytes_sent_total"), 678'901);
  EXPECT_EQ(v("weir_failures_total", {{"reason", "connect_failure"}}), 2);
  EXPECT_EQ(v("weir_failures_total", {{"reason", "no_route"}}), 1);
  EXPECT_EQ(fams.at("weir_failures_total").samples.size(),
            static_cast<size_t>(FailureReason::kCount));
  EXPECT_EQ(v("weir_tls_handshake_failures_total", {{"reason", "http request"}}), 3);
  EXPECT_EQ(v("weir_tls_handshake_failures_total", {{"reason", "no shared cipher"}}), 2);
  EXPECT_EQ(fams.at("weir_tls_handshake_failures_total").type, "counter");

  const std::map<std::string, std::string> s0 = {{"upstream", "web"}, {"server", "127.0.0.1:9001"}};
  const std::map<std::string, std::string> s1 = {{"upstream", "web"}, {"server", "[::1]:9002"}};
  EXPECT_EQ(v("weir_upstream_requests_total", s0), 50);
  auto with = [](std::map<std::string, std::string> l, const char* k, const char* val) {
    l[k] = val;
    return l;
  };
  EXPECT_EQ(v("weir_upstream_responses_total", with(s0, "class", "5xx")), 2);
  EXPECT_EQ(v("weir_upstream_in_flight", s1), 2);
  EXPECT_EQ(v("weir_upstream_idle_connections", s1), 4);
  EXPECT_EQ(v("weir_upstream_weight", s1), 5);
  EXPECT_EQ(v("weir_upstream_state", with(s1, "state", "draining")), 1);
  EXPECT_EQ(v("weir_upstream_state", with(s1, "state", "enabled")), 0);
  EXPECT_EQ(v("weir_upstream_failures_total", s0), 3);
  EXPECT_EQ(v("weir_upstream_connect_failures_total", s0), 1);
  EXPECT_EQ(v("weir_listener_requests_total", {{"listener", "public"}}), 100);
  EXPECT_EQ(v("weir_route_requests_total", {{"listener", "public"}, {"route", "1"}}), 30);
}

TEST(MetricsText, HistogramsUseTheLatencyBucketsInSeconds) {
  const auto fams = parseExposition(statsPrometheus(sampleReport(), sampleInfo()));
  const Family& f = fams.at("weir_request_duration_seconds");
  const std::string b = "weir_request_duration_seconds_bucket";
  EXPECT_EQ(valueOf(f, b, {}, "0.0005"), 1);  // 100us
  EXPECT_EQ(valueOf(f, b, {}, "0.001"), 2);   // + 700us
  EXPECT_EQ(valueOf(f, b, {}, "0.005"), 4);   // + 2 x 3ms
  EXPECT_EQ(valueOf(f, b, {}, "2.5"), 6);     // + 40ms, 2s
  EXPECT_EQ(valueOf(f, b, {}, "60"), 6);
  EXPECT_EQ(valueOf(f, b, {}, "+Inf"), 7);  // 90s is past the last bound
  EXPECT_EQ(valueOf(f, "weir_request_duration_seconds_count", {}), 7);
  EXPECT_DOUBLE_EQ(valueOf(f, "weir_request_duration_seconds_sum", {}), 92.0468);

  const Family& u = fams.at("weir_upstream_request_duration_seconds");
  EXPECT_EQ(u.samples.size(), 3 * (LatencyHistogram::kBuckets + 2));  // three servers
  EXPECT_EQ(valueOf(u, "weir_upstream_request_duration_seconds_bucket",
                    {{"upstream", "web"}, {"server", "[::1]:9002"}}, "0.025"),
            0);
  EXPECT_EQ(valueOf(u, "weir_upstream_request_duration_seconds_bucket",
                    {{"upstream", "web"}, {"server", "[::1]:9002"}}, "0.05"),
            2);
}

TEST(MetricsText, EscapesLabelValues) {
  const std::string text = statsPrometheus(sampleReport(), sampleInfo());
  EXPECT_NE(text.find("upstream=\"odd\\\"up\\\\stream\\nname\""), std::string::npos);
  const auto fams = parseExposition(text);
  EXPECT_EQ(valueOf(fams.at("weir_upstream_requests_total"), "weir_upstream_requests_total",
                    {{"upstream", std::string(kOddName)}, {"server", "10.0.0.1:80"}}),
            0);
}

TEST(MetricsText, AnEmptyReportIsStillValid) {
  const auto fams = parseExposition(statsPrometheus(StatsReport{}, ProcessInfo{}));
  EXPECT_EQ(fams.count("weir_upstream_requests_total"), 0u);  // no samples: no family at all
  checkHistogram("weir_request_duration_seconds", fams.at("weir_request_duration_seconds"));
}

TEST(StatsTime, FormatsRfc3339InUtc) {
  EXPECT_EQ(rfc3339(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(rfc3339(1'700'000'000'123), "2023-11-14T22:13:20.123Z");
}

}  // namespace
}  // namespace weir::admin
