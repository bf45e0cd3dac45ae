"""Cluster operations through Python: slots moved with their keys, a shard added and removed, nothing lost."""

import pytest

import vtf
from vtf import _ffi

pytestmark = pytest.mark.skipif(not _ffi.has("vtf_cluster_move_slots"),
                                reason="SKIPPED LOUDLY: this libvtf has no cluster operations yet (issue 16)")


def _owner(cluster: vtf.Cluster, slot: int) -> int:
    """The port of the primary that serves `slot`, from CLUSTER SLOTS (the servers' own view)."""
    for first, last, primary, *_ in cluster.node(0).client().execute_command("CLUSTER", "SLOTS"):
        if first <= slot <= last:
            return int(primary[1])
    raise AssertionError(f"no node serves slot {slot}")


def test_move_add_remove_with_keys(valkey_cluster_factory) -> None:
    cluster = valkey_cluster_factory(shards=3, replicas=0)
    client = cluster.client()
    keys = {f"key:{i}": str(i) for i in range(200)}
    for key, value in keys.items():
        client.set(key, value)

    cluster.move_slots(0, 999, 1)
    assert _owner(cluster, 500) == cluster.primary(1).port

    added = cluster.add_shard(replicas=1)
    assert added == 3 and cluster.shard_count == 4 and cluster.node_count == 5
    new_primary, new_replica = cluster.shard(added)
    assert new_replica.info_field("replication", "role") == "slave"
    cluster.move_slots(0, 999, added)
    assert _owner(cluster, 0) == new_primary.port
    moved = [k for k in keys if client.keyslot(k) <= 999]
    assert moved and new_primary.client().dbsize() == len(moved)

    cluster.remove_shard(added)
    assert cluster.shard_count == 3 and len(cluster.nodes) == 3 and len(cluster.shards) == 3
    with pytest.raises(IndexError, match="removed"):
        cluster.shard(added)
    with pytest.raises(vtf.VtfError):
        cluster.node(3)
    cluster.wait_ok(timeout=10)
    fresh = cluster.client()
    assert all(fresh.get(k) == v.encode() for k, v in keys.items())
    assert sum(p.client().dbsize() for p in (cluster.primary(s) for s in range(3))) == 200
