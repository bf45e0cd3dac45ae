"""The PEP 517 build backend of the Python package: cargo builds libvtf, we pack the wheel.

Why not maturin: its bindings are pyo3, cffi, uniffi or bin; none packs a plain
C-ABI cdylib for ctypes as it is. This backend needs nothing but the standard
library and cargo, so `pip install ./python` works offline once Rust is there.
The library comes from the repository's own Cargo.toml (../Cargo.toml), so the
wheel carries exactly the libvtf that C users link.
"""

import base64
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
PACKAGE_ROOT = HERE.parent  # python/ (or the unpacked sdist)
# The Rust crate: the repository around python/, or its copy inside an sdist.
REPO_ROOT = PACKAGE_ROOT / "rust" if (PACKAGE_ROOT / "rust" / "Cargo.toml").is_file() else PACKAGE_ROOT.parent
# What of the crate an sdist carries: enough for `cargo build --lib --locked`.
CRATE_FILES = ["Cargo.toml", "Cargo.lock", "README.md", "cbindgen.toml", "src", "include"]
DIST_NAME = "valkey_test_framework"
SUMMARY = (
    "Integration tests against real valkey-server processes from Python: "
    "servers, replication, clusters, TLS and a pytest plugin, on vtf's Rust engine"
)
# libvalkey: valkey-py then packs commands and parses replies in C (libvalkey, the
# Valkey project's hiredis); suites that move many keys spend most of their time there.
REQUIRES = ["valkey[libvalkey]>=6.0"]
EXTRAS = {"test": ["pytest>=7", "pytest-xdist>=3"]}
LIBRARY = "libvtf.so"


def _version() -> str:
    """The crate's version: one number for the Rust, C and Python faces."""
    text = (REPO_ROOT / "Cargo.toml").read_text()
    match = re.search(r'^version\s*=\s*"([^"]+)"', text, re.MULTILINE)
    if not match:
        raise RuntimeError(f"no version in {REPO_ROOT / 'Cargo.toml'}")
    return match.group(1)


def _cargo() -> str:
    found = shutil.which("cargo")
    if found:
        return found
    home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo")) / "bin" / "cargo"
    if home.exists():
        return str(home)
    raise RuntimeError(
        "building valkey-test-framework needs cargo (Rust 1.89+) to compile libvtf from "
        f"{REPO_ROOT / 'Cargo.toml'}: not on PATH nor in {home.parent}; install Rust "
        "(https://rustup.rs) and run pip again"
    )


def _build_library() -> Path:
    """Runs cargo and returns the path of the built cdylib."""
    profile = os.environ.get("VTF_CARGO_PROFILE", "release")
    command = [
        _cargo(),
        "build",
        "--lib",
        "--locked",
        "--profile",
        profile,
        "--message-format=json-render-diagnostics",
        "--manifest-path",
        str(REPO_ROOT / "Cargo.toml"),
    ]
    print("vtf: " + " ".join(command), file=sys.stderr, flush=True)
    # Diagnostics go to stderr as cargo renders them; stdout carries the JSON.
    proc = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"cargo build of libvtf failed (exit {proc.returncode}): {' '.join(command)}")
    for line in proc.stdout.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if message.get("reason") != "compiler-artifact":
            continue
        if message.get("target", {}).get("name") != "vtf":
            continue
        for filename in message.get("filenames", []):
            if filename.endswith(".so"):
                return Path(filename)
    raise RuntimeError("cargo build succeeded but reported no libvtf.so artifact")


def _stripped(library: Path) -> bytes:
    """The library without debug info (30 MB -> a few) when `strip` is there; as built otherwise."""
    strip = shutil.which("strip")
    if strip is None or os.environ.get("VTF_KEEP_DEBUG_INFO") == "1":
        return library.read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / LIBRARY
        if subprocess.run([strip, "--strip-debug", "-o", str(copy), str(library)]).returncode != 0:
            return library.read_bytes()
        return copy.read_bytes()


def _tag() -> str:
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    # libvtf does not link libpython: one wheel serves every Python 3.
    return f"py3-none-{platform}"


def _metadata(version: str) -> str:
    lines = [
        "Metadata-Version: 2.1",
        "Name: valkey-test-framework",
        f"Version: {version}",
        f"Summary: {SUMMARY}",
        "License: BSD-3-Clause",
        "Requires-Python: >=3.9",
        "Classifier: Framework :: Pytest",
    ]
    lines += [f"Requires-Dist: {req}" for req in REQUIRES]
    for extra, reqs in EXTRAS.items():
        lines.append(f"Provides-Extra: {extra}")
        lines += [f'Requires-Dist: {req}; extra == "{extra}"' for req in reqs]
    return "\n".join(lines) + "\n"


def _dist_info_files(version: str) -> Dict[str, bytes]:
    return {
        "METADATA": _metadata(version).encode(),
        "WHEEL": (
            "Wheel-Version: 1.0\nGenerator: vtf_backend\nRoot-Is-Purelib: false\n"
            f"Tag: {_tag()}\n"
        ).encode(),
        # Installing the package enables the plugin (pytest11 entry point).
        "entry_points.txt": b"[pytest11]\nvtf = vtf.pytest_plugin\n",
        "top_level.txt": b"vtf\n",
    }


def _sources() -> List[Tuple[str, Path]]:
    """Every file of the `vtf` package (compat included), as (archive name, path)."""
    out = []
    for path in sorted((PACKAGE_ROOT / "vtf").rglob("*")):
        if path.is_dir() or "__pycache__" in path.parts or path.suffix in (".pyc", ".so"):
            continue
        out.append((path.relative_to(PACKAGE_ROOT).as_posix(), path))
    return out


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_wheel(
    wheel_directory: str,
    config_settings: Optional[Dict[str, str]] = None,
    metadata_directory: Optional[str] = None,
) -> str:
    version = _version()
    library = _build_library()
    name = f"{DIST_NAME}-{version}-{_tag()}.whl"
    dist_info = f"{DIST_NAME}-{version}.dist-info"
    records = []
    with zipfile.ZipFile(Path(wheel_directory) / name, "w", zipfile.ZIP_DEFLATED) as wheel:
        entries = [(arc, path.read_bytes()) for arc, path in _sources()]
        entries.append((f"vtf/{LIBRARY}", _stripped(library)))
        entries += [(f"{dist_info}/{n}", d) for n, d in _dist_info_files(version).items()]
        for arc, data in entries:
            info = zipfile.ZipInfo(arc, date_time=(2020, 1, 1, 0, 0, 0))
            # The library must be executable to be mapped; everything else plain.
            info.external_attr = (0o755 if arc.endswith(".so") else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(info, data)
            records.append(_record_line(arc, data))
        records.append(f"{dist_info}/RECORD,,")
        wheel.writestr(f"{dist_info}/RECORD", "\n".join(records) + "\n")
    return name


def prepare_metadata_for_build_wheel(
    metadata_directory: str, config_settings: Optional[Dict[str, str]] = None
) -> str:
    # Metadata without compiling: pip asks for it before the build proper.
    version = _version()
    dist_info = Path(metadata_directory) / f"{DIST_NAME}-{version}.dist-info"
    dist_info.mkdir(parents=True, exist_ok=True)
    for name, data in _dist_info_files(version).items():
        (dist_info / name).write_bytes(data)
    return dist_info.name


def get_requires_for_build_wheel(config_settings: Optional[Dict[str, str]] = None) -> List[str]:
    return []


def build_sdist(sdist_directory: str, config_settings: Optional[Dict[str, str]] = None) -> str:
    """The package with a copy of the crate under rust/, so that the sdist builds alone."""
    version = _version()
    base = f"{DIST_NAME}-{version}"
    name = f"{base}.tar.gz"
    members: List[Tuple[str, Path]] = [("pyproject.toml", PACKAGE_ROOT / "pyproject.toml")]
    members += [(p.relative_to(PACKAGE_ROOT).as_posix(), p) for p in sorted(HERE.rglob("*.py"))]
    members += _sources()
    for entry in CRATE_FILES:
        path = REPO_ROOT / entry
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        members += [("rust/" + f.relative_to(REPO_ROOT).as_posix(), f) for f in files if f.exists()]
    with tarfile.open(Path(sdist_directory) / name, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        pkg_info = _metadata(version).encode()
        info = tarfile.TarInfo(f"{base}/PKG-INFO")
        info.size = len(pkg_info)
        info.mtime = 1577836800
        tar.addfile(info, io.BytesIO(pkg_info))
        for arc, path in members:
            if "__pycache__" in path.parts:
                continue
            tar.add(str(path), arcname=f"{base}/{arc}", recursive=False)
    return name


def get_requires_for_build_sdist(config_settings: Optional[Dict[str, str]] = None) -> List[str]:
    return []
