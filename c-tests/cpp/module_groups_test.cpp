// Integration tests of the example module (examples/module, "vtfexample") in
// replication groups and clusters, each with TLS off and on.
//
// VTF_EXAMPLE_MODULE is the path of vtfexample.so (a compile definition).
#include <cstdint>
#include <string>
#include <vector>

#include "vtf_gtest.hpp"

#ifndef VTF_EXAMPLE_MODULE
#error "VTF_EXAMPLE_MODULE (the path of vtfexample.so) must be defined"
#endif

namespace {

using namespace std::chrono_literals;
using Values = std::vector<int64_t>;

vtf::Config module_config() { return vtf::Config().module(VTF_EXAMPLE_MODULE); }

// ---------------------------------------------------------------------------
// Replication: a primary and 2 replicas, all with the module
// ---------------------------------------------------------------------------

class ModuleReplicationTest : public vtf::testing::TlsReplicationTest {
 protected:
  vtf::Config config() override { return module_config(); }
  size_t replicas() override { return 2; }
};

TEST_P(ModuleReplicationTest, WritesReachEveryReplica) {
  ASSERT_EQ(replication().replica_count(), 2u);
  EXPECT_REPLY_INT(primary_client().command("EXLIST.PUSH", "replicated", 1, 2, 3), 3);
  EXPECT_REPLY_INT(primary_client().command("EXLIST.INCRBY", "replicated", 1, 5), 7);
  // Failed commands are not replicated: the replicas end with exactly these values.
  EXPECT_REPLY_ERROR(primary_client().command("EXLIST.INCRBY", "replicated", 9, 1), "out of range");
  replication().wait_sync(10s);

  for (size_t i = 0; i < replication().replica_count(); ++i) {
    SCOPED_TRACE("replica " + std::to_string(i));
    vtf::Client c = replica(i).connect();
    EXPECT_EQ(c.command("EXLIST.RANGE", "replicated").integers(), (Values{1, 7, 3}));
    EXPECT_REPLY_EQ(c.command("TYPE", "replicated"), "vtfexlist");
    EXPECT_REPLY_ERROR(c.command("EXLIST.PUSH", "replicated", 4), "READONLY");
  }
}

TEST_P(ModuleReplicationTest, NewReplicaGetsTheTypeByFullSync) {
  EXPECT_REPLY_INT(primary_client().command("EXLIST.PUSH", "before", 10, 20), 2);
  size_t index = replication().add_replica();
  replication().wait_sync(10s);
  EXPECT_EQ(replica(index).connect().command("EXLIST.RANGE", "before").integers(), (Values{10, 20}));
}

VTF_INSTANTIATE_TLS_SUITE(ModuleReplicationTest);

// ---------------------------------------------------------------------------
// Cluster: 3 shards x 1 replica, keys on every shard
// ---------------------------------------------------------------------------

class ModuleClusterTest : public vtf::testing::TlsClusterTest {
 protected:
  vtf::Config config() override { return module_config(); }
  size_t shards() override { return 3; }
  size_t replicas_per_shard() override { return 1; }

  /// For each shard (primary node index), a hash tag whose slot that primary serves,
  /// found by asking the primaries directly: the others answer MOVED (which also
  /// shows the module's key declaration is used for redirection).
  std::vector<std::string> tags_per_shard() {
    const size_t n = cluster().shards();
    std::vector<vtf::Client> primaries;
    for (size_t s = 0; s < n; ++s) primaries.push_back(node(s).connect());
    std::vector<std::string> tags(n);
    size_t found = 0;
    for (int i = 0; found < n && i < 1000; ++i) {
      const std::string tag = "{tag" + std::to_string(i) + "}";
      for (size_t s = 0; s < n; ++s) {
        vtf::Reply r = primaries[s].command("EXLIST.LEN", tag + ":probe");
        if (r.is_integer()) {
          if (tags[s].empty()) {
            tags[s] = tag;
            ++found;
          }
          break;
        }
        EXPECT_REPLY_ERROR(r, "MOVED");
      }
    }
    return tags;
  }

  /// The node indexes of the replicas of primary `shard`.
  std::vector<size_t> replicas_of(size_t shard) {
    std::vector<size_t> out;
    const std::string port = std::to_string(node(shard).port());
    for (size_t i = cluster().shards(); i < cluster().node_count(); ++i) {
      if (node(i).info_field("replication", "master_port") == port) out.push_back(i);
    }
    return out;
  }
};

TEST_P(ModuleClusterTest, KeysOnEveryShard) {
  ASSERT_EQ(cluster().node_count(), 6u);
  const std::vector<std::string> tags = tags_per_shard();
  for (size_t s = 0; s < tags.size(); ++s) ASSERT_FALSE(tags[s].empty()) << "no hash tag found for shard " << s;

  // Through the slot-routing client.
  for (size_t s = 0; s < tags.size(); ++s) {
    const std::string key = tags[s] + ":counters";
    EXPECT_REPLY_INT(cluster_client().command("EXLIST.PUSH", key, int64_t(s), 100), 2);
    EXPECT_REPLY_INT(cluster_client().command("EXLIST.INCRBY", key, 1, int64_t(s)), 100 + int64_t(s));
  }
  for (size_t s = 0; s < tags.size(); ++s) {
    const std::string key = tags[s] + ":counters";
    EXPECT_EQ(cluster_client().command("EXLIST.RANGE", key).integers(), (Values{int64_t(s), 100 + int64_t(s)}));
  }

  // Each key lives on its shard's primary and its replica.
  for (size_t s = 0; s < tags.size(); ++s) {
    SCOPED_TRACE("shard " + std::to_string(s));
    const std::string key = tags[s] + ":counters";
    vtf::Client primary = node(s).connect();
    EXPECT_REPLY_INT(primary.command("EXLIST.LEN", key), 2);
    EXPECT_REPLY_INT(primary.command("DBSIZE"), 1);

    const std::vector<size_t> replicas = replicas_of(s);
    ASSERT_EQ(replicas.size(), 1u) << "replicas of shard " << s;
    vtf::Client replica = node(replicas[0]).connect();
    EXPECT_REPLY_EQ(replica.command("READONLY"), "OK");
    // Replication is asynchronous: wait (bounded) until the replica has the writes.
    // (WAIT on a fresh connection would not do: it has written nothing to wait for.)
    const Values expected{int64_t(s), 100 + int64_t(s)};
    VTF_EXPECT_OK(vtf::wait_until(
        [&] {
          vtf::Reply r = replica.command("EXLIST.RANGE", key);
          return r.is_aggregate() && r.integers() == expected;
        },
        10s, "the replica of shard " + std::to_string(s) + " to have " + key));
    EXPECT_EQ(replica.command("EXLIST.RANGE", key).integers(), expected);
  }
}

VTF_INSTANTIATE_TLS_SUITE(ModuleClusterTest);

}  // namespace
