"""A SIGKILLed pytest leaves no server behind (vtf's spawner kills its children with the process)."""

import os
import signal
import subprocess
from pathlib import Path

import vtf
from _subprocess import pytest_command, write_suite


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")  # a zombie is dead; its reaper is init, not us


def test_sigkilled_pytest_leaves_no_server(tmp_path: Path) -> None:
    pids_file = tmp_path / "pids"
    write_suite(tmp_path, {
        "test_hangs.py": f"""
            import os, time
            import vtf

            def test_holds_servers(valkey_server, valkey_replication):
                pids = [valkey_server.pid] + [s.pid for s in valkey_replication.servers]
                with open({str(pids_file)!r} + ".tmp", "w") as f:
                    f.write(" ".join(map(str, pids)))
                os.rename({str(pids_file)!r} + ".tmp", {str(pids_file)!r})
                # Held until the parent kills us; bounded so that nothing waits forever.
                vtf.wait_until(lambda: False, timeout=120, description="being SIGKILLed")
        """,
    })
    child = subprocess.Popen(pytest_command(tmp_path), cwd=tmp_path, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        vtf.wait_until(lambda: pids_file.exists() or child.poll() is not None, timeout=60,
                       description="the child pytest writing its servers' pids")
        assert child.poll() is None, "the child pytest ended before it was killed"
        pids = [int(p) for p in pids_file.read_text().split()]
        assert len(pids) == 3 and all(not _gone(p) for p in pids)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        vtf.wait_until(lambda: all(_gone(p) for p in pids), timeout=30,
                       description=f"servers {pids} exiting after their pytest was SIGKILLed")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
