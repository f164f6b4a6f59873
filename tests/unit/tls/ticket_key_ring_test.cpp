// Session-ticket key rotation: 12 h per key, the previous key still decrypts.
#include "tls/ticket_key_ring.h"

#include <gtest/gtest.h>

namespace weir::tls {
namespace {

using std::chrono::hours;
using Clock = TicketKeyRing::Clock;

TEST(TlsTicketKeyRing, KeepsOneKeyForTwelveHours) {
  const Clock::time_point t0{};
  auto ring = TicketKeyRing::create(t0);
  ASSERT_TRUE(ring);
  const TicketKey first = ring->encryptionKey(t0);
  EXPECT_EQ(ring->encryptionKey(t0 + hours(11)).name, first.name);
  auto found = ring->decryptionKey(first.name.data(), t0 + hours(11));
  ASSERT_TRUE(found);
  EXPECT_TRUE(found->current);
  EXPECT_EQ(found->key.aes_key, first.aes_key);
}

TEST(TlsTicketKeyRing, RotatesAfterTwelveHoursAndStillDecryptsWithThePreviousKey) {
  const Clock::time_point t0{};
  auto ring = TicketKeyRing::create(t0);
  const TicketKey first = ring->encryptionKey(t0);
  const TicketKey second = ring->encryptionKey(t0 + hours(12));
  EXPECT_NE(second.name, first.name);
  EXPECT_NE(second.aes_key, first.aes_key);
  auto old = ring->decryptionKey(first.name.data(), t0 + hours(13));
  ASSERT_TRUE(old);
  EXPECT_FALSE(old->current);  // OpenSSL renews such tickets
  EXPECT_EQ(old->key.hmac_key, first.hmac_key);
}

TEST(TlsTicketKeyRing, RetiresAKeyAfterTwoRotations) {
  const Clock::time_point t0{};
  auto ring = TicketKeyRing::create(t0);
  const TicketKey first = ring->encryptionKey(t0);
  ring->encryptionKey(t0 + hours(12));
  ring->encryptionKey(t0 + hours(24));
  EXPECT_FALSE(ring->decryptionKey(first.name.data(), t0 + hours(24)));
}

TEST(TlsTicketKeyRing, RotationAlsoHappensOnDecryptAfterALongIdle) {
  const Clock::time_point t0{};
  auto ring = TicketKeyRing::create(t0);
  const TicketKey first = ring->encryptionKey(t0);
  // Nothing for two days: the key is retired even though no ticket was issued meanwhile.
  EXPECT_FALSE(ring->decryptionKey(first.name.data(), t0 + hours(48)));
  EXPECT_NE(ring->encryptionKey(t0 + hours(48)).name, first.name);
}

TEST(TlsTicketKeyRing, UnknownKeyNameIsNotFound) {
  auto ring = TicketKeyRing::create(Clock::time_point{});
  const unsigned char stranger[16] = {1, 2, 3};
  EXPECT_FALSE(ring->decryptionKey(stranger, Clock::time_point{}));
}

}  // namespace
}  // namespace weir::tls
