"""The ctypes table mirrors include/vtf.h: every exported function declared, with its number of parameters."""

import re
from pathlib import Path

import pytest

from vtf import _ffi

HEADER = Path(__file__).resolve().parents[2] / "include" / "vtf.h"


def _declarations() -> dict:  # type: ignore[type-arg]
    text = re.sub(r"/\*.*?\*/", "", HEADER.read_text(), flags=re.S)
    out = {}
    for match in re.finditer(r"\b(vtf_\w+)\s*\(([^;{]*?)\)\s*;", text):
        name, params = match.group(1), match.group(2).strip()
        out[name] = 0 if params in ("", "void") else params.count(",") + 1
    return out


def test_every_export_has_a_prototype_with_its_arity() -> None:
    if not HEADER.is_file():
        pytest.skip(f"SKIPPED LOUDLY: {HEADER} is not here (the tests run from a checkout)")
    declared = _declarations()
    assert len(declared) >= 70
    table = {**_ffi._PROTOTYPES, **_ffi._OPTIONAL}
    missing = sorted(set(declared) - set(table))
    assert not missing, f"exports of vtf.h without a ctypes prototype in vtf/_ffi.py: {missing}"
    wrong = {n: (declared[n], len(table[n][1])) for n in declared if len(table[n][1]) != declared[n]}
    assert not wrong, f"(header, ctypes) parameter counts differ: {wrong}"
    # What the header has, the loaded library exports.
    assert all(_ffi.has(n) for n in declared), sorted(n for n in declared if not _ffi.has(n))
