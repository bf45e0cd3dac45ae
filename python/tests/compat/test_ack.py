"""vtf.compat's ACK nudges (vtf/compat/_ack.py) reach the replica, authenticated, and go away with the wait."""

from typing import Any, List

import vtf
from vtf.compat._ack import Nudger


def _nudge_clients(replica: vtf.Server) -> List[str]:
    """CLIENT LIST lines of the replica's clients whose last command was REPLCONF (the nudges)."""
    lines = replica.client().execute_command("CLIENT", "LIST")
    text = lines.decode() if isinstance(lines, bytes) else str(lines)
    return [line for line in text.splitlines() if "cmd=replconf" in line and "flags=M" not in line]


def _check(nudge: Any, replica: vtf.Server) -> None:
    with Nudger() as nudger:
        nudge(nudger)
        # GETACK has no reply: the replica's CLIENT LIST shows it was run, on an authenticated connection.
        vtf.wait_until(lambda: len(_nudge_clients(replica)) == 1, timeout=10, description="the nudge to reach the replica")
    vtf.wait_until(lambda: not _nudge_clients(replica), timeout=10, description="the nudge connection to close")


def test_a_nudge_by_client_reaches_the_replica_and_closes(valkey_replication: vtf.Replication) -> None:
    replica = valkey_replication.replicas[0]
    _check(lambda nudger: nudger.nudge(replica.client()), replica)


def test_a_nudge_by_address_uses_the_primarys_credential(valkey_replication: vtf.Replication) -> None:
    primary, replica = valkey_replication.primary, valkey_replication.replicas[0]
    _check(lambda nudger: nudger.nudge_at(replica.host, replica.port, primary.client()), replica)
