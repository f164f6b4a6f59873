// Server-sent events for the dashboard (GET /events): the text/event-stream framing of one
// event, and the set of clients following the stream. Control thread only; owned by the
// Dashboard.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admin/admin_session.h"

namespace weir::admin {

/// One event as the HTML Living Standard's event-stream format has it: an optional
/// `id: ID` line, then `data: LINE` for each line of `data` (split on CR, LF or CRLF, so a
/// multi-line payload survives), then a blank line.
std::string sseFrame(std::string_view data, std::optional<uint64_t> id = std::nullopt);
/// `retry: MS` (how long a browser waits before reconnecting), as its own block.
std::string sseRetry(uint64_t milliseconds);

/// The clients following /events. Each broadcast goes to every open stream; a stream whose
/// client has gone (or reads too slowly) is dropped.
class EventStreams {
 public:
  /// Beyond this many followers /events answers 503 (the page falls back to polling).
  static constexpr size_t kMaxClients = 32;

  /// Counts only streams still open (those whose client left are forgotten first).
  bool full() { return size() >= kMaxClients; }
  size_t size();
  void add(StreamWriter writer) { streams_.push_back(std::move(writer)); }
  /// Writes `frame` to every stream; returns how many still follow.
  size_t broadcast(std::string_view frame);
  /// Ends every stream (each connection closes once its queued bytes are out).
  void closeAll();

 private:
  std::vector<StreamWriter> streams_;
};

}  // namespace weir::admin
