// weir: command line (nginx conventions), config loading, then the Server.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "admin/admin_api.h"
#include "admin/admin_server.h"
#include "config/config.h"
#include "core/log.h"
#include "proxy/snapshot.h"
#include "server/server.h"

#ifndef WEIR_VERSION
#define WEIR_VERSION "0.0.0"
#endif

namespace {

constexpr const char* kDefaultConfig = "/etc/weir/weir.yaml";

void usage(FILE* out) {
  std::fprintf(out,
               "Usage: weir [-c FILE] [-t] [-v] [-h]\n"
               "  -c FILE      use this configuration file (default %s)\n"
               "  -t           test the configuration and exit (0 when valid)\n"
               "  -v, --version  print the version and exit\n"
               "  -h, --help   print this help and exit\n",
               kDefaultConfig);
}

/// Loads and fully checks the config, printing every error. Null on failure.
std::shared_ptr<const weir::config::Config> load(const std::string& path) {
  auto result = weir::config::loadFile(path);
  if (!result.ok()) {
    for (const auto& e : result.errors) std::fprintf(stderr, "%s\n", e.str().c_str());
    return nullptr;
  }
  auto config = std::make_shared<const weir::config::Config>(std::move(*result.config));
  auto snapshot = weir::proxy::Snapshot::build(config, 0);
  if (!snapshot) {
    std::fprintf(stderr, "%s: %s\n", path.c_str(), snapshot.error().detail.c_str());
    return nullptr;
  }
  return config;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path = kDefaultConfig;
  bool test_only = false;
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    if (!std::strcmp(a, "-c") && i + 1 < argc) {
      path = argv[++i];
    } else if (!std::strcmp(a, "-t")) {
      test_only = true;
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
