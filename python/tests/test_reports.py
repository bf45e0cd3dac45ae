"""What a failing run shows: a module that fails to load, a failing test's server log tails."""

from pathlib import Path

from _subprocess import run_pytest, write_suite


def test_module_that_fails_to_load_is_reported_with_its_log_line(tmp_path: Path) -> None:
    # A real load failure: the server dlopen()s a file that is no shared object.
    bad = tmp_path / "broken_module.so"
    bad.write_text("this is not an ELF file\n")
    bad.chmod(0o755)
    write_suite(tmp_path, {
        "test_uses_module.py": f"""
            import pytest

            @pytest.mark.valkey(modules=[{str(bad)!r}])
            def test_with_module(valkey_server):
                valkey_server.client().ping()
        """,
    })
    result = run_pytest(tmp_path)
    out = result.stdout
    assert result.returncode == 1, out
    assert "1 error" in out, out
    assert "ServerExited" in out, out
    # The server's own words, from its log, in the report.
    assert "broken_module.so failed to load" in out, out
    assert "Can't load module" in out, out


def test_failing_test_report_has_every_servers_log_tail(tmp_path: Path) -> None:
    write_suite(tmp_path, {
        "test_fails.py": """
            def test_fails(valkey_server, valkey_replication):
                valkey_server.client().set("k", "v")
                print("PORTS", valkey_server.port, valkey_replication.primary.port,
                      valkey_replication.replicas[0].port)
                assert valkey_server.client().get("k") == b"other"

            def test_passes(valkey_server):
                assert valkey_server.client().ping()
        """,
    })
    result = run_pytest(tmp_path)
    out = result.stdout
    assert result.returncode == 1, out
    assert "1 failed, 1 passed" in out, out
    ports = next(line.split()[1:] for line in out.splitlines() if line.startswith("PORTS"))
    for port in ports:
        assert f"valkey-server 127.0.0.1:{port}" in out, (port, out)
    assert out.count("last 30 log lines") == 3, out
    assert "Ready to accept connections" in out, out
