"""vtf.Cluster: a Valkey cluster of shards (mirror of the Rust `Cluster` / C `vtf_cluster`)."""

import ctypes
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from . import _ffi
from ._ffi import lib
from ._handles import OwnedHandle
from .config import Config
from .server import Server, nodes_of

if TYPE_CHECKING:  # pragma: no cover
    import valkey.cluster


class Cluster(OwnedHandle):
    """`shards` primaries with `replicas` replicas each, returned once every node reports
    cluster_state:ok, all agree on slots and roles, and every replica is in sync.

    Node indices: primaries first (shard order), then replica j of shard s at
    `shards + s * replicas + j`. After failover() every process keeps its index;
    the new roles show in CLUSTER NODES.
    """

    def __init__(self, config: Optional[Config] = None, shards: int = 3, replicas: int = 0) -> None:
        self.config = config if config is not None else Config()
        self._shards = int(shards)
        self._replicas = int(replicas)
        self._layout = _created_layout(self._shards, self._replicas)
        self._nodes: Dict[int, Server] = {}
        self._clients: List[Any] = []
        with self.config._handle() as handle:
            ptr = _ffi.call_out(lib.vtf_cluster_create, handle, self._shards, self._replicas)
        self._own(ptr, lib.vtf_cluster_free)

    @classmethod
    def attach(cls, host: str, port: int, config: Optional[Config] = None) -> "Cluster":
        """A handle on a cluster vtf did not start, found from any node (vtf_cluster_attach).
        Nodes are laid out as a created cluster's; closing it closes connections only."""
        from .config import _optional

        attach = _optional("vtf_cluster_attach")
        cluster = cls.__new__(cls)
        cluster.config = config if config is not None else Config()
        cluster._nodes = {}
        cluster._clients = []
        with cluster.config._handle() as handle:
            ptr = _ffi.call_out(attach, handle, _ffi.enc(host), int(port))
        cluster._own(ptr, lib.vtf_cluster_free)
        count = int(lib.vtf_cluster_node_count(ptr))
        if _ffi.has("vtf_cluster_shard_count"):
            cluster._shards = int(lib.vtf_cluster_shard_count(ptr))
        else:  # primaries come first in the layout
            roles = [cluster._node_at(i).info_field("replication", "role") for i in range(count)]
            cluster._shards = roles.count("master")
        cluster._replicas = (count - cluster._shards) // max(cluster._shards, 1)
        cluster._layout = _created_layout(cluster._shards, cluster._replicas)
        return cluster

    def _node_at(self, index: int) -> Server:
        """Node `index`; a vacant index (its shard removed) raises vtf's error."""
        return nodes_of(self, [lib.vtf_cluster_node(self._p, index)], self.config, self._nodes)[0]

    @property
    def _p(self) -> int:
        if self._ptr is None:
            from .errors import VtfError

            raise VtfError("this Cluster has been closed (its nodes stopped)")
        return self._ptr

    @property
    def node_count(self) -> int:
        """Node indices in use or vacant (a removed shard leaves its indices vacant)."""
        return int(lib.vtf_cluster_node_count(self._p))

    @property
    def shard_count(self) -> int:
        if _ffi.has("vtf_cluster_shard_count"):
            return int(lib.vtf_cluster_shard_count(self._p))
        return self._shards

    @property
    def replicas_per_shard(self) -> int:
        return self._replicas

    def node(self, index: int) -> Server:
        if not 0 <= index < self.node_count:
            raise IndexError(f"node {index} of a cluster with {self.node_count} nodes")
        return self._node_at(index)

    @property
    def nodes(self) -> List[Server]:
        """Every node in index order (primaries of the first shards first), vacant indices skipped."""
        return [self.node(i) for i in sorted(i for members in self._layout if members for i in members)]

    def shard(self, number: int) -> List[Server]:
        """Shard `number`'s nodes as made: its primary, then its replicas."""
        return [self.node(i) for i in self._members(number)]

    def primary(self, shard: int) -> Server:
        """The node made primary of `shard` (after failover() it may be a replica: see CLUSTER NODES)."""
        return self.node(self._members(shard)[0])

    def replica(self, shard: int, replica: int) -> Server:
        """Replica `replica` of `shard` as made."""
        members = self._members(shard)
        if not 0 <= replica < len(members) - 1:
            raise IndexError(f"replica {replica} of shard {shard}, which has {len(members) - 1} replicas")
        return self.node(members[1 + replica])

    @property
    def shards(self) -> List[List[Server]]:
        """Per shard in the cluster now (removed ones skipped): its primary, then its replicas."""
        return [self.shard(n) for n, members in enumerate(self._layout) if members]

    def _members(self, shard: int) -> List[int]:
        if not 0 <= shard < len(self._layout):
            raise IndexError(f"shard {shard} of a cluster whose shards are numbered 0..{len(self._layout) - 1}")
        members = self._layout[shard]
        if members is None:
            raise IndexError(f"shard {shard} was removed from the cluster")
        return members

    # -- operations (issue 16): each returns once every node agrees

    def move_slots(self, first_slot: int, last_slot: int, to_shard: int) -> None:
        """Moves slots first_slot..=last_slot with their keys to shard `to_shard`; clients may write meanwhile."""
        from .config import _optional

        _ffi.check(_optional("vtf_cluster_move_slots")(self._p, int(first_slot), int(last_slot), int(to_shard)))

    def add_shard(self, replicas: int = 0) -> int:
        """Starts and joins a shard of one primary and `replicas` replicas (no slots until some are
        moved to it); its nodes get the next indices, primary first. Returns the shard's number."""
        from .config import _optional

        before = self.node_count
        out = ctypes.c_size_t()
        _ffi.check(_optional("vtf_cluster_add_shard")(self._p, int(replicas), ctypes.byref(out)))
        number = int(out.value)
        while len(self._layout) <= number:
            self._layout.append(None)
        self._layout[number] = list(range(before, self.node_count))
        return number

    def remove_shard(self, shard: int) -> None:
        """Moves the shard's slots and keys to the others, then stops its nodes; their indices become vacant."""
        from .config import _optional

        self._members(shard)  # a clear IndexError for a shard that is not there
        _ffi.check(_optional("vtf_cluster_remove_shard")(self._p, int(shard)))
        # Node objects kept for its indices fail from now on (vtf's borrowed handles do).
        self._layout[shard] = None

    def wait_ok(self, timeout: float = 10.0) -> None:
        """Waits until the running nodes agree again (state ok, same slots and roles, replicas in sync)."""
        _ffi.check(lib.vtf_cluster_wait_ok(self._p, _ffi.ms(timeout, "wait_ok")))

    def failover(self, shard: int) -> None:
        """Promotes the shard's first running replica (CLUSTER FAILOVER) and waits until every node agrees."""
        _ffi.check(lib.vtf_cluster_failover(self._p, int(shard)))

    def client(self, **kwargs: Any) -> "valkey.cluster.ValkeyCluster":
        """A valkey-py cluster client (routes by slot, follows MOVED/ASK), set up for TLS and password.

        Keyword arguments go to `valkey.cluster.ValkeyCluster` and win over vtf's.
        """
        from valkey.cluster import ValkeyCluster

        options = self.node(0).client_kwargs()
        options.update(kwargs)
        # Any: older valkey-py stubs call the class abstract (connection_pool), newer do not.
        make: Any = ValkeyCluster
        client: "valkey.cluster.ValkeyCluster" = make(**options)
        self._clients.append(client)
        return client

    def _before_free(self) -> None:
        for client in self._clients:
            try:
                client.close()
            except Exception:
                pass
        for node in self._nodes.values():
            node._before_free()

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        if self.closed:
            return "<vtf.Cluster closed>"
        return f"<vtf.Cluster {self._shards}x{self._replicas} first={self.node(0).address}>"


def _created_layout(shards: int, replicas: int) -> List[Optional[List[int]]]:
    """Node indices per shard as vtf_cluster_create lays them out: primaries first, then replicas."""
    return [[s] + [shards + s * replicas + j for j in range(replicas)] for s in range(shards)]
