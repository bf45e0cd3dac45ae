"""The pytest plugin (entry point `pytest11: vtf`): vtf servers, replication groups and clusters as fixtures.

Fixtures (each also with a `_class`, `_module` and `_session` suffix for that scope):

- `valkey_server`: a vtf.Server started from the run's base config.
- `valkey_server_factory`: `factory(config=None, **Config kwargs) -> vtf.Server`;
  every server it made is closed at teardown.
- `valkey_replication`: a vtf.Replication (1 replica unless the marker says).
- `valkey_replication_factory`: `factory(replicas=1, config=None, replica_config=None, **kw)`.
- `valkey_cluster`: a vtf.Cluster (3 shards, 0 replicas unless the marker says).
- `valkey_cluster_factory`: `factory(shards=3, replicas=0, config=None, **kw)`.
- `valkey_config`: the base vtf.Config (a fresh copy per test) the fixtures start from.

The base config comes from the command line or ini keys: `--valkey-server` /
`valkey_server` (binary), `--valkey-tls` / `valkey_tls` (off, on, mutual) and
`--valkey-module "PATH ARG..."` / `valkey_modules` (one module per line, loaded
into every server). `@pytest.mark.valkey(...)` on a test, class or module
adds to it for the plain fixtures: Config keyword arguments (`args={...}`,
`modules=[...]`, `tls="on"`...), `config=vtf.Config(...)`, `replicas=N`, `shards=N`.

When a test fails, its report has a section with the log tail of every
server that the test's fixtures started.
"""

import shlex
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, cast

import pytest

from .cluster import Cluster
from .config import Config, TlsMode
from .replication import Replication
from .server import Server

LOG_TAIL_LINES = 30
SCOPES: Tuple[str, ...] = ("function", "class", "module", "session")


# ------------------------------------------------------------------ options


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("vtf", "vtf: valkey-server fixtures")
    group.addoption("--valkey-server", dest="valkey_server", default=None, metavar="PATH",
                    help="valkey-server binary for every vtf fixture (default: vtf's resolution: "
                         "VTF_SERVER_BINARY, PATH, VTF_VALKEY_VERSION)")
    group.addoption("--valkey-tls", dest="valkey_tls", default=None, choices=["off", "on", "mutual"],
                    help="TLS mode of every vtf server (default: env VTF_TLS, else off)")
    group.addoption("--valkey-module", dest="valkey_modules", action="append", default=[],
                    metavar="'PATH [ARG...]'", help="a module (with its arguments) to load into every server; repeatable")
    parser.addini("valkey_server", "valkey-server binary for every vtf fixture", default=None)
    parser.addini("valkey_tls", "TLS mode of every vtf server: off, on or mutual", default=None)
    parser.addini("valkey_modules", "modules to load into every server, one 'PATH [ARG...]' per line",
                  type="linelist", default=[])


def pytest_configure(config: Any) -> None:
    config.addinivalue_line(
        "markers",
        "valkey(config=None, replicas=None, shards=None, **config_kwargs): settings for the "
        "vtf fixtures of this test, class or module (vtf.Config keyword arguments)",
    )


def pytest_report_header(config: Any) -> List[str]:
    from . import __version__, _ffi

    base = base_config(config)
    binary = base.binary or "vtf's resolution (VTF_SERVER_BINARY, PATH, VTF_VALKEY_VERSION)"
    modules = ", ".join(path for path, _ in base.modules) or "none"
    return [f"vtf {__version__} ({_ffi._library_path()}): valkey-server {binary}; "
            f"TLS {base.tls_mode().name.lower()}; modules {modules}"]


def base_config(pytestconfig: Any) -> Config:
    """The run's config: binary, TLS mode and modules from the command line, else the ini file."""
    binary = pytestconfig.getoption("valkey_server") or pytestconfig.getini("valkey_server") or None
    tls = pytestconfig.getoption("valkey_tls") or pytestconfig.getini("valkey_tls") or None
    modules = pytestconfig.getoption("valkey_modules") or pytestconfig.getini("valkey_modules") or []
    config = Config(binary=binary, tls=tls)
    for spec in modules:
        words = shlex.split(spec)
        if words:
            config.module(words[0], *words[1:])
    return config


def merged(base: Config, override: Optional[Config]) -> Config:
    """`override` on top of `base`: its settings win, the run's modules load first."""
    out = base.copy()
    if override is None:
        return out
    for name, value in vars(override).items():
        if name == "args":
            out.args += list(value)
        elif name == "modules":
            out.modules += [(p, list(a)) for p, a in value]
        elif value is not None:
            setattr(out, name, value)
    return out


def _marker_settings(request: Any) -> Tuple[Optional[Config], Dict[str, Any]]:
    """The closest `valkey` marker: a Config and the group sizes (replicas, shards)."""
    marker = request.node.get_closest_marker("valkey")
    if marker is None:
        return None, {}
    kwargs = dict(marker.kwargs)
    sizes = {k: kwargs.pop(k) for k in ("replicas", "shards") if k in kwargs}
    config = kwargs.pop("config", None) or (marker.args[0] if marker.args else None)
    if kwargs:
        config = merged(config or Config(), Config(**kwargs))
    return config, sizes


# ------------------------------------------------------------------ factories


class _Factory:
    """Starts handles on demand and closes them all at teardown."""

    def __init__(self, base: Config) -> None:
        self.base = base
        self.made: List[Any] = []

    def _config(self, config: Optional[Config], kwargs: Dict[str, Any]) -> Config:
        out = merged(self.base, config)
        return merged(out, Config(**kwargs)) if kwargs else out

    def close(self) -> None:
        # Later handles first: a replica made from a primary's port goes before it.
        while self.made:
            self.made.pop().close()


class ServerFactory(_Factory):
    """`factory(config=None, **config_kwargs)` starts a vtf.Server; all are closed at teardown."""

    def __call__(self, config: Optional[Config] = None, **config_kwargs: Any) -> Server:
        server = Server(self._config(config, config_kwargs))
        self.made.append(server)
        return server


class ReplicationFactory(_Factory):
    """`factory(replicas=1, config=None, replica_config=None, **config_kwargs)` starts a vtf.Replication."""

    def __call__(
        self,
        replicas: int = 1,
        config: Optional[Config] = None,
        replica_config: Optional[Config] = None,
        **config_kwargs: Any,
    ) -> Replication:
        primary = self._config(config, config_kwargs)
        replica = None if replica_config is None else self._config(replica_config, {})
        group = Replication(primary, replicas, replica)
        self.made.append(group)
        return group


class ClusterFactory(_Factory):
    """`factory(shards=3, replicas=0, config=None, **config_kwargs)` starts a vtf.Cluster."""

    def __call__(
        self, shards: int = 3, replicas: int = 0, config: Optional[Config] = None, **config_kwargs: Any
    ) -> Cluster:
        cluster = Cluster(self._config(config, config_kwargs), shards, replicas)
        self.made.append(cluster)
        return cluster


# ------------------------------------------------------------------ fixtures


def _servers_of(value: Any) -> List[Server]:
    """Every server behind a fixture value (a server, a group, a factory)."""
    if isinstance(value, Server):
        return [value]
    if isinstance(value, Replication):
        return [] if value.closed else value.servers
    if isinstance(value, Cluster):
        return [] if value.closed else value.nodes
    if isinstance(value, _Factory):
        return [s for made in value.made for s in _servers_of(made)]
    # Anything else that holds servers says so (vtf.compat's `setup` fixture value).
    held = getattr(value, "vtf_servers", None)
    if callable(held):
        return [s for s in held() if isinstance(s, Server)]
    return []


def _make_fixtures(scope: str) -> Dict[str, Any]:
    suffix = "" if scope == "function" else f"_{scope}"

    def config_fixture(pytestconfig: Any, request: Any) -> Config:
        marker_config, _ = _marker_settings(request)
        return merged(base_config(pytestconfig), marker_config)

    def server(request: Any) -> Iterator[Server]:
        config = request.getfixturevalue(f"valkey_config{suffix}")
        with Server(config) as handle:
            yield handle

    def replication(request: Any) -> Iterator[Replication]:
        config = request.getfixturevalue(f"valkey_config{suffix}")
        _, sizes = _marker_settings(request)
        with Replication(config, sizes.get("replicas", 1)) as handle:
            yield handle

    def cluster(request: Any) -> Iterator[Cluster]:
        config = request.getfixturevalue(f"valkey_config{suffix}")
        _, sizes = _marker_settings(request)
        with Cluster(config, sizes.get("shards", 3), sizes.get("replicas", 0)) as handle:
            yield handle

    def factory(kind: Callable[[Config], _Factory]) -> Callable[..., Iterator[_Factory]]:
        def fixture(pytestconfig: Any) -> Iterator[_Factory]:
            made = kind(base_config(pytestconfig))
            try:
                yield made
            finally:
                made.close()

        return fixture

    bodies: Dict[str, Callable[..., Any]] = {
        "valkey_config": config_fixture,
        "valkey_server": server,
        "valkey_server_factory": factory(ServerFactory),
        "valkey_replication": replication,
        "valkey_replication_factory": factory(ReplicationFactory),
        "valkey_cluster": cluster,
        "valkey_cluster_factory": factory(ClusterFactory),
    }
    out: Dict[str, Any] = {}
    for name, body in bodies.items():
        full = name + suffix
        body.__name__ = full
        body.__doc__ = f"{name} at {scope} scope (see vtf.pytest_plugin)."
        out[full] = pytest.fixture(scope=cast(Any, scope), name=full)(body)
    return out


for _scope in SCOPES:
    for _name, _fixture in _make_fixtures(_scope).items():
        globals()["_fixture_" + _name] = _fixture


# ------------------------------------------------------------------ failure reports


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Iterator[None]:
    outcome: Any = yield
    report = outcome.get_result()
    if not report.failed:
        return
    seen = set()
    for value in getattr(item, "funcargs", {}).values():
        for server in _servers_of(value):
            if id(server) in seen:
                continue
            seen.add(id(server))
            try:
                if server.closed:
                    continue
                if server.is_external():
                    report.sections.append((f"valkey-server {server.address}",
                                            "an external server (VTF_EXTERNAL / attach): its log is not here"))
                    continue
                title = f"valkey-server {server.address} (pid {server.pid}, log {server.log_path})"
                tail = server.log_tail(LOG_TAIL_LINES)
            except Exception as e:  # a report must not fail because a server went
                title, tail = "valkey-server", f"(no log tail: {e})"
            report.sections.append((f"{title}: last {LOG_TAIL_LINES} log lines", tail))
