"""A SIGKILLed pytest leaves no server behind (vtf's spawner kills its children with the process)."""

from pathlib import Path

from _subprocess import sigkill_leaves_no_server, write_suite


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
    sigkill_leaves_no_server(tmp_path, pids_file, servers=3)
