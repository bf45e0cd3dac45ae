"""vtf.Replication: a primary and its replicas (mirror of the Rust `Replication` / C `vtf_replication`)."""

import ctypes
from typing import Any, Dict, List, Optional

from . import _ffi
from ._ffi import lib
from ._handles import OwnedHandle
from .config import Config
from .server import Server, nodes_of


class Replication(OwnedHandle):
    """A primary and `replicas` replicas of it, returned once every replica is in sync.

    ::

        with vtf.Replication(replicas=2) as group:
            group.primary.client().set("k", "v")
            group.wait_sync()
            assert group.replicas[0].client().get("k") == b"v"

    Closing the group stops every node and removes their directories.
    """

    def __init__(
        self,
        config: Optional[Config] = None,
        replicas: int = 1,
        replica_config: Optional[Config] = None,
    ) -> None:
        """Starts the group; `replica_config` (default: `config`) is used for the replicas,
        including those that add_replica() starts later."""
        self.config = config if config is not None else Config()
        self.replica_config = replica_config if replica_config is not None else self.config
        self._nodes: Dict[int, Server] = {}
        with self.config._handle() as primary:
            if replica_config is None:
                ptr = _ffi.call_out(lib.vtf_replication_create, primary, int(replicas))
            else:
                with replica_config._handle() as replica:
                    ptr = _ffi.call_out(lib.vtf_replication_create_with, primary, replica, int(replicas))
        self._own(ptr, lib.vtf_replication_free)

    @property
    def _p(self) -> int:
        if self._ptr is None:
            raise _closed(self)
        return self._ptr

    def _node(self, ptr: int, config: Config) -> Server:
        return nodes_of(self, [ptr], config, self._nodes)[0]

    @property
    def primary(self) -> Server:
        """The current primary (after promote(), the promoted replica)."""
        return self._node(lib.vtf_replication_primary(self._p), self.config)

    def replica(self, index: int) -> Server:
        if not 0 <= index < self.replica_count:
            raise IndexError(f"replica {index} of a group with {self.replica_count} replicas")
        return self._node(lib.vtf_replication_replica(self._p, index), self.replica_config)

    @property
    def replica_count(self) -> int:
        return int(lib.vtf_replication_replica_count(self._p))

    @property
    def replicas(self) -> List[Server]:
        """The replicas in index order."""
        return [self.replica(i) for i in range(self.replica_count)]

    @property
    def servers(self) -> List[Server]:
        """Every node: the primary first, then the replicas."""
        return [self.primary] + self.replicas

    def wait_sync(self, timeout: float = 10.0) -> None:
        """Waits until every running replica has processed the primary's offset as it is now;
        Timeout names the lagging replica, both offsets and its log."""
        _ffi.check(lib.vtf_replication_wait_sync(self._p, _ffi.ms(timeout, "wait_sync")))

    def promote(self, index: int) -> None:
        """Makes replica `index` the primary; the old primary takes its index as a replica."""
        _ffi.check(lib.vtf_replication_promote(self._p, int(index)))

    def add_replica(self) -> Server:
        """Starts one more replica (from the replica config) and returns it once in sync."""
        index = ctypes.c_size_t()
        _ffi.check(lib.vtf_replication_add_replica(self._p, ctypes.byref(index)))
        return self.replica(int(index.value))

    def _before_free(self) -> None:
        for node in self._nodes.values():
            node._before_free()

    def __enter__(self) -> "Replication":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        if self.closed:
            return "<vtf.Replication closed>"
        return f"<vtf.Replication primary={self.primary.address} replicas={self.replica_count}>"


def _closed(what: Any) -> Exception:
    from .errors import VtfError

    return VtfError(f"this {type(what).__name__} has been closed (its servers stopped)")
