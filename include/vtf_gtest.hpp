// vtf_gtest.hpp - GoogleTest fixtures and assertions for ValkeyTestFramework.
// Header-only; include it only in GoogleTest programs (it includes gtest.h).
//
//   class MyTest : public vtf::testing::ServerTest {
//    protected:
//     vtf::Config config() override { return vtf::Config().module(MODULE_PATH); }
//   };
//   TEST_F(MyTest, Works) { EXPECT_REPLY_EQ(client().command("PING"), "PONG"); }
//
// Every fixture prints the log tail and working directory of each of its servers
// when the test has failed, before the servers are stopped.
#ifndef VTF_GTEST_HPP
#define VTF_GTEST_HPP

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "vtf.hpp"

namespace vtf {
namespace testing {

/// Lines of log printed per server when a test fails.
inline constexpr size_t kLogTailLines = 40;

/// How long a command sent through a fixture's client() may wait for its reply:
/// a module command that never replies fails the test instead of hanging it.
inline constexpr std::chrono::milliseconds kCommandTimeout{60000};

namespace internal {
inline Client with_timeout(Client client) {
  client.set_timeout(kCommandTimeout);
  return client;
}
}  // namespace internal

/// Writes what is known about `server` (address, pid, directory, log path) and the
/// last `lines` lines of its log to `os`. Never throws.
inline void print_server_diagnostics(const ServerRef& server, const std::string& label, std::ostream& os,
                                     size_t lines = kLogTailLines) {
  try {
    os << "[ vtf      ] " << label << " " << server.address() << " (pid " << server.pid() << ")\n"
       << "[ vtf      ]   dir: " << server.dir() << "\n"
       << "[ vtf      ]   log: " << server.log_path() << "\n"
       << "[ vtf      ]   by hand, while it runs: "
       // The password from its 0600 file (an attached server has none of ours), never the password itself.
       << (server.password() && !server.dir().empty() ? "REDISCLI_AUTH=\"$(cat " + server.dir() + "/password)\" "
                                                      : std::string())
       << "valkey-cli -h " << server.host() << " -p " << server.port()
       << (server.tls_ca_cert_path().empty()
               ? std::string()
               : " --tls --cacert " + server.tls_ca_cert_path() + " --cert " + server.tls_client_cert_path() +
                     " --key " + server.tls_client_key_path())
       << "\n"
       << "[ vtf      ]   log tail (last " << lines << " lines):\n";
    std::istringstream tail(server.log_tail(lines));
    std::string line;
    while (std::getline(tail, line)) os << "    | " << line << "\n";
    // The library alone reads VTF_KEEP_DATA (one flag rule) and says so when it keeps a directory.
    os << "[ vtf      ]   (the directory is removed when the test ends, unless kept: VTF_KEEP_DATA=1 or "
          "Config::keep_data())\n";
  } catch (const std::exception& e) {
    os << "[ vtf      ]   (could not read the diagnostics of " << label << ": " << e.what() << ")\n";
  }
  os.flush();
}

namespace internal {

/// Prints diagnostics for every (label, server) pair when the current test failed.
inline void dump_if_failed(const std::vector<std::pair<std::string, ServerRef>>& servers) {
  if (!::testing::Test::HasFailure()) return;
  std::cout << "[ vtf      ] the test failed; the servers it used:\n";
  for (const auto& [label, server] : servers) {
    if (server) print_server_diagnostics(server, label, std::cout);
  }
}

template <class Group>
std::vector<std::pair<std::string, ServerRef>> nodes_of_cluster(const Group& cluster) {
  std::vector<std::pair<std::string, ServerRef>> out;
  size_t n = cluster.node_count();
  for (size_t i = 0; i < n; ++i) {
    out.emplace_back("cluster node " + std::to_string(i) + (i < cluster.shards() ? " (primary at start)" : ""),
                     cluster.node(i));
  }
  return out;
}

inline std::vector<std::pair<std::string, ServerRef>> nodes_of_replication(const Replication& group) {
  std::vector<std::pair<std::string, ServerRef>> out;
  out.emplace_back("primary", group.primary());
  for (size_t i = 0, n = group.replica_count(); i < n; ++i)
    out.emplace_back("replica " + std::to_string(i), group.replica(i));
  return out;
}

}  // namespace internal

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

/// Base of the fixtures: the TLS mode a parameterized variant imposes on config().
class FixtureBase : public ::testing::Test {
 protected:
  /// When set, overrides the TLS mode of config() (WithTls sets it from the parameter).
  virtual std::optional<vtf_tls_mode> tls_override() const { return std::nullopt; }

  Config effective(Config c) const {
    if (auto mode = tls_override()) c.tls(*mode);
    return c;
  }
};

/// A fresh server per test. Override config() to customize it.
class ServerTest : public FixtureBase {
 protected:
  /// The server's configuration; called once per test, in SetUp.
  virtual Config config() { return Config(); }

  void SetUp() override {
    try {
      server_.emplace(effective(config()));
    } catch (const std::exception& e) {
      FAIL() << "starting the server failed: " << e.what();
    }
  }

  void TearDown() override {
    if (server_) internal::dump_if_failed({{"server", server_->ref()}});
    client_.reset();
    server_.reset();
  }

  /// The test's server.
  Server& server() {
    if (!server_) throw std::logic_error("vtf::testing::ServerTest::server(): no server (SetUp failed?)");
    return *server_;
  }
  /// A connection to the server, opened on first use; reopen with reconnect().
  Client& client() {
    if (!client_) client_.emplace(internal::with_timeout(server().connect()));
    return *client_;
  }
  /// Drops the shared connection (e.g. after a restart) and opens a new one.
  Client& reconnect() {
    client_.reset();
    return client();
  }

 private:
  std::optional<Server> server_;
  std::optional<Client> client_;
};

/// One server for all tests of a suite (SetUpTestSuite / TearDownTestSuite).
/// CRTP: `class MySuite : public vtf::testing::SharedServerTest<MySuite>`; to
/// customize, declare `static vtf::Config config()` in MySuite.
template <class Derived>
class SharedServerTest : public ::testing::Test {
 public:
  static Config config() { return Config(); }

  static void SetUpTestSuite() {
    start_error() = std::nullopt;
    try {
      shared() = std::make_unique<Server>(Derived::config());
    } catch (const std::exception& e) {
      start_error() = e.what();
    }
  }
  static void TearDownTestSuite() {
    shared_client().reset();
    shared().reset();
  }

 protected:
  void SetUp() override {
    if (!shared()) FAIL() << "starting the suite's shared server failed: " << start_error().value_or("(unknown)");
  }
  void TearDown() override {
    if (shared()) internal::dump_if_failed({{"shared server", shared()->ref()}});
  }

  static Server& server() {
    if (!shared()) throw std::logic_error("vtf::testing::SharedServerTest::server(): no server");
    return *shared();
  }
  /// A connection shared by the suite's tests, opened on first use.
  static Client& client() {
    if (!shared_client()) shared_client() = std::make_unique<Client>(internal::with_timeout(server().connect()));
    return *shared_client();
  }

 private:
  static std::unique_ptr<Server>& shared() {
    static std::unique_ptr<Server> s;
    return s;
  }
  static std::unique_ptr<Client>& shared_client() {
    static std::unique_ptr<Client> c;
    return c;
  }
  static std::optional<std::string>& start_error() {
    static std::optional<std::string> e;
    return e;
  }
};

/// A primary and replicas() replicas per test, synced before the test body runs.
class ReplicationTest : public FixtureBase {
 protected:
  /// The configuration of every node (primary and replicas).
  virtual Config config() { return Config(); }
  /// The replicas' configuration; defaults to config().
  virtual Config replica_config() { return config(); }
  virtual size_t replicas() { return 2; }

  void SetUp() override {
    try {
      group_.emplace(effective(config()), effective(replica_config()), replicas());
      group_->wait_sync();
    } catch (const std::exception& e) {
      if (group_) internal::dump_if_failed(internal::nodes_of_replication(*group_));
      FAIL() << "starting the replication group failed: " << e.what();
    }
  }
  void TearDown() override {
    if (group_) internal::dump_if_failed(internal::nodes_of_replication(*group_));
    primary_client_.reset();
    group_.reset();
  }

  Replication& replication() {
    if (!group_) throw std::logic_error("vtf::testing::ReplicationTest: no group (SetUp failed?)");
    return *group_;
  }
  ServerRef primary() { return replication().primary(); }
  ServerRef replica(size_t index) { return replication().replica(index); }
  /// A connection to the primary, opened on first use (reset after promote()).
  Client& primary_client() {
    if (!primary_client_) primary_client_.emplace(internal::with_timeout(primary().connect()));
    return *primary_client_;
  }
  void reset_primary_client() { primary_client_.reset(); }

 private:
  std::optional<Replication> group_;
  std::optional<Client> primary_client_;
};

/// A cluster of shards() x replicas_per_shard() per test, with all slots covered.
class ClusterTest : public FixtureBase {
 protected:
  virtual Config config() { return Config(); }
  virtual size_t shards() { return 3; }
  virtual size_t replicas_per_shard() { return 0; }

  void SetUp() override {
    try {
      cluster_.emplace(effective(config()), shards(), replicas_per_shard());
      cluster_->wait_ok();
    } catch (const std::exception& e) {
      if (cluster_) internal::dump_if_failed(internal::nodes_of_cluster(*cluster_));
      FAIL() << "starting the cluster failed: " << e.what();
    }
  }
  void TearDown() override {
    if (cluster_) internal::dump_if_failed(internal::nodes_of_cluster(*cluster_));
    cluster_client_.reset();
    cluster_.reset();
  }

  Cluster& cluster() {
    if (!cluster_) throw std::logic_error("vtf::testing::ClusterTest: no cluster (SetUp failed?)");
    return *cluster_;
  }
  ServerRef node(size_t index) { return cluster().node(index); }
  /// A slot-routing connection to the cluster, opened on first use.
  Client& cluster_client() {
    if (!cluster_client_) cluster_client_.emplace(internal::with_timeout(cluster().connect()));
    return *cluster_client_;
  }

 private:
  std::optional<Cluster> cluster_;
  std::optional<Client> cluster_client_;
};

// ---------------------------------------------------------------------------
// TLS off / on: value-parameterized variants
// ---------------------------------------------------------------------------

/// `Fixture` run once per TLS mode: GetParam() is the vtf_tls_mode, applied on top
/// of config(). Instantiate with VTF_INSTANTIATE_TLS_SUITE(MySuite) or
/// INSTANTIATE_TEST_SUITE_P(Tls, MySuite, vtf::testing::TlsModes(), vtf::testing::TlsModeName()).
template <class Fixture>
class WithTls : public Fixture, public ::testing::WithParamInterface<vtf_tls_mode> {
 protected:
  std::optional<vtf_tls_mode> tls_override() const override { return this->GetParam(); }
  bool tls() const { return this->GetParam() != VTF_TLS_OFF; }
};

using TlsServerTest = WithTls<ServerTest>;
using TlsReplicationTest = WithTls<ReplicationTest>;
using TlsClusterTest = WithTls<ClusterTest>;

/// TLS off and on.
inline auto TlsModes() { return ::testing::Values(VTF_TLS_OFF, VTF_TLS_ON); }
/// TLS off, on, and mutual (client certificates).
inline auto AllTlsModes() { return ::testing::Values(VTF_TLS_OFF, VTF_TLS_ON, VTF_TLS_MUTUAL); }

inline const char* tls_mode_name(vtf_tls_mode mode) {
  switch (mode) {
    case VTF_TLS_OFF: return "TlsOff";
    case VTF_TLS_ON: return "TlsOn";
    case VTF_TLS_MUTUAL: return "TlsMutual";
  }
  return "TlsUnknown";
}

/// Test-name generator: ".../TlsOff", ".../TlsOn", ".../TlsMutual".
struct TlsModeName {
  std::string operator()(const ::testing::TestParamInfo<vtf_tls_mode>& info) const {
    return tls_mode_name(info.param);
  }
};

// ---------------------------------------------------------------------------
// Assertions
// ---------------------------------------------------------------------------

namespace internal {

/// OK when `f()` returns VTF_OK (vtf_status) or returns without throwing (void C++ calls).
template <class F>
::testing::AssertionResult check_ok(F&& f, const char* text) {
  using R = decltype(f());
  try {
    if constexpr (std::is_void_v<R>) {
      f();
      return ::testing::AssertionSuccess();
    } else {
      static_assert(std::is_same_v<R, vtf_status>, "VTF_ASSERT_OK takes a vtf_status or a void vtf:: call");
      vtf_status status = f();
      if (status == VTF_OK) return ::testing::AssertionSuccess();
      const std::string message = last_error();
      return ::testing::AssertionFailure() << text << " returned " << status_name(status) << ": " << message;
    }
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << text << " threw: " << e.what();
  }
}

/// " (expression)" unless the expression is the literal itself.
inline std::string source_of(const char* expression, const std::string& literal) {
  if (literal == expression) return std::string();
  return std::string(" (") + expression + ")";
}

inline std::string quoted(std::string_view s) {
  std::string out = "\"";
  out.append(s.data(), s.size());
  out += "\"";
  return out;
}

inline ::testing::AssertionResult reply_eq(const char* reply_text, const char* expected_text, const Reply& reply,
                                           std::string_view expected) {
  if (reply && (reply.type() == VTF_REPLY_STRING || reply.type() == VTF_REPLY_STATUS ||
                reply.type() == VTF_REPLY_VERBATIM) && reply.view() == expected)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << reply_text << " is " << reply.to_string() << ", expected "
                                       << quoted(expected) << source_of(expected_text, quoted(expected));
}

inline ::testing::AssertionResult reply_int(const char* reply_text, const char* expected_text, const Reply& reply,
                                            int64_t expected) {
  if (reply && reply.type() == VTF_REPLY_INTEGER && reply.integer() == expected)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << reply_text << " is " << reply.to_string() << ", expected (integer) "
                                       << expected << source_of(expected_text, std::to_string(expected));
}

inline ::testing::AssertionResult reply_error(const char* reply_text, const char* expected_text,
                                              const Reply& reply, std::string_view substring) {
  if (reply && reply.is_error() && reply.view().find(substring) != std::string_view::npos)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << reply_text << " is " << reply.to_string()
                                       << ", expected an error containing " << quoted(substring)
                                       << source_of(expected_text, quoted(substring));
}

inline ::testing::AssertionResult reply_nil(const char* reply_text, const Reply& reply) {
  if (reply && reply.is_nil()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << reply_text << " is " << reply.to_string() << ", expected (nil)";
}

}  // namespace internal
}  // namespace testing
}  // namespace vtf

/// Asserts that a vtf_status expression is VTF_OK (printing vtf_last_error()), or
/// that a void vtf:: C++ call does not throw (printing the vtf::Error).
#define VTF_ASSERT_OK(expr) \
  ASSERT_TRUE(::vtf::testing::internal::check_ok([&]() { return (expr); }, #expr))
#define VTF_EXPECT_OK(expr) \
  EXPECT_TRUE(::vtf::testing::internal::check_ok([&]() { return (expr); }, #expr))

/// The reply is a STRING/STATUS/VERBATIM whose bytes equal `expected`.
#define EXPECT_REPLY_EQ(reply, expected) EXPECT_PRED_FORMAT2(::vtf::testing::internal::reply_eq, reply, expected)
#define ASSERT_REPLY_EQ(reply, expected) ASSERT_PRED_FORMAT2(::vtf::testing::internal::reply_eq, reply, expected)
/// The reply is an INTEGER equal to `expected`.
#define EXPECT_REPLY_INT(reply, expected) EXPECT_PRED_FORMAT2(::vtf::testing::internal::reply_int, reply, expected)
#define ASSERT_REPLY_INT(reply, expected) ASSERT_PRED_FORMAT2(::vtf::testing::internal::reply_int, reply, expected)
/// The reply is an ERROR whose message contains `substring`.
#define EXPECT_REPLY_ERROR(reply, substring) \
  EXPECT_PRED_FORMAT2(::vtf::testing::internal::reply_error, reply, substring)
#define ASSERT_REPLY_ERROR(reply, substring) \
  ASSERT_PRED_FORMAT2(::vtf::testing::internal::reply_error, reply, substring)
/// The reply is NIL.
#define EXPECT_REPLY_NIL(reply) EXPECT_PRED_FORMAT1(::vtf::testing::internal::reply_nil, reply)
#define ASSERT_REPLY_NIL(reply) ASSERT_PRED_FORMAT1(::vtf::testing::internal::reply_nil, reply)

/// Instantiates a WithTls-based suite for TLS off and on, named .../TlsOff and .../TlsOn.
#define VTF_INSTANTIATE_TLS_SUITE(suite) \
  INSTANTIATE_TEST_SUITE_P(Tls, suite, ::vtf::testing::TlsModes(), ::vtf::testing::TlsModeName())

#endif  // VTF_GTEST_HPP
