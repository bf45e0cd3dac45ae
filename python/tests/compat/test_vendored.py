"""The vendored `valkeytests` variant, as module suites use it: `valkeytests.` replaced by `vtf.compat.`."""

import os
from typing import Any, Dict

import pytest

import vtf
from vtf.compat.conftest import resource_port_tracker  # noqa: F401
from vtf.compat.valkey_test_case import ReplicationTestCase, ValkeyClient, ValkeyInfo, ValkeyTestCase


def _valkey_server() -> str:
    """The binary the vendored suites here run: vtf's own choice (VTF_SERVER_BINARY, else PATH)."""
    import shutil

    found = os.environ.get("VTF_SERVER_BINARY") or shutil.which("valkey-server")
    if not found:
        pytest.skip("no valkey-server: set VTF_SERVER_BINARY or put valkey-server on PATH")
    return os.path.abspath(found)


class ModuleLikeBase(ValkeyTestCase):
    """What a module's base class does: its own args, the server from setup."""

    def get_custom_args(self) -> Dict[str, Any]:
        self.server_path = _valkey_server()
        return {"maxmemory-policy": "allkeys-lru", "notify-keyspace-events": "KEA"}


class TestVendoredSetup(ModuleLikeBase):
    def test_server_started_by_setup(self) -> None:
        # Nothing created a server: reading self.server / self.client starts the setup server.
        assert self.client.ping()
        assert self.client.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}
        assert self.client.config_get("maxmemory") == {"maxmemory": str(500 * 1024 * 1024)}
        assert self.client.config_get("databases") == {"databases": str(self.num_dbs)}
        assert self.server.get_new_client().ping()

    def test_clients_one_per_db(self) -> None:
        assert len(self.clients) == self.num_dbs == 5
        self.clients[3].set("only-in-3", 1)
        assert self.clients[3].info_obj().num_keys(3) == 1
        assert self.clients[0].dbsize() == 0 and self.clients[3].dbsize() == 1
        self.set_small_amount_of_keys()
        assert self.client.info_obj().num_keys() == self.num_keys

    def test_info_obj(self) -> None:
        info = self.client.info_obj()
        assert isinstance(info, ValkeyInfo)
        assert info.used_memory() > 0 and info.maxmemory() == 500 * 1024 * 1024
        assert info.maxmemory_policy() == "allkeys-lru"
        assert info.uptime_in_secs() >= 0 and not info.is_save_in_progress()
        assert info.num_replicas() == 0 and info.num_replicas_online() == 0
        assert not info.is_master_link_up()
        assert info.get_master_repl_offset() >= 0 and len(info.get_master_replid()) == 40

    def test_client_extras(self) -> None:
        c = self.client
        c.set("k", "v")
        assert c.bgsave() in (True, b"Background saving started")
        self.server.wait_for_save_done()
        dumped = c.dump("k")
        c.restore("k2", 0, dumped)
        c.restore("k2", 0, dumped, replace=True)
        assert c.get("k2") == b"v"
        assert c.bitfield("bf", "SET", "u8", "0", "255") == [0]
        assert c.debug_digest()
        connection = c.get_connection()
        c.release_connection(connection)

    def test_restart_with_data(self) -> None:
        self.client.set("persisted", "yes")
        self.client.bgsave()
        self.server.wait_for_save_done()
        # A new process has a new run_id; uptime in whole seconds cannot tell (a
        # restart that crosses a second boundary reads 1 after reading 0 before).
        run_id = self.client.info("server")["run_id"]
        self.server.restart(remove_rdb=False, remove_nodes_conf=False, connect_client=True)
        assert self.server.is_alive() and self.server.is_rdb_done_loading()
        assert self.client.get("persisted") == b"yes"  # the old client reconnects: same port
        assert self.client.info("server")["run_id"] != run_id

    def test_shutdown_flag(self) -> None:
        ValkeyClient.create_from_server(self.server).shutdown("nosave")
        self.server.wait_for_shutdown()


class TestSetServerVersion(ValkeyTestCase):
    def get_custom_args(self) -> Dict[str, Any]:
        self.set_server_version("0.0.0-not-built")
        return {}

    def test_missing_version_is_a_plain_error(self) -> None:
        with pytest.raises(vtf.BinaryNotFound) as raised:
            self.setup()
        message = str(raised.value)
        assert ".build/binaries/0.0.0-not-built/valkey-server" in message
        assert "build.sh" in message and "vtf.build_server" in message


class TestVendoredReplication(ReplicationTestCase):
    def get_custom_args(self) -> Dict[str, Any]:
        self.server_path = _valkey_server()
        return {"maxmemory-policy": "noeviction"}

    def test_setup_replication_makes_the_primary(self) -> None:
        self.setup_replication(num_replicas=2)
        assert len(self.replicas) == 2
        assert self.server.num_replicas_online() == 2
        for replica in self.replicas:
            assert replica.client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
            assert replica.masterport == self.server.port and len(replica.clients) == self.num_dbs
        self.clients[2].set("in-db-2", "v")
        self.wait_for_value_propagate_to_replicas("in-db-2", "v", db=2)
        self.client.incr("n")
        self.waitForReplicaOffsetToSyncUp(self.server, self.replicas[0])
        assert self.replicas[0].client.get("n") == b"1"
        self.waitForReplicaToSyncUpByClient(self.replicas[1].client)
        assert self.replicas[1].clients[0].get("n") == b"1"
        self.wait_for_master_link_up_all_replicas()
        assert self.replicas[0].is_master_link_up()


def test_clients_pack_and_parse_in_c() -> None:
    """The package requires valkey[libvalkey]: valkey-py's replies are parsed by libvalkey, not in Python."""
    import valkey.utils

    assert valkey.utils.LIBVALKEY_AVAILABLE, "libvalkey is missing: install valkey-test-framework with its dependencies"
    with vtf.Server() as server:
        client = ValkeyClient(**server.client_kwargs())
        connection = client.connection_pool.get_connection("PING")
        try:
            assert "Libvalkey" in type(connection._parser).__name__
        finally:
            client.connection_pool.release(connection)
            client.close()
