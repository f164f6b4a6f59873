// AlertSender against real receivers: aiosmtpd (Debian python3-aiosmtpd) for SMTP and a small
// http.server for the webhook, both from alert_sinks.py, started as child processes on port 0.
// Skipped when /usr/bin/python3 cannot import aiosmtpd.
#include "alerts/alert_sender.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "alerts/alert_batcher.h"

extern char** environ;

namespace weir::alerts {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr const char* kPython = "/usr/bin/python3";
const std::string kSinks = std::string(WEIR_SOURCE_DIR) + "/tests/unit/alerts/alert_sinks.py";

bool waitFor(const std::function<bool()>& done, milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return true;
}

// A child process, stopped by PID (SIGTERM, then SIGKILL after a bounded wait).
class Child {
 public:
  explicit Child(std::vector<std::string> args) {
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() { stop(); }

  bool started() const { return pid_ > 0; }

  // Exit status once it exits within `limit`; none if it is still running (it is then killed).
  std::optional<int> wait(milliseconds limit) {
    int status = 0;
    const bool exited =
        waitFor([&] { return pid_ <= 0 || ::waitpid(pid_, &status, WNOHANG) == pid_; }, limit);
    if (!exited) {
      stop();
      return std::nullopt;
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    if (!waitFor([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, milliseconds(3000))) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

bool aiosmtpdAvailable() {
  static const bool available = [] {
    if (::access(kPython, X_OK) != 0) return false;
    Child probe({kPython, "-c", "import aiosmtpd.smtp"});
    return probe.started() && probe.wait(milliseconds(15000)) == 0;
  }();
  return available;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "weir-alerts-XXXXXX").string();
    if (::mkdtemp(tmpl.data())) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A receiver from alert_sinks.py, listening on a port it chose itself (bind to port 0).
class Sink {
 public:
  explicit Sink(const std::string& mode, const std::string& status = "")
      : child_(
            status.empty()
                ? std::vector<std::string>{kPython, kSinks, mode, dir_.path().string()}
                : std::vector<std::string>{kPython, kSinks, mode, dir_.path().string(), status}) {
    const fs::path port_file = dir_.path() / "port";
    if (child_.started() && waitFor([&] { return fs::exists(port_file); }, milliseconds(15000))) {
      port_ = std::atoi(slurp(port_file).c_str());
    }
  }
  int port() const { return port_; }
  fs::path file(const std::string& name) const { return dir_.path() / name; }
  bool has(const std::string& name) const { return fs::exists(file(name)); }
  std::string read(const std::string& name) const { return slurp(file(name)); }

 private:
  TempDir dir_;
  Child child_;
  int port_ = 0;
};

// A port with nothing listening: bound to port 0 to learn a free one, then closed.
int closedPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// A socket that listens but never accepts or answers: connects succeed, nothing comes back.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::listen(fd_, 16) == 0 &&
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port_ = ntohs(addr.sin_port);
    }
  }
  ~SilentListener() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

StateChange change(std::string upstream, std::string server, std::string from, std::string to,
                   std::string reason) {
  return {std::move(upstream), std::move(server), std::move(from),
          std::move(to),       1714566896789,     std::move(reason)};
}

EmailConfig emailTo(int port) {
  EmailConfig e;
  e.url = "smtp://127.0.0.1:" + std::to_string(port);
  e.from = "Weir <weir@example.com>";
  e.to = {"ops@example.com", "Oncall <oncall@example.com>"};
  e.starttls = false;  // the test server speaks plain SMTP
  return e;
}

WebhookConfig webhookTo(int port) {
  return {"http://127.0.0.1:" + std::to_string(port) + "/hooks/weir", {{"X-Token", "s3cret"}}};
}

#define REQUIRE_AIOSMTPD()                                                                \
  do {                                                                                    \
    if (!aiosmtpdAvailable()) GTEST_SKIP() << "/usr/bin/python3 -m aiosmtpd unavailable"; \
  } while (0)

TEST(AlertSender, DeliversOneBatchByMailAndWebhook) {
  REQUIRE_AIOSMTPD();
  Sink smtp("smtp");
  Sink hook("webhook");
  ASSERT_GT(smtp.port(), 0);
  ASSERT_GT(hook.port(), 0);

  AlertsConfig config;
  config.email = emailTo(smtp.port());
  config.webhook = webhookTo(hook.port());
  config.batch_ms = 300;
  config.timeout_ms = 5000;
  AlertSender sender(config);
  sender.submit(change("api", "10.0.0.1:8080", "healthy", "unhealthy", "connection refused"));
  sender.submit(change("api", "10.0.0.2:8080", "unhealthy", "healthy", "2 checks passed"));

  ASSERT_TRUE(waitFor([&] { return sender.sent() + sender.failed() >= 2; }, milliseconds(15000)));
  EXPECT_EQ(sender.sent(), 2u) << sender.lastError();
  EXPECT_EQ(sender.failed(), 0u);
  EXPECT_EQ(sender.lastError(), "");

  // The mail: one message for both changes, to both recipients.
  ASSERT_TRUE(smtp.has("mail-0.eml"));
  EXPECT_FALSE(smtp.has("mail-1.eml")) << "two changes in one window make one message";
  const auto envelope = nlohmann::json::parse(smtp.read("mail-0.env"));
  EXPECT_EQ(envelope["mail_from"], "weir@example.com");
  EXPECT_EQ(envelope["rcpt_tos"], nlohmann::json({"ops@example.com", "oncall@example.com"}));
  const std::string mail = smtp.read("mail-0.eml");
  EXPECT_NE(mail.find("Subject: [weir] 2 server state changes\r\n"), std::string::npos) << mail;
  EXPECT_NE(mail.find("From: Weir <weir@example.com>\r\n"), std::string::npos);
  EXPECT_NE(mail.find("api 10.0.0.1:8080 healthy \u2192 unhealthy: connection refused\r\n"),
            std::string::npos)
      << mail;
  EXPECT_NE(mail.find("api 10.0.0.2:8080 unhealthy \u2192 healthy: 2 checks passed\r\n"),
            std::string::npos)
      << mail;

  // The webhook: the same two changes as JSON, with our headers.
  ASSERT_TRUE(hook.has("webhook-0.json"));
  const auto doc = nlohmann::json::parse(hook.read("webhook-0.json"));
  EXPECT_EQ(doc["source"], "weir");
  ASSERT_EQ(doc["changes"].size(), 2u);
  EXPECT_EQ(doc["changes"][0]["server"], "10.0.0.1:8080");
  EXPECT_EQ(doc["changes"][0]["new_state"], "unhealthy");
  EXPECT_EQ(doc["changes"][1]["server"], "10.0.0.2:8080");
  EXPECT_EQ(doc["changes"][1]["at"], "2024-05-01T12:34:56.789Z");
  const std::string headers = hook.read("webhook-0.headers");
  EXPECT_EQ(headers.rfind("POST /hooks/weir\n", 0), 0u) << headers;
  EXPECT_NE(headers.find("Content-Type: application/json"), std::string::npos) << headers;
  EXPECT_NE(headers.find("X-Token: s3cret"), std::string::npos) << headers;

  // A change after the window goes out in a message of its own.
  sender.submit(change("static", "10.0.1.1:80", "healthy", "ejected", "5 consecutive 502s"));
  ASSERT_TRUE(waitFor([&] { return sender.sent() + sender.failed() >= 4; }, milliseconds(15000)));
  EXPECT_EQ(sender.sent(), 4u) << sender.lastError();
  ASSERT_TRUE(smtp.has("mail-1.eml"));
  const std::string second = smtp.read("mail-1.eml");
  EXPECT_NE(second.find("Subject: [weir] 1 server state change\r\n"), std::string::npos);
  EXPECT_NE(second.find("static 10.0.1.1:80 healthy \u2192 ejected"), std::string::npos);
  EXPECT_EQ(second.find("10.0.0.1:8080"), std::string::npos);
}

TEST(AlertSender, CountsAFailedDeliveryWhenNothingListensAndReturnsPromptly) {
  AlertsConfig config;
  config.email = emailTo(closedPort());
  config.webhook = webhookTo(closedPort());
  config.batch_ms = 20;
  config.timeout_ms = 2000;
  const auto start = Clock::now();
  {
    AlertSender sender(config);
    sender.submit(change("api", "10.0.0.1:8080", "healthy", "unhealthy", "refused"));
    ASSERT_TRUE(waitFor([&] { return sender.failed() >= 2; }, milliseconds(10000)))
        << "failed=" << sender.failed() << " sent=" << sender.sent();
    EXPECT_EQ(sender.failed(), 2u) << "one failure per channel, after one retry each";
    EXPECT_EQ(sender.sent(), 0u);
    EXPECT_NE(sender.lastError(), "");
    EXPECT_EQ(sender.lastError().rfind("webhook: ", 0), 0u) << sender.lastError();
  }
  EXPECT_LT(Clock::now() - start, milliseconds(3000)) << "refused connections fail fast";
}

TEST(AlertSender, AWebhookNeedsA2xxAnswerAndIsRetriedOnce) {
  REQUIRE_AIOSMTPD();
  Sink hook("webhook", "500");
  ASSERT_GT(hook.port(), 0);
  AlertsConfig config;
  config.webhook = webhookTo(hook.port());
  config.batch_ms = 20;
  config.timeout_ms = 5000;
  AlertSender sender(config);
  sender.submit(change("api", "a", "healthy", "unhealthy", ""));
  ASSERT_TRUE(waitFor([&] { return sender.failed() >= 1; }, milliseconds(10000)));
  EXPECT_EQ(sender.sent(), 0u);
  EXPECT_NE(sender.lastError().find("500"), std::string::npos) << sender.lastError();
  EXPECT_TRUE(hook.has("webhook-0.json"));
  EXPECT_TRUE(hook.has("webhook-1.json")) << "one retry";
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_FALSE(hook.has("webhook-2.json")) << "never more than one retry per batch";
  EXPECT_EQ(sender.failed(), 1u);
}

TEST(AlertSender, DestructorAbortsADeliveryInProgress) {
  SilentListener silent;  // accepts the TCP connection, never sends the SMTP greeting
  ASSERT_GT(silent.port(), 0);
  AlertsConfig config;
  config.email = emailTo(silent.port());
  config.batch_ms = 10;
  config.timeout_ms = 60000;
  auto sender = std::make_unique<AlertSender>(config);
  sender->submit(change("api", "a", "healthy", "unhealthy", ""));
  std::this_thread::sleep_for(milliseconds(300));  // the transfer is waiting for the greeting
  const auto start = Clock::now();
  sender.reset();
  EXPECT_LT(Clock::now() - start, milliseconds(2500)) << "not bounded by the 60 s timeout";
}

TEST(AlertSender, DestructorDropsPendingChangesAtOnce) {
  AlertsConfig config;
  config.webhook = webhookTo(closedPort());
  config.batch_ms = 60000;
  const auto start = Clock::now();
  {
    AlertSender sender(config);
    for (int i = 0; i < 10; ++i) sender.submit(change("api", "a", "x", "y", ""));
  }
  EXPECT_LT(Clock::now() - start, milliseconds(1000));
}

TEST(AlertSender, ReconfigureAddsAChannel) {
  REQUIRE_AIOSMTPD();
  Sink hook("webhook");
  ASSERT_GT(hook.port(), 0);
  AlertsConfig config;
  config.batch_ms = 20;
  AlertSender sender(config);  // no channel: batches are dropped
  sender.submit(change("api", "before", "healthy", "unhealthy", ""));
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_EQ(sender.sent() + sender.failed(), 0u);

  config.webhook = webhookTo(hook.port());
  sender.reconfigure(config);
  sender.submit(change("api", "after", "healthy", "unhealthy", ""));
  ASSERT_TRUE(waitFor([&] { return sender.sent() >= 1; }, milliseconds(10000)))
      << sender.lastError();
  const auto doc = nlohmann::json::parse(hook.read("webhook-0.json"));
  ASSERT_EQ(doc["changes"].size(), 1u);
  EXPECT_EQ(doc["changes"][0]["server"], "after");
}

TEST(AlertSender, DropsAndCountsChangesBeyondTheQueueLimit) {
  AlertsConfig config;
  config.batch_ms = 60000;
  AlertSender sender(config);
  for (size_t i = 0; i < kMaxBatchChanges + 50; ++i) {
    sender.submit(change("api", std::to_string(i), "x", "y", ""));
  }
  ASSERT_TRUE(waitFor([&] { return sender.dropped() >= 50; }, milliseconds(5000)));
  EXPECT_EQ(sender.dropped(), 50u);
}

}  // namespace
}  // namespace weir::alerts
