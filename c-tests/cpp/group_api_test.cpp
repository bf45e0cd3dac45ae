// Tests of the C++ wrappers of replication groups and clusters (vtf::Replication,
// vtf::Cluster, borrowed vtf::ServerRef nodes) against real servers.
#include <set>
#include <stdexcept>
#include <string>

#include "vtf_gtest.hpp"

namespace {

using namespace std::chrono_literals;

std::string role(const vtf::ServerRef& server) { return server.info_field("replication", "role"); }

TEST(ReplicationApi, NodesPromoteAndAddReplica) {
  vtf::Replication group(vtf::Config(), 1);
  ASSERT_EQ(group.replica_count(), 1u);
  EXPECT_THROW(group.replica(1), std::out_of_range);
  vtf::ServerRef old_primary = group.primary();
  vtf::ServerRef old_replica = group.replica(0);
  EXPECT_NE(old_primary.port(), old_replica.port());
  EXPECT_EQ(role(old_primary), "master");
  EXPECT_EQ(role(old_replica), "slave");

  EXPECT_REPLY_EQ(old_primary.connect().command("SET", "k", "v"), "OK");
  group.wait_sync(10s);
  EXPECT_REPLY_EQ(old_replica.connect().command("GET", "k"), "v");

  group.promote(0);
  EXPECT_EQ(group.primary().port(), old_replica.port());  // the accessors follow the roles
  EXPECT_EQ(role(group.primary()), "master");
  EXPECT_REPLY_EQ(group.primary().connect().command("SET", "after", "promote"), "OK");

  size_t added = group.add_replica();
  EXPECT_EQ(group.replica_count(), added + 1);
  group.wait_sync(10s);
  EXPECT_REPLY_EQ(group.replica(added).connect().command("GET", "after"), "promote");
  EXPECT_EQ(group.replicas().size(), group.replica_count());
}

TEST(ReplicationApi, MoveTransfersTheGroup) {
  vtf::Replication a(vtf::Config(), 1);
  uint16_t port = a.primary().port();
  vtf::Replication b = std::move(a);
  EXPECT_EQ(a.get(), nullptr);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(b.primary().port(), port);
  EXPECT_TRUE(b.primary().is_running());
}

TEST(ClusterApi, NodesRoutingAndFailover) {
  vtf::Cluster cluster(vtf::Config(), 3, 1);
  ASSERT_EQ(cluster.node_count(), 6u);
  EXPECT_EQ(cluster.shards(), 3u);
  EXPECT_THROW(cluster.node(6), std::out_of_range);
  std::set<uint16_t> ports;
  for (const vtf::ServerRef& node : cluster.nodes()) ports.insert(node.port());
  EXPECT_EQ(ports.size(), 6u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(role(cluster.node(i)), "master") << "node " << i;
  cluster.wait_ok(10s);

  vtf::Client client = cluster.connect();
  for (const char* key : {"{a}k", "{b}k", "{c}k", "{d}k", "{e}k"})
    EXPECT_REPLY_EQ(client.command("SET", key, key), "OK");
  for (const char* key : {"{a}k", "{b}k", "{c}k", "{d}k", "{e}k"}) EXPECT_REPLY_EQ(client.command("GET", key), key);

  uint16_t primary_port = cluster.node(0).port();
  cluster.failover(0);
  // Each process keeps its index; node 0 is now a replica.
  EXPECT_EQ(cluster.node(0).port(), primary_port);
  VTF_EXPECT_OK(vtf::wait_until([&] { return role(cluster.node(0)) == "slave"; }, 10s,
                                "node 0 to become a replica after the failover"));
  cluster.wait_ok(10s);
  vtf::Client after = cluster.connect();
  for (const char* key : {"{a}k", "{b}k", "{c}k", "{d}k", "{e}k"}) EXPECT_REPLY_EQ(after.command("GET", key), key);
}

TEST(ClusterApi, ShardsAddedMovedAndRemoved) {
  vtf::Cluster cluster(vtf::Config(), 2, 0);
  EXPECT_EQ(cluster.shard_count(), 2u);
  vtf::Client client = cluster.connect();
  for (const char* key : {"{a}k", "{b}k", "{c}k", "{d}k", "{e}k"}) EXPECT_REPLY_EQ(client.command("SET", key, key), "OK");
  uint16_t port0 = cluster.node(0).port();

  size_t shard = cluster.add_shard(0);
  EXPECT_EQ(shard, 2u);
  EXPECT_EQ(cluster.shard_count(), 3u);
  ASSERT_EQ(cluster.node_count(), 3u);
  auto slot = static_cast<uint16_t>(client.command("CLUSTER", "KEYSLOT", "{a}k").integer());
  cluster.move_slots(slot, slot, shard);  // "{a}k" to the new shard
  vtf::Client added = cluster.node(2).connect();
  EXPECT_EQ(added.command("DBSIZE").integer(), 1);
  EXPECT_REPLY_EQ(client.command("GET", "{a}k"), "{a}k");
  EXPECT_THROW(cluster.move_slots(9, 1, 0), vtf::Error);

  cluster.remove_shard(shard);
  EXPECT_EQ(cluster.shard_count(), 2u);
  EXPECT_EQ(cluster.node_count(), 3u);  // index 2 stays vacant
  EXPECT_THROW(cluster.node(2), std::out_of_range);
  EXPECT_EQ(cluster.nodes().size(), 2u);
  EXPECT_EQ(cluster.node(0).port(), port0);
  EXPECT_THROW(cluster.remove_shard(shard), vtf::Error);
  for (const char* key : {"{a}k", "{b}k", "{c}k", "{d}k", "{e}k"}) EXPECT_REPLY_EQ(client.command("GET", key), key);
}

}  // namespace
