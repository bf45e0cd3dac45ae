"""vtf.wait_until: poll a condition with a deadline (mirror of `vtf_wait_until`); the only way tests wait."""

from typing import Callable, List, Optional

from . import _ffi
from ._ffi import enc, lib


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, description: Optional[str] = None) -> None:
    """Calls `condition()` until it returns true, for at most `timeout` seconds.

    Raises vtf.Timeout naming `description`; an exception raised by the
    condition ends the wait and propagates as it is.
    """
    raised: List[BaseException] = []

    def poll(_user_data: Optional[int]) -> bool:
        try:
            return bool(condition())
        except BaseException as e:  # carried across the C frame, re-raised below
            raised.append(e)
            return True

    callback = _ffi.condition_t(poll)
    status = lib.vtf_wait_until(callback, None, _ffi.ms(timeout, "wait_until"), enc(description))
    if raised:
        raise raised[0]
    _ffi.check(status)
