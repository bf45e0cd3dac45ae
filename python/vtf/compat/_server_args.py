"""How a compat server's argument dict reaches valkey-server through vtf.

Upstream passes `--name tok1 tok2 ...` (each value split on white space) on
the command line. vtf passes each value as one argv item and owns a few
options itself (port, bind, dir, logfile, daemonize: every server gets a
reserved port, 127.0.0.1 and its own directory). So the dict is written as a
config file, one `name "tok1" "tok2"` line each, which valkey-server splits
exactly as it would the command line; the handle rewrites it before every
start, so a restart sees the arguments as they are then. The few options vtf
also sets on its command line (after the config file, so it would win) go on
the command line instead, after vtf's own.
"""

import os
import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple

#: Options vtf sets itself; a compat handle's own defaults for them are dropped quietly.
OWNED_QUIET = ("port", "logfile", "bind")
#: Options vtf sets itself that a suite asked for: dropped with a warning saying why.
OWNED_WARN = {
    "dir": "every vtf server runs in its own directory (the handle's `cwd` after start)",
    "daemonize": "vtf watches the server process itself",
    "tls-port": "vtf.compat servers are plain TCP (upstream has no TLS); use vtf.Config(tls=...)",
    "cluster-port": "the cluster bus is port + 10000, which vtf reserves with the port",
}
#: Options vtf puts on its command line after the config file: the suite's value must go there too.
COMMAND_LINE = ("save", "appendonly", "enable-debug-command", "enable-module-command")
#: Defaults written before the suite's own lines (its lines win). Valkey's TCL suite does the
#: same: a new replica's first sync otherwise waits 5 s for more replicas to join it.
DEFAULTS: Tuple[Tuple[str, str], ...] = (("repl-diskless-sync-delay", "0"),)
#: Options whose first token is a path the server opens relative to its own directory.
PATH_OPTIONS = ("loadmodule", "include")


def _quote(token: str) -> str:
    """A double-quoted config token that valkey-server reads back as exactly `token`."""
    out = []
    for ch in token:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif 32 <= ord(ch) < 127:
            out.append(ch)
        else:
            out.extend("\\x%02x" % b for b in ch.encode("utf-8"))
    return '"' + "".join(out) + '"'


def _absolute(path: str, bases: Sequence[str]) -> str:
    """`path` made absolute against the first base where it exists (else the first base)."""
    if os.path.isabs(path) or not bases:
        return path
    for base in bases:
        candidate = os.path.join(base, path)
        if os.path.exists(candidate):
            return os.path.abspath(candidate)
    return os.path.abspath(os.path.join(bases[0], path))


def split(
    args: Dict[str, Any], conf_file: Optional[str], bases: Sequence[str]
) -> Tuple[List[str], List[Tuple[str, str]]]:
    """(config file lines, command-line pairs) for a handle's `args` and optional `conf_file`.

    `bases` are where relative paths (module, config file) are looked for:
    the handle's test directory, then the working directory, as upstream's
    server process (started in the test directory) would have seen them.
    """
    lines: List[str] = []
    command_line: List[Tuple[str, str]] = []
    if conf_file:
        lines.append("include " + _quote(_absolute(os.fspath(conf_file), bases)))
    given = {str(k).replace("_", "-").lower() for k in args}
    for name, value in DEFAULTS:
        if name not in given:
            lines.append(f"{name} {_quote(value)}")
    for key, value in args.items():
        name = str(key).replace("_", "-")
        lname = name.lower()
        if lname in OWNED_QUIET:
            continue
        if lname in OWNED_WARN:
            warnings.warn(f"vtf.compat: argument {name!r} is not passed: {OWNED_WARN[lname]}", stacklevel=4)
            continue
        if value is None:
            # Upstream would pass the string "None"; a module path from an unset env var is the usual cause.
            raise ValueError(f"vtf.compat: argument {name!r} has the value None (an unset environment variable?)")
        tokens = str(value).split()
        if lname in COMMAND_LINE:
            command_line.append((name, " ".join(tokens)))
            continue
        if lname in PATH_OPTIONS and tokens:
            tokens[0] = _absolute(tokens[0], bases)
        lines.append(name + " " + (" ".join(_quote(t) for t in tokens) if tokens else '""'))
    return lines, command_line
