"""The plugin's run-wide settings: binary, TLS mode and modules from ini keys and the command line."""

import shutil
from pathlib import Path

from _subprocess import run_pytest, write_suite

SUITE = """
    import vtf

    def modules(server):
        return sorted(m[b"name"].decode() for m in server.client().module_list())

    def test_every_server_has_the_settings(valkey_server, valkey_replication, pytestconfig):
        assert valkey_server.client().execute_command("DATATYPE.SET", "k", 1, "v") == b"OK"
        expected_tls = pytestconfig.getoption("valkey_tls") or pytestconfig.getini("valkey_tls")
        for server in [valkey_server] + valkey_replication.servers:
            assert modules(server) == ["datatype"]
            assert server.info_field("server", "executable") == {binary!r}
            assert server.tls_mode == vtf.TlsMode.parse(expected_tls)
            if expected_tls == "mutual":
                assert server.client().config_get("tls-auth-clients")["tls-auth-clients"] == "yes"
"""


def test_ini_keys_and_command_line(tmp_path: Path, datatype_module: Path) -> None:
    binary = shutil.which("valkey-server")
    assert binary, "valkey-server on PATH"
    write_suite(tmp_path, {"test_settings.py": SUITE.format(binary=binary)})
    (tmp_path / "pytest.ini").write_text(f"[pytest]\nvalkey_server = {binary}\nvalkey_tls = mutual\n"
                                         f"valkey_modules =\n    {datatype_module}\n")
    from_ini = run_pytest(tmp_path)
    assert from_ini.returncode == 0, from_ini.stdout
    assert "1 passed" in from_ini.stdout

    # The command line wins over the ini file.
    (tmp_path / "pytest.ini").write_text(f"[pytest]\nvalkey_tls = mutual\n")
    from_options = run_pytest(tmp_path, "--valkey-server", binary, "--valkey-tls", "off",
                              "--valkey-module", str(datatype_module))
    assert from_options.returncode == 0, from_options.stdout
    assert "1 passed" in from_options.stdout
