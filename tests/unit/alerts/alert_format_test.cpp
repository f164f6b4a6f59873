#include "alerts/alert_format.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace weir::alerts {
namespace {

// 2024-05-01T12:34:56.789Z, a Wednesday.
constexpr uint64_t kAt = 1714566896789;

std::vector<StateChange> twoChanges() {
  return {
      {"api", "10.0.0.1:8080", "healthy", "unhealthy", kAt,
       "3 consecutive failed checks: connection refused"},
      {"static", "10.0.1.1:80", "ejected", "healthy", kAt + 1000, ""},
  };
}

std::vector<std::string> split(const std::string& s, const std::string& sep) {
  std::vector<std::string> out;
  size_t pos = 0;
  for (size_t next; (next = s.find(sep, pos)) != std::string::npos; pos = next + sep.size()) {
    out.push_back(s.substr(pos, next - pos));
  }
  out.push_back(s.substr(pos));
  return out;
}

TEST(AlertFormatTime, IsoAndRfc5322Dates) {
  EXPECT_EQ(isoTime(kAt), "2024-05-01T12:34:56.789Z");
  EXPECT_EQ(isoTime(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(rfc5322Date(kAt), "Wed, 01 May 2024 12:34:56 +0000");
  EXPECT_EQ(rfc5322Date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
}

TEST(AlertFormatAddress, ExtractsTheBareAddress) {
  EXPECT_EQ(emailAddress("Weir <weir@example.com>"), "weir@example.com");
  EXPECT_EQ(emailAddress("weir@example.com"), "weir@example.com");
  EXPECT_EQ(emailAddress("  ops@example.com "), "ops@example.com");
  EXPECT_EQ(emailAddress("\"A <b>\" <c@d>"), "c@d");
  EXPECT_EQ(emailAddress(""), "");
}

TEST(AlertFormatEmail, SubjectCountsChanges) {
  EXPECT_EQ(emailSubject(2, "[weir]"), "[weir] 2 server state changes");
  EXPECT_EQ(emailSubject(1, "[weir]"), "[weir] 1 server state change");
  EXPECT_EQ(emailSubject(3, ""), "3 server state changes");
}

TEST(AlertFormatEmail, HasEveryHeaderThenOneBodyLinePerChange) {
  const std::string msg = formatEmail(twoChanges(), "Weir <weir@example.com>",
                                      {"ops@example.com", "oncall@example.com"}, "[weir]", kAt);
  const size_t end = msg.find("\r\n\r\n");
  ASSERT_NE(end, std::string::npos);
  const std::vector<std::string> headers = split(msg.substr(0, end), "\r\n");
  const std::vector<std::string> body = split(msg.substr(end + 4), "\r\n");

  auto header = [&](const std::string& name) -> std::string {
    for (const std::string& h : headers) {
      if (h.rfind(name + ": ", 0) == 0) return h.substr(name.size() + 2);
    }
    ADD_FAILURE() << "no " << name << " header";
    return {};
  };
  EXPECT_EQ(header("Date"), "Wed, 01 May 2024 12:34:56 +0000");
  EXPECT_EQ(header("From"), "Weir <weir@example.com>");
  EXPECT_EQ(header("To"), "ops@example.com, oncall@example.com");
  EXPECT_EQ(header("Subject"), "[weir] 2 server state changes");
  EXPECT_EQ(header("MIME-Version"), "1.0");
  EXPECT_EQ(header("Content-Type"), "text/plain; charset=utf-8");
  const std::string id = header("Message-ID");
  EXPECT_EQ(id.front(), '<');
  EXPECT_NE(id.find("@example.com>"), std::string::npos) << id;

  ASSERT_EQ(body.size(), 3u) << "two lines, each CRLF-terminated";
  EXPECT_EQ(body[2], "");
  EXPECT_EQ(body[0],
            "2024-05-01T12:34:56.789Z api 10.0.0.1:8080 healthy \u2192 unhealthy: 3 consecutive "
            "failed checks: connection refused");
  EXPECT_EQ(body[1], "2024-05-01T12:34:57.789Z static 10.0.1.1:80 ejected \u2192 healthy");
}

TEST(AlertFormatEmail, EveryLineEndsWithCrlf) {
  const std::string msg =
      formatEmail(twoChanges(), "weir@example.com", {"ops@example.com"}, "[weir]", kAt);
  ASSERT_GE(msg.size(), 2u);
  EXPECT_EQ(msg.substr(msg.size() - 2), "\r\n");
  for (size_t i = 0; i < msg.size(); ++i) {
    if (msg[i] == '\n') {
      EXPECT_TRUE(i > 0 && msg[i - 1] == '\r') << "bare LF at " << i;
    }
    if (msg[i] == '\r') {
      EXPECT_TRUE(i + 1 < msg.size() && msg[i + 1] == '\n') << "bare CR at " << i;
    }
  }
}

TEST(AlertFormatEmail, FieldsCannotInjectHeadersOrLines) {
  std::vector<StateChange> changes = {
      {"api\r\nBcc: evil@example.com", "s\n1", "healthy", "unhealthy", kAt, "line1\r\nline2"}};
  const std::string msg = formatEmail(changes, "weir@example.com\r\nBcc: x@y", {"ops@example.com"},
                                      "[weir]\nX-Evil: 1", kAt);
  EXPECT_EQ(msg.find("\r\nBcc:"), std::string::npos);
  EXPECT_EQ(msg.find("\r\nX-Evil:"), std::string::npos);
  EXPECT_EQ(msg.find("\r\nline2"), std::string::npos);
  const size_t end = msg.find("\r\n\r\n");
  EXPECT_EQ(split(msg.substr(end + 4), "\r\n").size(), 2u) << "still one line for one change";
}

TEST(AlertFormatEmail, LongReasonsAreCutAtACharacterBoundary) {
  std::string reason;
  while (reason.size() < 2000) reason += "\u00e9";  // two bytes each
  reason = "x" + reason;                            // odd offset: a cut could split a character
  const std::string msg =
      formatEmail({{"u", "s", "a", "b", kAt, reason}}, "w@x", {"o@x"}, "[weir]", kAt);
  for (const std::string& line : split(msg, "\r\n")) EXPECT_LT(line.size(), 998u);
  const std::string body_line = split(msg.substr(msg.find("\r\n\r\n") + 4), "\r\n")[0];
  const auto last = static_cast<unsigned char>(body_line.back());
  EXPECT_EQ(last, 0xA9u) << "ends with a whole \u00e9";
}

TEST(AlertFormatEmail, MessageIdsDifferBetweenBatches) {
  auto a = formatEmail(twoChanges(), "w@example.com", {"o@x"}, "[weir]", kAt);
  auto b = formatEmail({twoChanges()[0]}, "w@example.com", {"o@x"}, "[weir]", kAt);
  auto id = [](const std::string& m) {
    const size_t p = m.find("Message-ID: ");
    return m.substr(p, m.find("\r\n", p) - p);
  };
  EXPECT_NE(id(a), id(b));
  EXPECT_NE(id(formatEmail(twoChanges(), "w", {"o@x"}, "", kAt)).find("@weir.invalid>"),
            std::string::npos);
}

TEST(AlertFormatWebhook, ParsesBackIntoTheChanges) {
  const auto changes = twoChanges();
  const nlohmann::json doc = nlohmann::json::parse(formatWebhook(changes));
  EXPECT_EQ(doc["source"], "weir");
  ASSERT_TRUE(doc["changes"].is_array());
  ASSERT_EQ(doc["changes"].size(), 2u);
  for (size_t i = 0; i < changes.size(); ++i) {
    const auto& c = doc["changes"][i];
    EXPECT_EQ(c["upstream"], changes[i].upstream);
    EXPECT_EQ(c["server"], changes[i].server);
    EXPECT_EQ(c["old_state"], changes[i].old_state);
    EXPECT_EQ(c["new_state"], changes[i].new_state);
    EXPECT_EQ(c["reason"], changes[i].reason);
    EXPECT_EQ(c["at"], isoTime(changes[i].at_unix_ms));
    EXPECT_EQ(c["at_unix_ms"], changes[i].at_unix_ms);
  }
}

TEST(AlertFormatWebhook, EmptyBatchAndHostileStrings) {
  EXPECT_EQ(nlohmann::json::parse(formatWebhook({}))["changes"].size(), 0u);
  const std::vector<StateChange> odd = {
      {"a\"b", "c\\d", "x\ny", "\x01", 0, std::string("bad utf8 \xff\xfe end")}};
  const nlohmann::json doc = nlohmann::json::parse(formatWebhook(odd));
  EXPECT_EQ(doc["changes"][0]["upstream"], "a\"b");
  EXPECT_EQ(doc["changes"][0]["server"], "c\\d");
  EXPECT_EQ(doc["changes"][0]["old_state"], "x\ny");
  EXPECT_EQ(doc["changes"][0]["reason"], "bad utf8 \ufffd\ufffd end");
}

}  // namespace
}  // namespace weir::alerts
