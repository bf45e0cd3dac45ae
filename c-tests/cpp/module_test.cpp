// Integration tests of the example module (examples/module, "vtfexample") with the
// C++ fixtures on a single server: commands and errors, module arguments, RDB
// restart, AOF rewrite, each with TLS off and on (replication and cluster:
// module_groups_test.cpp).
//
// VTF_EXAMPLE_MODULE is the path of vtfexample.so (a compile definition).
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "vtf_gtest.hpp"

#ifndef VTF_EXAMPLE_MODULE
#error "VTF_EXAMPLE_MODULE (the path of vtfexample.so) must be defined"
#endif

namespace {

using namespace std::chrono_literals;
using Values = std::vector<int64_t>;

// DEBUG DIGEST (which runs the module's digest callback) needs the debug command.
vtf::Config module_config() {
  return vtf::Config().module(VTF_EXAMPLE_MODULE).arg("enable-debug-command", "yes");
}

// ---------------------------------------------------------------------------
// Standalone
// ---------------------------------------------------------------------------

class ModuleTest : public vtf::testing::TlsServerTest {
 protected:
  vtf::Config config() override { return module_config(); }
};

TEST_P(ModuleTest, ServerRunsWithTheRequestedTls) {
  EXPECT_EQ(!server().tls_ca_cert_path().empty(), tls());
  EXPECT_REPLY_EQ(client().command("PING"), "PONG");
}

TEST_P(ModuleTest, PushGetRangeLenSum) {
  EXPECT_REPLY_INT(client().command("EXLIST.PUSH", "counters", 1, 2, 3), 3);
  EXPECT_REPLY_INT(client().command("EXLIST.PUSH", "counters", -10), 4);
  EXPECT_REPLY_INT(client().command("EXLIST.LEN", "counters"), 4);
  EXPECT_REPLY_INT(client().command("EXLIST.GET", "counters", 1), 2);
  EXPECT_REPLY_INT(client().command("EXLIST.GET", "counters", -1), -10);
  EXPECT_REPLY_INT(client().command("EXLIST.INCRBY", "counters", 0, 41), 42);
  EXPECT_EQ(client().command("EXLIST.RANGE", "counters").integers(), (Values{42, 2, 3, -10}));
  EXPECT_REPLY_INT(client().command("EXLIST.SUM", "counters"), 37);
  EXPECT_REPLY_EQ(client().command("TYPE", "counters"), "vtfexlist");
}

TEST_P(ModuleTest, MissingKeys) {
  EXPECT_REPLY_NIL(client().command("EXLIST.GET", "nothing", 0));
  EXPECT_REPLY_INT(client().command("EXLIST.LEN", "nothing"), 0);
  EXPECT_EQ(client().command("EXLIST.RANGE", "nothing").size(), 0u);
  EXPECT_REPLY_ERROR(client().command("EXLIST.INCRBY", "nothing", 0, 1), "no such key");
}

TEST_P(ModuleTest, Errors) {
  EXPECT_REPLY_ERROR(client().command("EXLIST.PUSH", "k"), "wrong number of arguments");
  EXPECT_REPLY_ERROR(client().command("EXLIST.PUSH", "k", "one"), "value is not an integer");
  EXPECT_REPLY_INT(client().command("EXISTS", "k"), 0);  // nothing was written by the failed push
  EXPECT_REPLY_INT(client().command("EXLIST.PUSH", "k", 1), 1);
  EXPECT_REPLY_ERROR(client().command("EXLIST.GET", "k", 1), "index out of range");
  EXPECT_REPLY_ERROR(client().command("EXLIST.GET", "k", "x"), "index is not an integer");
  EXPECT_REPLY_ERROR(client().command("EXLIST.INCRBY", "k", 0, INT64_MAX), "overflow");
  EXPECT_REPLY_EQ(client().command("SET", "plain", "string"), "OK");
  EXPECT_REPLY_ERROR(client().command("EXLIST.PUSH", "plain", 1), "WRONGTYPE");
  EXPECT_REPLY_ERROR(client().command("GET", "k"), "WRONGTYPE");
}

TEST_P(ModuleTest, BinaryKeys) {
  const std::string key("ex\0list", 7);
  EXPECT_REPLY_INT(client().command("EXLIST.PUSH", key, 5), 1);
  EXPECT_REPLY_INT(client().command("EXLIST.LEN", std::string("ex")), 0);
  EXPECT_REPLY_INT(client().command("EXLIST.GET", key, 0), 5);
}

TEST_P(ModuleTest, CommandsDeclareTheirKey) {
  vtf::Reply keys = client().command("COMMAND", "GETKEYS", "EXLIST.PUSH", "the-key", 1, 2);
  ASSERT_EQ(keys.size(), 1u) << keys;
  EXPECT_REPLY_EQ(keys[0], "the-key");
  EXPECT_EQ(client().command("COMMAND", "GETKEYS", "EXLIST.RANGE", "other").strings(),
            (std::vector<std::string>{"other"}));
}

TEST_P(ModuleTest, RdbSurvivesRestart) {
  EXPECT_REPLY_INT(client().command("EXLIST.PUSH", "saved", 7, 8, 9), 3);
  EXPECT_REPLY_INT(client().command("EXLIST.INCRBY", "saved", 2, 100), 109);
  EXPECT_REPLY_EQ(client().command("SAVE"), "OK");
  const vtf::Reply digest_before = client().command("DEBUG", "DIGEST");
  ASSERT_TRUE(digest_before.has_string() && !digest_before.is_error()) << digest_before;
  EXPECT_NE(digest_before.str(), std::string(40, '0'));  // not the empty dataset's digest

  server().restart(/*keep_data=*/true);
  vtf::Client& c = reconnect();
  EXPECT_EQ(c.command("EXLIST.RANGE", "saved").integers(), (Values{7, 8, 109}));
  EXPECT_REPLY_EQ(c.command("TYPE", "saved"), "vtfexlist");
  EXPECT_REPLY_EQ(c.command("DEBUG", "DIGEST"), digest_before.str());

  server().restart(/*keep_data=*/false);  // and the data really came from the RDB
  EXPECT_REPLY_INT(reconnect().command("EXISTS", "saved"), 0);
}

// The AOF rewrite callback: with a plain (non-RDB) base file, the rewritten AOF is
// made of the module's EXLIST.PUSH commands.
class ModuleAofTest : public ModuleTest {
 protected:
  vtf::Config config() override {
    return module_config().arg("appendonly", "yes").arg("aof-use-rdb-preamble", "no");
  }

  std::string base_aof() {
    namespace fs = std::filesystem;
    for (const auto& entry : fs::recursive_directory_iterator(server().dir())) {
      const std::string name = entry.path().filename().string();
      if (name.size() > 9 && name.compare(name.size() - 9, 9, ".base.aof") == 0) {
        std::ifstream in(entry.path(), std::ios::binary);
        std::ostringstream text;
        text << in.rdbuf();
        return text.str();
      }
    }
    return std::string();
  }
};

TEST_P(ModuleAofTest, RewriteEmitsCommandsAndRestartLoadsThem) {
  EXPECT_REPLY_INT(client().command("EXLIST.PUSH", "aof", 1, 2, 3), 3);
  EXPECT_REPLY_INT(client().command("EXLIST.INCRBY", "aof", 0, 10), 11);
  std::vector<std::string> many{"EXLIST.PUSH", "big"};
  for (int i = 0; i < 150; ++i) many.push_back(std::to_string(i));  // more than one 64-value chunk
  EXPECT_REPLY_INT(client().command_argv(many), 150);

  vtf::Reply rewrite = client().command("BGREWRITEAOF");
  ASSERT_FALSE(rewrite.is_error()) << rewrite;
  vtf::wait_until(
      [&] {
        return server().info_field("persistence", "aof_rewrite_in_progress") == "0" &&
               server().info_field("persistence", "aof_rewrite_scheduled") == "0";
      },
      30s, "the AOF rewrite to finish");
  EXPECT_EQ(server().info_field("persistence", "aof_last_bgrewrite_status"), "ok");

  const std::string base = base_aof();
  EXPECT_NE(base.find("EXLIST.PUSH"), std::string::npos) << "base AOF:\n" << base.substr(0, 2000);
  EXPECT_EQ(base.find("REDIS"), std::string::npos) << "the base AOF has an RDB preamble";

  // Written after the rewrite: goes to the incremental file.
  EXPECT_REPLY_INT(client().command("EXLIST.PUSH", "aof", 4), 4);

  server().restart(/*keep_data=*/true);
  vtf::Client& c = reconnect();
  EXPECT_EQ(c.command("EXLIST.RANGE", "aof").integers(), (Values{11, 2, 3, 4}));
  EXPECT_REPLY_INT(c.command("EXLIST.LEN", "big"), 150);
  EXPECT_REPLY_INT(c.command("EXLIST.SUM", "big"), 149 * 150 / 2);
}

VTF_INSTANTIATE_TLS_SUITE(ModuleTest);
VTF_INSTANTIATE_TLS_SUITE(ModuleAofTest);

// Module arguments.
class ModuleArgsTest : public vtf::testing::ServerTest {
 protected:
  vtf::Config config() override { return vtf::Config().module(VTF_EXAMPLE_MODULE, {"maxlen", "3"}); }
};

TEST_F(ModuleArgsTest, MaxlenCapsLists) {
  EXPECT_REPLY_INT(client().command("EXLIST.PUSH", "capped", 1, 2), 2);
  EXPECT_REPLY_ERROR(client().command("EXLIST.PUSH", "capped", 3, 4), "exceed maxlen");
  EXPECT_REPLY_INT(client().command("EXLIST.PUSH", "capped", 3), 3);
  EXPECT_REPLY_ERROR(client().command("EXLIST.PUSH", "capped", 4), "exceed maxlen");
}

TEST(ModuleLoading, UnknownArgumentFailsTheServerStart) {
  try {
    vtf::Server server(vtf::Config().module(VTF_EXAMPLE_MODULE, {"bogus-argument"}));
    FAIL() << "a server started with a module that refuses its arguments";
  } catch (const vtf::Error& e) {
    EXPECT_EQ(e.status(), VTF_ERR_SERVER_EXITED) << e.what();
    // The message carries the server's last log lines, with the module's own warning.
    EXPECT_NE(e.message().find("bogus-argument"), std::string::npos) << e.message();
  }
}

}  // namespace
