"""vtf.reserve_port: a port for a program the test starts itself, locked the way vtf's server ports are."""

import fcntl
import os
import socket
import tempfile

import vtf


def _lock_is_free(port: int) -> bool:
    """Whether a new open file description gets the port's lock now (one held by this
    process blocks it exactly as one held by another process would)."""
    directory = os.environ.get("VTF_PORT_LOCK_DIR") or os.path.join(tempfile.gettempdir(), "vtf-ports")
    fd = os.open(os.path.join(directory, f"{port}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def _ephemeral_low() -> int:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        return int(f.read().split()[0])


def test_a_reserved_port_is_locked_listenable_and_released_on_close() -> None:
    with vtf.reserve_port() as first, vtf.reserve_port() as second:
        assert first.number != second.number
        assert first.bus_port == first.number + 10000
        assert first.bus_port < _ephemeral_low() and second.bus_port < _ephemeral_low()
        for port in (first.number, first.bus_port, second.number, second.bus_port):
            assert not _lock_is_free(port), f"port {port} is not locked while reserved"
        with socket.socket() as listener:  # the test's own program can listen on it
            listener.bind(("127.0.0.1", first.number))
            listener.listen(1)
        with vtf.Server() as server:
            assert server.port not in (first.number, second.number)
        number = first.number
        first.close()
        first.close()  # idempotent
        assert first.number == number and "released" in repr(first)
        assert _lock_is_free(number) and _lock_is_free(number + 10000)
        assert not _lock_is_free(second.number)
    assert _lock_is_free(second.number)
