"""vtf: integration tests against real valkey-server processes, from Python.

The Python face of ValkeyTestFramework: servers, replication groups and
clusters (TLS and mutual TLS included) started by libvtf, the same Rust
engine C, C++ and Rust tests use, with valkey-py clients and a pytest plugin
(`vtf.pytest_plugin`, enabled by installing the package).
"""

from . import errors as _errors
from ._ffi import dec as _dec, lib as _lib
from .build import Sanitizer, build_server, module_include_dir
from .cluster import Cluster
from .config import Config, TlsMode
from .errors import *  # noqa: F401,F403  (one class per vtf_status; errors.__all__ names them)
from .ports import Port, reserve_port
from .replication import Replication
from .server import Server
from .wait import wait_until

#: The version of the loaded libvtf (and of this package: both come from Cargo.toml).
__version__: str = _dec(_lib.vtf_version()) or "0"

# A literal list plus errors' own: type checkers read these two forms (not a
# computed list), and export only what __all__ names (`mypy --strict`).
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
    "Port",
    "reserve_port",
]
__all__ += _errors.__all__
