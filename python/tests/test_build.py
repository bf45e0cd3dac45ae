"""vtf.build_server: Valkey 8.1.1 built from a local git repository (a cache hit after the first), then run."""

import os
from pathlib import Path

import pytest

import vtf

REPO = Path(__file__).resolve().parents[2]


def test_build_server_and_run_it_with_tls() -> None:
    source = Path(os.environ.get("VTF_SOURCE_DIR") or REPO / "target" / "valkey-src") / "valkey"
    if not (source / ".git").exists():
        pytest.skip(f"SKIPPED LOUDLY: no Valkey source repository at {source}; "
                    "scripts/fetch-valkey-source.sh makes it (scripts/test.sh runs it first)")
    binary = vtf.build_server(str(source), "8.1.1", quiet=True)
    assert os.access(binary, os.X_OK), binary
    assert vtf.build_server(str(source), "8.1.1", quiet=True) == binary, "the second call is the cached build"
    include = Path(vtf.module_include_dir(binary))
    assert (include / "valkeymodule.h").is_file()
    with vtf.Server(vtf.Config(binary=binary, tls="on")) as server:
        assert server.info_field("server", "valkey_version") == "8.1.1"
        assert server.client().ping()
