// The pid file and its companion status file, through which `weir -s reload` finds the running
// instance and learns how its reload went (nginx's `-s`, with an answer). Control thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace weir::server {

/// What the running instance last did with a reload request; written to `<pid_file>.status`.
struct ReloadStatus {
  uint64_t attempts = 0;  // reload attempts since start
  bool ok = true;
  uint64_t generation = 0;
  std::vector<std::string> errors;
};

/// Writes `pid` to `path` (atomically). False with a reason on failure.
bool writePidFile(const std::string& path, int pid, std::string* why);
void removePidFile(const std::string& path);
std::optional<int> readPidFile(const std::string& path);

bool writeReloadStatus(const std::string& pid_path, const ReloadStatus& status);
std::optional<ReloadStatus> readReloadStatus(const std::string& pid_path);

/// `weir -s SIGNAL`: stop | quit | reopen | reload. For reload, waits (up to `timeout_ms`) for the
/// instance to report the outcome; prints it; returns the process exit code.
int signalRunning(const std::string& pid_path, const std::string& what, uint64_t timeout_ms);

}  // namespace weir::server
