"""The native API's type hints hold: mypy --strict over the vtf package (vtf.compat aside)."""

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
    modules = [f"vtf.{p.stem}" if p.stem != "__init__" else "vtf" for p in sorted(PACKAGE.glob("*.py"))]
    args = [a for m in modules for a in ("-m", m)]
    result = subprocess.run([mypy, "--strict", "--ignore-missing-imports", "--no-incremental", *args],
                            cwd=PACKAGE.parent.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout
