"""Which valkey-server a compat suite runs: the path it names, or a plain error saying how to get it.

Upstream runs `server_path` as given; the vendored `valkeytests` resolves it
against the directory above the package (the suite's tests directory).
Suites name the binary that build.sh builds, `.build/binaries/<version>/valkey-server`.
vtf looks for the path where those two would, and when it is not there says
so and how vtf builds that version: it never runs another binary in its place.
"""

import os
import re
import shutil
from typing import List, Optional, Sequence

import vtf

#: The default of upstream's `server_path`: a name looked up by vtf (VTF_SERVER_BINARY, then PATH).
DEFAULT_NAME = "valkey-server"

_BUILD_SH_PATH = re.compile(r"(?:^|/)\.build/binaries/(?P<version>[^/]+)/valkey-server$")


def resolve(server_path: Optional[str], bases: Sequence[str]) -> Optional[str]:
    """The absolute path of the binary to run, or None to let vtf resolve `valkey-server` itself.

    A bare name is looked up on PATH; a relative path is tried against each of
    `bases` (the test module's directory, then the working directory).
    Raises vtf.BinaryNotFound naming every place tried.
    """
    if not server_path or server_path == DEFAULT_NAME:
        return None
    path = os.fspath(server_path)
    if os.sep not in path:
        found = shutil.which(path)
        if found:
            return os.path.abspath(found)
        raise vtf.BinaryNotFound(f"vtf.compat: no {path!r} on PATH ({os.environ.get('PATH', '')})")
    if os.path.isabs(path):
        candidates: List[str] = [path]
    else:
        candidates = []
        for base in bases:
            candidate = os.path.abspath(os.path.join(base, path))
            if candidate not in candidates:
                candidates.append(candidate)
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise vtf.BinaryNotFound(missing_message(path, candidates))


def missing_message(path: str, tried: Sequence[str]) -> str:
    """The error for a binary that is not there, with how vtf can build a build.sh version."""
    where = "; ".join(tried)
    message = f"vtf.compat: no valkey-server binary at {path!r} (tried {where})."
    match = _BUILD_SH_PATH.search(path.replace(os.sep, "/"))
    if not match:
        return message + " vtf runs the binary a suite names, never another one in its place."
    version = match.group("version")
    target = tried[0] if tried else path
    return (
        f"{message} This suite expects the valkey-server that valkey-test-framework's build.sh "
        f"builds for SERVER_VERSION={version} ('.build/binaries/{version}/valkey-server'); "
        "vtf will not run another binary in its place. vtf can build that version from source "
        "(cached after the first build): "
        f"python -c 'import vtf; print(vtf.build_server(None, \"{version}\"))' "
        "(None means env VTF_VALKEY_REPO, else the Valkey project's repository; a local clone "
        f"works too), then put the printed binary there: mkdir -p {os.path.dirname(target)} && "
        f"ln -s <printed path> {target}"
    )
