"""The package stays Python 3.9 compatible even when this run uses a newer Python."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import vtf

SOURCES = sorted(Path(vtf.__file__).resolve().parent.rglob("*.py"))


def test_every_module_parses_as_python_3_9() -> None:
    assert len(SOURCES) >= 8
    for path in SOURCES:
        # feature_version rejects 3.10+ grammar (match, parenthesized context managers...).
        ast.parse(path.read_text(), filename=str(path), feature_version=(3, 9))


def test_vermin_finds_nothing_newer_than_3_9() -> None:
    vermin = shutil.which("vermin") or str(Path(sys.executable).with_name("vermin"))
    if not Path(vermin).exists():
        pytest.skip("SKIPPED LOUDLY: vermin is not installed (scripts/test.sh installs it into target/venv)")
    result = subprocess.run(
        [vermin, "--no-tips", "--eval-annotations", "--target=3.9-", "--violations", *map(str, SOURCES)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout
