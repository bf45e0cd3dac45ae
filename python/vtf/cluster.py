"""vtf.Cluster: a Valkey cluster of shards (mirror of the Rust `Cluster` / C `vtf_cluster`)."""

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
        return cluster

    def _node_at(self, index: int) -> Server:
        """Node `index` without a bounds check against the layout (node() checks)."""
        return nodes_of(self, [lib.vtf_cluster_node(self._p, index)], self.config, self._nodes)[0]

    @property
    def _p(self) -> int:
        if self._ptr is None:
            from .errors import VtfError

            raise VtfError("this Cluster has been closed (its nodes stopped)")
        return self._ptr

    @property
    def node_count(self) -> int:
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
        """Every node in index order (primaries first)."""
        return [self.node(i) for i in range(self.node_count)]

    def primary(self, shard: int) -> Server:
        """The node made primary of `shard` (index `shard`)."""
        self._check_shard(shard)
        return self.node(shard)

    def replica(self, shard: int, replica: int) -> Server:
        """Replica `replica` of `shard` as the cluster was made."""
        self._check_shard(shard)
        if not 0 <= replica < self._replicas:
            raise IndexError(f"replica {replica} of a shard with {self._replicas} replicas")
        return self.node(self._shards + shard * self._replicas + replica)

    @property
    def shards(self) -> List[List[Server]]:
        """Per shard: its primary, then its replicas (by index, as made)."""
        return [
            [self.primary(s)] + [self.replica(s, j) for j in range(self._replicas)] for s in range(self._shards)
        ]

    def _check_shard(self, shard: int) -> None:
        if not 0 <= shard < self._shards:
            raise IndexError(f"shard {shard} of a cluster with {self._shards} shards")

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
