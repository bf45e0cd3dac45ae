"""Ports reserved across processes (vtf::ports), for programs a test starts itself.

A `vtf.Port` holds a port and its cluster bus port (+10000), below the
kernel's ephemeral range, locked in the same machine-wide lock files every
vtf server's port is: no vtf server, no other reservation (in this process,
another pytest-xdist worker or another suite) gets them until it is closed.

    with vtf.reserve_port() as port:
        subprocess.Popen(["my-proxy", "--listen", str(port.number)])
"""

from typing import Any

from . import _ffi
from ._ffi import lib
from ._handles import OwnedHandle

#: The cluster bus of a server on port P listens on P + BUS_OFFSET.
BUS_OFFSET = 10000


class Port(OwnedHandle):
    """A reserved port; `close()` (or the end of `with`) releases it."""

    def __init__(self) -> None:
        """Reserves a free port whose bus port is free too."""
        self._own(_ffi.call_out(lib.vtf_port_reserve), lib.vtf_port_free)
        self._number = int(lib.vtf_port_number(self._ptr))

    @property
    def number(self) -> int:
        """The port (still known after close, when it is no longer reserved)."""
        return self._number

    @property
    def bus_port(self) -> int:
        """number + 10000, reserved with it."""
        return self._number + BUS_OFFSET

    def __enter__(self) -> "Port":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "released" if self.closed else "reserved"
        return f"<vtf.Port {self._number} ({state})>"


def reserve_port() -> Port:
    """A new `Port`: reserves a free port (and its bus port) until it is closed."""
    return Port()
