#include "tls/ticket_key_ring.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>

namespace weir::tls {
namespace {

bool randomize(TicketKey& key, TicketKeyRing::Clock::time_point now) {
  key.created = now;
  return RAND_bytes(key.name.data(), static_cast<int>(key.name.size())) == 1 &&
         RAND_bytes(key.aes_key.data(), static_cast<int>(key.aes_key.size())) == 1 &&
         RAND_bytes(key.hmac_key.data(), static_cast<int>(key.hmac_key.size())) == 1;
}

void wipe(TicketKey& key) { OPENSSL_cleanse(&key, sizeof key); }

}  // namespace

std::unique_ptr<TicketKeyRing> TicketKeyRing::create(Clock::time_point now) {
  std::unique_ptr<TicketKeyRing> ring(new TicketKeyRing());
  if (!randomize(ring->current_, now)) return nullptr;
  return ring;
}

TicketKeyRing::~TicketKeyRing() {
  wipe(current_);
  if (previous_) wipe(*previous_);
}

void TicketKeyRing::rotateIfDue(Clock::time_point now) {
  if (now - current_.created < kRotateEvery) return;
  TicketKey next;
  if (!randomize(next, now)) return;  // keep the current key rather than fail handshakes
  if (previous_) wipe(*previous_);
  previous_ = current_;
  // Idle for two periods or more: the old key would have retired by now too.
  if (now - current_.created >= 2 * kRotateEvery) {
    wipe(*previous_);
    previous_.reset();
  }
  current_ = next;
  wipe(next);
}

TicketKey TicketKeyRing::encryptionKey(Clock::time_point now) {
  std::lock_guard lock(mu_);
  rotateIfDue(now);
  return current_;
}

std::optional<TicketKeyRing::Found> TicketKeyRing::decryptionKey(const unsigned char* name,
                                                                 Clock::time_point now) {
  std::lock_guard lock(mu_);
  rotateIfDue(now);
  auto named = [&](const TicketKey& k) { return std::equal(k.name.begin(), k.name.end(), name); };
  if (named(current_)) return Found{current_, true};
  if (previous_ && named(*previous_)) return Found{*previous_, false};
  return std::nullopt;
}

}  // namespace weir::tls
