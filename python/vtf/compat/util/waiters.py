"""The waiters of valkey-test-framework (`util.waiters`), on vtf's own polling.

Same names and arguments as upstream: `wait_for_equal`, `wait_for_true`,
`wait_for_false`, `wait_for_ne`, the `@wait(...)` decorator, `WaitTimeout`
and `TEST_MAX_WAIT_TIME_SECONDS`. The difference is how they wait: upstream
sleeps as long as it has already waited (up to 1 s), so a condition that holds
after 300 ms is seen after up to 600 ms; vtf.wait_until polls with short,
growing intervals (from 0.2 ms, a tenth of the time waited), so a wait ends
soon after its condition holds.
"""

import logging
import operator
import os
import time  # noqa: F401  (suites that `import *` from here use it, as upstream's exports it)
import traceback
from functools import wraps
from typing import Any, Callable, Optional, Type

import vtf

# The maximum wait time for operations in the tests (upstream's value).
TEST_MAX_WAIT_TIME_SECONDS = 90
if os.environ.get("ASAN_BUILD") is not None:
    TEST_MAX_WAIT_TIME_SECONDS = 180


class WaitTimeout(vtf.Timeout):
    """A waiter ran out of time; the message says what was expected and what was seen.

    A subclass of vtf.Timeout, so `except WaitTimeout` (upstream) and
    `except vtf.Timeout` / `vtf.VtfError` (vtf) both catch it.
    """

    status_name = "VTF_ERR_TIMEOUT"

    def __init__(self, message: str) -> None:
        super().__init__(message)


class wait(object):
    """Decorator: retries the decorated function until it returns true (keyword arguments as `wait_for_true`)."""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs

    def __call__(self, func: Callable[..., Any]) -> Callable[..., None]:
        @wraps(func)
        def func_wrapper(*args: Any, **kwargs: Any) -> None:
            wait_for_true(lambda: func(*args, **kwargs), **self.kwargs)

        return func_wrapper


_UNSEEN = object()


def _wait_for(
    func: Callable[[], Any],
    expected_value: Any = True,
    op: Callable[[Any, Any], Any] = operator.eq,
    on_failure: Optional[Callable[[], Any]] = None,
    timeout: float = TEST_MAX_WAIT_TIME_SECONDS,
    ignore_exception: Optional[Type[BaseException]] = None,
) -> bool:
    """Polls `func()` until `op(value, expected_value)` holds; raises WaitTimeout after `timeout` s.

    An exception from `func` ends the wait at once, unless it is an
    `ignore_exception`, which counts as the value seen and the wait goes on.
    """
    last: Any = _UNSEEN

    def holds() -> bool:
        nonlocal last
        try:
            last = func()
        except Exception as e:
            if ignore_exception is not None and isinstance(e, ignore_exception):
                last = e
                logging.getLogger("wait.log").debug(traceback.format_exc())
                return False
            raise
        return bool(op(last, expected_value))

    try:
        vtf.wait_until(holds, timeout=max(float(timeout), 0.0), description="a valkey-test-framework waiter")
    except vtf.Timeout:
        if on_failure is not None:
            on_failure()
        seen = None if last is _UNSEEN else last
        if op == operator.eq:
            raise WaitTimeout(f"Expected value to be: {expected_value}, actual value is: {seen}") from None
        raise WaitTimeout(
            f'Expected operation "{getattr(op, "__name__", op)}" on lhs: {seen} and rhs: {expected_value} to be True'
        ) from None
    return True


def wait_for_equal(func: Callable[[], Any], expected_value: Any, **kwargs: Any) -> None:
    """Waits for `func()` to return `expected_value`."""
    _wait_for(func, expected_value, **kwargs)


def wait_for_true(func: Callable[[], Any], **kwargs: Any) -> None:
    """Waits for `func()` to return True."""
    _wait_for(func, **kwargs)


def wait_for_false(func: Callable[[], Any], **kwargs: Any) -> None:
    """Waits for `func()` to return something other than True (upstream's definition)."""
    _wait_for(func, expected_value=True, op=operator.ne, **kwargs)


def wait_for_ne(func: Callable[[], Any], expected_value: Any, **kwargs: Any) -> None:
    """Waits for `func()` to return a value other than `expected_value`."""
    _wait_for(func, expected_value=expected_value, op=operator.ne, **kwargs)
