"""vtf.Server: one valkey-server process (mirror of the Rust `Server` / C `vtf_server`).

A Server made with `vtf.Server(config)` owns its process: closing it (or
leaving its `with` block) stops the server and removes its directory. The
nodes of a Replication or Cluster are Servers too, borrowed from their group:
they can be stopped and restarted, and go when the group is closed.
"""

import ctypes
import weakref
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from . import _ffi
from ._ffi import dec, enc, lib
from ._handles import OwnedHandle
from .config import Config, TlsMode
from .errors import VtfError

if TYPE_CHECKING:  # pragma: no cover
    import valkey


class Server(OwnedHandle):
    """A running (or stopped) valkey-server on 127.0.0.1.

    ::

        with vtf.Server(vtf.Config().arg("maxmemory", "1mb")) as server:
            server.client().set("k", "v")
    """

    def __init__(self, config: Optional[Config] = None) -> None:
        """Starts a server from `config` and returns once it answers PING."""
        self._owner: Optional[Any] = None
        self._clients: "weakref.WeakSet[Any]" = weakref.WeakSet()
        self.config = config if config is not None else Config()
        with self.config._handle() as handle:
            ptr = _ffi.call_out(lib.vtf_server_start, handle)
        self._own(ptr, lib.vtf_server_free)

    @classmethod
    def attach(cls, host: str, port: int, config: Optional[Config] = None) -> "Server":
        """A handle on a server vtf did not start (issue 17's vtf_server_attach): clients and
        accessors work; what needs the process raises vtf.Unsupported; closing it only
        closes connections. `config` supplies the password and certificates."""
        from .config import _optional

        attach = _optional("vtf_server_attach")
        server = cls.__new__(cls)
        server._owner = None
        server._clients = weakref.WeakSet()
        server.config = config if config is not None else Config()
        with server.config._handle() as handle:
            ptr = _ffi.call_out(attach, handle, enc(host), int(port))
        server._own(ptr, lib.vtf_server_free)
        return server

    def is_external(self) -> bool:
        """Whether this handle is attached to a server vtf did not start."""
        if not _ffi.has("vtf_server_is_external"):
            return False
        return bool(lib.vtf_server_is_external(self._p))

    @classmethod
    def _borrowed(cls, ptr: int, owner: Any, config: Config) -> "Server":
        """A node of a group: valid while `owner` is open, never freed on its own."""
        server = cls.__new__(cls)
        server._owner = owner
        server._clients = weakref.WeakSet()
        server.config = config
        server._ptr = ptr
        return server

    # -- handle plumbing

    @property
    def _p(self) -> int:
        if self._owner is not None and self._owner.closed:
            raise VtfError(f"this server belonged to {self._owner!r}, which has been closed")
        if self._ptr is None:
            raise VtfError("this vtf.Server has been closed (its process stopped, its directory removed)")
        return self._ptr

    def close(self) -> None:
        """Stops the server and removes its directory (kept with keep_data / VTF_KEEP_DATA=1).

        A node of a group belongs to the group: closing it does nothing (use stop()).
        """
        if self._owner is not None:
            return
        super().close()

    def _before_free(self) -> None:
        for client in list(self._clients):
            try:
                client.close()
            except Exception:
                pass

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        if self.closed or (self._owner is not None and self._owner.closed):
            return "<vtf.Server closed>"
        return f"<vtf.Server {self.address} pid={self.pid} dir={self.dir}>"

    # -- where it is

    @property
    def host(self) -> str:
        """The address it binds: "127.0.0.1"."""
        return dec(lib.vtf_server_host(self._p)) or "127.0.0.1"

    @property
    def port(self) -> int:
        return int(lib.vtf_server_port(self._p))

    @property
    def address(self) -> str:
        """host:port."""
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> Optional[int]:
        """The process id, None when not running."""
        pid = int(lib.vtf_server_pid(self._p))
        return None if pid < 0 else pid

    @property
    def dir(self) -> str:
        """The working directory (rdb, aof, nodes.conf, the log)."""
        return dec(lib.vtf_server_dir(self._p)) or ""

    @property
    def log_path(self) -> str:
        """The log file (server log, crash reports, sanitizer output)."""
        return dec(lib.vtf_server_log_path(self._p)) or ""

    def is_running(self) -> bool:
        return bool(lib.vtf_server_is_running(self._p))

    # -- TLS and credentials

    @property
    def tls_mode(self) -> TlsMode:
        """OFF, ON or MUTUAL, as this server was started."""
        return self.config.tls_mode() if self.tls_ca_cert else TlsMode.OFF

    @property
    def tls_ca_cert(self) -> Optional[str]:
        """The generated CA certificate's path; None when TLS is off."""
        return dec(lib.vtf_server_tls_ca_cert_path(self._p))

    @property
    def tls_client_cert(self) -> Optional[str]:
        """The generated client certificate's path (for other TLS clients); None when TLS is off."""
        return dec(lib.vtf_server_tls_client_cert_path(self._p))

    @property
    def tls_client_key(self) -> Optional[str]:
        """The generated client key's path (mode 0600); None when TLS is off."""
        return dec(lib.vtf_server_tls_client_key_path(self._p))

    @property
    def password(self) -> Optional[str]:
        """The password clients send: the server's credential (vtf_server_password), else the
        config's (for an attached server); None when there is none."""
        if _ffi.has("vtf_server_password"):
            password = dec(lib.vtf_server_password(self._p))
            if password is not None:
                return password
        return self.config.password

    def client_kwargs(self) -> Dict[str, Any]:
        """Keyword arguments for valkey-py (or redis-py) clients of this server: host, port, TLS, password."""
        kwargs: Dict[str, Any] = {"host": self.host, "port": self.port}
        password = self.password
        if password is not None:
            kwargs["password"] = password
        ca, cert, key = self.tls_ca_cert, self.tls_client_cert, self.tls_client_key
        if ca is None and self.config.tls_files is not None:  # attached with the config's files
            ca, cert, key = self.config.tls_files
        if ca is not None:
            # The client certificate is offered always: mutual TLS needs it, plain TLS ignores it.
            kwargs.update(ssl=True, ssl_ca_certs=ca, ssl_certfile=cert, ssl_keyfile=key, ssl_cert_reqs="required")
        return kwargs

    def client(self, **kwargs: Any) -> "valkey.Valkey":
        """A valkey-py client set up for this server (TLS, certificates, password).

        Keyword arguments go to `valkey.Valkey` (e.g. `decode_responses=True`, `db=1`)
        and win over vtf's. The client is closed when the server is closed.
        """
        import valkey

        options = self.client_kwargs()
        options.update(kwargs)
        client = valkey.Valkey(**options)
        self._clients.add(client)
        return client

    # -- lifecycle

    def stop(self) -> None:
        """Stops the server gracefully (SHUTDOWN NOSAVE NOW, then SIGTERM, then SIGKILL); idempotent.

        The handle stays: start() or restart() brings it back on the same port.
        """
        _ffi.check(lib.vtf_server_stop(self._p))

    def start(self) -> None:
        """Starts a stopped server again on its port with its data; nothing when it runs."""
        if not self.is_running():
            _ffi.check(lib.vtf_server_restart(self._p, True))

    def restart(self, keep_data: bool = True) -> None:
        """Restarts on the same port, keeping (saving first) or dropping the data."""
        _ffi.check(lib.vtf_server_restart(self._p, bool(keep_data)))

    # -- diagnostics

    def log_tail(self, lines: int = 20) -> str:
        """The last `lines` lines of the server's log."""
        out = ctypes.c_void_p()
        _ffi.check(lib.vtf_server_log_tail(self._p, int(lines), ctypes.byref(out)))
        return _ffi.take_string(out)

    def log_contains(self, needle: str) -> bool:
        found = ctypes.c_bool(False)
        _ffi.check(lib.vtf_server_log_contains(self._p, enc(needle), ctypes.byref(found)))
        return bool(found.value)

    def wait_for_log(self, needle: str, timeout: float = 10.0) -> None:
        """Waits until the log holds `needle`; raises Timeout, or ServerExited if the server exits first."""
        _ffi.check(lib.vtf_server_wait_for_log(self._p, enc(needle), _ffi.ms(timeout, "wait_for_log")))

    def info_field(self, section: str, field: str) -> str:
        """One field of `INFO section`, e.g. info_field("replication", "role")."""
        out = ctypes.c_void_p()
        _ffi.check(lib.vtf_server_info_field(self._p, enc(section), enc(field), ctypes.byref(out)))
        return _ffi.take_string(out)

    def check_clean(self) -> None:
        """After stop(): raises ServerExited with the report when the process exited non-zero
        or its output holds sanitizer or valgrind reports."""
        _ffi.check(lib.vtf_server_check_clean(self._p))


def nodes_of(owner: Any, pointers: List[int], config: Config, cache: Dict[int, Server]) -> List[Server]:
    """Server wrappers for a group's node pointers: one object per process (pointers are stable)."""
    out = []
    for ptr in pointers:
        if not ptr:
            _ffi.check_value(False)
        server = cache.get(ptr)
        if server is None:
            server = cache[ptr] = Server._borrowed(ptr, owner, config)
        out.append(server)
    return out
