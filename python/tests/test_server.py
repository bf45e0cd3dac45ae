"""vtf.Server through the native API: lifecycle, accessors, data kept or dropped, logs, clients."""

import os

import pytest

import vtf


def test_start_stop_restart_keeps_or_drops_data() -> None:
    with vtf.Server(vtf.Config().arg("save", "")) as server:
        client = server.client(decode_responses=True)
        assert server.host == "127.0.0.1"
        assert server.is_running() and server.pid is not None
        assert os.path.isdir(server.dir) and os.path.isfile(server.log_path)
        client.set("k", "v")
        port = server.port
        server.restart(keep_data=True)
        assert server.port == port
        assert client.get("k") == "v"
        server.restart(keep_data=False)
        assert client.get("k") is None
        server.stop()
        assert not server.is_running() and server.pid is None
        server.check_clean()
        server.start()
        assert client.ping()
        directory = server.dir
    assert server.closed
    assert not os.path.exists(directory)


def test_args_reach_the_server_and_logs_are_readable() -> None:
    with vtf.Server(vtf.Config(args={"maxmemory": "1mb", "save": ""})) as server:
        assert server.client().config_get("maxmemory") == {"maxmemory": "1048576"}
        assert server.info_field("server", "tcp_port") == str(server.port)
        assert "Ready to accept connections" in server.log_tail(50)
        assert server.log_contains("Ready to accept connections")
        server.wait_for_log("Ready to accept connections", timeout=5)


def test_a_closed_server_says_so() -> None:
    server = vtf.Server()
    server.close()
    server.close()  # idempotent
    with pytest.raises(vtf.VtfError, match="closed"):
        server.port


def test_keep_data_keeps_the_directory(tmp_path) -> None:
    with vtf.Server(vtf.Config(keep_data=True)) as server:
        directory = server.dir
    try:
        assert os.path.isfile(os.path.join(directory, "server.log"))
    finally:
        import shutil

        shutil.rmtree(directory, ignore_errors=True)


# Forking a threaded process is the point here (a user's test that forks must
# not lose its server); Python 3.12+ warns about exactly that.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_leaves_the_parents_server_alone() -> None:
    with vtf.Server() as server:
        child = os.fork()
        if child == 0:  # the child drops its copy of the handle and exits normally
            try:
                server.close()
            finally:
                os._exit(0)
        _, status = os.waitpid(child, 0)
        assert os.WEXITSTATUS(status) == 0
        assert server.is_running() and server.client().ping()
