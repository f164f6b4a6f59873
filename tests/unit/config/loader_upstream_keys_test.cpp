// The balancing keys of upstreams and servers (balance, hash_key, slow_start, sticky, backup,
// max_conns) and the top-level admin, pid_file and watch: what is read, and every error with
// its exact position.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "config/config.h"
#include "load_test_support.h"

namespace weir::config {
namespace {

using std::chrono::milliseconds;
namespace fs = std::filesystem;

// A file under the test's temporary directory, removed at the end of the test.
class TempFile {
 public:
  explicit TempFile(std::string_view contents) {
    static int counter = 0;
    path_ = (fs::temp_directory_path() /
             ("weir-token-" + std::to_string(::getpid()) + "-" + std::to_string(counter++)))
                .string();
    std::ofstream(path_, std::ios::binary) << contents;
  }
  ~TempFile() {
    std::error_code ec;
    fs::remove(path_, ec);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// minimalWith() plus one upstream "web" whose entry continues with `keys` (indented by 4, the
// first one on line 9) and whose one server is on line 8.
std::string upstreamWith(std::string_view keys) {
  return minimalWith(R"(
upstreams:
  - name: web
    servers: [{address: 127.0.0.1:9001}]
)") + yaml(keys);
}

// --- what is read ---

TEST(ConfigUpstreamKeys, DefaultsWhenAbsent) {
  Config c = load(upstreamWith(""));
  ASSERT_EQ(c.upstreams.size(), 1u);
  const Upstream& u = c.upstreams[0];
  EXPECT_EQ(u.balance, "round_robin");
  EXPECT_FALSE(u.hash_key.has_value());
  EXPECT_EQ(u.slow_start, milliseconds(0));
  EXPECT_FALSE(u.sticky.has_value());
  EXPECT_FALSE(u.servers[0].backup);
  EXPECT_EQ(u.servers[0].max_conns, 0u);
  EXPECT_FALSE(c.admin.has_value());
  EXPECT_EQ(c.pid_file, "/run/weir/weir.pid");
  EXPECT_FALSE(c.watch);
}

TEST(ConfigUpstreamKeys, EveryUpstreamAndServerKeyIsRead) {
  Config c = load(minimalWith(R"(
upstreams:
  - name: web
    balance: maglev
    hash_key: header:X-User
    slow_start: 30s
    sticky: {cookie: srv, ttl: 2h}
    servers:
      - {address: 127.0.0.1:9001, weight: 3, max_conns: 100}
      - {address: 127.0.0.1:9002, backup: true}
      - {address: 127.0.0.1:9003, backup: false, max_conns: 0}
)"));
  ASSERT_EQ(c.upstreams.size(), 1u);
  const Upstream& u = c.upstreams[0];
  EXPECT_EQ(u.balance, "maglev");
  ASSERT_TRUE(u.hash_key.has_value());
  EXPECT_EQ(u.hash_key->kind, HashKey::Kind::Header);
  EXPECT_EQ(u.hash_key->name, "X-User");
  EXPECT_EQ(u.hash_key->text, "header:X-User");
  EXPECT_EQ(u.slow_start, milliseconds(30'000));
  ASSERT_TRUE(u.sticky.has_value());
  EXPECT_EQ(u.sticky->cookie, "srv");
  EXPECT_EQ(u.sticky->ttl, milliseconds(7'200'000));
  ASSERT_EQ(u.servers.size(), 3u);
  EXPECT_EQ(u.servers[0].weight, 3);
  EXPECT_EQ(u.servers[0].max_conns, 100u);
  EXPECT_FALSE(u.servers[0].backup);
  EXPECT_TRUE(u.servers[1].backup);
  EXPECT_EQ(u.servers[1].max_conns, 0u);
  EXPECT_FALSE(u.servers[2].backup);
  EXPECT_EQ(u.servers[2].max_conns, 0u);
}

TEST(ConfigUpstreamKeys, EveryPolicyNameIsAccepted) {
  for (std::string_view policy :
       {"round_robin", "least_conn", "random", "p2c", "ewma", "ring_hash", "maglev", "first"}) {
    Config c = load(upstreamWith("    balance: " + std::string(policy) + "\n"));
    ASSERT_EQ(c.upstreams.size(), 1u) << policy;
    EXPECT_EQ(c.upstreams[0].balance, policy);
  }
}

TEST(ConfigUpstreamKeys, EveryHashKeyFormIsRead) {
  struct Case {
    std::string_view text;
    HashKey::Kind kind;
    std::string_view name;
  };
  for (const Case& k :
       {Case{"client_ip", HashKey::Kind::ClientIp, ""}, Case{"uri", HashKey::Kind::Uri, ""},
        Case{"header:X-Tenant", HashKey::Kind::Header, "X-Tenant"},
        Case{"cookie:session", HashKey::Kind::Cookie, "session"},
        Case{"query:user", HashKey::Kind::Query, "user"}}) {
    Config c =
        load(upstreamWith("    balance: ring_hash\n    hash_key: " + std::string(k.text) + "\n"));
    ASSERT_EQ(c.upstreams.size(), 1u) << k.text;
    const auto& key = c.upstreams[0].hash_key;
    ASSERT_TRUE(key.has_value()) << k.text;
    EXPECT_EQ(key->kind, k.kind) << k.text;
    EXPECT_EQ(key->name, k.name) << k.text;
    EXPECT_EQ(key->text, k.text);
  }
}

TEST(ConfigUpstreamKeys, HashingPoliciesDefaultToTheClientIp) {
  for (std::string_view policy : {"ring_hash", "maglev"}) {
    Config c = load(upstreamWith("    balance: " + std::string(policy) + "\n"));
    ASSERT_EQ(c.upstreams.size(), 1u) << policy;
    const auto& key = c.upstreams[0].hash_key;
    ASSERT_TRUE(key.has_value()) << policy;
    EXPECT_EQ(key->kind, HashKey::Kind::ClientIp);
    EXPECT_EQ(key->text, "client_ip");
  }
}

TEST(ConfigUpstreamKeys, HashKeyMayComeBeforeBalance) {
  Config c = load(upstreamWith("    hash_key: uri\n    balance: maglev\n"));
  ASSERT_EQ(c.upstreams.size(), 1u);
  EXPECT_EQ(c.upstreams[0].hash_key->kind, HashKey::Kind::Uri);
}

TEST(ConfigUpstreamKeys, StickyTtlDefaultsToAnHourAndSlowStartAcceptsZero) {
  Config c = load(upstreamWith("    sticky: {cookie: WEIRID}\n    slow_start: 0s\n"));
  ASSERT_EQ(c.upstreams.size(), 1u);
  EXPECT_EQ(c.upstreams[0].sticky->cookie, "WEIRID");
  EXPECT_EQ(c.upstreams[0].sticky->ttl, milliseconds(3'600'000));
  EXPECT_EQ(c.upstreams[0].slow_start, milliseconds(0));
}

TEST(ConfigUpstreamKeys, TopLevelAdminPidFileAndWatchAreRead) {
  Config c = load(minimalWith(R"(
admin: {listen: 127.0.0.1:9900}
pid_file: /tmp/weir-test.pid
watch: true
)"));
  ASSERT_TRUE(c.admin.has_value());
  EXPECT_EQ(c.admin->listen.host, "127.0.0.1");
  EXPECT_EQ(c.admin->listen.port, 9900);
  EXPECT_EQ(c.admin->listen.text, "127.0.0.1:9900");
  EXPECT_EQ(c.admin->token_file, "");
  EXPECT_EQ(c.admin->token, "");
  EXPECT_EQ(c.pid_file, "/tmp/weir-test.pid");
  EXPECT_TRUE(c.watch);
}

TEST(ConfigUpstreamKeys, PidFileOffAndWatchFalseAreRead) {
  Config c = load(minimalWith("pid_file: \"off\"\nwatch: false\n"));
  EXPECT_EQ(c.pid_file, "off");
  EXPECT_FALSE(c.watch);
}

TEST(ConfigUpstreamKeys, AdminOnLoopbackNeedsNoToken) {
  for (std::string_view listen :
       {"127.0.0.1:9900", "127.0.0.2:9900", "localhost:9900", "\"[::1]:9900\""}) {
    LoadResult r =
        loadString(minimalWith("admin: {listen: " + std::string(listen) + "}\n"), "t.yaml");
    EXPECT_TRUE(r.ok()) << listen << ": " << (r.errors.empty() ? "" : r.errors[0].str());
  }
}

TEST(ConfigUpstreamKeys, AdminTokenIsReadWithoutTrailingWhitespace) {
  TempFile token("s3cret-token \r\n\n");
  Config c = load(minimalWith("admin: {listen: 0.0.0.0:9900, token_file: " + token.path() + "}\n"));
  ASSERT_TRUE(c.admin.has_value());
  EXPECT_EQ(c.admin->listen.host, "0.0.0.0");
  EXPECT_EQ(c.admin->token_file, token.path());
  EXPECT_EQ(c.admin->token, "s3cret-token");
}

// --- errors ---

TEST(ConfigUpstreamKeyErrors, UnknownPolicyIsReported) {
  EXPECT_EQ(errorsOf(upstreamWith("    balance: fastest\n")),
            Errors{"t.yaml:9:14: upstreams[0].balance: must be one of round_robin, least_conn, "
                   "random, p2c, ewma, ring_hash, maglev, first; got 'fastest'"});
  EXPECT_EQ(errorsOf(upstreamWith("    balance: [round_robin]\n")),
            Errors{"t.yaml:9:14: upstreams[0].balance: must be a string"});
}

TEST(ConfigUpstreamKeyErrors, UnknownPolicyDoesNotCascadeIntoHashKey) {
  // A misspelt ring_hash is one mistake: the hash_key that goes with it is not a second one.
  EXPECT_EQ(errorsOf(upstreamWith("    balance: ringhash\n    hash_key: uri\n")),
            Errors{"t.yaml:9:14: upstreams[0].balance: must be one of round_robin, least_conn, "
                   "random, p2c, ewma, ring_hash, maglev, first; got 'ringhash'"});
}

TEST(ConfigUpstreamKeyErrors, BadHashKeysAreReported) {
  EXPECT_EQ(errorsOf(upstreamWith(R"(
    balance: maglev
    hash_key: ip
  - name: b
    balance: ring_hash
    hash_key: "header:"
    servers: [{address: 127.0.0.1:9002}]
  - name: c
    balance: ring_hash
    hash_key: ""
    servers: [{address: 127.0.0.1:9003}]
  - name: d
    balance: ring_hash
    hash_key: Header:X-User
    servers: [{address: 127.0.0.1:9004}]
)")),
            (Errors{
                "t.yaml:10:15: upstreams[0].hash_key: must be client_ip, uri, header:NAME, "
                "cookie:NAME or query:NAME, got 'ip'",
                "t.yaml:13:15: upstreams[1].hash_key: must be client_ip, uri, header:NAME, "
                "cookie:NAME or query:NAME, got 'header:'",
                "t.yaml:17:15: upstreams[2].hash_key: must not be empty",
                "t.yaml:21:15: upstreams[3].hash_key: must be client_ip, uri, header:NAME, "
                "cookie:NAME or query:NAME, got 'Header:X-User'",
            }));
}

TEST(ConfigUpstreamKeyErrors, HashKeyNeedsAHashingPolicy) {
  EXPECT_EQ(errorsOf(upstreamWith(R"(
    balance: round_robin
    hash_key: header:X-User
  - name: b
    hash_key: client_ip
    servers: [{address: 127.0.0.1:9002}]
  - name: c
    balance: first
    hash_key: cookie:s
    servers: [{address: 127.0.0.1:9003}]
)")),
            (Errors{
                "t.yaml:10:15: upstreams[0].hash_key: hash_key needs balance: ring_hash or "
                "maglev",
                "t.yaml:12:15: upstreams[1].hash_key: hash_key needs balance: ring_hash or "
                "maglev",
                "t.yaml:16:15: upstreams[2].hash_key: hash_key needs balance: ring_hash or "
                "maglev",
            }));
}

TEST(ConfigUpstreamKeyErrors, BadStickyCookiesAreReported) {
  EXPECT_EQ(errorsOf(upstreamWith(R"(
    sticky: {cookie: "srv id"}
  - name: b
    sticky: {cookie: "a=b", ttl: 0s}
    servers: [{address: 127.0.0.1:9002}]
  - name: c
    sticky: {cookie: "a;b", ttl: 30}
    servers: [{address: 127.0.0.1:9003}]
  - name: d
    sticky: {cookie: "", tll: 1h}
    servers: [{address: 127.0.0.1:9004}]
  - name: e
    sticky: {ttl: 1h}
    servers: [{address: 127.0.0.1:9005}]
  - name: f
    sticky: srv
    servers: [{address: 127.0.0.1:9006}]
  - name: g
    sticky: {cookie: "\"q\""}
    servers: [{address: 127.0.0.1:9007}]
)")),
            (Errors{
                "t.yaml:9:22: upstreams[0].sticky.cookie: not a valid cookie name",
                "t.yaml:11:22: upstreams[1].sticky.cookie: not a valid cookie name",
                "t.yaml:11:34: upstreams[1].sticky.ttl: must be greater than 0",
                "t.yaml:14:22: upstreams[2].sticky.cookie: not a valid cookie name",
                "t.yaml:14:34: upstreams[2].sticky.ttl: needs a unit (ms, s, m, h)",
                "t.yaml:17:22: upstreams[3].sticky.cookie: must not be empty",
                "t.yaml:17:26: upstreams[3].sticky.tll: unknown key",
                "t.yaml:20:13: upstreams[4].sticky: required key 'cookie' is missing",
                "t.yaml:23:13: upstreams[5].sticky: must be a mapping",
                "t.yaml:26:22: upstreams[6].sticky.cookie: not a valid cookie name",
            }));
}

TEST(ConfigUpstreamKeyErrors, BadSlowStartIsReported) {
  EXPECT_EQ(errorsOf(upstreamWith("    slow_start: 30\n")),
            Errors{"t.yaml:9:17: upstreams[0].slow_start: needs a unit (ms, s, m, h)"});
  EXPECT_EQ(errorsOf(upstreamWith("    slow_start: -1s\n")),
            Errors{"t.yaml:9:17: upstreams[0].slow_start: must be a duration like 500ms, 2s, "
                   "1m or 1h, got '-1s'"});
}

TEST(ConfigUpstreamKeyErrors, BadServerBackupAndMaxConnsAreReported) {
  EXPECT_EQ(errorsOf(minimalWith(R"(
upstreams:
  - name: web
    servers:
      - {address: 127.0.0.1:9001, max_conns: -1}
      - {address: 127.0.0.1:9002, max_conns: 100000001}
      - {address: 127.0.0.1:9003, max_conns: many}
      - {address: 127.0.0.1:9004, backup: yes}
      - {address: 127.0.0.1:9005, backup: 1, max_con: 3}
)")),
            (Errors{
                "t.yaml:9:46: upstreams[0].servers[0].max_conns: must be 0..100000000, got -1",
                "t.yaml:10:46: upstreams[0].servers[1].max_conns: must be 0..100000000, got "
                "100000001",
                "t.yaml:11:46: upstreams[0].servers[2].max_conns: must be an integer, got 'many'",
                "t.yaml:12:43: upstreams[0].servers[3].backup: must be true or false, got 'yes'",
                "t.yaml:13:43: upstreams[0].servers[4].backup: must be true or false, got '1'",
                "t.yaml:13:46: upstreams[0].servers[4].max_con: unknown key",
            }));
}

TEST(ConfigUpstreamKeyErrors, NonLoopbackAdminNeedsATokenFile) {
  EXPECT_EQ(errorsOf(minimalWith("admin: {listen: 0.0.0.0:9900}\n")),
            Errors{"t.yaml:6:17: admin.listen: a non-loopback admin address needs a token_file"});
  EXPECT_EQ(errorsOf(minimalWith("admin: {listen: \"[::]:9900\"}\n")),
            Errors{"t.yaml:6:17: admin.listen: a non-loopback admin address needs a token_file"});
  EXPECT_EQ(errorsOf(minimalWith("admin: {listen: \"*:9900\"}\n")),
            Errors{"t.yaml:6:17: admin.listen: a non-loopback admin address needs a token_file"});
}

TEST(ConfigUpstreamKeyErrors, UnreadableTokenFileIsReported) {
  const std::string missing =
      (fs::temp_directory_path() / ("weir-no-such-token-" + std::to_string(::getpid()))).string();
  EXPECT_EQ(
      errorsOf(minimalWith("admin:\n  listen: 127.0.0.1:9900\n  token_file: " + missing + "\n")),
      Errors{"t.yaml:8:15: admin.token_file: cannot read " + missing +
             ": No such file or directory"});
  const std::string dir = fs::temp_directory_path().string();
  EXPECT_EQ(errorsOf(minimalWith("admin:\n  listen: 127.0.0.1:9900\n  token_file: " + dir + "\n")),
            Errors{"t.yaml:8:15: admin.token_file: cannot read " + dir + ": Is a directory"});
}

TEST(ConfigUpstreamKeyErrors, EmptyTokenFileIsReported) {
  TempFile empty("");
  TempFile blank(" \n\t\n");
  for (const TempFile* f : {&empty, &blank}) {
    EXPECT_EQ(
        errorsOf(minimalWith("admin:\n  listen: 0.0.0.0:9900\n  token_file: " + f->path() + "\n")),
        Errors{"t.yaml:8:15: admin.token_file: " + f->path() + " is empty"});
  }
}

TEST(ConfigUpstreamKeyErrors, BadAdminSectionsAreReported) {
  EXPECT_EQ(errorsOf(minimalWith("admin: {token_file: /x, port: 9900}\n")),
            (Errors{
                "t.yaml:6:8: admin: required key 'listen' is missing",
                "t.yaml:6:21: admin.token_file: cannot read /x: No such file or directory",
                "t.yaml:6:25: admin.port: unknown key",
            }));
  EXPECT_EQ(errorsOf(minimalWith("admin: {listen: admin.internal:9900}\n")),
            Errors{"t.yaml:6:17: admin.listen: host must be an IP address, localhost or *, got "
                   "'admin.internal'"});
  EXPECT_EQ(errorsOf(minimalWith("admin: 127.0.0.1:9900\n")),
            Errors{"t.yaml:6:8: admin: must be a mapping"});
}

TEST(ConfigUpstreamKeyErrors, BadPidFileAndWatchAreReported) {
  EXPECT_EQ(errorsOf(minimalWith("pid_file: \"\"\nwatch: yes\n")),
            (Errors{
                "t.yaml:6:11: pid_file: must not be empty",
                "t.yaml:7:8: watch: must be true or false, got 'yes'",
            }));
  EXPECT_EQ(errorsOf(minimalWith("pid_file: [a]\nwatch: {}\n")),
            (Errors{
                "t.yaml:6:11: pid_file: must be a string",
                "t.yaml:7:8: watch: must be true or false",
            }));
}

TEST(ConfigUpstreamKeyErrors, RespondStatusMustBeAFinalStatus) {
  EXPECT_EQ(errorsOf(R"(
listeners:
  - name: a
    listen: 127.0.0.1:80
    routes:
      - respond: {status: 100}
      - respond: {status: 199}
      - respond: {status: 200}
      - respond: {status: 599}
      - respond: {status: 600}
)"),
            (Errors{
                "t.yaml:5:27: listeners[0].routes[0].respond.status: must be 200..599, got 100",
                "t.yaml:6:27: listeners[0].routes[1].respond.status: must be 200..599, got 199",
                "t.yaml:9:27: listeners[0].routes[4].respond.status: must be 200..599, got 600",
            }));
}

}  // namespace
}  // namespace weir::config
