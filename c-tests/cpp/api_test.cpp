// Tests of the C++ layer itself (vtf.hpp, vtf_gtest.hpp) against real servers.
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <signal.h>

#include "vtf_gtest.hpp"

namespace {

using namespace std::chrono_literals;

// ---- Config (a plain value) ----

TEST(Config, BuilderKeepsArgumentsInOrderAndCopiesAreIndependent) {
  vtf::Config base = vtf::Config().arg("maxmemory", "1mb").arg("hz", 50).module("/m.so", {"a", "b"});
  vtf::Config copy = base;
  copy.arg("save", "").tls(VTF_TLS_ON);

  ASSERT_EQ(base.args().size(), 2u);
  EXPECT_EQ(base.args()[0], (std::pair<std::string, std::string>("maxmemory", "1mb")));
  EXPECT_EQ(base.args()[1], (std::pair<std::string, std::string>("hz", "50")));
  ASSERT_EQ(base.modules().size(), 1u);
  EXPECT_EQ(base.modules()[0].path, "/m.so");
  EXPECT_EQ(base.modules()[0].args, (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(base.tls().has_value());

  ASSERT_EQ(copy.args().size(), 3u);
  EXPECT_EQ(copy.args()[2].second, "");
  EXPECT_EQ(copy.tls(), VTF_TLS_ON);
}

TEST(ConfigExtras, WrapperRunsBeforeTheServerAndKeepDataKeepsTheDirectory) {
  std::string dir;
  {
    // `sh -c SCRIPT server args...`: $0 is the server binary, $@ its arguments.
    vtf::Server server(vtf::Config()
                           .wrapper("sh -c \"echo wrapped-by-the-cpp-test; exec \\\"$0\\\" \\\"$@\\\"\"")
                           .keep_data());
    EXPECT_TRUE(server.log_contains("wrapped-by-the-cpp-test"));
    EXPECT_REPLY_EQ(server.connect().command("PING"), "PONG");
    dir = server.dir();
  }
  EXPECT_TRUE(std::filesystem::is_directory(dir)) << dir << " was removed despite keep_data()";
  std::string command = "rm -rf '" + dir + "'";
  EXPECT_EQ(std::system(command.c_str()), 0);

  vtf::Server plain(vtf::Config().wrapper(""));
  EXPECT_FALSE(plain.log_contains("wrapped-by-the-cpp-test"));
  EXPECT_THROW(vtf::Server(vtf::Config().wrapper("sh \"unterminated")), vtf::Error);
}

TEST(Library, VersionAndStatusNames) {
  EXPECT_FALSE(vtf::version().empty());
  EXPECT_EQ(vtf::status_name(VTF_OK), "VTF_OK");
  EXPECT_EQ(vtf::status_name(VTF_ERR_TIMEOUT), "VTF_ERR_TIMEOUT");
}

// ---- Errors ----

TEST(Errors, MissingBinaryThrowsWithStatusAndMessage) {
  try {
    vtf::Server server(vtf::Config().binary("/nonexistent/vtf/valkey-server"));
    FAIL() << "a server started from a binary that does not exist";
  } catch (const vtf::Error& e) {
    EXPECT_EQ(e.status(), VTF_ERR_BINARY_NOT_FOUND) << e.what();
    EXPECT_EQ(e.operation(), "vtf_server_start");
    EXPECT_NE(e.message().find("/nonexistent/vtf/valkey-server"), std::string::npos) << e.message();
    EXPECT_NE(std::string(e.what()).find("VTF_ERR_BINARY_NOT_FOUND"), std::string::npos) << e.what();
  }
}

// The C message already starts with "vtf_server_start: "; what() names it once.
TEST(Errors, WhatNamesTheFunctionOnce) {
  try {
    vtf::Server server(vtf::Config().binary("/nonexistent/vtf/valkey-server"));
    FAIL() << "a server started from a binary that does not exist";
  } catch (const vtf::Error& e) {
    const std::string what = e.what();
    const std::string name = "vtf_server_start";
    EXPECT_EQ(what.rfind(name + " failed (VTF_ERR_BINARY_NOT_FOUND): ", 0), 0u) << what;
    EXPECT_EQ(what.find(name, name.size()), std::string::npos) << "named twice: " << what;
    EXPECT_NE(what.find("/nonexistent/vtf/valkey-server"), std::string::npos) << what;
    EXPECT_EQ(e.message().rfind(name + ": ", 0), 0u) << "message() is vtf_last_error() as it was: " << e.message();
  }
  // A C++-side failure has no C prefix to drop.
  try {
    vtf::Reply().type();
    FAIL() << "an empty Reply has a type";
  } catch (const vtf::Error& e) {
    EXPECT_EQ(std::string(e.what()), "vtf::Reply::type failed (VTF_ERR_NULL_ARGUMENT): the Reply holds no reply");
  }
}

TEST(Errors, StatusAssertionsReportTheLastError) {
  // VTF_EXPECT_OK on a failing C call is a failure whose message holds vtf_last_error().
  vtf_server* out = nullptr;
  ::testing::AssertionResult result = vtf::testing::internal::check_ok(
      [&] { return vtf_server_start(nullptr, &out); }, "vtf_server_start(nullptr, &out)");
  EXPECT_FALSE(result);
  EXPECT_NE(std::string(result.message()).find("VTF_ERR_NULL_ARGUMENT"), std::string::npos) << result.message();
  EXPECT_EQ(out, nullptr);

  ::testing::AssertionResult thrown = vtf::testing::internal::check_ok(
      [] { vtf::Server s(vtf::Config().binary("/nonexistent/vtf/valkey-server")); }, "start");
  EXPECT_FALSE(thrown);
  EXPECT_NE(std::string(thrown.message()).find("threw"), std::string::npos) << thrown.message();
}

// ---- wait_until ----

TEST(WaitUntil, ReturnsOnceTheConditionHolds) {
  int calls = 0;
  vtf::wait_until([&] { return ++calls >= 3; }, 5s, "three calls");
  EXPECT_EQ(calls, 3);
}

TEST(WaitUntil, TimesOutWithTheDescription) {
  try {
    vtf::wait_until([] { return false; }, 200ms, "a condition that never holds");
    FAIL() << "wait_until returned for a condition that never holds";
  } catch (const vtf::Error& e) {
    EXPECT_EQ(e.status(), VTF_ERR_TIMEOUT) << e.what();
    EXPECT_NE(e.message().find("a condition that never holds"), std::string::npos) << e.message();
  }
}

TEST(WaitUntil, RethrowsTheConditionsException) {
  EXPECT_THROW(vtf::wait_until([]() -> bool { throw std::domain_error("boom"); }, 5s, "throws"),
               std::domain_error);
}

// ---- Server, Client, Reply ----

class ApiTest : public vtf::testing::ServerTest {};

TEST_F(ApiTest, ServerAccessors) {
  EXPECT_EQ(server().host(), "127.0.0.1");
  EXPECT_GT(server().port(), 0);
  EXPECT_GT(server().pid(), 0);
  EXPECT_TRUE(server().is_running());
  EXPECT_FALSE(server().dir().empty());
  EXPECT_FALSE(server().log_path().empty());
  EXPECT_TRUE(server().tls_ca_cert_path().empty());  // TLS off by default
  EXPECT_EQ(server().info_field("server", "tcp_port"), std::to_string(server().port()));
  EXPECT_TRUE(server().log_contains("Ready to accept connections"));
  EXPECT_NE(server().log_tail(5).find("Ready to accept connections"), std::string::npos);
  server().wait_for_log("Ready to accept connections", 1s);
}

TEST_F(ApiTest, RepliesOfEveryCommonShape) {
  vtf::Reply ok = client().command("SET", "k", "v");
  EXPECT_TRUE(ok.is_status());
  EXPECT_EQ(ok.str(), "OK");
  EXPECT_REPLY_EQ(ok, "OK");

  EXPECT_REPLY_EQ(client().command("GET", "k"), "v");
  EXPECT_REPLY_NIL(client().command("GET", "missing"));
  EXPECT_REPLY_INT(client().command("INCRBY", "n", 41), 41);
  EXPECT_REPLY_INT(client().command("INCR", "n"), 42);

  vtf::Reply err = client().command("INCR", "k");
  EXPECT_TRUE(err.is_error());
  EXPECT_REPLY_ERROR(err, "not an integer");
  EXPECT_THROW(err.integer(), vtf::Error);

  EXPECT_REPLY_INT(client().command("RPUSH", "list", "a", "b", "c"), 3);
  vtf::Reply list = client().command("LRANGE", "list", 0, -1);
  ASSERT_EQ(list.size(), 3u);
  EXPECT_REPLY_EQ(list[0], "a");
  EXPECT_EQ(list.strings(), (std::vector<std::string>{"a", "b", "c"}));
  std::string joined;
  for (const vtf::Reply& e : list) joined += e.str();
  EXPECT_EQ(joined, "abc");
  EXPECT_THROW(list.at(3), std::out_of_range);
  EXPECT_EQ(list.to_string(), "[\"a\", \"b\", \"c\"]");
  // Elements keep the tree alive after the top-level Reply is gone.
  vtf::Reply second = client().command("LRANGE", "list", 0, -1)[1];
  EXPECT_EQ(second.str(), "b");

  EXPECT_THROW(client().command("GET", "n").integer(), vtf::Error);  // a STRING "42"
  EXPECT_THROW(client().command("INCR", "n").str(), vtf::Error);     // an INTEGER
}

TEST_F(ApiTest, CommandsAreBinarySafe) {
  const std::string key("bin\0key", 7);
  const std::string value("a\0b\r\n\xff", 6);
  EXPECT_REPLY_EQ(client().command("SET", key, value), "OK");
  vtf::Reply got = client().command("GET", key);
  EXPECT_EQ(got.str(), value);
  EXPECT_EQ(got.view().size(), 6u);
  EXPECT_EQ(got.to_string(), "\"a\\x00b\\r\\n\\xff\"");  // how failures show bytes
  EXPECT_REPLY_NIL(client().command("GET", std::string("bin")));  // not truncated at the NUL
}

TEST_F(ApiTest, ArgumentKinds) {
  std::string_view sv = "sv";
  const char* cs = "cs";
  std::vector<std::string> more{"x", "y"};
  EXPECT_REPLY_INT(client().command("RPUSH", "l", sv, cs, std::string("s"), 7, -8L, 9u, 1.5, more), 9);
  EXPECT_EQ(client().command("LRANGE", "l", 0, -1).strings(),
            (std::vector<std::string>{"sv", "cs", "s", "7", "-8", "9", "1.5", "x", "y"}));
  EXPECT_REPLY_INT(client().command_argv({"DEL", "l"}), 1);
  EXPECT_REPLY_EQ(client().command_str("SET quoted \"a b\""), "OK");
  EXPECT_REPLY_EQ(client().command_str("GET quoted"), "a b");
}

TEST_F(ApiTest, RestartKeepsDataOnlyWhenAsked) {
  EXPECT_REPLY_EQ(client().command("SET", "kept", "1"), "OK");
  EXPECT_REPLY_EQ(client().command("SAVE"), "OK");
  uint16_t port = server().port();
  server().restart(true);
  EXPECT_EQ(server().port(), port);
  EXPECT_REPLY_EQ(reconnect().command("GET", "kept"), "1");

  server().restart(false);
  EXPECT_REPLY_NIL(reconnect().command("GET", "kept"));
}

TEST_F(ApiTest, StopIsIdempotentAndClientsThenFail) {
  EXPECT_REPLY_EQ(client().command("PING"), "PONG");
  VTF_ASSERT_OK(vtf_server_stop(server().get()));
  VTF_EXPECT_OK(server().stop());
  EXPECT_FALSE(server().is_running());
  EXPECT_EQ(server().pid(), -1);
  try {
    client().command("PING");
    FAIL() << "a command to a stopped server succeeded";
  } catch (const vtf::Error& e) {
    EXPECT_NE(e.status(), VTF_OK);
  }
}

TEST_F(ApiTest, CommandTimeout) {
  vtf::Client c = server().connect();
  c.set_timeout(300ms);
  try {
    c.command("BLPOP", "never-pushed", 0);  // blocks forever
    FAIL() << "BLPOP on an empty list returned";
  } catch (const vtf::Error& e) {
    EXPECT_NE(e.status(), VTF_OK) << e.what();
  }
}

TEST(ConfigCommandTimeout, ClientsOfTheServerGiveUpWithTimeout) {
  // The config's bound reaches every client of its servers: a reply that does
  // not come in time is VTF_ERR_TIMEOUT naming the command, not a hang.
  vtf::Server s(vtf::Config().command_timeout(300ms));
  vtf::Client c = s.connect();
  try {
    c.command("BLPOP", "never-pushed", 0);  // blocks forever
    FAIL() << "BLPOP on an empty list returned";
  } catch (const vtf::Error& e) {
    EXPECT_EQ(e.status(), VTF_ERR_TIMEOUT) << e.what();
    EXPECT_NE(std::string(e.what()).find("BLPOP"), std::string::npos) << e.what();
  }
}

// The owning classes are unique_ptrs underneath (the rule of zero): move-only,
// and a Server is usable wherever a ServerRef view is.
static_assert(!std::is_copy_constructible_v<vtf::Server> && !std::is_copy_assignable_v<vtf::Server>);
static_assert(!std::is_copy_constructible_v<vtf::Client> && !std::is_copy_assignable_v<vtf::Client>);
static_assert(!std::is_copy_constructible_v<vtf::Replication> && !std::is_copy_constructible_v<vtf::Cluster>);
static_assert(std::is_nothrow_move_constructible_v<vtf::Server> && std::is_nothrow_move_assignable_v<vtf::Server>);
static_assert(std::is_nothrow_move_constructible_v<vtf::Client> && std::is_nothrow_move_assignable_v<vtf::Client>);
static_assert(std::is_nothrow_move_constructible_v<vtf::Replication> &&
              std::is_nothrow_move_assignable_v<vtf::Replication>);
static_assert(std::is_nothrow_move_constructible_v<vtf::Cluster> && std::is_nothrow_move_assignable_v<vtf::Cluster>);
static_assert(std::is_copy_constructible_v<vtf::ServerRef> && std::is_copy_assignable_v<vtf::ServerRef>);
static_assert(std::is_convertible_v<const vtf::Server&, vtf::ServerRef>);
static_assert(sizeof(vtf::Server) == sizeof(vtf_server*) && sizeof(vtf::Client) == sizeof(vtf_client*),
              "an owning handle is one pointer");
static_assert(!std::is_copy_constructible_v<vtf::Port> && std::is_nothrow_move_constructible_v<vtf::Port>);

TEST(Port, ReservedPortsDifferAndAServerStartedMeanwhileGetsNeither) {
  vtf::Port first;
  vtf::Port second;
  ASSERT_NE(first.number(), 0);
  ASSERT_NE(first.number(), second.number());
  vtf::Server server;
  EXPECT_NE(server.port(), first.number());
  EXPECT_NE(server.port(), second.number());
  vtf::Port moved = std::move(first);
  EXPECT_NE(moved.number(), 0);
}

bool process_exists(int32_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno != ESRCH); }

TEST(ServerOwnership, MoveAssignmentStopsTheServerItReplaces) {
  vtf::Server a;
  vtf::Server b;
  const int32_t a_pid = a.pid();
  const int32_t b_pid = b.pid();
  ASSERT_TRUE(process_exists(b_pid));
  const std::string b_dir = b.dir();
  b = std::move(a);
  EXPECT_EQ(a.get(), nullptr);  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_FALSE(a);              // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(b.pid(), a_pid);
  EXPECT_FALSE(process_exists(b_pid)) << "the replaced server (pid " << b_pid << ") still runs";
  EXPECT_FALSE(std::filesystem::exists(b_dir)) << b_dir;
  EXPECT_REPLY_EQ(b.connect().command("PING"), "PONG");
}

TEST(ServerOwnership, ViewsAndClientsOfAServer) {
  vtf::Server server;
  const vtf::ServerRef& view = server;  // a Server converts to a view
  EXPECT_EQ(view.get(), server.get());
  EXPECT_EQ(view.port(), server.port());
  vtf::Client c(server);
  vtf::Client d = std::move(c);
  EXPECT_FALSE(c.valid());  // NOLINT(bugprone-use-after-move)
  EXPECT_REPLY_EQ(d.command("PING"), "PONG");
  vtf_client* raw = d.release();
  EXPECT_FALSE(d.valid());
  vtf::Client adopted(raw);
  EXPECT_REPLY_EQ(adopted.command("PING"), "PONG");
  adopted.reset();
  EXPECT_FALSE(adopted.valid());
}

TEST(ServerOwnership, MoveTransfersTheProcess) {
  vtf::Server a;
  int32_t pid = a.pid();
  vtf::Server b = std::move(a);
  EXPECT_EQ(a.get(), nullptr);  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_EQ(b.pid(), pid);
  vtf::ServerRef view = b.ref();
  EXPECT_REPLY_EQ(view.connect().command("PING"), "PONG");
  b.reset();
  EXPECT_EQ(b.get(), nullptr);
}

// Every TLS mode, including mutual TLS (the fixture's client presents the
// generated client certificate).
class AllTlsModesTest : public vtf::testing::TlsServerTest {};

TEST_P(AllTlsModesTest, ClientsConnectInEveryMode) {
  EXPECT_EQ(!server().tls_ca_cert_path().empty(), tls());
  EXPECT_EQ(!server().tls_client_cert_path().empty(), tls());
  EXPECT_REPLY_EQ(client().command("SET", "mode", vtf::testing::tls_mode_name(GetParam())), "OK");
  EXPECT_REPLY_EQ(server().connect().command("GET", "mode"), vtf::testing::tls_mode_name(GetParam()));
}

INSTANTIATE_TEST_SUITE_P(Tls, AllTlsModesTest, vtf::testing::AllTlsModes(), vtf::testing::TlsModeName());

class SharedApiTest : public vtf::testing::SharedServerTest<SharedApiTest> {
 public:
  static vtf::Config config() { return vtf::Config().arg("maxmemory", "12mb"); }
};

TEST_F(SharedApiTest, UsesTheSuiteConfig) {
  EXPECT_EQ(server().info_field("memory", "maxmemory"), std::to_string(12 * 1024 * 1024));
  EXPECT_REPLY_EQ(client().command("SET", "shared", "1"), "OK");
}

}  // namespace
