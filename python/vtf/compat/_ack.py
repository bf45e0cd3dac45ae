"""Replication waits that ask replicas for their REPLCONF ACK instead of waiting for crons.

After a diskless full sync a primary streams to a replica only from the
replica's first ACK in the online state, and it sees its fork end either on
its cron tick (every 100 ms at the default hz) or on a replica's ACK. An ACK
that comes before the fork has ended is spent for nothing; the replica's next
one comes a second later (its replication cron). Measured on upstream's
examples: a replica came online 80-90 ms late in about half the syncs, and a
first write after the sync waited 0.93 s in about half the runs.

REPLCONF GETACK makes a replica send an ACK at once. It has no reply, so one
connection per replica carries every nudge of a wait and is never read;
it is closed when the wait ends. vtf's own `wait_sync` does the same in Rust.
"""

import re
import time
from typing import Any, Callable, Dict, List, Tuple

from valkey import StrictValkey

from vtf.compat.util.waiters import wait_for_equal, wait_for_true

#: How often one replica is asked again while a wait goes on.
NUDGE_INTERVAL = 0.005


def info_int(client: Any, section: str, field: str) -> int:
    return int(client.info(section=section).get(field, 0))


def same_test_kwargs(client: Any) -> Dict[str, Any]:
    """The TLS settings and credential of `client`'s pool, for a client of another server of the
    same test (vtf's servers of one test process share a password)."""
    kwargs = getattr(getattr(client, "connection_pool", None), "connection_kwargs", {}) or {}
    return {k: v for k, v in kwargs.items() if k.startswith("ssl") or k in ("username", "password")}


class Nudger:
    """Sends REPLCONF GETACK to replicas, at most every NUDGE_INTERVAL each (a context manager)."""

    def __init__(self) -> None:
        self._connections: Dict[Tuple[str, int], Any] = {}
        self._last: Dict[Tuple[str, int], float] = {}

    def __enter__(self) -> "Nudger":
        return self

    def __exit__(self, *exc: Any) -> None:
        for connection in self._connections.values():
            connection.disconnect()
        self._connections.clear()

    def nudge(self, client: Any) -> None:
        """Asks the replica `client` talks to for an ACK (nothing when asked within the interval)."""
        kwargs = client.connection_pool.connection_kwargs
        self._nudge((str(kwargs.get("host")), int(kwargs.get("port", 0))), lambda: client)

    def nudge_at(self, host: str, port: int, same_as: Any) -> None:
        """nudge() for the replica at host:port, with `same_as`'s TLS settings and credential."""
        self._nudge((host, port), lambda: StrictValkey(host=host, port=port, **same_test_kwargs(same_as)))

    def _nudge(self, key: Tuple[str, int], client: Callable[[], Any]) -> None:
        now = time.monotonic()
        if now - self._last.get(key, 0.0) < NUDGE_INTERVAL:
            return
        self._last[key] = now
        try:
            connection = self._connections.get(key)
            if connection is None:
                connection = self._connections[key] = client().connection_pool.make_connection()
                connection.connect()
            connection.send_command("REPLCONF", "GETACK", "*")
        except Exception:  # a replica still loading, or gone: the wait's own checks report it
            dropped = self._connections.pop(key, None)
            if dropped is not None:
                dropped.disconnect()


def wait_for_replica_offset(replica_client: Any, reached: Callable[[int], bool], timeout: float) -> None:
    """Waits until `reached(slave_repl_offset)`, nudging the replica's ACK while it is behind."""
    with Nudger() as nudger:

        def caught_up() -> bool:
            if reached(info_int(replica_client, "replication", "slave_repl_offset")):
                return True
            nudger.nudge(replica_client)
            return False

        wait_for_true(caught_up, timeout=timeout)


def replica_entries(info: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The `slaveN:ip=...,port=...,state=...` entries of a primary's parsed INFO replication."""
    return [v for k, v in info.items() if re.match("^slave[0-9]", k) and isinstance(v, dict)]


def wait_for_replicas_online(primary_client: Any, count: int, timeout: float) -> None:
    """Waits until `count` replicas of the primary are online, nudging every replica not online yet."""
    with Nudger() as nudger:

        def online() -> int:
            entries = replica_entries(primary_client.info(section="replication"))
            waiting = [e for e in entries if e.get("state") != "online"]
            if len(entries) - len(waiting) != count:
                for entry in waiting:
                    if entry.get("ip") and entry.get("port"):
                        nudger.nudge_at(str(entry["ip"]), int(entry["port"]), primary_client)
            return len(entries) - len(waiting)

        wait_for_equal(online, count, timeout=timeout)
