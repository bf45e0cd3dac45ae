"""Running pytest on a small generated suite in a child process, as a user would (helper of the tests)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, List, Optional


def write_suite(directory: Path, files: Dict[str, str]) -> None:
    for name, text in files.items():
        (directory / name).write_text(textwrap.dedent(text))
    # Its own rootdir: the child does not pick up this suite's settings.
    (directory / "pytest.ini").write_text("[pytest]\n")


def pytest_command(directory: Path, *args: str) -> List[str]:
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", str(directory), *args]


def run_pytest(directory: Path, *args: str, timeout: float = 300, env: Optional[Dict[str, str]] = None):
    """Runs the child to its end (bounded by `timeout`), returning the CompletedProcess."""
    return subprocess.run(
        pytest_command(directory, *args),
        cwd=directory,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        env=dict(os.environ, **(env or {})),
    )
