"""The five interface patterns of valkey-test-framework's RFC, written with vtf.compat.

1. a server reused by a class with ordered tests;
2. a server per test with custom setup;
3. a server per test with the class's setup;
4. replication reused by a class;
5. replication per test with custom setup.

The ordered classes rely on pytest running a class's tests in the order they
are written (upstream adds pytest-order's marks for the same order).
"""

import os
from typing import Any, Dict, List

import pytest
from valkey.exceptions import ResponseError

from vtf.compat.conftest import resource_port_tracker  # noqa: F401  (the fixture, as suites import it)
from vtf.compat.valkey_test_case import ReplicationTestCase, ValkeyTestCase


def _alive(pid: int) -> bool:
    """Whether `pid` is a live (not zombie) process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class TestPattern1ServerReusedByClass(ValkeyTestCase):
    """One server for the class; each test sees what the one before it left."""

    shared: Dict[str, Any] = {}

    def test_1_start_once(self) -> None:
        server, client = self.create_server(testdir=self.testdir, args={"maxmemory": "64mb"}, skip_teardown=True)
        TestPattern1ServerReusedByClass.shared.update(server=server, client=client, pid=server.pid())
        assert client.set("counter", 1)

    def test_2_same_server_next_test(self) -> None:
        shared = TestPattern1ServerReusedByClass.shared
        assert shared["server"].pid() == shared["pid"] and _alive(shared["pid"])
        assert shared["client"].incr("counter") == 2
        assert shared["server"].get_new_client().get("counter") == b"2"

    def test_3_last_test_stops_it(self) -> None:
        shared = TestPattern1ServerReusedByClass.shared
        assert shared["client"].config_get("maxmemory") == {"maxmemory": str(64 * 1024 * 1024)}
        shared["server"].exit()
        assert not _alive(shared["pid"])
        assert not shared["server"].is_alive()


class TestPattern2ServerPerTestCustomSetup(ValkeyTestCase):
    """Each test starts the server it needs."""

    def test_memory_limit(self) -> None:
        self.server, self.client = self.create_server(testdir=self.testdir, args={"maxmemory": "1kb"})
        with pytest.raises(ResponseError, match="maxmemory"):
            self.client.execute_command("SET KEY VAL")
        # A second server in the same test, with the defaults.
        other, other_client = self.create_server(testdir=self.testdir)
        assert other.port != self.server.port
        assert other_client.set("KEY", "VAL")

    def test_multi_token_argument(self) -> None:
        # Upstream splits values on white space; valkey-server gets them as separate tokens.
        limit = "pubsub 32mb 8mb 60"
        self.server, self.client = self.create_server(
            testdir=self.testdir, args={"client-output-buffer-limit": limit}
        )
        got = self.client.config_get("client-output-buffer-limit")["client-output-buffer-limit"]
        assert "pubsub 33554432 8388608 60" in got


class PerTestBase(ValkeyTestCase):
    @pytest.fixture(autouse=True)
    def setup_test(self, setup: None) -> None:
        self.server, self.client = self.create_server(testdir=self.testdir, args={"databases": "4"})


class TestPattern3ServerPerTestClassSetup(PerTestBase):
    """The base class's fixture gives every test a fresh server."""

    pids: List[int] = []

    def test_first(self) -> None:
        TestPattern3ServerPerTestClassSetup.pids.append(self.server.pid())
        self.client.set("left-behind", 1)
        assert self.client.config_get("databases") == {"databases": "4"}

    def test_second_is_fresh(self) -> None:
        (previous,) = TestPattern3ServerPerTestClassSetup.pids
        assert self.server.pid() != previous
        assert not _alive(previous), "the first test's server outlived its test"
        assert self.client.dbsize() == 0


class TestPattern4ReplicationReusedByClass(ReplicationTestCase):
    """One primary with one replica for the class, stopped by the last test."""

    shared: Dict[str, Any] = {}

    def test_1_set_up_once(self) -> None:
        primary, client = self.create_server(testdir=self.testdir, args={}, skip_teardown=True)
        replicas = self.setup_replication(num_replicas=1, skip_teardown=True, primary_server=primary)
        TestPattern4ReplicationReusedByClass.shared.update(primary=primary, client=client, replicas=replicas)
        client.set("K", "V")
        self.waitForReplicaToSyncUp(replicas[0])
        assert replicas[0].client.get("K") == b"V"

    def test_2_reused(self) -> None:
        shared = TestPattern4ReplicationReusedByClass.shared
        replica = shared["replicas"][0]
        assert replica.client.get("K") == b"V"
        shared["client"].set("K", "VV")
        self.waitForReplicaToSyncUp(replica)
        assert replica.client.get("K") == b"VV"

    def test_3_stop_all(self) -> None:
        shared = TestPattern4ReplicationReusedByClass.shared
        pids = [shared["primary"].pid(), shared["replicas"][0].pid()]
        shared["primary"].exit()
        shared["replicas"][0].exit()
        assert not any(_alive(p) for p in pids)


class TestPattern5ReplicationPerTestCustomSetup(ReplicationTestCase):
    """Each test gets a primary and a replica from the class fixture."""

    @pytest.fixture(autouse=True)
    def setup_test(self, setup: None) -> None:
        self.server, self.client = self.create_server(testdir=self.testdir, args={"maxmemory": "32mb"})
        self.setup_replication(num_replicas=1)

    def test_every_write_is_there_after_the_wait(self) -> None:
        # Upstream's waitForReplicaToSyncUp only waits for the link, which is up
        # already: the replica could still lack the last writes. vtf waits for
        # the primary's offset.
        pipe = self.client.pipeline(transaction=False)
        for i in range(2000):
            pipe.set(f"key:{i}", "x" * 100)
        pipe.execute()
        self.waitForReplicaToSyncUp(self.replicas[0])
        assert self.replicas[0].client.dbsize() == 2000
        assert self.replicas[0].client.get("key:1999") == b"x" * 100

    def test_replica_role_and_args(self) -> None:
        replica = self.replicas[0]
        info = replica.client.info("replication")
        assert info["role"] == "slave" and info["master_port"] == self.server.port
        assert self.server.num_replicas_online() == 1
        assert os.path.isdir(replica.cwd)
