// The process's open-file limit, sized from the config: every client connection may hold an
// upstream socket too, and each worker pools idle upstream connections. Main thread, at start
// and on reload (HAProxy sizes its limit from maxconn the same way).
#pragma once

#include <cstdint>

#include "config/config.h"

namespace weir::server {

/// Files a config can have open at once: two sockets per allowed connection, every idle pooled
/// upstream connection of every worker, and 256 for listeners, logs, health checks and the rest.
uint64_t openFilesWanted(const config::Config& config, uint64_t workers);

/// Raises the soft RLIMIT_NOFILE to `wanted`, or to the hard limit when that is lower (never
/// lowers it), and logs what it did; warns when the hard limit is below `wanted`.
void raiseOpenFileLimit(uint64_t wanted);

}  // namespace weir::server
