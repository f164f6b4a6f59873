// OutlierDetector: passive outlier detection for one upstream's endpoint set (Envoy's consecutive
// 5xx ejection): endpoints that fail too often in a row are ejected for a while. Pure: time comes
// in as `now_ms`. Lives on the control thread, fed with the failures workers report in batches;
// the owner publishes ejected() into the HealthView.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace weir::health {

struct OutlierConfig {
  /// Failures in a row that eject an endpoint; 0 disables ejection.
  uint32_t consecutive_failures = 5;
  /// First ejection time; each repeat doubles it (ejection_ms * 2^(n-1)).
  uint64_t ejection_ms = 30000;
  /// Cap on one ejection; also how long an endpoint must stay back for its count to reset.
  uint64_t max_ejection_ms = 300000;
  /// At most floor(endpoints * pct / 100) endpoints are ejected at once (values above 100 act as
  /// 100). So 50% of 3 endpoints ejects at most 1, and a lone endpoint is never ejected below 100%.
  uint32_t max_ejected_percent = 50;
};

/// Endpoints are indices 0..size()-1 (the owner maps names to indices). Rules:
/// - A failure adds to the endpoint's consecutive count, a success resets it to 0. Reaching
///   `consecutive_failures` ejects the endpoint unless that would exceed the percentage cap; a
///   capped endpoint keeps its count, so its next failure tries again.
/// - The n-th ejection lasts min(ejection_ms * 2^(n-1), max_ejection_ms).
/// - Results reported while an endpoint is ejected are ignored (requests started before the
///   ejection); its consecutive count restarts from 0 when it comes back.
/// - Decay: once an endpoint has been back for max_ejection_ms without another ejection, its
///   ejection count resets to 0, so its next ejection is short again. Applied by onResult() and
///   expire().
class OutlierDetector {
 public:
  OutlierDetector(OutlierConfig config, size_t endpoints);

  /// Grows (new endpoints start clean) or shrinks the set; indices below the new size keep their
  /// state.
  void resize(size_t endpoints);
  size_t size() const { return endpoints_.size(); }
  const OutlierConfig& config() const { return config_; }

  /// Records the outcome of one request to endpoint i; returns true if i became ejected.
  /// Out-of-range i is ignored.
  bool onResult(size_t i, bool failed, uint64_t now_ms);

  /// Whether i is ejected at now_ms (false past its ejection end even before expire() ran).
  bool ejected(size_t i, uint64_t now_ms) const;

  /// Ends the ejections that are over at now_ms and returns those endpoints, in increasing index
  /// order, each exactly once per ejection, so the caller can alert "back". An ejection that
  /// onResult() found over is reported by the next expire().
  std::vector<size_t> expire(uint64_t now_ms);

  /// Ejections of i that count toward its backoff (0 after decay).
  uint32_t ejectionCount(size_t i) const;

  /// Endpoints ejected at now_ms.
  size_t ejectedCount(uint64_t now_ms) const;

  /// Earliest end of a current ejection, or UINT64_MAX when none: when to call expire() next.
  uint64_t nextExpiry() const;

 private:
  struct Endpoint {
    uint32_t consecutive = 0;
    uint32_t ejections = 0;
    bool ejected = false;       // until expire() or onResult() releases it
    bool back_pending = false;  // released by onResult(), not yet returned by expire()
    uint64_t until_ms = 0;      // end of the current ejection, or of the last one
  };

  uint64_t ejectionTime(uint32_t nth) const;
  void release(Endpoint& e);
  void decay(Endpoint& e, uint64_t now_ms) const;
  size_t maxEjected() const;

  OutlierConfig config_;
  std::vector<Endpoint> endpoints_;
};

}  // namespace weir::health
