"""valkey-test-framework's `conftest`: the `resource_port_tracker` fixture and its PortTracker.

Suites import the fixture into their test modules
(`from vtf.compat.conftest import resource_port_tracker`), as they did from
upstream's conftest. Under vtf the tracker has little to do: every server vtf
starts reserves its own port (and cluster bus port) across processes for its
lifetime, and `create_server` takes the port vtf gives it. `get_unused_port`
is for code that wants a port of its own: as upstream promises, the port is
not handed to any other process (or vtf server) until the tracker exits, by
way of vtf's own reservation (`vtf.reserve_port`: the port and its bus port,
+10000, below the kernel's ephemeral range). Upstream also keeps port +20294
free (valkey-search's coordinator); vtf does not reserve that one.
"""

from typing import Any, Iterator, List, Optional

import pytest

import vtf


class PortTracker(object):
    """Upstream's port tracker interface (a context manager with `get_unused_port`)."""

    CLUSTER_BUS_PORT_OFFSET = 10000
    SEARCH_COORDINATOR_PORT_OFFSET = 20294

    def __init__(self, node_id: Any = None) -> None:
        self.node_id = node_id
        self._reserved: List[vtf.Port] = []

    @property
    def handed_out(self) -> List[int]:
        """The ports reserved for the suite so far (until the tracker exits)."""
        return [port.number for port in self._reserved]

    def __enter__(self) -> "PortTracker":
        return self

    def __exit__(self, type: Any, value: Any, tb: Any) -> None:
        for port in self._reserved:
            port.close()
        self._reserved.clear()

    def get_unused_port(self) -> int:
        """A port (with its bus port) reserved across processes until the tracker exits."""
        port = vtf.reserve_port()
        self._reserved.append(port)
        return port.number


@pytest.fixture(scope="function", autouse=True)
def resource_port_tracker(request: Any) -> Iterator[PortTracker]:
    """A PortTracker per test (upstream's fixture, same name and scope)."""
    node: Optional[Any] = getattr(request, "node", None)
    with PortTracker(getattr(node, "nodeid", None)) as tracker:
        yield tracker
