"""Shared set-up of the vtf.compat tests: the suites' `testdir` goes to a temporary directory.

Upstream creates `test-data/` in the working directory; here that would be the
repository's tree.
"""

from typing import Any, Iterator

import pytest

from vtf.compat.valkey_test_case import ValkeyTestCaseBase


@pytest.fixture(autouse=True, scope="session")
def _compat_testdir(tmp_path_factory: Any) -> Iterator[None]:
    saved = ValkeyTestCaseBase.testdir
    ValkeyTestCaseBase.testdir = str(tmp_path_factory.mktemp("test-data"))
    yield
    ValkeyTestCaseBase.testdir = saved
