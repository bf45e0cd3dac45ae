"""The type hints hold: mypy --strict over the whole vtf package (vtf.compat included), and over a user's code."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import vtf

PACKAGE = Path(vtf.__file__).resolve().parent


def test_mypy_strict() -> None:
    mypy = shutil.which("mypy") or str(Path(sys.executable).with_name("mypy"))
    if not Path(mypy).exists():
        pytest.skip("SKIPPED LOUDLY: mypy is not installed (scripts/python-venv.sh installs it)")
    # As a user's type checker sees the installed package (py.typed), module by module.
    modules = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        modules.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    args = [a for m in modules for a in ("-m", m)]
    result = subprocess.run([mypy, "--strict", "--ignore-missing-imports", "--no-incremental", *args],
                            cwd=PACKAGE.parent.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout


# What a user's own typed test does with the package: every public name must
# be visible to `mypy --strict` (a computed __all__ once hid them all).
USER_CODE = '''
import vtf
from vtf import Cluster, Config, Replication, Server, TlsMode, VtfError, wait_until


def start(config: Config) -> int:
    try:
        with vtf.Server(config) as server:
            wait_until(server.is_running, timeout=1.0)
            return server.port
    except (vtf.Timeout, vtf.ServerExited, vtf.BinaryNotFound, vtf.Spawn) as e:
        raise RuntimeError(e.message) from e
    except VtfError:
        raise


def names() -> list[object]:
    return [Cluster, Replication, Server, TlsMode, vtf.Sanitizer, vtf.build_server, vtf.module_include_dir,
            vtf.InvalidArgument, vtf.NullArgument, vtf.Connection, vtf.Tls, vtf.Build, vtf.Io,
            vtf.Panic, vtf.Unsupported]
'''


def test_a_users_typed_code_sees_every_public_name(tmp_path: Path) -> None:
    mypy = shutil.which("mypy") or str(Path(sys.executable).with_name("mypy"))
    if not Path(mypy).exists():
        pytest.skip("SKIPPED LOUDLY: mypy is not installed (scripts/python-venv.sh installs it)")
    user = tmp_path / "user_test.py"
    user.write_text(USER_CODE)
    result = subprocess.run([mypy, "--strict", "--no-incremental", str(user)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    assert result.returncode == 0, result.stdout


def test_all_names_every_exception_class() -> None:
    exported = set(vtf.__all__)
    missing = {cls.__name__ for cls in vtf.CLASSES.values()} - exported
    assert not missing, f"exception classes missing from vtf.__all__: {missing}"
    for name in vtf.__all__:
        assert hasattr(vtf, name), f"vtf.__all__ names {name}, which vtf does not have"
