// TicketKeyRing: session-ticket keys kept in memory only, rotated every 12 h; the previous key
// still decrypts, so a ticket stays usable for at least 12 h after it was issued (the session
// lifetime caps it further). Owned by a ServerTlsContext (and carried over to the contexts
// reloaded from it), used by every worker thread: a mutex guards it, taken once per handshake
// that issues or presents a ticket, never per byte.
#pragma once

#include <array>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>

namespace weir::tls {

struct TicketKey {
  std::array<unsigned char, 16> name{};      // sent in clear in the ticket, picks the key
  std::array<unsigned char, 32> aes_key{};   // AES-256-CBC
  std::array<unsigned char, 32> hmac_key{};  // HMAC-SHA256
  std::chrono::steady_clock::time_point created;
};

class TicketKeyRing {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::hours kRotateEvery{12};

  /// None only when the random generator fails.
  static std::unique_ptr<TicketKeyRing> create(Clock::time_point now);
  ~TicketKeyRing();
  TicketKeyRing(const TicketKeyRing&) = delete;
  TicketKeyRing& operator=(const TicketKeyRing&) = delete;

  /// The key new tickets are encrypted with; rotates first when the current one is due.
  TicketKey encryptionKey(Clock::time_point now);

  struct Found {
    TicketKey key;
    bool current;  // false: the previous key; OpenSSL then issues a fresh ticket
  };
  /// The key named `name` among the current and previous ones; none: unknown or retired, the
  /// client gets a full handshake. Rotates first when due.
  std::optional<Found> decryptionKey(const unsigned char* name, Clock::time_point now);

 private:
  TicketKeyRing() = default;
  void rotateIfDue(Clock::time_point now);  // mu_ held

  std::mutex mu_;
  TicketKey current_;
  std::optional<TicketKey> previous_;
};

}  // namespace weir::tls
