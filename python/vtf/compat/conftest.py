"""valkey-test-framework's `conftest`: the `resource_port_tracker` fixture and its PortTracker.

Suites import the fixture into their test modules
(`from vtf.compat.conftest import resource_port_tracker`), as they did from
upstream's conftest. Under vtf the tracker has little to do: every server vtf
starts reserves its own port (and cluster bus port) across processes for its
lifetime, and `create_server` takes the port vtf gives it. `get_unused_port`
still answers, for code that wants a port of its own: one the kernel reports
free on 127.0.0.1 when asked (not reserved across processes).
"""

import socket
from typing import Any, Iterator, List, Optional

import pytest


class PortTracker(object):
    """Upstream's port tracker interface (a context manager with `get_unused_port`)."""

    CLUSTER_BUS_PORT_OFFSET = 10000
    SEARCH_COORDINATOR_PORT_OFFSET = 20294

    def __init__(self, node_id: Any = None) -> None:
        self.node_id = node_id
        self.handed_out: List[int] = []

    def __enter__(self) -> "PortTracker":
        return self

    def __exit__(self, type: Any, value: Any, tb: Any) -> None:
        self.handed_out.clear()

    def get_unused_port(self) -> int:
        """A port free on 127.0.0.1 at the time of the call."""
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        self.handed_out.append(port)
        return port


@pytest.fixture(scope="function", autouse=True)
def resource_port_tracker(request: Any) -> Iterator[PortTracker]:
    """A PortTracker per test (upstream's fixture, same name and scope)."""
    node: Optional[Any] = getattr(request, "node", None)
    with PortTracker(getattr(node, "nodeid", None)) as tracker:
        yield tracker
