#include "server/open_file_limit.h"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/log.h"

namespace weir::server {

uint64_t openFilesWanted(const config::Config& config, uint64_t workers) {
  uint64_t pooled = 0;
  for (const auto& up : config.upstreams) pooled += up.servers.size() * up.keepalive.max_idle;
  return 2 * config.limits.max_connections + workers * pooled + 256;
}

void raiseOpenFileLimit(uint64_t wanted) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  const rlim_t hard = lim.rlim_max;
  const rlim_t target = hard == RLIM_INFINITY ? static_cast<rlim_t>(wanted)
                                              : std::min<rlim_t>(static_cast<rlim_t>(wanted), hard);
  if (target > lim.rlim_cur) {
    const rlim_t before = lim.rlim_cur;
    lim.rlim_cur = target;
    if (setrlimit(RLIMIT_NOFILE, &lim) == 0) {
      log::notice("open-file limit raised from ", before, " to ", target);
    } else {
      log::warn("cannot raise the open-file limit from ", before, " to ", target, ": ",
                std::strerror(errno));
    }
  }
  if (hard != RLIM_INFINITY && hard < wanted) {
    log::warn("open-file limit is ", hard, " (the hard limit) but the config can use about ",
              wanted,
              " (two per limits.max_connections, plus pooled upstream connections); "
              "connections beyond it fail. Raise the hard limit (LimitNOFILE= in the systemd "
              "unit, ulimit -Hn) or lower limits.max_connections");
  }
}

}  // namespace weir::server
