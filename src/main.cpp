// weir: command line (nginx conventions), config loading, then the Server.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "admin/admin_api.h"
#include "admin/admin_server.h"
#include "config/config.h"
#include "core/ascii.h"
#include "core/log.h"
#include "http/message.h"
#include "proxy/snapshot.h"
#include "routing/request_view.h"
#include "server/pid_file.h"
#include "server/server.h"

#ifndef WEIR_VERSION
#define WEIR_VERSION "0.0.0"
#endif

namespace {

constexpr const char* kDefaultConfig = "/etc/weir/weir.yaml";

void usage(FILE* out) {
  std::fprintf(out,
               "Usage: weir [-c FILE] [-t] [-s stop|quit|reopen|reload] [-v] [-h]\n"
               "       weir --explain -c FILE 'METHOD URL' [-H 'Name: value']...\n"
               "  -c FILE      use this configuration file (default %s)\n"
               "  -t           test the configuration and exit (0 when valid)\n"
               "  -s SIGNAL    signal the running instance (through its pid file); reload waits\n"
               "               for the outcome and exits 1 when the new config was refused\n"
               "  --explain    show which route a request would take, and why not the others\n"
               "  -v, --version  print the version and exit\n"
               "  -h, --help   print this help and exit\n",
               kDefaultConfig);
}

/// `weir --explain`: which listener and route a request would take and why the routes before
/// it did not match, then the upstream and policy that would serve it.
int explain(const weir::config::Config& config, const std::string& request,
            const std::vector<std::string>& headers) {
  const size_t space = request.find(' ');
  if (space == std::string::npos) {
    std::fprintf(stderr, "weir: --explain takes 'METHOD URL', e.g. 'GET http://host/path'\n");
    return 2;
  }
  const std::string method = request.substr(0, space);
  std::string url = request.substr(space + 1);
  std::string authority;
  std::string target = url;
  if (size_t scheme = url.find("://"); scheme != std::string::npos) {
    size_t start = scheme + 3;
    size_t end = url.find_first_of("/?", start);
    authority = url.substr(start, end == std::string::npos ? std::string::npos : end - start);
    target = end == std::string::npos ? "/" : url.substr(end);
  }
  weir::routing::HeaderList list;
  for (const auto& h : headers) {
    size_t colon = h.find(':');
    if (colon == std::string::npos) continue;
    size_t v = h.find_first_not_of(" \t", colon + 1);
    list.add(h.substr(0, colon), v == std::string::npos ? "" : h.substr(v));
    if (authority.empty() && weir::iequals(h.substr(0, colon), "host"))
      authority = h.substr(v == std::string::npos ? h.size() : v);
  }
  // The path routes see (http::normalizeTargetPath, as the parser applies it).
  switch (weir::http::normalizeTargetPath(target)) {
    case weir::http::PathCheck::BadPercent:
      std::printf("-> 400 (invalid percent-encoding in the path)\n");
      return 0;
    case weir::http::PathCheck::AboveRoot:
      std::printf("-> 400 (the path climbs above the root)\n");
      return 0;
    case weir::http::PathCheck::Normalized:
      std::printf("path normalized to %s\n", target.c_str());
      break;
    case weir::http::PathCheck::Unchanged:
      break;
  }
  const size_t q = target.find('?');
  const std::string path = target.substr(0, q);
  const std::string query = q == std::string::npos ? "" : target.substr(q + 1);
  // The listener: the one whose port the URL names, else the first.
  size_t li = 0;
  if (size_t colon = authority.rfind(':');
      colon != std::string::npos && authority.find(']', colon) == std::string::npos) {
    const std::string port = authority.substr(colon + 1);
    for (size_t i = 0; i < config.listeners.size(); ++i)
      if (std::to_string(config.listeners[i].listen.port) == port) li = i;
  }
  auto cfg = std::make_shared<const weir::config::Config>(config);
  auto built = weir::proxy::Snapshot::build(cfg, 0);
  if (!built.ok()) {
    for (const auto& e : built.errors) std::fprintf(stderr, "%s\n", e.str().c_str());
    return 1;
  }
  const auto& lv = built.snapshot->listeners[li];
  std::printf("listener %s (%s)\n", lv.config->name.c_str(), lv.config->listen.text.c_str());
  const weir::routing::RequestView view{method, authority, path, query, &list};
  std::printf("%s", lv.routes.explain(view).c_str());
  auto index = lv.routes.match(view);
  if (!index) {
    std::printf("-> 404 (no route)\n");
    return 0;
  }
  const weir::config::Route& route = lv.config->routes[*index];
  if (route.upstream) {
    const weir::config::Upstream* up = cfg->findUpstream(*route.upstream);
    std::printf("-> upstream %s, balance %s", up->name.c_str(), up->balance.c_str());
    if (up->hash_key) std::printf(" by %s", up->hash_key->text.c_str());
    std::printf(", servers:");
    for (const auto& s : up->servers)
      std::printf(" %s%s", s.address.text.c_str(), s.backup ? " (backup)" : "");
    if (route.strip_prefix || route.add_prefix || route.rewrite)
      std::printf("\n   path sent upstream: %s", lv.routes.rewritePath(*index, path).c_str());
    std::printf("\n");
  } else if (route.respond) {
    std::printf("-> answered by weir: %d\n", route.respond->status);
  } else if (route.redirect) {
    std::printf("-> redirect %d to %s\n", route.redirect->status, route.redirect->location.c_str());
  }
  return 0;
}

/// Loads and fully checks the config, printing every error. Null on failure.
std::shared_ptr<const weir::config::Config> load(const std::string& path) {
  auto result = weir::config::loadFile(path);
  if (!result.ok()) {
    for (const auto& e : result.errors) std::fprintf(stderr, "%s\n", e.str().c_str());
    return nullptr;
  }
  auto config = std::make_shared<const weir::config::Config>(std::move(*result.config));
  auto built = weir::proxy::Snapshot::build(config, 0);
  if (!built.ok()) {
    for (const auto& e : built.errors) std::fprintf(stderr, "%s\n", e.str().c_str());
    return nullptr;
  }
  return config;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path = kDefaultConfig;
  bool test_only = false;
  std::string signal_name;
  bool explaining = false;
  std::string explain_request;
  std::vector<std::string> explain_headers;
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    if (!std::strcmp(a, "-c") && i + 1 < argc) {
      path = argv[++i];
    } else if (!std::strcmp(a, "-t")) {
      test_only = true;
    } else if (!std::strcmp(a, "-s") && i + 1 < argc) {
      signal_name = argv[++i];
    } else if (!std::strcmp(a, "--explain")) {
      explaining = true;
    } else if (!std::strcmp(a, "-H") && i + 1 < argc) {
      explain_headers.push_back(argv[++i]);
    } else if (explaining && a[0] != '-' && explain_request.empty()) {
      explain_request = a;
    } else if (!std::strcmp(a, "-v") || !std::strcmp(a, "--version")) {
      std::printf("weir version %s\n", WEIR_VERSION);
      return 0;
    } else if (!std::strcmp(a, "-h") || !std::strcmp(a, "--help")) {
      usage(stdout);
      return 0;
    } else {
      std::fprintf(stderr, "weir: unknown argument '%s'\n", a);
      usage(stderr);
      return 2;
    }
  }
  auto config = load(path);
  if (explaining) {
    if (!config) return 1;
    if (explain_request.empty()) {
      usage(stderr);
      return 2;
    }
    return explain(*config, explain_request, explain_headers);
  }
  if (!signal_name.empty()) {
    // The pid file comes from the config; a reload with an invalid file would fail anyway.
    if (!config) return 1;
    if (config->pid_file.empty() || config->pid_file == "off") {
      std::fprintf(stderr, "weir: pid_file is off in %s: -s needs it\n", path.c_str());
      return 1;
    }
    return weir::server::signalRunning(config->pid_file, signal_name, 30'000);
  }
  if (test_only) {
    if (!config) {
      std::fprintf(stderr, "weir: configuration file %s test failed\n", path.c_str());
      return 1;
    }
    std::fprintf(stderr, "weir: configuration file %s test is successful\n", path.c_str());
    return 0;
  }
  if (!config) return 1;
  weir::server::Server server(config);

  // The admin endpoint runs on the control loop. Its socket is opened first, so that a bad
  // address stops start-up; the server is started by the hook once the workers run.
  weir::admin::AdminApi admin_api(server);
  std::unique_ptr<weir::admin::AdminServer> admin;
  int admin_fd = -1;
  if (config->admin) {
    auto fd = weir::admin::AdminServer::openSocket(config->admin->listen);
    if (!fd) {
      weir::log::error("admin: ", fd.error().detail);
      return 1;
    }
    admin_fd = *fd;
    server.setHooks(
        [&](weir::server::Server& s) {
          auto started = weir::admin::AdminServer::start(s.loop(), std::exchange(admin_fd, -1),
                                                         admin_api.handler());
          if (!started) {
            weir::log::error(started.error().detail);
            return;
          }
          admin = std::move(*started);
          weir::log::notice("admin on ", admin->address().str());
        },
        [&] {
          if (admin) admin->close();
          admin.reset();
        });
  }
  int rc = server.run();
  if (admin_fd >= 0) ::close(admin_fd);  // the server never started
  return rc;
}
