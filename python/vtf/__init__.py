"""vtf: integration tests against real valkey-server processes, from Python.

The Python face of ValkeyTestFramework: servers, replication groups and
clusters (TLS and mutual TLS included) started by libvtf, the same Rust
engine C, C++ and Rust tests use, with valkey-py clients and a pytest plugin
(`vtf.pytest_plugin`, enabled by installing the package).
"""

from . import errors as _errors
from ._ffi import dec as _dec, lib as _lib
from .build import Sanitizer as Sanitizer, build_server as build_server, module_include_dir as module_include_dir
from .cluster import Cluster as Cluster
from .config import Config as Config, TlsMode as TlsMode
from .errors import (
    CLASSES as CLASSES,
    Build as Build,
    BinaryNotFound as BinaryNotFound,
    Connection as Connection,
    InvalidArgument as InvalidArgument,
    Io as Io,
    NullArgument as NullArgument,
    Panic as Panic,
    ServerExited as ServerExited,
    Spawn as Spawn,
    Timeout as Timeout,
    Tls as Tls,
    Unsupported as Unsupported,
    VtfError as VtfError,
)
from .replication import Replication as Replication
from .server import Server as Server
from .wait import wait_until as wait_until

#: The version of the loaded libvtf (and of this package: both come from Cargo.toml).
__version__: str = _dec(_lib.vtf_version()) or "0"

# A literal list, so that type checkers see every name (`mypy --strict` reads no
# computed __all__, and then exports nothing that was not imported `as` itself).
__all__ = [
    "Config",
    "TlsMode",
    "Server",
    "Replication",
    "Cluster",
    "build_server",
    "module_include_dir",
    "Sanitizer",
    "wait_until",
    "VtfError",
    "CLASSES",
    "NullArgument",
    "InvalidArgument",
    "BinaryNotFound",
    "Spawn",
    "ServerExited",
    "Timeout",
    "Connection",
    "Tls",
    "Build",
    "Io",
    "Panic",
    "Unsupported",
]

# A status newer than errors.py's classes gets one made at import: export it too.
for _name in _errors.MADE:
    globals()[_name] = getattr(_errors, _name)
    __all__.append(_name)
