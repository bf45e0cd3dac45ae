"""Every method of vtf.compat's ValkeyServerHandle, on real servers."""

import os
import signal
import socket
from typing import Any, Dict, List

import pytest

import vtf
from vtf.compat.conftest import resource_port_tracker  # noqa: F401
from vtf.compat.util.waiters import WaitTimeout, wait_for_true
from vtf.compat.valkey_test_case import (
    ExpectException,
    ValkeyAction,
    ValkeyClient,
    ValkeyServerHandle,
    ValkeyTestCase,
    expect,
    verify_any_of_strings_in_file,
    verify_string_in_file,
)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class TestHandle(ValkeyTestCase):
    def start(self, **args: Any) -> ValkeyServerHandle:
        self.server, self.client = self.create_server(testdir=self.testdir, args=args)
        return self.server

    def test_start_binds_loopback_and_runs_in_its_dir(self) -> None:
        server = self.start()
        assert server.bind_ip == "127.0.0.1"
        assert self.client.config_get("bind")["bind"] == "127.0.0.1"
        assert self.client.config_get("dir")["dir"] == os.path.realpath(server.cwd)
        assert server.pid() is not None and _alive(server.pid())
        assert server.is_alive()
        with pytest.raises(RuntimeError, match="already started"):
            server.start()

    def test_exit_and_start_again_on_the_same_port(self) -> None:
        server = self.start()
        port, pid = server.port, server.pid()
        server.exit()
        assert not _alive(pid) and not server.is_alive() and server.server is None
        server.start()
        assert server.port == port and server.pid() != pid
        assert server.client.ping()

    def test_restart_keeps_the_saved_rdb_only(self) -> None:
        server = self.start()
        self.client.set("a", 1)
        self.client.save()
        self.client.set("a", 2)  # not saved: SHUTDOWN NOSAVE must not write it
        server.restart(remove_rdb=False)
        assert server.client.get("a") == b"1"
        assert server.is_rdb_done_loading()
        server.restart()  # remove_rdb=True
        assert server.client.get("a") is None
        assert server.num_keys() == 0

    def test_log(self) -> None:
        server = self.start()
        server.wait_for_ready_to_accept_connections()
        assert server.verify_string_in_logfile("Ready to accept connections")
        assert not server.verify_string_in_logfile("no such line in any valkey log")
        logfile = os.path.join(server.cwd, server.args["logfile"])
        assert verify_string_in_file("Ready to accept", logfile)
        assert verify_any_of_strings_in_file(["nope", "Ready to accept"], logfile)
        assert not verify_string_in_file("x", logfile + ".missing")
        self.wait_for_logfile(logfile, r"Ready to accept connections")
        assert self.doesLogfileContain(logfile, r"Server initialized")
        assert self.findLogfileLine(logfile, r"no such line") is None

    def test_clients_and_keys(self) -> None:
        server = self.start(databases="3")
        db1 = server.create_from_server(db=1)
        db1.set("k", "v")
        assert server.num_keys(db=1) == 1 and server.num_keys(db=0) == 0
        assert server.num_keys(db=1, client=server.get_new_client()) == 1
        assert isinstance(server.get_new_client(), ValkeyClient)
        writer = server.get_new_client()
        writer.set("later", "value")
        server.wait_for_key("later", "value")
        assert server.connection_is_alive(writer) and server._waitForPing(writer)
        assert server.get_default_client(None) is server.client
        assert self.check_all_keys_in_valkey(server, {"later": "value"}) == 1

    def test_saves_and_aof_rewrite(self) -> None:
        server = self.start()
        for i in range(50):
            self.client.set(f"k{i}", i)
        # Slow the save down so that it is seen in progress and has a child process.
        self.client.config_set("rdb-key-save-delay", 20000)
        self.client.bgsave()
        server.wait_for_save_in_progress()
        assert server.children_pids(), "a BGSAVE child should be running"
        self.client.config_set("rdb-key-save-delay", 0)
        server.wait_for_save_done()
        self.client.config_set("appendonly", "yes")
        server.wait_for_action_done(ValkeyAction.AOF_REWRITE)
        self.client.bgrewriteaof()
        server.wait_for_action_done(ValkeyAction.AOF_REWRITE)

    def test_expect_crash(self) -> None:
        server = self.start()
        with server.expect_crash(self, timeout=10):
            self.client.execute_command("DEBUG", "SEGFAULT")
        assert self.crash_expected
        assert not server.is_alive()
        other = self.start()
        with pytest.raises(pytest.fail.Exception, match="did not crash"):
            with other.expect_crash(self, timeout=0.3):
                pass

    def test_wait_for_shutdown_kill_and_is_down(self) -> None:
        server = self.start()
        ValkeyClient.create_from_server(server).shutdown("nosave")
        server.wait_for_shutdown()
        server.is_down()
        server.start()
        pid = server.pid()
        server.kill()
        assert not _alive(pid)

    def test_missing_build_sh_binary_says_how_to_build_it(self) -> None:
        with pytest.raises(vtf.BinaryNotFound) as raised:
            self.create_server(testdir=self.testdir, server_path=".build/binaries/9.9.9/valkey-server", args={})
        message = str(raised.value)
        assert ".build/binaries/9.9.9/valkey-server" in message
        assert "vtf.build_server" in message and '"9.9.9"' in message
        with pytest.raises(vtf.BinaryNotFound, match="no-such-valkey-server"):
            self.create_server(testdir=self.testdir, server_path="no-such-valkey-server", args={})

    def test_module_that_fails_to_load_names_the_log_line(self, tmp_path: Any) -> None:
        missing = tmp_path / "no-such-module.so"
        with pytest.raises(vtf.ServerExited) as raised:
            self.create_server(testdir=self.testdir, args={"loadmodule": f"{missing} arg1"})
        message = str(raised.value)
        assert str(missing) in message and "Module" in message

    def test_none_argument_is_a_clear_error(self) -> None:
        # e.g. {"loadmodule": os.getenv("MODULE_PATH")} with the variable unset
        with pytest.raises(ValueError, match="loadmodule.*None"):
            self.create_server(testdir=self.testdir, args={"loadmodule": None})

    def test_expect_helper(self) -> None:
        expect(1, int.__lt__, 2)
        with pytest.raises(ExpectException):
            expect(2, int.__lt__, 1)

    def test_wait_until_command(self) -> None:
        server = self.start()
        blocked = server.get_new_client()
        import threading

        thread = threading.Thread(target=lambda: blocked.blpop("list", timeout=5))
        thread.start()
        try:
            assert self.wait_until_command(server, "blpop")
        finally:
            self.client.rpush("list", "x")
            thread.join()


class TestTeardownStopsEverything(ValkeyTestCase):
    """pytest >= 8 does not call teardown(); the `setup` fixture does, and stops every server."""

    pids: List[int] = []

    def test_1_make_servers(self) -> None:
        for _ in range(2):
            server, _client = self.create_server(testdir=self.testdir, args={})
            TestTeardownStopsEverything.pids.append(server.pid())
        deferred = self.create_server(self.testdir)  # started when unpacked
        server, client = deferred
        assert client.ping()
        TestTeardownStopsEverything.pids.append(server.pid())

    def test_2_they_are_gone(self) -> None:
        assert len(TestTeardownStopsEverything.pids) == 3
        assert not [p for p in TestTeardownStopsEverything.pids if _alive(p)]


class TestExternalServer(ValkeyTestCase):
    """External-server mode, against a server vtf started."""

    def test_external(self) -> None:
        # An open stand-in: an external server is reached by address alone here.
        with vtf.Server(vtf.Config(auth=False)) as real:
            server, client = self.create_server(
                testdir=self.testdir, bind_ip=real.host, port=real.port, external_server=True
            )
            client.set("hello", "world")
            assert real.client().get("hello") == b"world"
            assert server.is_alive() and server.is_rdb_done_loading()
            assert not server.verify_string_in_logfile("Ready")  # its log is not ours
            with pytest.raises(RuntimeError, match="restart_external_server"):
                server.restart()
            server.exit()
            assert real.is_running(), "exit() must not stop a server vtf.compat did not start"
        with pytest.raises(ValueError, match="Port"):
            self.create_server(testdir=self.testdir, bind_ip="127.0.0.1", external_server=True)


class TestWaiters:
    def test_wait_for_equal_true_false_ne(self) -> None:
        from vtf.compat.util.waiters import wait_for_equal, wait_for_false, wait_for_ne

        counter = {"n": 0}

        def bump() -> int:
            counter["n"] += 1
            return counter["n"]

        wait_for_equal(bump, 10)
        assert counter["n"] == 10
        wait_for_ne(bump, 10)
        wait_for_true(lambda: bump() > 15)
        wait_for_false(lambda: bump() < 20)
        assert counter["n"] == 20

    def test_timeout_message_and_on_failure(self) -> None:
        from vtf.compat.util.waiters import wait_for_equal

        failed: Dict[str, bool] = {}
        with pytest.raises(WaitTimeout, match="Expected value to be: 2, actual value is: 1") as raised:
            wait_for_equal(lambda: 1, 2, timeout=0.2, on_failure=lambda: failed.update(called=True))
        assert failed == {"called": True}
        assert isinstance(raised.value, vtf.Timeout)

    def test_exceptions(self) -> None:
        calls = {"n": 0}

        def flaky() -> bool:
            calls["n"] += 1
            if calls["n"] < 3:
                raise ConnectionError("not yet")
            return True

        wait_for_true(flaky, ignore_exception=ConnectionError)
        with pytest.raises(KeyError):
            wait_for_true(lambda: {}["missing"])

    def test_wait_decorator(self) -> None:
        from vtf.compat.util.waiters import wait

        state = {"n": 0}

        @wait(timeout=5)
        def three() -> bool:
            state["n"] += 1
            return state["n"] >= 3

        three()
        assert state["n"] == 3


def test_handle_survives_a_sigkilled_server() -> None:
    """A server that died under the handle: is_alive is False, start() brings it back."""
    handle = ValkeyServerHandle("127.0.0.1", None, None)
    handle.start()
    try:
        pid = handle.pid()
        os.kill(pid, signal.SIGKILL)
        wait_for_true(lambda: not handle.is_alive(), timeout=10)
        handle.wait_for_shutdown()  # the process is reaped a little after its sockets close
        assert handle.server is None
        handle.start()
        assert handle.client.ping()
    finally:
        handle._close()


def test_the_port_trackers_ports_are_reserved_until_it_exits() -> None:
    from vtf.compat.conftest import PortTracker

    with PortTracker("node") as tracker:
        ports = [tracker.get_unused_port() for _ in range(3)]
        assert len(set(ports)) == 3 and tracker.handed_out == ports
        with vtf.reserve_port() as other:  # another reservation gets none of them
            assert other.number not in ports
        with socket.socket() as listener:  # and the suite's own program can listen on one
            listener.bind(("127.0.0.1", ports[0]))
        held = list(tracker._reserved)
        assert [p.number for p in held] == ports and not any(p.closed for p in held)
    assert all(p.closed for p in held), "the tracker's exit releases its reservations"
    assert tracker.handed_out == []
