#include "proxy/access_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <stdexcept>

namespace weir::proxy {
namespace {

constexpr size_t kFlushBytes = 32 * 1024;

void appendJsonString(std::string& out, std::string_view s) {
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out.append(buf);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

// nginx escapes '"', '\' and non-printable bytes as \xHH in combined logs.
void appendEscaped(std::string& out, std::string_view s) {
  if (s.empty()) {
    out.push_back('-');
    return;
  }
  for (unsigned char c : s) {
    if (c == '"' || c == '\\' || c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out.append(buf);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
}

std::string_view timeLocal(char* buf, size_t size) {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  size_t n = std::strftime(buf, size, "%d/%b/%Y:%H:%M:%S %z", &tm);
  return {buf, n};
}

std::string_view timeIso(char* buf, size_t size) {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  size_t n = std::strftime(buf, size, "%Y-%m-%dT%H:%M:%S%z", &tm);
  return {buf, n};
}

}  // namespace

AccessLogFile::AccessLogFile(const config::AccessLog& config)
    : path_(config.path), format_(config.format) {
  if (path_ == "off") return;
  if (path_ == "stdout") {
    fd_ = STDOUT_FILENO;
  } else if (path_ == "stderr") {
    fd_ = STDERR_FILENO;
  } else {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0)
      throw std::runtime_error("cannot open access log " + path_ + ": " + std::strerror(errno));
    owned_ = true;
  }
}

AccessLogFile::~AccessLogFile() {
  if (owned_) ::close(fd_);
}

bool AccessLogFile::reopen() {
  if (!owned_) return true;
  int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  ::dup2(fd, fd_);  // atomically points the shared fd at the new file
  ::close(fd);
  return true;
}

void AccessLog::format(const AccessRecord& r, config::LogFormat format, std::string& out) {
  char tbuf[64];
  char num[64];
  if (format == config::LogFormat::Json) {
    out.append("{\"time\":");
    appendJsonString(out, timeIso(tbuf, sizeof tbuf));
    out.append(",\"remote_addr\":");
    appendJsonString(out, r.remote_addr);
    out.append(",\"method\":");
    appendJsonString(out, r.method);
    out.append(",\"uri\":");
    appendJsonString(out, r.target);
    out.append(",\"protocol\":");
    appendJsonString(out, r.protocol);
    std::snprintf(num, sizeof num, ",\"status\":%d,\"bytes_sent\":%llu", r.status,
                  static_cast<unsigned long long>(r.bytes_sent));
    out.append(num);
    out.append(",\"referer\":");
    appendJsonString(out, r.referer);
    out.append(",\"user_agent\":");
    appendJsonString(out, r.user_agent);
    out.append(",\"upstream_addr\":");
    if (r.upstream_addr.empty())
      out.append("null");
    else
      appendJsonString(out, r.upstream_addr);
    out.append(",\"upstream_status\":");
    if (r.upstream_status)
      out.append(std::to_string(r.upstream_status));
    else
      out.append("null");
    std::snprintf(num, sizeof num, ",\"request_time\":%.3f", r.request_time_s);
    out.append(num);
    out.append(",\"request_id\":");
    appendJsonString(out, r.request_id);
    out.append("}\n");
    return;
  }
  out.append(r.remote_addr);
  out.append(" - - [");
  out.append(timeLocal(tbuf, sizeof tbuf));
  out.append("] \"");
  appendEscaped(out, r.method);
  out.push_back(' ');
  appendEscaped(out, r.target);
  out.push_back(' ');
  appendEscaped(out, r.protocol);
  std::snprintf(num, sizeof num, "\" %d %llu \"", r.status,
                static_cast<unsigned long long>(r.bytes_sent));
  out.append(num);
  appendEscaped(out, r.referer);
  out.append("\" \"");
  appendEscaped(out, r.user_agent);
  out.append("\" ");
  out.append(r.upstream_addr.empty() ? std::string_view("-") : r.upstream_addr);
  if (r.upstream_status) {
    std::snprintf(num, sizeof num, " %d", r.upstream_status);
    out.append(num);
  } else {
    out.append(" -");
  }
  std::snprintf(num, sizeof num, " %.3f\n", r.request_time_s);
  out.append(num);
}

void AccessLog::append(const AccessRecord& r) {
  if (!file_ || file_->fd() < 0) return;
  format(r, file_->format(), buffer_);
  if (buffer_.size() >= kFlushBytes) flush();
}

void AccessLog::flush() {
  if (buffer_.empty() || !file_ || file_->fd() < 0) {
    buffer_.clear();
    return;
  }
  const char* p = buffer_.data();
  size_t left = buffer_.size();
  while (left > 0) {
    ssize_t n = ::write(file_->fd(), p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    p += n;
    left -= static_cast<size_t>(n);
  }
  buffer_.clear();
}

}  // namespace weir::proxy
