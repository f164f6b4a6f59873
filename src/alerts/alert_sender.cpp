#include "alerts/alert_sender.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>

#include "alerts/alert_batcher.h"
#include "alerts/alert_format.h"
#include "core/log.h"
#include "core/signals.h"

namespace weir::alerts {
namespace {

constexpr uint64_t kRetryDelayMs = 1000;

uint64_t steadyMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

uint64_t unixMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

void globalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using CurlPtr = std::unique_ptr<CURL, CurlDeleter>;
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

bool append(SlistPtr& list, const std::string& item) {
  curl_slist* next = curl_slist_append(list.get(), item.c_str());
  if (!next) return false;
  (void)list.release();
  list.reset(next);
  return true;
}

size_t discardBody(char*, size_t size, size_t count, void*) { return size * count; }

struct Upload {
  const std::string* data;
  size_t pos = 0;
};

size_t readUpload(char* buf, size_t size, size_t count, void* user) {
  auto* up = static_cast<Upload*>(user);
  const size_t n = std::min(size * count, up->data->size() - up->pos);
  std::memcpy(buf, up->data->data() + up->pos, n);
  up->pos += n;
  return n;
}

int onProgress(void* stopping, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<const std::atomic<bool>*>(stopping)->load() ? 1 : 0;
}

// The options every transfer shares: no signals (we are on our own thread), bounded time, and an
// abort switch for shutdown. Aborting through the progress callback makes libcurl drop the
// connection as dead; removing a busy handle instead would wait for an SMTP QUIT reply.
void setCommon(CURL* c, const std::atomic<bool>* stopping, uint64_t timeout_ms, char* errbuf) {
  const long timeout = static_cast<long>(std::clamp<uint64_t>(timeout_ms, 1, 24ULL * 3600 * 1000));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &onProgress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(stopping));
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
}

std::string curlError(CURLcode rc, const char* errbuf) {
  return errbuf[0] ? std::string(errbuf) : std::string(curl_easy_strerror(rc));
}

}  // namespace

AlertSender::AlertSender(AlertsConfig config) : config_(std::move(config)) {
  globalInit();
  multi_ = curl_multi_init();
  thread_ = core::threadWithoutControlSignals([this] { run(); });
}

AlertSender::~AlertSender() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  stopping_.store(true);
  cv_.notify_all();
  if (multi_) curl_multi_wakeup(multi_);  // interrupts a transfer's poll at once
  thread_.join();
  if (multi_) curl_multi_cleanup(multi_);
}

CURLcode AlertSender::perform(CURL* easy) {
  if (!multi_ || curl_multi_add_handle(multi_, easy) != CURLM_OK) return CURLE_FAILED_INIT;
  CURLcode result = CURLE_FAILED_INIT;
  for (;;) {
    // Once stopping, this perform runs the progress callback, which aborts the transfer.
    int running = 0;
    if (curl_multi_perform(multi_, &running) != CURLM_OK) break;
    if (running == 0) {
      int left = 0;
      while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
        if (msg->msg == CURLMSG_DONE && msg->easy_handle == easy) result = msg->data.result;
      }
      break;
    }
    // Woken early by activity, by curl's own timers (CURLOPT_TIMEOUT_MS), or by curl_multi_wakeup.
    const int wait_ms = stopping_.load() ? 10 : 1000;
    if (curl_multi_poll(multi_, nullptr, 0, wait_ms, nullptr) != CURLM_OK) break;
  }
  curl_multi_remove_handle(multi_, easy);
  return result;
}

void AlertSender::submit(StateChange change) {
  {
    std::lock_guard lock(mu_);
    if (incoming_.size() >= kMaxBatchChanges) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    incoming_.push_back(std::move(change));
  }
  cv_.notify_one();
}

void AlertSender::reconfigure(AlertsConfig config) {
  {
    std::lock_guard lock(mu_);
    config_ = std::move(config);
  }
  cv_.notify_one();
}

std::string AlertSender::lastError() const {
  std::lock_guard lock(mu_);
  return last_error_;
}

bool AlertSender::pause(uint64_t ms) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stop_; });
}

void AlertSender::run() {
  std::unique_lock lock(mu_);
  AlertBatcher batcher(config_.batch_ms);
  uint64_t batcher_dropped = 0;
  while (!stop_) {
    const uint64_t now = steadyMs();
    batcher.setBatchMs(config_.batch_ms);
    for (StateChange& c : incoming_) batcher.add(std::move(c), now);
    incoming_.clear();
    if (batcher.dropped() != batcher_dropped) {
      dropped_.fetch_add(batcher.dropped() - batcher_dropped, std::memory_order_relaxed);
      batcher_dropped = batcher.dropped();
    }
    if (auto batch = batcher.take(now)) {
      const AlertsConfig config = config_;
      lock.unlock();
      deliver(config, *batch);
      lock.lock();
      continue;
    }
    const auto woken = [this] { return stop_ || !incoming_.empty(); };
    const uint64_t deadline = batcher.nextDeadline();
    if (deadline == UINT64_MAX) {
      cv_.wait(lock, woken);
    } else {
      cv_.wait_for(lock, std::chrono::milliseconds(deadline - now), woken);
    }
  }
}

void AlertSender::deliver(const AlertsConfig& config, const std::vector<StateChange>& batch) {
  const uint64_t retry_delay_ms = std::min(kRetryDelayMs, config.batch_ms);
  if (config.email) {
    const EmailConfig& email = *config.email;
    const std::string message =
        formatEmail(batch, email.from, email.to, email.subject_prefix, unixMs());
    deliverWithRetry("email", retry_delay_ms, [&](std::string& error) {
      return sendEmail(email, message, config.timeout_ms, error);
    });
  }
  if (config.webhook) {
    const std::string json = formatWebhook(batch);
    deliverWithRetry("webhook", retry_delay_ms, [&](std::string& error) {
      return sendWebhook(*config.webhook, json, config.timeout_ms, error);
    });
  }
}

template <class Attempt>
void AlertSender::deliverWithRetry(const char* channel, uint64_t retry_delay_ms,
                                   Attempt&& attempt) {
  std::string error;
  bool ok = attempt(error);
  if (!ok && !stopping_.load()) {
    log::debug("alerts: ", channel, " delivery failed, retrying once: ", error);
    if (!pause(retry_delay_ms)) return;  // shutting down: not a delivery failure
    error.clear();
    ok = attempt(error);
  }
  if (ok) {
    sent_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (stopping_.load()) return;
  failed_.fetch_add(1, std::memory_order_relaxed);
  log::warn("alerts: ", channel, " delivery failed: ", error);
  std::lock_guard lock(mu_);
  last_error_ = std::string(channel) + ": " + error;
}

bool AlertSender::sendEmail(const EmailConfig& email, const std::string& message,
                            uint64_t timeout_ms, std::string& error) {
  CurlPtr curl(curl_easy_init());
  if (!curl) {
    error = "curl_easy_init failed";
    return false;
  }
  CURL* c = curl.get();
  char errbuf[CURL_ERROR_SIZE] = {};
  setCommon(c, &stopping_, timeout_ms, errbuf);

  SlistPtr rcpts;
  for (const std::string& to : email.to) {
    if (!append(rcpts, "<" + emailAddress(to) + ">")) {
      error = "out of memory";
      return false;
    }
  }
  if (!rcpts) {
    error = "no recipients";
    return false;
  }
  const std::string mail_from = "<" + emailAddress(email.from) + ">";
  Upload upload{&message};

  curl_easy_setopt(c, CURLOPT_URL, email.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, mail_from.c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpts.get());
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, &readUpload);
  curl_easy_setopt(c, CURLOPT_READDATA, &upload);
  curl_easy_setopt(c, CURLOPT_USE_SSL,
                   static_cast<long>(email.starttls ? CURLUSESSL_ALL : CURLUSESSL_NONE));
  if (!email.username.empty()) {
    curl_easy_setopt(c, CURLOPT_USERNAME, email.username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, email.password.c_str());
  }
  const CURLcode rc = perform(c);
  if (rc != CURLE_OK) {
    error = curlError(rc, errbuf);
    return false;
  }
  return true;
}

bool AlertSender::sendWebhook(const WebhookConfig& webhook, const std::string& json,
                              uint64_t timeout_ms, std::string& error) {
  CurlPtr curl(curl_easy_init());
  if (!curl) {
    error = "curl_easy_init failed";
    return false;
  }
  CURL* c = curl.get();
  char errbuf[CURL_ERROR_SIZE] = {};
  setCommon(c, &stopping_, timeout_ms, errbuf);

  SlistPtr headers;
  bool ok = append(headers, "Content-Type: application/json") && append(headers, "Expect:");
  for (const auto& [name, value] : webhook.headers) ok = ok && append(headers, name + ": " + value);
  if (!ok) {
    error = "out of memory";
    return false;
  }

  curl_easy_setopt(c, CURLOPT_URL, webhook.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, json.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(json.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_USERAGENT, "weir-alerts");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &discardBody);
  const CURLcode rc = perform(c);
  if (rc != CURLE_OK) {
    error = curlError(rc, errbuf);
    return false;
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status > 299) {
    error = "HTTP status " + std::to_string(status);
    return false;
  }
  return true;
}

}  // namespace weir::alerts
