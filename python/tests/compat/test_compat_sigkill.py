"""A SIGKILLed pytest running a vtf.compat suite leaves no server behind, reused servers included."""

import subprocess
import sys
import textwrap
from pathlib import Path

from _subprocess import sigkill_leaves_no_server


def test_sigkilled_pytest_leaves_no_compat_server(tmp_path: Path) -> None:
    pids_file = tmp_path / "pids"
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_hangs.py").write_text(textwrap.dedent(f"""
        import os
        import vtf
        from vtf.compat.conftest import resource_port_tracker
        from vtf.compat.valkey_test_case import ReplicationTestCase

        class TestHangs(ReplicationTestCase):
            def test_holds_servers(self):
                # skip_teardown: only the end of the run stops these (here: the kill).
                primary, _ = self.create_server(testdir=self.testdir, args={{}}, skip_teardown=True)
                replicas = self.setup_replication(num_replicas=1, primary_server=primary, skip_teardown=True)
                pids = [primary.pid(), replicas[0].pid()]
                with open({str(pids_file)!r} + ".tmp", "w") as f:
                    f.write(" ".join(map(str, pids)))
                os.rename({str(pids_file)!r} + ".tmp", {str(pids_file)!r})
                vtf.wait_until(lambda: False, timeout=120, description="being SIGKILLed")
    """))
    sigkill_leaves_no_server(tmp_path, pids_file, servers=2)


def test_failing_compat_test_reports_its_servers_log(tmp_path: Path) -> None:
    """vtf's plugin puts the log tail of a failing vtf.compat test's servers in its report."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_fails.py").write_text(textwrap.dedent("""
        from vtf.compat.conftest import resource_port_tracker
        from vtf.compat.valkey_test_case import ValkeyTestCase

        class TestFails(ValkeyTestCase):
            def test_fails(self):
                self.server, self.client = self.create_server(testdir=self.testdir, args={"maxmemory": "3mb"})
                assert self.client.get("missing") == b"there"
    """))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120,
    )
    assert result.returncode == 1, result.stdout
    assert "1 failed" in result.stdout
    assert "log lines" in result.stdout and "Ready to accept connections" in result.stdout, result.stdout
