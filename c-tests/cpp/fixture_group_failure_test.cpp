// The replication and cluster fixtures' output when a test fails: every node's
// log tail. The tests fail on purpose; ctest checks the output (CMakeLists.txt).
#include "vtf_gtest.hpp"

namespace {

class FailingReplicationTest : public vtf::testing::ReplicationTest {
 protected:
  size_t replicas() override { return 1; }
};

TEST_F(FailingReplicationTest, DeliberatelyFails) {
  EXPECT_REPLY_INT(primary_client().command("DBSIZE"), 12345);  // fails: empty
}

class FailingClusterTest : public vtf::testing::ClusterTest {};

TEST_F(FailingClusterTest, DeliberatelyFails) {
  EXPECT_REPLY_EQ(cluster_client().command("GET", "{a}missing"), "present");  // fails: nil
}

}  // namespace
