#include "health/outlier_detector.h"

#include <algorithm>
#include <cstdint>

namespace weir::health {

OutlierDetector::OutlierDetector(OutlierConfig config, size_t endpoints)
    : config_(config), endpoints_(endpoints) {}

void OutlierDetector::resize(size_t endpoints) { endpoints_.resize(endpoints); }

uint64_t OutlierDetector::ejectionTime(uint32_t nth) const {
  uint64_t t = config_.ejection_ms;
  for (uint32_t k = 1; k < nth && t < config_.max_ejection_ms; ++k) {
    t = t > UINT64_MAX / 2 ? UINT64_MAX : t * 2;
  }
  return std::min(t, config_.max_ejection_ms);
}

size_t OutlierDetector::maxEjected() const {
  const uint64_t pct = std::min<uint32_t>(config_.max_ejected_percent, 100);
  return static_cast<size_t>(static_cast<uint64_t>(endpoints_.size()) * pct / 100);
}

void OutlierDetector::release(Endpoint& e) {
  e.ejected = false;
  e.back_pending = true;
  e.consecutive = 0;
}

void OutlierDetector::decay(Endpoint& e, uint64_t now_ms) const {
  if (!e.ejected && e.ejections > 0 && now_ms >= e.until_ms &&
      now_ms - e.until_ms >= config_.max_ejection_ms) {
    e.ejections = 0;
  }
}

bool OutlierDetector::onResult(size_t i, bool failed, uint64_t now_ms) {
  if (i >= endpoints_.size()) return false;
  Endpoint& e = endpoints_[i];
  if (e.ejected) {
    if (now_ms < e.until_ms) return false;  // from requests started before the ejection
    release(e);
  }
  decay(e, now_ms);
  if (!failed) {
    e.consecutive = 0;
    return false;
  }
  if (e.consecutive < UINT32_MAX) ++e.consecutive;
  if (config_.consecutive_failures == 0 || e.consecutive < config_.consecutive_failures) {
    return false;
  }
  if (ejectedCount(now_ms) + 1 > maxEjected()) return false;  // capped: try again next failure
  if (e.ejections < UINT32_MAX) ++e.ejections;
  e.ejected = true;
  e.back_pending = false;  // never reported back: it is out again
  const uint64_t t = ejectionTime(e.ejections);
  e.until_ms = now_ms > UINT64_MAX - t ? UINT64_MAX : now_ms + t;
  e.consecutive = 0;
  return true;
}

bool OutlierDetector::ejected(size_t i, uint64_t now_ms) const {
  return i < endpoints_.size() && endpoints_[i].ejected && now_ms < endpoints_[i].until_ms;
}

std::vector<size_t> OutlierDetector::expire(uint64_t now_ms) {
  std::vector<size_t> back;
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    Endpoint& e = endpoints_[i];
    if (e.ejected && now_ms >= e.until_ms) release(e);
    if (e.back_pending) {
      e.back_pending = false;
      back.push_back(i);
    }
    decay(e, now_ms);
  }
  return back;
}

uint32_t OutlierDetector::ejectionCount(size_t i) const {
  return i < endpoints_.size() ? endpoints_[i].ejections : 0;
}

size_t OutlierDetector::ejectedCount(uint64_t now_ms) const {
  return static_cast<size_t>(
      std::count_if(endpoints_.begin(), endpoints_.end(),
                    [&](const Endpoint& e) { return e.ejected && now_ms < e.until_ms; }));
}

uint64_t OutlierDetector::nextExpiry() const {
  uint64_t next = UINT64_MAX;
  for (const Endpoint& e : endpoints_) {
    if (e.ejected) next = std::min(next, e.until_ms);
  }
  return next;
}

}  // namespace weir::health
