"""vtf.Config: what a server is started with (mirror of the Rust `Config` / C `vtf_config`).

The Python object records the settings; each start builds a fresh C config
from them, so a Config can be copied, extended (the pytest plugin adds the
command line's modules) and reused without sharing C state.
"""

import contextlib
import copy
import enum
import os
from typing import Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from . import _ffi
from ._ffi import enc, lib

PathLike = Union[str, "os.PathLike[str]"]


class TlsMode(enum.IntEnum):
    """How servers speak TLS (vtf_tls_mode)."""

    OFF = 0
    ON = 1
    MUTUAL = 2

    @classmethod
    def parse(cls, value: Union["TlsMode", str, bool, int, None]) -> "TlsMode":
        """A mode from a TlsMode, a bool, or text such as "off", "on", "mutual", "1"."""
        if isinstance(value, TlsMode):
            return value
        if value is None or value is False:
            return cls.OFF
        if value is True:
            return cls.ON
        if isinstance(value, int):
            return cls(value)
        text = str(value).strip().lower()
        names = {"off": 0, "0": 0, "no": 0, "false": 0, "": 0, "on": 1, "1": 1, "yes": 1, "true": 1, "mutual": 2}
        if text not in names:
            raise ValueError(f"unknown TLS mode {value!r}: use off, on or mutual")
        return cls(names[text])


ModuleSpec = Union[PathLike, Tuple[PathLike, Sequence[str]]]


class Config:
    """A server configuration.

    Every setting is optional; unset ones take vtf's defaults (binary from
    env VTF_SERVER_BINARY / PATH / VTF_VALKEY_VERSION, TLS from env VTF_TLS,
    startup timeout 20 s...). Setters return the config, so calls chain::

        config = vtf.Config().arg("maxmemory", "1mb").module("/path/mod.so", "arg1")
    """

    def __init__(
        self,
        binary: Optional[PathLike] = None,
        args: Union[Mapping[str, str], Iterable[Tuple[str, str]], None] = None,
        modules: Optional[Iterable[ModuleSpec]] = None,
        config_file: Optional[PathLike] = None,
        tls: Union[TlsMode, str, bool, None] = None,
        wrapper: Optional[str] = None,
        keep_data: Optional[bool] = None,
        startup_timeout: Optional[float] = None,
        version: Optional[str] = None,
        command_timeout: Optional[float] = None,
        password: Optional[str] = None,
        auth: Optional[bool] = None,
        tls_files: Optional[Tuple[PathLike, Optional[PathLike], Optional[PathLike]]] = None,
        flush_on_attach: Optional[bool] = None,
    ) -> None:
        self.binary: Optional[str] = None if binary is None else os.fspath(binary)
        self.args: List[Tuple[str, str]] = []
        self.modules: List[Tuple[str, List[str]]] = []
        self.config_file: Optional[str] = None if config_file is None else os.fspath(config_file)
        self.tls: Optional[TlsMode] = None if tls is None else TlsMode.parse(tls)
        self.wrapper: Optional[str] = wrapper
        self.keep_data: Optional[bool] = keep_data
        self.startup_timeout: Optional[float] = startup_timeout
        self.version: Optional[str] = version
        self.command_timeout: Optional[float] = command_timeout
        self.password: Optional[str] = password
        self.auth: Optional[bool] = auth
        #: (CA certificate, client certificate, client key) to attach with instead of vtf's CA.
        self.tls_files: Optional[Tuple[str, Optional[str], Optional[str]]] = (
            None if tls_files is None else _tls_files(*tls_files)
        )
        #: Whether attaching to an external server empties it first (env VTF_EXTERNAL_FLUSH=1).
        self.flush_on_attach: Optional[bool] = flush_on_attach
        if args is not None:
            pairs = args.items() if isinstance(args, Mapping) else args
            for name, value in pairs:
                self.arg(name, value)
        for spec in modules or ():
            if isinstance(spec, tuple):
                self.module(spec[0], *spec[1])
            else:
                self.module(spec)

    # -- chained setters (each mirrors a vtf_config_* function)

    def arg(self, name: str, value: Union[str, int, float]) -> "Config":
        """Passes `--name value`; the value is one argv item ("" allowed); repeats kept in order."""
        self.args.append((str(name), str(value)))
        return self

    def module(self, path: PathLike, *args: str) -> "Config":
        """Loads a module at startup with its arguments."""
        self.modules.append((os.fspath(path), [str(a) for a in args]))
        return self

    def with_binary(self, path: PathLike) -> "Config":
        self.binary = os.fspath(path)
        return self

    def with_tls(self, mode: Union[TlsMode, str, bool]) -> "Config":
        self.tls = TlsMode.parse(mode)
        return self

    def with_config_file(self, path: PathLike) -> "Config":
        self.config_file = os.fspath(path)
        return self

    def with_wrapper(self, command: Optional[str]) -> "Config":
        """Runs the server under `command` (e.g. "valgrind --error-exitcode=99"); "" means none."""
        self.wrapper = command
        return self

    def with_keep_data(self, keep: bool = True) -> "Config":
        self.keep_data = keep
        return self

    def with_startup_timeout(self, seconds: float) -> "Config":
        self.startup_timeout = seconds
        return self

    def with_version(self, git_ref: str) -> "Config":
        """Runs this Valkey version (git ref), built from source and cached."""
        self.version = git_ref
        return self

    def copy(self) -> "Config":
        return copy.deepcopy(self)

    def tls_mode(self) -> TlsMode:
        """The mode servers from this config use (env VTF_TLS when unset)."""
        if self.tls is not None:
            return self.tls
        return TlsMode.parse(os.environ.get("VTF_TLS", "off"))

    def __repr__(self) -> str:
        fields = {k: v for k, v in vars(self).items() if v not in (None, [])}
        return "vtf.Config(" + ", ".join(f"{k}={v!r}" for k, v in fields.items()) + ")"

    # -- the C side

    @contextlib.contextmanager
    def _handle(self) -> Iterator[int]:
        """A fresh C config with these settings, freed after the block."""
        handle = lib.vtf_config_new()
        if not handle:
            raise MemoryError("vtf_config_new returned NULL")
        try:
            self._apply(handle)
            yield handle
        finally:
            lib.vtf_config_free(handle)

    def _apply(self, handle: int) -> None:
        check = _ffi.check
        if self.binary is not None:
            check(lib.vtf_config_set_binary(handle, enc(self.binary)))
        if self.version is not None:
            check(lib.vtf_config_set_version(handle, enc(self.version)))
        for name, value in self.args:
            check(lib.vtf_config_add_arg(handle, enc(name), enc(value)))
        for path, args in self.modules:
            check(lib.vtf_config_add_module(handle, enc(path), _ffi.string_array(args), len(args)))
        if self.config_file is not None:
            check(lib.vtf_config_set_config_file(handle, enc(self.config_file)))
        if self.tls is not None:
            check(lib.vtf_config_set_tls(handle, int(self.tls)))
        if self.startup_timeout is not None:
            check(lib.vtf_config_set_startup_timeout_ms(handle, _ffi.ms(self.startup_timeout, "startup_timeout")))
        if self.keep_data is not None:
            check(lib.vtf_config_set_keep_data(handle, bool(self.keep_data)))
        if self.wrapper is not None:
            check(lib.vtf_config_set_wrapper(handle, enc(self.wrapper)))
        # The contract's second wave: present in newer libvtf only.
        if self.command_timeout is not None:
            check(_optional("vtf_config_set_command_timeout_ms")(handle, _ffi.ms(self.command_timeout, "command_timeout")))
        if self.auth is not None:
            check(_optional("vtf_config_set_auth")(handle, bool(self.auth)))
        if self.password is not None:
            check(_optional("vtf_config_set_password")(handle, enc(self.password)))
        if self.tls_files is not None:
            ca, cert, key = self.tls_files
            check(_optional("vtf_config_set_tls_files")(handle, enc(ca), enc(cert), enc(key)))
        if self.flush_on_attach is not None:
            check(_optional("vtf_config_set_flush_on_attach")(handle, bool(self.flush_on_attach)))


def _optional(name: str):  # type: ignore[no-untyped-def]
    if not _ffi.has(name):
        from .errors import Unsupported

        raise Unsupported(f"{name}: this libvtf ({_ffi.dec(lib.vtf_version())}) does not have it yet")
    return getattr(lib, name)


def _tls_files(
    ca: PathLike, cert: Optional[PathLike] = None, key: Optional[PathLike] = None
) -> Tuple[str, Optional[str], Optional[str]]:
    return (os.fspath(ca), None if cert is None else os.fspath(cert), None if key is None else os.fspath(key))


def resolve(config: Optional[Config]) -> Config:
    return Config() if config is None else config
