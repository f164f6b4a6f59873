// AccessLog: one line per request, nginx `combined` plus upstream address, upstream status and
// request time, or one JSON object per line. Per worker: lines are buffered and written with
// one write(2) when the buffer fills or at the next flush tick. The fd is shared; SIGUSR1
// reopens the file by dup2() over it (see reopen()), so workers never coordinate.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "config/config.h"

namespace weir::proxy {

struct AccessRecord {
  std::string_view remote_addr;
  std::string_view method;
  std::string_view target;
  std::string_view protocol;  // "HTTP/1.1"
  int status = 0;
  uint64_t bytes_sent = 0;  // response body bytes
  std::string_view referer;
  std::string_view user_agent;
  std::string_view upstream_addr;  // "-" when none
  int upstream_status = 0;         // 0 when none
  double request_time_s = 0;
  std::string_view request_id;
};

/// The shared destination of every worker's AccessLog.
class AccessLogFile {
 public:
  /// Opens `config.path` ("stdout", "stderr", "off" or a file, appended). Throws on failure.
  explicit AccessLogFile(const config::AccessLog& config);
  ~AccessLogFile();
  int fd() const { return fd_; }
  config::LogFormat format() const { return format_; }
  /// Reopens a file path (logrotate); other destinations are left alone. Returns false on error.
  bool reopen();

 private:
  std::string path_;
  config::LogFormat format_;
  int fd_ = -1;
  bool owned_ = false;
};

class AccessLog {
 public:
  explicit AccessLog(const AccessLogFile* file) : file_(file) {}
  ~AccessLog() { flush(); }
  void append(const AccessRecord& r);
  void flush();
  bool pending() const { return !buffer_.empty(); }
  /// False when access logging is off: callers skip building the record.
  bool enabled() const { return file_ && file_->fd() >= 0; }

  /// Formats one line (with '\n') in `format`; exposed for tests and benchmarks.
  static void format(const AccessRecord& r, config::LogFormat format, std::string& out);

 private:
  const AccessLogFile* file_;
  std::string buffer_;
};

}  // namespace weir::proxy
