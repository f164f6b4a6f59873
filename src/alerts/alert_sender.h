// AlertSender: delivers batches of state changes by e-mail (SMTP) and webhook (HTTP POST) from its
// own thread, so no worker or control-loop callback ever waits on a mail server. Owned by the
// Server (control thread); submit() and the accessors may be called from any thread.
#pragma once

#include <curl/curl.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "alerts/alert.h"

namespace weir::alerts {

struct EmailConfig {
  std::string url;   // smtp://host:port or smtps://host:port
  std::string from;  // "weir@example.com" or "Weir <weir@example.com>"
  std::vector<std::string> to;
  std::string username, password;  // AUTH when username is set
  bool starttls = true;            // smtp://: require STARTTLS (CURLUSESSL_ALL); false: plain text
  std::string subject_prefix = "[weir]";
};

struct WebhookConfig {
  std::string url;                                           // http:// or https://
  std::vector<std::pair<std::string, std::string>> headers;  // added to the POST
};

struct AlertsConfig {
  std::optional<EmailConfig> email;
  std::optional<WebhookConfig> webhook;
  uint64_t batch_ms = 10000;    // one message per channel per window (AlertBatcher)
  uint64_t timeout_ms = 10000;  // per delivery attempt, connect included
};

/// Each batch goes to every configured channel. A channel's delivery is tried at most twice (one
/// retry, min(1 s, batch_ms) later); a delivery that still fails is counted in failed(), logged
/// with log::warn and kept in lastError(); it never blocks or affects anything else. A webhook
/// needs a 2xx answer. With no channel configured, batches are dropped.
///
/// The destructor returns promptly: pending changes are dropped and a transfer in progress is
/// aborted at once (curl_multi_wakeup interrupts its poll, the progress callback aborts it).
class AlertSender {
 public:
  explicit AlertSender(AlertsConfig config);
  ~AlertSender();
  AlertSender(const AlertSender&) = delete;
  AlertSender& operator=(const AlertSender&) = delete;

  /// Queues one change; never blocks on I/O. Beyond kMaxBatchChanges queued, changes are dropped
  /// and counted in dropped().
  void submit(StateChange change);

  /// New channels and timings; used from the next batch on (one in progress finishes as it was).
  void reconfigure(AlertsConfig config);

  /// Deliveries (one per channel per batch) that succeeded / failed after their retry.
  uint64_t sent() const { return sent_.load(std::memory_order_relaxed); }
  uint64_t failed() const { return failed_.load(std::memory_order_relaxed); }
  /// Changes dropped because the queue or a batch was full.
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  /// "email: <reason>" or "webhook: <reason>" of the last failed delivery; empty if none.
  std::string lastError() const;

 private:
  void run();
  void deliver(const AlertsConfig& config, const std::vector<StateChange>& batch);
  template <class Attempt>
  void deliverWithRetry(const char* channel, uint64_t retry_delay_ms, Attempt&& attempt);
  bool sendEmail(const EmailConfig& email, const std::string& message, uint64_t timeout_ms,
                 std::string& error);
  bool sendWebhook(const WebhookConfig& webhook, const std::string& json, uint64_t timeout_ms,
                   std::string& error);
  /// Sleeps up to ms, waking early on stop; false when stopping.
  bool pause(uint64_t ms);
  /// Runs one transfer on multi_ to its end; when stopping, it ends at once with
  /// CURLE_ABORTED_BY_CALLBACK.
  CURLcode perform(CURL* easy);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  AlertsConfig config_;                // guarded by mu_
  std::vector<StateChange> incoming_;  // guarded by mu_
  std::string last_error_;             // guarded by mu_
  bool stop_ = false;                  // guarded by mu_
  std::atomic<bool> stopping_{false};  // checked between polls of a transfer
  CURLM* multi_ = nullptr;             // the sender thread's transfers; woken by the destructor
  std::atomic<uint64_t> sent_{0};
  std::atomic<uint64_t> failed_{0};
  std::atomic<uint64_t> dropped_{0};
  std::thread thread_;  // last: starts once everything above is built
};

}  // namespace weir::alerts
