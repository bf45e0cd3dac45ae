"""Ownership of libvtf handles: each is freed exactly once (close, `with`, garbage collection or exit).

Freeing stops the processes and removes their directories. The kernel already
kills servers whose test process dies (vtf's spawner sets PR_SET_PDEATHSIG); this
adds an orderly stop at interpreter exit, so directories do not pile up either.
"""

import atexit
import os
import threading
import weakref
from typing import Callable, Optional

_live: "weakref.WeakSet[OwnedHandle]" = weakref.WeakSet()
# Reentrant: a garbage-collected handle may be closed while this thread holds the lock.
_lock = threading.RLock()


class OwnedHandle:
    """A C handle with its free function; subclasses are Server, Replication, Cluster and Port."""

    _ptr: Optional[int] = None
    _free: Optional[Callable[[int], None]] = None
    _pid: int = 0

    def _own(self, ptr: int, free: Callable[[int], None]) -> None:
        self._ptr = ptr
        self._free = free
        # A forked child inherits the handle but not the processes: it must not stop them.
        self._pid = os.getpid()
        with _lock:
            _live.add(self)

    @property
    def closed(self) -> bool:
        """Whether the handle has been freed (its processes stopped, directories removed)."""
        return self._ptr is None

    def close(self) -> None:
        """Stops every process of this handle and removes its directories; idempotent."""
        with _lock:
            ptr, free = self._ptr, self._free
            self._ptr = None
            _live.discard(self)
        if ptr is not None and free is not None and self._pid == os.getpid():
            self._before_free()
            free(ptr)

    def _before_free(self) -> None:
        """Hook: close clients before their servers go."""

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: the library may be half torn down
            pass


@atexit.register
def _close_all() -> None:
    for handle in list(_live):
        try:
            handle.close()
        except Exception:
            pass
