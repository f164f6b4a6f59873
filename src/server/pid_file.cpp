#include "server/pid_file.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace weir::server {
namespace {

bool writeAtomically(const std::string& path, const std::string& content, std::string* why) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) {
      if (why) *why = std::strerror(errno);
      return false;
    }
    out << content;
    if (!out.flush()) {
      if (why) *why = std::strerror(errno);
      return false;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    if (why) *why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

std::string statusPath(const std::string& pid_path) { return pid_path + ".status"; }

}  // namespace

bool writePidFile(const std::string& path, int pid, std::string* why) {
  return writeAtomically(path, std::to_string(pid) + "\n", why);
}

void removePidFile(const std::string& path) {
  ::unlink(path.c_str());
  ::unlink(statusPath(path).c_str());
}

std::optional<int> readPidFile(const std::string& path) {
  std::ifstream in(path);
  int pid = 0;
  if (!(in >> pid) || pid <= 0) return std::nullopt;
  return pid;
}

bool writeReloadStatus(const std::string& pid_path, const ReloadStatus& status) {
  std::ostringstream out;
  out << "attempts " << status.attempts << "\nok " << (status.ok ? 1 : 0) << "\ngeneration "
      << status.generation << "\n";
  for (const auto& e : status.errors) out << "error " << e << "\n";
  return writeAtomically(statusPath(pid_path), out.str(), nullptr);
}

std::optional<ReloadStatus> readReloadStatus(const std::string& pid_path) {
  std::ifstream in(statusPath(pid_path));
  if (!in) return std::nullopt;
  ReloadStatus s;
  std::string key;
  while (in >> key) {
    if (key == "attempts") {
      in >> s.attempts;
    } else if (key == "ok") {
      int v = 1;
      in >> v;
      s.ok = v != 0;
    } else if (key == "generation") {
      in >> s.generation;
    } else if (key == "error") {
      std::string line;
      std::getline(in, line);
      if (!line.empty() && line.front() == ' ') line.erase(0, 1);
      s.errors.push_back(line);
    }
  }
  return s;
}

int signalRunning(const std::string& pid_path, const std::string& what, uint64_t timeout_ms) {
  int sig = what == "stop"     ? SIGTERM
            : what == "quit"   ? SIGTERM
            : what == "reopen" ? SIGUSR1
            : what == "reload" ? SIGHUP
                               : 0;
  if (sig == 0) {
    std::fprintf(stderr, "weir: -s takes stop, quit, reopen or reload, not '%s'\n", what.c_str());
    return 2;
  }
  auto pid = readPidFile(pid_path);
  if (!pid) {
    std::fprintf(stderr, "weir: cannot read the pid file %s: is weir running?\n", pid_path.c_str());
    return 1;
  }
  const auto before = readReloadStatus(pid_path);
  if (::kill(*pid, sig) != 0) {
    std::fprintf(stderr, "weir: cannot signal process %d: %s\n", *pid, std::strerror(errno));
    return 1;
  }
  if (sig != SIGHUP) return 0;
  const uint64_t attempts = before ? before->attempts : 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    auto now = readReloadStatus(pid_path);
    if (now && now->attempts > attempts) {
      if (now->ok) {
        std::fprintf(stderr, "weir: reloaded, generation %llu\n",
                     static_cast<unsigned long long>(now->generation));
        return 0;
      }
      for (const auto& e : now->errors) std::fprintf(stderr, "%s\n", e.c_str());
      std::fprintf(stderr, "weir: reload failed; generation %llu keeps serving\n",
                   static_cast<unsigned long long>(now->generation));
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::fprintf(stderr, "weir: no answer to the reload within %llu ms\n",
               static_cast<unsigned long long>(timeout_ms));
  return 1;
}

}  // namespace weir::server
