"""Shared fixtures of the Python face's own tests: a real module (Valkey's `datatype` test module)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def datatype_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Valkey's tests/modules/datatype.c (a module type with RDB save/load), compiled once."""
    base = Path(os.environ.get("VTF_SOURCE_DIR") or REPO / "target" / "valkey-src")
    source = base / "valkey" / "tests" / "modules" / "datatype.c"
    if not source.is_file():
        pytest.skip(f"SKIPPED LOUDLY: {source} is missing; scripts/fetch-valkey-source.sh fetches it "
                    "(scripts/test.sh runs it first) or set VTF_SOURCE_DIR")
    cc = shutil.which("cc") or shutil.which("gcc")
    assert cc, "a C compiler (cc) is needed to build the datatype test module"
    out = tmp_path_factory.mktemp("modules") / "datatype.so"
    subprocess.run([cc, "-shared", "-fPIC", "-std=gnu11", "-O1", "-w", "-I", str(source.parents[2] / "src"),
                    "-o", str(out), str(source)], check=True, timeout=120)
    return out
