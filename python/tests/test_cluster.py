"""A 3x1 cluster through valkey-py's ValkeyCluster; failover keeps node indices."""

import pytest

import vtf


@pytest.mark.valkey(shards=3, replicas=1)
def test_3x1_cluster_through_valkey_cluster(valkey_cluster: vtf.Cluster) -> None:
    cluster = valkey_cluster
    assert cluster.node_count == 6 and cluster.shard_count == 3
    assert [len(shard) for shard in cluster.shards] == [2, 2, 2]
    for shard in cluster.shards:
        assert shard[0].info_field("replication", "role") == "master"
        assert shard[1].info_field("replication", "role") == "slave"
    client = cluster.client()
    for i in range(300):
        client.set(f"key:{i}", i)
    assert all(client.get(f"key:{i}") == str(i).encode() for i in range(300))
    # Keys landed on every shard: routing by slot really happened.
    assert all(shard[0].client().dbsize() > 0 for shard in cluster.shards)
    assert sum(shard[0].client().dbsize() for shard in cluster.shards) == 300

    old = cluster.primary(1)
    cluster.failover(1)
    assert cluster.primary(1) is old, "indices stay with the processes"
    assert old.info_field("replication", "role") == "slave"
    assert cluster.replica(1, 0).info_field("replication", "role") == "master"
    cluster.wait_ok(timeout=10)
    fresh = cluster.client()
    assert fresh.get("key:7") == b"7"


def test_tls_cluster(valkey_cluster_factory) -> None:
    cluster = valkey_cluster_factory(shards=3, replicas=0, tls="on")
    client = cluster.client()
    client.set("{tag}a", "1")
    assert client.get("{tag}a") == b"1"
    assert cluster.node(0).tls_ca_cert is not None
