"""The plugin under pytest-xdist: 4 workers starting servers at once, no port collisions."""

import json
from pathlib import Path

from _subprocess import run_pytest, write_suite


def test_four_workers_start_servers_without_collisions(tmp_path: Path) -> None:
    record = tmp_path / "records"
    record.mkdir()
    write_suite(tmp_path, {
        "test_many.py": f"""
            import json, os
            import pytest

            @pytest.mark.parametrize("n", range(16))
            def test_server(valkey_server_factory, n):
                servers = [valkey_server_factory() for _ in range(2)]
                for s in servers:
                    s.client().set("n", n)
                    assert s.client().get("n") == str(n).encode()
                entry = dict(worker=os.environ.get("PYTEST_XDIST_WORKER"),
                             ports=[s.port for s in servers], pids=[s.pid for s in servers])
                with open(os.path.join({str(record)!r}, f"{{n}}.json"), "w") as f:
                    json.dump(entry, f)

            @pytest.mark.valkey(shards=3)
            def test_cluster(valkey_cluster):
                valkey_cluster.client().set("k", "v")
        """,
    })
    result = run_pytest(tmp_path, "-n", "4")
    out = result.stdout
    assert result.returncode == 0, out
    assert "17 passed" in out, out
    entries = [json.loads(p.read_text()) for p in sorted(record.iterdir())]
    assert len(entries) == 16
    assert len({e["worker"] for e in entries}) >= 2, "the tests really ran on several workers"
    assert all(e["worker"] and e["worker"].startswith("gw") for e in entries)
