"""Servers vtf did not start: attach to a server and a cluster, and VTF_EXTERNAL switching a whole suite."""

import json
from pathlib import Path

import pytest

import vtf
from vtf import _ffi
from _subprocess import run_pytest, write_suite

pytestmark = pytest.mark.skipif(not _ffi.has("vtf_server_attach"),
                                reason="SKIPPED LOUDLY: this libvtf has no vtf_server_attach yet (issue 17)")


def test_attached_server_works_and_leaves_the_process_alone(valkey_server: vtf.Server) -> None:
    valkey_server.client().set("before", "1")
    # vtf's servers require the test process's password (issue 15): the attach brings it.
    credential = vtf.Config(password=valkey_server.password)
    with vtf.Server.attach(valkey_server.host, valkey_server.port, credential) as attached:
        assert attached.is_external() and not valkey_server.is_external()
        assert attached.pid is None and attached.port == valkey_server.port
        assert attached.client().get("before") == b"1"
        attached.client().set("from-attached", "2")
        assert attached.info_field("server", "tcp_port") == str(valkey_server.port)
        for operation in (attached.stop, attached.restart, lambda: attached.log_tail(5), attached.check_clean):
            with pytest.raises(vtf.Unsupported, match="external"):
                operation()
    assert valkey_server.is_running()
    assert valkey_server.client().get("from-attached") == b"2"


def test_attach_over_mutual_tls_with_the_servers_files(valkey_server_factory) -> None:
    server = valkey_server_factory(tls="mutual")
    files = (server.tls_ca_cert, server.tls_client_cert, server.tls_client_key)
    with vtf.Server.attach(server.host, server.port, vtf.Config(tls_files=files, password=server.password)) as attached:
        assert attached.client().set("k", "v")
    assert server.client().get("k") == b"v"


def test_attached_cluster(valkey_cluster_factory) -> None:
    cluster = valkey_cluster_factory(shards=3, replicas=1)
    credential = vtf.Config(password=cluster.node(0).password)
    with vtf.Cluster.attach(cluster.node(4).host, cluster.node(4).port, credential) as attached:
        assert attached.node_count == 6 and attached.shard_count == 3
        assert [n.port for n in attached.nodes[:3]] == [n.port for n in cluster.nodes[:3]]
        client = attached.client()
        for i in range(50):
            client.set(f"k{i}", i)
    assert cluster.client().get("k42") == b"42"
    assert all(node.is_running() for node in cluster.nodes)


def test_vtf_external_turns_a_suite_onto_a_running_server(tmp_path: Path, valkey_server: vtf.Server) -> None:
    write_suite(tmp_path, {
        "test_suite.py": """
            def test_writes(valkey_server):
                assert valkey_server.is_external()
                valkey_server.client().set("written-by-suite", "yes")

            def test_fails_with_a_note(valkey_server):
                assert False, "on purpose"
        """,
    })
    # The JSON form of VTF_EXTERNAL (what `vtf server --json` prints) carries the password.
    external = {"kind": "server", "nodes": [{"host": valkey_server.host, "port": valkey_server.port}],
                "password": valkey_server.password}
    result = run_pytest(tmp_path, env={"VTF_EXTERNAL": json.dumps(external)})
    out = result.stdout
    assert "1 failed, 1 passed" in out, out
    assert "an external server" in out, out
    assert valkey_server.client().get("written-by-suite") == b"yes"
    assert valkey_server.is_running()
