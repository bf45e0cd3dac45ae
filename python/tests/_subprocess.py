"""Running pytest on a small generated suite in a child process, as a user would (helper of the tests)."""

import os
import signal
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


def process_gone(pid: int) -> bool:
    """Whether `pid` has exited (a zombie counts: its reaper is init, not us)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def sigkill_leaves_no_server(directory: Path, pids_file: Path, servers: int) -> None:
    """Runs pytest on `directory`, whose one test writes its `servers` servers' pids
    to `pids_file` and then blocks; SIGKILLs that pytest once the pids are there and
    waits (bounded) until every one of those servers has exited."""
    import vtf  # the package under test, installed in this venv

    child = subprocess.Popen(pytest_command(directory), cwd=directory, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        vtf.wait_until(lambda: pids_file.exists() or child.poll() is not None, timeout=60,
                       description="the child pytest writing its servers' pids")
        assert child.poll() is None, "the child pytest ended before it was killed"
        pids = [int(p) for p in pids_file.read_text().split()]
        assert len(pids) == servers and not any(process_gone(p) for p in pids)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        vtf.wait_until(lambda: all(process_gone(p) for p in pids), timeout=30,
                       description=f"servers {pids} exiting after their pytest was SIGKILLed")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
