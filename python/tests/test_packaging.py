"""The build backend: an sdist that carries the crate builds libvtf on its own; the wheel's contents."""

import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BACKEND = REPO / "python" / "_build"


def _backend():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(BACKEND))
    try:
        import vtf_backend

        return vtf_backend
    finally:
        sys.path.remove(str(BACKEND))


def test_sdist_carries_the_crate_and_cargo_accepts_it(tmp_path: Path) -> None:
    cargo = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    if not Path(cargo).exists():
        pytest.skip("SKIPPED LOUDLY: no cargo on this machine")
    name = _backend().build_sdist(str(tmp_path))
    with tarfile.open(tmp_path / name) as tar:
        if hasattr(tarfile, "data_filter"):  # 3.12+, and 3.9.17+ / 3.11.4+: no links out, no odd modes
            tar.extractall(tmp_path / "unpacked", filter="data")
        else:
            tar.extractall(tmp_path / "unpacked")
    root = next((tmp_path / "unpacked").iterdir())
    for needed in ["PKG-INFO", "pyproject.toml", "_build/vtf_backend.py", "vtf/__init__.py", "vtf/_ffi.py",
                   "vtf/pytest_plugin.py", "rust/Cargo.toml", "rust/Cargo.lock", "rust/src/lib.rs",
                   "rust/src/ffi/mod.rs"]:
        assert (root / needed).is_file(), needed
    assert "Name: valkey-test-framework" in (root / "PKG-INFO").read_text()
    # Cargo reads the unpacked crate and its lock file alone, offline (a full
    # build of an sdist was checked by hand: docs/python.md).
    result = subprocess.run(
        [cargo, "metadata", "--locked", "--offline", "--no-deps", "--format-version", "1",
         "--manifest-path", str(root / "rust" / "Cargo.toml")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout
    assert '"name":"valkey-test-framework"' in result.stdout.replace(" ", "")


def test_installed_wheel_has_the_library_and_the_plugin_entry_point() -> None:
    import importlib.metadata as metadata

    import vtf

    assert (Path(vtf.__file__).parent / "libvtf.so").is_file()
    dist = metadata.distribution("valkey-test-framework")
    assert dist.version == vtf.__version__
    plugins = [e for e in dist.entry_points if e.group == "pytest11"]
    assert [(e.name, e.value) for e in plugins] == [("vtf", "vtf.pytest_plugin")]
    assert any(r.startswith("valkey") for r in dist.requires or [])
    assert (Path(vtf.__file__).parent / "py.typed").is_file()
