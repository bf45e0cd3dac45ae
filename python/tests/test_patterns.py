"""The five interface patterns of the framework's RFC, written with the native fixtures.

1. a server reused by a class, its tests in order;
2. a server per test with the test's own setup;
3. a server per test with the class's setup;
4. a replication group reused by a class;
5. a replication group per test with the test's own setup.
(vtf.compat has the same five in the valkey-test-framework style: tests/compat.)
"""

import pytest

import vtf


class TestServerReusedByClass:
    """Pattern 1: the tests share one server and build on each other's writes, in order."""

    def test_1_write(self, valkey_server_class: vtf.Server) -> None:
        valkey_server_class.client().set("shared", "1")

    def test_2_sees_the_first_write(self, valkey_server_class: vtf.Server) -> None:
        client = valkey_server_class.client()
        assert client.get("shared") == b"1"
        client.incr("shared")

    def test_3_same_process_throughout(self, valkey_server_class: vtf.Server) -> None:
        assert valkey_server_class.client().get("shared") == b"2"
        assert valkey_server_class.info_field("server", "uptime_in_seconds") is not None


_pids_seen = []


@pytest.mark.valkey(args={"maxmemory": "1mb", "maxmemory-policy": "allkeys-lru"})
def test_server_per_test_custom_setup(valkey_server: vtf.Server) -> None:
    """Pattern 2: the test's marker sets up its own server."""
    config = valkey_server.client().config_get("maxmemory*")
    assert config["maxmemory"] == "1048576"
    assert config["maxmemory-policy"] == "allkeys-lru"
    assert valkey_server.client().dbsize() == 0


def test_server_per_test_custom_setup_by_factory(valkey_server_factory) -> None:
    """Pattern 2 again, with the factory: any number of servers, each its own config."""
    small = valkey_server_factory(args={"maxmemory": "1mb"})
    many_dbs = valkey_server_factory(vtf.Config().arg("databases", "2"))
    assert small.client().config_get("maxmemory")["maxmemory"] == "1048576"
    assert many_dbs.client().config_get("databases")["databases"] == "2"


@pytest.mark.valkey(args={"notify-keyspace-events": "KEA"})
class TestServerPerTestWithClassSetup:
    """Pattern 3: every test gets a fresh server configured by the class's marker."""

    def test_a(self, valkey_server: vtf.Server) -> None:
        self._check(valkey_server)

    def test_b(self, valkey_server: vtf.Server) -> None:
        self._check(valkey_server)

    def _check(self, server: vtf.Server) -> None:
        client = server.client()
        assert client.config_get("notify-keyspace-events")["notify-keyspace-events"] in ("AKE", "KEA")
        assert client.dbsize() == 0, "a fresh server per test"
        client.set("mine", "x")
        assert server.pid not in _pids_seen, "a new process per test"
        _pids_seen.append(server.pid)


@pytest.mark.valkey(replicas=2)
class TestReplicationReusedByClass:
    """Pattern 4: one primary with two replicas shared by the class's tests, in order."""

    def test_1_write_reaches_every_replica(self, valkey_replication_class: vtf.Replication) -> None:
        group = valkey_replication_class
        assert group.replica_count == 2
        group.primary.client().set("k", "v1")
        group.wait_sync(timeout=10)
        for replica in group.replicas:
            assert replica.client().get("k") == b"v1"
            assert replica.info_field("replication", "role") == "slave"

    def test_2_same_group_later(self, valkey_replication_class: vtf.Replication) -> None:
        group = valkey_replication_class
        assert group.replicas[1].client().get("k") == b"v1"
        group.primary.client().set("k", "v2")
        group.wait_sync(timeout=10)
        assert group.replicas[0].client().get("k") == b"v2"


def test_replication_per_test_custom_setup(valkey_replication_factory) -> None:
    """Pattern 5: the test makes its own group: 1 replica, its own config, then grows it."""
    group = valkey_replication_factory(replicas=1, args={"maxmemory": "8mb"})
    group.primary.client().mset({"a": "1", "b": "2"})
    group.wait_sync(timeout=10)
    assert group.replicas[0].client().mget("a", "b") == [b"1", b"2"]
    third = group.add_replica()
    assert group.replica_count == 2
    assert third.client().get("a") == b"1"
    assert third.client().config_get("maxmemory")["maxmemory"] == str(8 * 1024 * 1024)
    old_primary = group.primary
    group.promote(0)
    assert group.primary is not old_primary
    assert group.primary.info_field("replication", "role") == "master"
    group.primary.client().set("after", "promote")
    group.wait_sync(timeout=10)
    assert old_primary.client().get("after") == b"promote"
