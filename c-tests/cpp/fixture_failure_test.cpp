// Tests of the fixtures' behaviour when a test fails. The tests named
// DeliberatelyFails fail on purpose: ctest runs this program and checks its output
// (see CMakeLists.txt), so it is not registered with gtest_discover_tests.
#include "vtf_gtest.hpp"

namespace {

class FailingServerTest : public vtf::testing::ServerTest {};

TEST_F(FailingServerTest, DeliberatelyFails) {
  ASSERT_REPLY_EQ(client().command("SET", "greeting", "hello"), "OK");
  // Fails: the value is "hello". The fixture must then print the server's log tail.
  EXPECT_REPLY_EQ(client().command("GET", "greeting"), "not what was set");
}

TEST_F(FailingServerTest, Passes) { EXPECT_REPLY_EQ(client().command("PING"), "PONG"); }

class FailingSharedServerTest : public vtf::testing::SharedServerTest<FailingSharedServerTest> {};

TEST_F(FailingSharedServerTest, DeliberatelyFails) {
  EXPECT_REPLY_INT(client().command("DBSIZE"), 12345);  // fails: the database is empty
}

TEST_F(FailingSharedServerTest, Passes) { EXPECT_REPLY_INT(client().command("DBSIZE"), 0); }

}  // namespace
