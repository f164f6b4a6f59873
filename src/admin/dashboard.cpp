#include "admin/dashboard.h"

#include <charconv>
#include <chrono>

#include "admin/dashboard_assets.h"
#include "admin/stats_format.h"
#include "core/log.h"

namespace weir::admin {
namespace {

using json = nlohmann::ordered_json;

constexpr uint64_t kRetryMs = 2'000;  // a browser's wait before it reconnects to /events

uint64_t unixMs() {
  using namespace std::chrono;
  return static_cast<uint64_t>(
      duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string_view contentTypeOf(std::string_view name) {
  auto ends = [&](std::string_view ext) {
    return name.size() >= ext.size() && name.substr(name.size() - ext.size()) == ext;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

const EmbeddedAsset* findAsset(std::string_view name) {
  for (const auto& a : dashboardAssets())
    if (a.name == name) return &a;
  return nullptr;
}

// Headers of everything the page loads: this origin only, no framing, no sniffing.
void addPageHeaders(AdminResponse& r) {
  r.headers.push_back({"Content-Security-Policy", std::string(Dashboard::kContentSecurityPolicy)});
  r.headers.push_back({"X-Content-Type-Options", "nosniff"});
  r.headers.push_back({"X-Frame-Options", "DENY"});
  r.headers.push_back({"Referrer-Policy", "no-referrer"});
}

std::optional<uint64_t> parseUint(std::string_view text) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return v;
}

AdminResponse errorResponse(int status, const std::string& message) {
  AdminResponse r;
  r.status = status;
  r.body = dump(json{{"error", message}}) + "\n";
  return r;
}

}  // namespace

std::optional<std::string_view> queryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name)
      return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
  }
  return std::nullopt;
}

Dashboard::Dashboard(server::Server& server) : server_(server) {}

Dashboard::~Dashboard() { stop(); }

void Dashboard::start() {
  if (timer_) return;
  alive_ = std::make_shared<bool>(true);
  builder_.reset();
  collecting_ = false;
  timer_ = std::make_unique<net::Timer>(server_.loop());
  timer_->start(kInterval, [this] { onTick(); });
}

void Dashboard::stop() {
  if (alive_) *alive_ = false;
  alive_.reset();
  timer_.reset();  // closes the handle
  streams_.closeAll();
  collecting_ = false;
}

std::shared_ptr<void> Dashboard::lease() {
  if (auto held = lease_.lock()) return held;
  start();
  struct Lease {
    explicit Lease(Dashboard* d) : dashboard(d) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { dashboard->stop(); }
    Dashboard* dashboard;
  };
  std::shared_ptr<void> held = std::make_shared<Lease>(this);
  lease_ = held;
  return held;
}

void Dashboard::onTick() {
  timer_->restart(kInterval);
  if (collecting_) return;  // the workers have not answered the previous tick yet
  collecting_ = true;
  server_.collectStats([this, alive = alive_](server::StatsReport report) {
    if (!*alive) return;  // stopped in between
    collecting_ = false;
    onReport(report);
  });
}

void Dashboard::onReport(const server::StatsReport& report) {
  Sample sample;
  auto health = [this](const std::string& upstream, const std::string& address) {
    return server_.healthOf(upstream, address);
  };
  const auto config = server_.config();
  if (!builder_.next(report, unixMs(), server_.generation(), config.get(), health, sample))
    return;  // the baseline
  history_.push(std::move(sample));
  if (streams_.size() > 0) streams_.broadcast(eventFor(*history_.newest()));
}

json Dashboard::statusJson() const {
  const server::ReloadResult& last = server_.lastReload();
  return json{{"ok", last.ok},
              {"generation", last.generation},
              {"at", rfc3339(last.at_unix_ms)},
              {"at_unix_ms", last.at_unix_ms},
              {"errors", last.errors},
              {"failures", server_.reloadFailures()}};
}

std::string Dashboard::eventFor(const Sample& sample) const {
  json j = sampleJson(sample);
  j["reload"] = statusJson();
  return sseFrame(dump(j), sample.at_unix_ms);
}

bool Dashboard::handle(const AdminRequest& request, std::string_view path, std::string_view query,
                       const Reply& reply) {
  std::string_view file;
  if (path == "/" || path == "/dashboard" || path == "/dashboard/") {
    file = "index.html";
  } else if (path == "/dashboard.js" || path == "/dashboard.css" || path == "/chart.umd.js") {
    file = path.substr(1);
  } else if (path == "/stats/history") {
    serveHistory(query, reply);
    return true;
  } else if (path == "/events") {
    serveEvents(request, query, reply);
    return true;
  } else {
    return false;
  }
  const EmbeddedAsset* asset = findAsset(file);
  if (!asset) {
    reply(errorResponse(404, "this build has no " + std::string(file)));
    return true;
  }
  AdminResponse r;
  r.content_type = std::string(contentTypeOf(file));
  r.body.assign(asset->body);
  addPageHeaders(r);
  reply(std::move(r));
  return true;
}

void Dashboard::serveHistory(std::string_view query, const Reply& reply) {
  uint64_t since = 0;
  if (auto v = queryParam(query, "since")) {
    auto n = parseUint(*v);
    if (!n) {
      reply(errorResponse(400, "since must be a Unix time in milliseconds"));
      return;
    }
    since = *n;
  }
  json samples = json::array();
  for (size_t i = 0; i < history_.size(); ++i) {
    const Sample& s = history_.at(i);
    if (s.at_unix_ms > since) samples.push_back(sampleJson(s));
  }
  json body{{"interval_ms", kInterval.count()},
            {"capacity", history_.capacity()},
            {"generation", server_.generation()},
            {"reload", statusJson()},
            {"samples", std::move(samples)}};
  AdminResponse r;
  r.body = dump(body) + "\n";
  reply(std::move(r));
}

// The stream starts with a reconnect delay and the samples the client missed: those after
// ?since=T or after the Last-Event-ID a reconnecting browser sends (event ids are sample
// times); without either, the newest sample.
void Dashboard::serveEvents(const AdminRequest& request, std::string_view query,
                            const Reply& reply) {
  if (!running()) {
    reply(errorResponse(503, "the dashboard's sampling is not running"));
    return;
  }
  if (streams_.full()) {
    AdminResponse r = errorResponse(503, "too many /events clients (at most " +
                                             std::to_string(EventStreams::kMaxClients) + ")");
    r.headers.push_back({"Retry-After", "5"});
    reply(std::move(r));
    return;
  }
  // A browser reconnects to the same URL, adding Last-Event-ID: the later of the two wins.
  std::optional<uint64_t> since;
  if (auto v = queryParam(query, "since")) since = parseUint(*v);
  if (const std::string* last = request.head.find("last-event-id"))
    if (auto id = parseUint(*last); id && (!since || *id > *since)) since = id;
  AdminResponse r;
  r.content_type = "text/event-stream";
  r.body = sseRetry(kRetryMs);
  if (since) {
    for (size_t i = 0; i < history_.size(); ++i)
      if (history_.at(i).at_unix_ms > *since) r.body += eventFor(history_.at(i));
  } else if (const Sample* newest = history_.newest()) {
    r.body += eventFor(*newest);
  }
  r.headers.push_back({"X-Content-Type-Options", "nosniff"});
  r.on_stream = [this, alive = alive_](StreamWriter writer) {
    if (*alive) {
      streams_.add(std::move(writer));
    } else {
      writer.close();  // stopped meanwhile: nothing will follow
    }
  };
  reply(std::move(r));
}

}  // namespace weir::admin
