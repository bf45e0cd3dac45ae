"""valkey-test-framework's `valkey_test_case` on vtf: both of its variants in one module.

Suites migrate by changing imports only:

- upstream (`src/valkey_test_case.py`): `from valkey_test_case import ...`
  becomes `from vtf.compat.valkey_test_case import ...`;
- the vendored `valkeytests` package module suites carry:
  `from valkeytests.valkey_test_case import ...` becomes the same line.

The two variants share names but differ in a few places; one class serves
both by telling them apart from what the suite does:

- `setup`: upstream's is an autouse fixture that starts nothing (tests call
  `create_server`); the vendored one is a method that starts a server with
  `get_custom_args()`, `self.client` and `self.clients` (one per db). Here the
  fixture is named `setup` and the method is `setup()`: the fixture starts
  the vendored server lazily, the first time a test reads `self.server`,
  `self.client` or `self.clients` without having set them.
- `create_server`: upstream starts the server and returns `(server, client)`;
  the vendored one returns a handle to start after `set_startup_args`. Called
  with any of upstream's extra arguments it starts at once and returns the
  pair; called with only (testdir, bind_ip, port, server_path) it returns a
  handle that starts when unpacked (upstream) or on `start()` (vendored).

What is not copied from upstream: servers are vtf's (127.0.0.1, a reserved
port and a directory of their own, stopped with the test process even on
SIGKILL), every server a test made is stopped at its end (pytest >= 8 no
longer calls the `teardown()` method upstream relies on), and the waits
wait for what they name (`waitForReplicaToSyncUp` for the replica to reach
the primary's offset, not only for the link to be up).
"""

import contextlib
import logging
import operator  # noqa: F401  (upstream's `import *` exports it through its waiters)
import os
import re
import shutil  # noqa: F401
import signal
import subprocess  # noqa: F401
import sys
import tempfile
import time
import atexit
import warnings
from enum import Enum
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, cast

import pytest
from valkey import *  # noqa: F401,F403  (upstream's module exports valkey-py's names)
from valkey import StrictValkey, ValkeyError

import vtf
from vtf.compat import _binary, _server_args
from vtf.compat._ack import (
    info_int,
    replica_entries,
    same_test_kwargs,
    wait_for_replica_offset,
    wait_for_replicas_online,
)
from vtf.compat.conftest import PortTracker
from vtf.compat.util.waiters import *  # noqa: F401,F403
from vtf.compat.util.waiters import WaitTimeout, wait, wait_for_equal, wait_for_ne, wait_for_true

MAX_PING_TRIES = 60

# The maximum wait time for operations in the tests (upstream's values).
TEST_MAX_WAIT_TIME_SECONDS = 90
MAX_REPLICA_WAIT_TIME = 120
MAX_SYNC_WAIT = 90
MAX_PING_WAIT_TIME = 30

#: Where the vendored variant's servers come from unless `set_server_version` says otherwise.
VENDORED_SERVER_PATH = ".build/binaries/unstable/valkey-server"

_UNSET: Any = object()


# ---------------------------------------------------------------- module functions


def verify_string_in_file(string: str, filename: str) -> bool:
    """True if `string` is on a line of `filename` (False when the file does not exist)."""
    if not os.path.exists(filename):
        return False
    with open(filename, encoding="latin-1") as f:
        return any(string in line for line in f)


def verify_any_of_strings_in_file(strings: Sequence[str], filename: str) -> bool:
    """True if any of `strings` is on a line of `filename`."""
    if not os.path.exists(filename):
        return False
    with open(filename, encoding="latin-1") as f:
        return any(s in line for line in f for s in strings)


class ExpectException(Exception):
    def __init__(self, lhs: Any, op: Any, rhs: Any) -> None:
        super().__init__(f"expected {op.__name__ if hasattr(op, '__name__') else op}({lhs!r}, {rhs!r})")
        self.lhs = lhs
        self.op = op
        self.rhs = rhs


def expect(lhs: Any, op: Any, rhs: Any) -> None:
    if not op(lhs, rhs):
        raise ExpectException(lhs, op, rhs)


class ValkeyAction(Enum):
    AOF_REWRITE = 1


# ---------------------------------------------------------------- the vendored client


class ValkeyInfo:
    """A point-in-time `INFO all` of a server (the vendored variant's)."""

    def __init__(self, info: Dict[str, Any]) -> None:
        self.info = info

    def is_save_in_progress(self) -> bool:
        return bool(self.info["rdb_bgsave_in_progress"] == 1)

    def num_keys(self, db: int = 0) -> int:
        entry = self.info.get(f"db{db}")
        return int(entry["keys"]) if entry else 0

    def get_master_repl_offset(self) -> int:
        return int(self.info["master_repl_offset"])

    def get_primary_repl_offset(self) -> int:
        return int(self.info["master_repl_offset"])

    def get_master_replid(self) -> str:
        return str(self.info["master_replid"])

    def get_replica_repl_offset(self) -> int:
        return int(self.info["slave_repl_offset"])

    def is_master_link_up(self) -> bool:
        """True if the role is slave and master_link_status is up."""
        return bool(self.info.get("role") == "slave" and self.info.get("master_link_status") == "up")

    is_primary_link_up = is_master_link_up

    def num_replicas(self) -> int:
        return int(self.info["connected_slaves"])

    def num_replicas_online(self) -> int:
        return sum(1 for entry in replica_entries(self.info) if entry.get("state") == "online")

    def was_save_successful(self) -> bool:
        return bool(self.info["rdb_last_bgsave_status"] == "ok")

    def used_memory(self) -> int:
        return int(self.info["used_memory"])

    def maxmemory(self) -> int:
        return int(self.info["maxmemory"])

    def maxmemory_policy(self) -> str:
        return str(self.info["maxmemory_policy"])

    def uptime_in_secs(self) -> int:
        return int(self.info["uptime_in_seconds"])


class ValkeyClient(StrictValkey):
    """valkey-py's client with the vendored variant's additions (`info_obj()`, ...)."""

    def _command(self, *args: Any) -> Any:
        """execute_command, which valkey-py leaves untyped."""
        return self.execute_command(*args)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        super().close()  # type: ignore[no-untyped-call]

    def set_password(self, pw: str) -> None:
        """Use `pw` from now on (after `requirepass` was applied)."""
        self.connection_pool.reset()
        self.connection_pool.connection_kwargs.update({"password": pw})

    def get_connection(self) -> Any:
        """A raw connection from the pool; give it back with release_connection()."""
        return self.connection_pool.get_connection("_")

    def release_connection(self, connection: Any) -> None:
        self.connection_pool.release(connection)

    @classmethod
    def create_from_server(cls, server: "ValkeyServerHandle", db: int = 0) -> "ValkeyClient":
        """A client of `server`'s database `db`."""
        return cls(db=db, **server._client_kwargs())

    def shutdown(self, flag: Optional[str] = None, *args: Any, **kwargs: Any) -> None:  # type: ignore[override,unused-ignore]
        """SHUTDOWN [flag]; the connection closing is the success."""
        if not flag:
            return super().shutdown(*args, **kwargs)
        try:
            self._command("SHUTDOWN", flag)
        except ConnectionError:  # valkey-py's (from `valkey import *`): the server closed it
            return None
        raise ValkeyError("SHUTDOWN seems to have failed.")

    def bgsave(self, type: Optional[str] = None, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override,unused-ignore]
        """BGSAVE [type]."""
        if type is None:
            return self._command("BGSAVE")
        return self._command("BGSAVE", type)

    def restore(self, name: Any, ttl: Any, value: Any, replace: bool = False, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override,unused-ignore]
        """RESTORE name ttl value [REPLACE]."""
        if replace:
            return self._command("RESTORE", name, ttl, value, "REPLACE")
        return self._command("RESTORE", name, ttl, value)

    def info_obj(self) -> ValkeyInfo:
        """A ValkeyInfo of `INFO all` now."""
        return ValkeyInfo(cast(Dict[str, Any], self.info("all")))

    def bitfield(self, name: Any, *values: Any) -> Any:  # type: ignore[override,unused-ignore]
        """BITFIELD name subcommands... (passed as they are)."""
        return self._command("BITFIELD", name, *values)

    def debug_digest(self) -> Any:
        return self._command("DEBUG", "DIGEST")


# ---------------------------------------------------------------- server handles

_conf_root: Optional[str] = None


def _conf_dir() -> str:
    """A private directory for the generated config files, removed at exit."""
    global _conf_root
    if _conf_root is None or not os.path.isdir(_conf_root):
        _conf_root = tempfile.mkdtemp(prefix="vtf-compat-")
        atexit.register(shutil.rmtree, _conf_root, True)
    return _conf_root


class ValkeyServerHandle(object):
    """Handle to one valkey-server, started by vtf (or an external server, not started here)."""

    DEFAULT_BIND_IP = "127.0.0.1"
    #: The test that made an external server's handle (for restart_external_server).
    _test_instance: Any = None

    def __init__(
        self,
        bind_ip: Optional[str],
        port: Optional[int],
        port_tracker: Optional[PortTracker],
        server_path: str = "valkey-server",
        cwd: str = ".",
        external_mode: Any = False,
        server_id: int = 0,
    ) -> None:
        if type(external_mode) is int:  # the vendored variant's 6th positional argument
            server_id, external_mode = external_mode, False
        self._vtf: Optional[vtf.Server] = None
        self._vtf_key: Optional[Tuple[Any, ...]] = None
        self._conf_path: Optional[str] = None
        self._deferred = False
        self._last_pid: Optional[int] = None
        self._bases: List[str] = []
        self.client: Optional[ValkeyClient] = None
        self.external_mode = bool(external_mode)
        self.port = port
        self.bind_ip = bind_ip if external_mode else self.DEFAULT_BIND_IP
        self.port_tracker = port_tracker
        self.server_id = server_id
        self.args: Dict[str, Any] = {
            "port": port,
            "logfile": f"logfile_{port}",
            "dbfilename": f"testrdb-{port}.rdb",
            "appenddirname": f"aof-{port}",
        }
        self.testdir = cwd
        self.cwd = cwd
        self.valkey_path = server_path
        self.conf_file: Optional[str] = None

    # -- what upstream tests look at

    @property
    def server(self) -> Optional[vtf.Server]:
        """The vtf.Server while its process runs (upstream: the Popen), else None."""
        if self._vtf is not None and not self._vtf.closed and self._vtf.is_running():
            return self._vtf
        return None

    @property
    def vtf_server(self) -> Optional[vtf.Server]:
        """The underlying vtf.Server (started at least once), for vtf's own API (log_tail, ...)."""
        return self._vtf

    def __repr__(self) -> str:
        state = "external" if self.external_mode else ("running" if self.server else "not running")
        return f"<{type(self).__name__} {self.bind_ip}:{self.port} {state}>"

    # Upstream's create_server returns (server, client): a handle that create_server did not
    # start (see the module docstring) starts when unpacked that way.
    def __iter__(self) -> Iterator[Any]:
        if self._deferred and not self.external_mode and self.server is None:
            self.start()
        yield self
        yield self.client

    def __getitem__(self, index: int) -> Any:
        return tuple(self)[index]

    def __len__(self) -> int:
        return 2

    def _client_kwargs(self) -> Dict[str, Any]:
        if self._vtf is not None and not self.external_mode and not self._vtf.closed:
            return self._vtf.client_kwargs()
        return {"host": self.bind_ip, "port": self.port}

    def create_from_server(self, db: int = 0) -> ValkeyClient:
        """A new client of database `db`."""
        return ValkeyClient(db=db, **self._client_kwargs())

    def set_startup_args(self, args: Dict[str, Any]) -> None:
        self.args.update(args)

    def get_new_client(self) -> ValkeyClient:
        return self.create_from_server()

    def get_default_client(self, client: Optional[Any]) -> Any:
        return self.client if client is None else client

    # -- lifecycle

    def start(self, wait_for_ping: bool = True, connect_client: bool = True) -> Optional[ValkeyClient]:
        """Starts the server (vtf waits for it to answer PING) and connects `self.client`."""
        self._deferred = False
        if self.external_mode:
            return self.connect()
        if self.server is not None:
            raise RuntimeError("Server already started")
        binary = _binary.resolve(self.valkey_path, self._bases or [os.getcwd()])
        lines, command_line = _server_args.split(self.args, self.conf_file, self._path_bases())
        if self._conf_path is None:
            fd, self._conf_path = tempfile.mkstemp(prefix="server-", suffix=".conf", dir=_conf_dir())
            os.close(fd)
        with open(self._conf_path, "w", encoding="utf-8") as f:
            f.write("# written by vtf.compat from the suite's server arguments\n")
            f.write("\n".join(lines) + "\n")
        key = (binary, tuple(command_line))
        if self._vtf is not None and not self._vtf.closed and self._vtf_key == key:
            self._vtf.start()
        else:
            self._close_vtf()
            config = vtf.Config(binary=binary, config_file=self._conf_path, args=command_line)
            self._vtf = vtf.Server(config)
            self._vtf_key = key
        self.port = self._vtf.port
        self.args["port"] = self.port
        self.bind_ip = self._vtf.host
        self.cwd = self._vtf.dir
        self.args["logfile"] = os.path.relpath(self._vtf.log_path, self.cwd)
        self._last_pid = self._vtf.pid
        if connect_client:
            self.connect()
        return self.client

    def _path_bases(self) -> List[str]:
        bases = [self.testdir] if self.testdir else []
        return bases + [b for b in (self._bases or [os.getcwd()]) if b not in bases]

    def exit(self, cleanup: bool = True, remove_nodes_conf: bool = True, remove_rdb: Optional[bool] = None) -> None:
        """Stops the server (SHUTDOWN NOSAVE NOW, by vtf); with `cleanup` its RDB/AOF go too.

        The log is emptied unless env SKIPLOGCLEAN is set, as upstream removes
        it; the directory stays until the test ends, so `start()` can bring the
        server back on the same port (with its data when `cleanup` was False).
        """
        if remove_rdb is not None:
            cleanup = remove_rdb
        if self.client is not None:
            try:
                self.client.close()
            except Exception:
                pass
            self.client = None
        if self.external_mode or self._vtf is None or self._vtf.closed:
            return
        self._vtf.stop()
        self._remove_files(cleanup, remove_nodes_conf)

    def _remove_files(self, cleanup: bool, remove_nodes_conf: bool) -> None:
        assert self._vtf is not None
        directory = self._vtf.dir

        def remove(name: Optional[Any]) -> None:
            if not name:
                return
            path = os.path.join(directory, str(name))
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            elif os.path.exists(path):
                os.remove(path)

        if os.environ.get("SKIPLOGCLEAN") is None and os.path.exists(self._vtf.log_path):
            open(self._vtf.log_path, "w").close()
        if cleanup:
            remove(self.args.get("dbfilename", "dump.rdb"))
            remove(self.args.get("appenddirname", "appendonlydir"))
        if remove_nodes_conf:
            remove(self.args.get("cluster-config-file"))

    def _close_vtf(self) -> None:
        if self._vtf is not None:
            self._vtf.close()
        self._vtf = None

    def _close(self) -> None:
        """Stops the server and removes its directory and config file (at the end of its test)."""
        try:
            self.exit()
        finally:
            self._close_vtf()
            if self._conf_path is not None and os.path.exists(self._conf_path):
                os.remove(self._conf_path)
            self._conf_path = None

    def restart(self, remove_rdb: bool = True, remove_nodes_conf: bool = True, connect_client: bool = True) -> Any:
        """exit() then start() on the same port; `remove_rdb=False` comes back with the saved data."""
        if self.external_mode:
            return self._test_instance.restart_external_server(self, remove_rdb, remove_nodes_conf, connect_client)
        self.exit(remove_rdb, remove_nodes_conf)
        return self.start(connect_client=connect_client)

    def pid(self) -> Optional[int]:
        """The server's process id (the last one when it is not running)."""
        if self._vtf is not None and not self._vtf.closed:
            pid = self._vtf.pid
            if pid is not None:
                self._last_pid = pid
        return self._last_pid

    def kill(self) -> None:
        """SIGKILL to the server's process (ours, by pid), then waits until it is gone."""
        pid = self.pid()
        if pid is not None and self.server is not None:
            os.kill(pid, signal.SIGKILL)
        self.wait_for_shutdown()

    def wait_for_shutdown(self) -> None:
        """Waits until the server's process has exited."""
        wait_for_true(lambda: self.server is None, timeout=TEST_MAX_WAIT_TIME_SECONDS)

    def _waitForExit(self) -> None:
        self.wait_for_shutdown()

    def is_down(self) -> None:
        """Waits (5 s at most) until the process has exited (the vendored variant's)."""
        wait_for_true(lambda: self.server is None, timeout=5)

    def children_pids(self) -> List[str]:
        """Process ids (as strings) whose parent is the server (e.g. a fork saving the RDB)."""
        parent = self.pid()
        children: List[str] = []
        if parent is None:
            return children
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", encoding="latin-1") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent:
                children.append(entry)
        return children

    # -- health

    def is_alive(self) -> bool:
        if not self.external_mode and self.server is None:
            return False
        return self._is_alive(self.client)

    def _is_alive(self, c: Any) -> bool:
        try:
            return bool(c.ping())
        except Exception:
            return False

    def connection_is_alive(self, c: Any) -> bool:
        return self._is_alive(c)

    def _waitForPing(self, c: Any) -> bool:
        try:
            wait_for_true(lambda: self._is_alive(c), timeout=MAX_PING_WAIT_TIME)
            return True
        except WaitTimeout as e:
            logging.error(e)
            return False

    def connect(self) -> ValkeyClient:
        """Connects `self.client` and waits for it to answer PING."""
        self.client = self.create_from_server()
        client = self.client
        try:
            wait_for_true(lambda: self._is_alive(client), timeout=TEST_MAX_WAIT_TIME_SECONDS)
        except WaitTimeout:
            raise RuntimeError(f"Failed to connect or ping server {self.bind_ip}:{self.port}") from None
        return client

    @contextlib.contextmanager
    def expect_crash(self, valkey_test: Any, timeout: float = 30, period: float = 0.1) -> Iterator[None]:
        """The block makes the server crash: errors in it are expected; fails the test if it lives on."""
        valkey_test.crash_expected = True
        try:
            yield
        except Exception:
            pass
        finally:
            start_time = time.time()
            try:
                wait_for_true(lambda: not self.is_alive(), timeout=timeout)
            except WaitTimeout:
                pytest.fail(
                    f"Valkey server did not crash as expected within {time.time() - start_time} seconds. "
                )
            # A dying server closes its sockets before it can be reaped: wait for the
            # process too, so that what follows (start(), the teardown) sees it gone.
            if not self.external_mode and self._vtf is not None:
                wait_for_true(lambda: self.server is None, timeout=TEST_MAX_WAIT_TIME_SECONDS)

    # -- the log

    def _log_path(self) -> Optional[str]:
        if self.external_mode or self._vtf is None or self._vtf.closed:
            return None
        return self._vtf.log_path

    def wait_for_ready_to_accept_connections(self) -> None:
        if self._vtf is None or self.external_mode:
            raise RuntimeError("the server was not started by vtf.compat: it has no log to read")
        self._vtf.wait_for_log("Ready to accept connections", timeout=TEST_MAX_WAIT_TIME_SECONDS)

    def verify_string_in_logfile(self, string: str) -> bool:
        path = self._log_path()
        return path is not None and verify_string_in_file(string, path)

    def is_rdb_done_loading(self) -> bool:
        if self.external_mode:
            return bool(self.client.info().get("loading", 0) == 0)  # type: ignore[union-attr]
        return self.verify_string_in_logfile("Done loading RDB")

    # -- data and persistence

    def wait_for_key(self, key: Any, value: Any) -> None:
        if isinstance(value, str):
            value = value.encode()
        client = self.client
        wait_for_equal(lambda: client.get(key), value, timeout=TEST_MAX_WAIT_TIME_SECONDS)  # type: ignore[union-attr]

    def num_keys(self, db: int = 0, client: Optional[Any] = None) -> int:
        client = self.get_default_client(client)
        entry = client.info("keyspace").get(f"db{db}")
        return int(entry["keys"]) if entry else 0

    def wait_for_save_done(self, client: Optional[Any] = None) -> None:
        """Waits for a background save to end; asserts it succeeded."""
        client = self.get_default_client(client)
        try:
            wait_for_ne(lambda: client.info("persistence")["rdb_bgsave_in_progress"], 1, timeout=TEST_MAX_WAIT_TIME_SECONDS)
        except WaitTimeout:
            raise RuntimeError("Save failed to complete in time") from None
        assert client.info("persistence")["rdb_last_bgsave_status"] == "ok"

    def _wait_for_save(self, client: Optional[Any] = None) -> None:
        client = self.get_default_client(client)
        wait_for_ne(lambda: client.info("persistence")["rdb_bgsave_in_progress"], 1, timeout=TEST_MAX_WAIT_TIME_SECONDS)

    def wait_for_save_in_progress(self, client: Optional[Any] = None) -> None:
        client = self.get_default_client(client)
        wait_for_equal(lambda: client.info("persistence")["rdb_bgsave_in_progress"], 1, timeout=TEST_MAX_WAIT_TIME_SECONDS)

    _wait_for_save_in_progress = wait_for_save_in_progress

    def _action_success_flag(self, action: ValkeyAction, client: Any) -> bool:
        if action == ValkeyAction.AOF_REWRITE:
            return bool(client.info("persistence")["aof_last_bgrewrite_status"] == "ok")
        raise RuntimeError("{} not support".format(action))

    def wait_for_action_done(self, action: ValkeyAction, client: Optional[Any] = None) -> None:
        """Waits until `action` (an AOF rewrite) is neither running nor scheduled; asserts it succeeded.

        (Upstream waits for the rewrite to be in progress, which times out when it already ended.)
        """
        client = self.get_default_client(client)
        if action != ValkeyAction.AOF_REWRITE:
            raise RuntimeError("{} not support".format(action))

        def done() -> bool:
            info = client.info("persistence")
            return bool(info["aof_rewrite_in_progress"] == 0 and info.get("aof_rewrite_scheduled", 0) == 0)

        try:
            wait_for_true(done, timeout=TEST_MAX_WAIT_TIME_SECONDS)
        except WaitTimeout:
            raise RuntimeError("{} failed to complete in time".format(action)) from None
        assert self._action_success_flag(action, client)

    # -- replication

    def wait_for_replicas(self, num_of_replicas: int) -> None:
        """Waits for `connected_slaves` to be `num_of_replicas`."""
        client = self.client
        wait_for_equal(
            lambda: info_int(client, "replication", "connected_slaves"),
            num_of_replicas,
            timeout=MAX_REPLICA_WAIT_TIME,
        )

    def num_replicas_online(self, client: Optional[Any] = None) -> int:
        return ValkeyInfo(self.get_default_client(client).info(section="replication")).num_replicas_online()

    def wait_for_all_replicas_online(self, num_of_replicas: int) -> None:
        """Waits until `num_of_replicas` replicas are online, asking the others for their ACK (see _ack)."""
        wait_for_replicas_online(self.client, num_of_replicas, MAX_REPLICA_WAIT_TIME)

    def is_primary_link_up(self, client: Optional[Any] = None) -> bool:
        """True if the role is slave and master_link_status is up."""
        return ValkeyInfo(self.get_default_client(client).info(section="replication")).is_master_link_up()

    is_master_link_up = is_primary_link_up


class ValkeyReplica(ValkeyServerHandle):
    """A server started as a replica of (primaryhost, primaryport).

    Both signatures work: upstream's (primaryhost, primaryport, bind_ip, port,
    port_tracker, testdir, server_path) and the vendored one with server_id
    before server_path.
    """

    def __init__(
        self,
        primaryhost: str,
        primaryport: int,
        bind_ip: Optional[str],
        port: Optional[int],
        port_tracker: Optional[PortTracker],
        testdir: str,
        *rest: Any,
        server_path: Optional[str] = None,
        server_id: int = 0,
    ) -> None:
        if len(rest) == 2:
            server_id, server_path = rest
        elif len(rest) == 1:
            if type(rest[0]) is int:
                server_id = rest[0]
            else:
                server_path = rest[0]
        elif rest:
            raise TypeError(f"ValkeyReplica takes at most 8 positional arguments ({6 + len(rest)} given)")
        super().__init__(bind_ip, port, port_tracker, server_path or "valkey-server", testdir, server_id=server_id)
        self.clients: List[ValkeyClient] = []
        self.primaryhost = primaryhost
        self.primaryport = primaryport
        self.args["slaveof"] = f"{primaryhost} {primaryport}"

    @property
    def masterhost(self) -> str:
        return self.primaryhost

    @property
    def masterport(self) -> int:
        return self.primaryport

    def exit(self, remove_rdb: bool = True, remove_nodes_conf: bool = True, **kwargs: Any) -> None:  # type: ignore[override]
        super().exit(remove_rdb, remove_nodes_conf)
        for client in self.clients:
            try:
                client.close()
            except Exception:
                pass
        del self.clients[:]

    def create_client_for_dbs(self, num_dbs: int) -> List[ValkeyClient]:
        for db in range(num_dbs):
            self.clients.append(ValkeyClient.create_from_server(self, db))
        return self.clients


# ---------------------------------------------------------------- test cases


def _lazy_setup_attribute(name: str) -> property:
    """`self.server` / `self.client` / `self.clients`: the vendored variant's setup server, started on first read."""

    def get(self: "ValkeyTestCase") -> Any:
        d = self.__dict__
        if name in d:
            return d[name]
        if d.get("_vtf_lazy_setup"):
            self.setup()
            if name in d:
                return d[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def set(self: "ValkeyTestCase", value: Any) -> None:
        self.__dict__[name] = value

    def delete(self: "ValkeyTestCase") -> None:
        self.__dict__.pop(name, None)

    return property(get, set, delete, f"the test's {name} (the vendored variant's setup starts it when first read)")


class ValkeyTestCaseBase:
    testdir = "test-data"
    rdbdir = "rdbs"
    # Set by ValkeyTestCase (the class and common_setup); read by _get_valkey_args here.
    maxmemory: str
    num_dbs: int

    DEFAULT_BIND_IP = "127.0.0.1"

    def get_custom_args(self) -> Dict[str, Any]:
        """Arguments the vendored variant's setup server (and its replicas) start with; override it."""
        return {}

    @pytest.fixture(autouse=True)
    def port_tracker_fixture(self, request: Any) -> None:
        """Upstream's port tracker injection (`self.args`, `self.port_tracker`)."""
        self.args: Dict[str, Any] = {}
        self.server_id = 0
        try:
            self.port_tracker = request.getfixturevalue("resource_port_tracker")
        except pytest.FixtureLookupError:  # the suite did not import the fixture: a tracker of our own
            tracker = PortTracker(request.node.nodeid).__enter__()
            request.addfinalizer(lambda: tracker.__exit__(None, None, None))
            self.port_tracker = tracker
        path = getattr(request, "path", None) or getattr(request, "fspath", None)
        self._vtf_bases = [os.path.dirname(os.fspath(path))] if path else []
        self._vtf_bases.append(os.getcwd())

    @pytest.fixture(autouse=True)
    def server_id_fixture(self) -> None:
        """The vendored variant's fixture (server ids start at 0; set with the port tracker)."""

    def _get_valkey_args(self) -> Dict[str, Any]:
        self.args.update(
            {
                "maxmemory": self.maxmemory,
                "maxmemory-policy": "allkeys-random",
                "activerehashing": "yes",
                "databases": self.num_dbs,
                "repl-diskless-sync": "yes",
                "save": "",
            }
        )
        self.args.update(self.get_custom_args())
        return self.args

    def ensureDirExists(self, dir: Optional[str] = None) -> None:
        os.makedirs(self.testdir, exist_ok=True)

    def findLogfileLine(self, filename: str, regex: str) -> Optional["re.Match[str]"]:
        try:
            with open(filename, "r", encoding="latin-1") as logfile:
                for line in logfile:
                    match = re.search(regex, line)
                    if match:
                        return match
        except OSError:
            pass
        return None

    def doesLogfileContain(self, filename: str, regex: str) -> bool:
        return self.findLogfileLine(filename, regex) is not None

    def wait_for_logfile(self, filename: str, regex: str) -> None:
        wait_for_true(lambda: self.doesLogfileContain(filename, regex), timeout=TEST_MAX_WAIT_TIME_SECONDS)

    def check_all_keys_in_valkey(self, node: ValkeyServerHandle, dictionary: Dict[Any, Any]) -> int:
        """Asserts every key in `node` has its value in `dictionary`; returns how many keys it has."""
        num_keys_in_valkey = 0
        for key in node.client.scan_iter():  # type: ignore[union-attr]
            if dictionary.keys() and isinstance(next(iter(dictionary.keys())), str) and isinstance(key, bytes):
                key = key.decode()
            assert node.client.get(key) == str.encode(dictionary[key])  # type: ignore[union-attr]
            num_keys_in_valkey += 1
        return num_keys_in_valkey

    def waitForReplicaToSyncUp(self, server: ValkeyServerHandle) -> None:
        """Waits until `server` (a replica) has its link up and has applied everything its primary had now."""
        self.waitForReplicaToSyncUpByClient(server.client)

    def waitForReplicaToSyncUpByClient(self, client: Any) -> None:
        """waitForReplicaToSyncUp for a client of the replica."""
        wait_for_true(lambda: ValkeyInfo(client.info(section="replication")).is_master_link_up(), timeout=MAX_SYNC_WAIT)
        info = client.info(section="replication")
        primary = ValkeyClient(host=info["master_host"], port=int(info["master_port"]), **same_test_kwargs(client))
        try:
            target = info_int(primary, "replication", "master_repl_offset")
        finally:
            primary.close()
        wait_for_replica_offset(client, lambda offset: offset >= target, MAX_SYNC_WAIT)

    def wait_until_command(self, server: ValkeyServerHandle, cmd: str) -> bool:
        """True once a client of `server` is running `cmd` (e.g. a blocking command); False after the wait."""
        try:
            wait_for_true(
                lambda: any(c.get("cmd") == cmd for c in server.client.client_list()),  # type: ignore[union-attr]
                timeout=TEST_MAX_WAIT_TIME_SECONDS,
            )
            return True
        except WaitTimeout:
            return False

    def get_bind_port(self) -> int:
        return int(self.port_tracker.get_unused_port())

    def get_bind_ip(self, multi_ip_mode: bool = False) -> str:
        if multi_ip_mode:
            return str(self.ip_tracker.get_ip_address())  # type: ignore[attr-defined]
        return self.DEFAULT_BIND_IP


class _TestServers:
    """The vtf servers behind a test's handles (for the plugin's failure reports)."""

    def __init__(self, test: "ValkeyTestCase") -> None:
        self._test = test

    def vtf_servers(self) -> List[vtf.Server]:
        d = self._test.__dict__
        handles: List[ValkeyServerHandle] = list(d.get("_vtf_owned", [])) + list(d.get("replicas", []))
        if isinstance(d.get("server"), ValkeyServerHandle):
            handles.append(d["server"])
        seen: List[vtf.Server] = []
        for handle in handles:
            server = handle.vtf_server
            if server is not None and not server.closed and server not in seen:
                seen.append(server)
        return seen


class ValkeyTestCase(ValkeyTestCaseBase):
    server_path = "valkey-server"  # upstream's default: VTF_SERVER_BINARY, else PATH

    # The vendored variant's class settings.
    num_dbs = 5
    num_keys = 100
    rdb_size = 168231
    repl_save_info_size = 83
    diskless_overhead = 87

    server = _lazy_setup_attribute("server")
    client = _lazy_setup_attribute("client")
    clients = _lazy_setup_attribute("clients")

    def set_server_version(self, new_version: str) -> None:
        """Use build.sh's `.build/binaries/<new_version>/valkey-server` (the vendored variant's)."""
        self.server_path = f".build/binaries/{new_version}/valkey-server"

    def common_setup(self) -> None:
        self.maxmemory = "500MB"
        self.port = self.port_tracker.get_unused_port()
        self.ensureDirExists(self.testdir)
        self.server_list: List[ValkeyServerHandle] = []
        if "_vtf_owned" not in self.__dict__:
            self._vtf_owned: List[ValkeyServerHandle] = []

    @pytest.fixture(autouse=True, name="setup")
    def _vtf_setup_fixture(self, port_tracker_fixture: None) -> Iterator["_TestServers"]:
        """Upstream's `setup` fixture; at the end of the test every server it made is stopped.

        Its value (upstream's is None, which no suite uses) tells vtf's pytest
        plugin the test's servers, so a failing test's report has their log tails.
        """
        self.common_setup()
        self._vtf_lazy_setup = True
        try:
            yield _TestServers(self)
        finally:
            self._vtf_lazy_setup = False
            try:
                self.teardown()
            finally:
                for handle in self.__dict__.get("_vtf_owned", []):
                    handle._close()
                self._vtf_owned = []

    def setup(self) -> None:
        """The vendored variant's setup: a server with `get_custom_args()`, `self.client`, `self.clients`."""
        if os.sep + "_pytest" + os.sep in sys._getframe(1).f_code.co_filename:
            # pytest < 8 calls nose-style setup() itself; the `setup` fixture starts this
            # server when the test first needs it (an upstream-style test never does).
            return
        self._vtf_lazy_setup = False
        self._vtf_vendored = True
        self.common_setup()
        args = self._get_valkey_args()
        path = self.server_path if self.server_path != ValkeyTestCase.server_path else VENDORED_SERVER_PATH
        self.server_path = path
        self.server = self.create_server(testdir=self.testdir, server_path=path)
        self.server.set_startup_args(args)
        self.client = self.server.start()
        self.clients = [ValkeyClient.create_from_server(self.server, db) for db in range(self.num_dbs)]

    def get_valkey_handle(self) -> type:
        """The handle class; a child class may return its own."""
        return ValkeyServerHandle

    def create_server(
        self,
        testdir: str,
        bind_ip: Optional[str] = None,
        port: Optional[int] = None,
        server_path: Any = _UNSET,
        args: Any = _UNSET,
        skip_teardown: Any = _UNSET,
        conf_file: Any = _UNSET,
        external_server: bool = False,
        wait_for_ping: Any = _UNSET,
        connect_client: Any = _UNSET,
    ) -> Any:
        """A server in `testdir`: upstream's `(server, client)`, or the vendored variant's handle.

        With `external_server=True`, a handle of the server at (bind_ip, port)
        that vtf did not start and will not stop.
        """
        upstream_call = external_server or any(
            v is not _UNSET for v in (args, skip_teardown, conf_file, wait_for_ping, connect_client)
        )
        skip = bool(skip_teardown) if skip_teardown is not _UNSET else False
        if external_server:
            if not bind_ip:
                raise ValueError("Bind ip must be specified for external server use")
            if not port:
                raise ValueError("Port must be specified for external server use")
            external = ValkeyServerHandle(bind_ip, port, port_tracker=None, external_mode=True)
            external._test_instance = self
            cli = external.connect()
            if not skip:
                self.server_list.append(external)
            return external, cli

        if server_path is _UNSET:
            server_path = VENDORED_SERVER_PATH if self.__dict__.get("_vtf_vendored") else ValkeyTestCase.server_path
        if port:
            warnings.warn(
                f"vtf.compat: port {port} is not used: vtf reserves a free port for every server "
                "(the handle's `port` after start)",
                stacklevel=2,
            )
        handle_class = self.get_valkey_handle()
        self.server_id += 1
        common = dict(bind_ip=bind_ip or self.get_bind_ip(), port=port or self.get_bind_port(),
                      port_tracker=self.port_tracker, cwd=testdir, server_path=server_path)
        try:
            handle = handle_class(server_id=self.server_id, **common)
        except TypeError:
            handle = handle_class(**common)
        handle._bases = list(getattr(self, "_vtf_bases", [os.getcwd()]))
        self.server_path = server_path
        if not skip:
            self.server_list.append(handle)
            self._vtf_owned.append(handle)
        handle.conf_file = None if conf_file is _UNSET else conf_file
        if args is not _UNSET and args:
            handle.args.update(args)
        if not upstream_call:
            handle._deferred = True
            return handle
        cli = handle.start(
            wait_for_ping=True if wait_for_ping is _UNSET else wait_for_ping,
            connect_client=True if connect_client is _UNSET else connect_client,
        )
        return handle, cli

    def restart_external_server(self, server: ValkeyServerHandle, *args: Any) -> Any:
        """Restarting an external server is the suite's business: override this to do it."""
        raise RuntimeError(
            f"vtf.compat did not start the external server {server.bind_ip}:{server.port} and cannot "
            "restart it; override restart_external_server in the test class to do it"
        )

    def wait_for_all_replicas_online(self, n: int) -> None:
        self.server.wait_for_all_replicas_online(n)

    def wait_for_replicas(self, n: int) -> None:
        self.server.wait_for_replicas(n)

    def teardown(self) -> None:
        """Stops the servers this test made (not those made with skip_teardown)."""
        for server in self.__dict__.get("server_list", []):
            if server:
                server.exit()

    def set_small_amount_of_keys(self) -> None:
        for i in range(self.num_keys):
            self.clients[0].set("key_{}".format(i), i)


class ReplicationTestCase(ValkeyTestCase):
    num_replicas = 1
    skip_teardown = False

    def setup_replication(
        self, num_replicas: int = 1, primary_server: Optional[ValkeyServerHandle] = None, skip_teardown: bool = False
    ) -> List[ValkeyReplica]:
        """Starts `num_replicas` replicas of the test's server and waits until they are in sync.

        The primary is `primary_server`, else the server the test made, else
        (the vendored variant) a new setup server with `get_custom_args()`.
        """
        vendored = False
        if primary_server is not None:
            self.server = primary_server
        elif self.__dict__.get("server") is None:
            self.setup()
            vendored = True
        self.skip_teardown = skip_teardown
        self.create_replicas(num_replicas)
        self.start_replicas()
        if vendored:
            for replica in self.replicas:
                replica.set_startup_args(self.get_custom_args())
        self.wait_for_replicas(self.num_replicas)
        self.wait_for_primary_link_up_all_replicas()
        self.wait_for_all_replicas_online(self.num_replicas)
        for replica in self.replicas:
            self.waitForReplicaToSyncUp(replica)
        return self.replicas

    def teardown(self) -> None:
        if not self.skip_teardown:
            self.destroy_replicas()
            ValkeyTestCase.teardown(self)

    def _create_replica(self, primaryhost: str, primaryport: int, server_path: Optional[str]) -> ValkeyReplica:
        self.server_id += 1
        replica = ValkeyReplica(
            primaryhost,
            primaryport,
            self.get_bind_ip(),
            self.get_bind_port(),
            self.port_tracker,
            self.testdir,
            server_path=server_path or self.server_path,
            server_id=self.server_id,
        )
        replica._bases = list(getattr(self, "_vtf_bases", [os.getcwd()]))
        return replica

    def create_replicas(
        self,
        num_replicas: int,
        primaryhost: Optional[str] = None,
        primaryport: Optional[int] = None,
        connection_type: str = "tcp",
        server_path: Optional[str] = None,
    ) -> None:
        self.destroy_replicas()
        if connection_type == "tcp":
            default_host = getattr(self.server, "bind_ip", None)
            default_port = getattr(self.server, "port", None)
        elif connection_type == "unix":
            default_host = self.server.args["unixsocket"]
            default_port = 0  # Valkey treats the host as a unix socket path when the port is 0.
        else:
            raise ValueError("Invalid connection type %r, expected 'tcp' or 'unix'" % connection_type)
        primaryhost = primaryhost or default_host
        primaryport = primaryport if primaryport is not None else default_port
        self.num_replicas = num_replicas
        self.replicas: List[ValkeyReplica] = []
        for _ in range(num_replicas):
            replica = self._create_replica(primaryhost, primaryport, server_path)  # type: ignore[arg-type]
            replica.set_startup_args(self.args)
            self.replicas.append(replica)

    def start_replicas(self, wait_for_ping: bool = True) -> None:
        for replica in self.replicas:
            replica.start(wait_for_ping=wait_for_ping)
            # The vendored variant's replicas have a client per db; upstream's have none.
            if self.__dict__.get("_vtf_vendored") and not replica.clients:
                replica.create_client_for_dbs(self.num_dbs)

    def destroy_replicas(self) -> None:
        for replica in self.__dict__.get("replicas", []):
            replica._close()
        self.num_replicas = 0
        self.replicas = []

    def wait_for_primary_link_up_all_replicas(self) -> None:
        for replica in self.replicas:
            wait_for_true(replica.is_primary_link_up, timeout=MAX_SYNC_WAIT)

    wait_for_master_link_up_all_replicas = wait_for_primary_link_up_all_replicas

    def wait_for_value_propagate_to_replicas(self, key: Any, value: Any, db: int = 0) -> None:
        """Waits until every replica has `value` at `key` in `db` (str and int compared as the bytes they are sent as)."""
        expected = value if isinstance(value, bytes) else str(value).encode()
        for replica in self.replicas:
            client = replica.clients[db] if len(replica.clients) > db else ValkeyClient.create_from_server(replica, db)
            wait_for_equal(lambda: client.get(key), expected, timeout=TEST_MAX_WAIT_TIME_SECONDS)

    def waitForReplicaOffsetToSyncUp(self, primary: Any, replica: ValkeyServerHandle) -> None:
        """Waits until the replica's offset equals the primary's (`primary` a handle or a client)."""
        primary_client = getattr(primary, "client", None) or primary

        wait_for_replica_offset(
            replica.client,
            lambda offset: offset == info_int(primary_client, "replication", "master_repl_offset"),
            TEST_MAX_WAIT_TIME_SECONDS,
        )
