"""vtf.build_server: a valkey-server built from source and cached (mirror of `vtf::build` / `vtf_build_server_with`)."""

import ctypes
import enum
import os
from typing import Iterable, Optional, Union

from . import _ffi
from ._ffi import enc, lib


class Sanitizer(enum.IntEnum):
    """vtf_sanitizer: `make SANITIZER=...`."""

    NONE = 0
    ADDRESS = 1
    UNDEFINED = 2


def build_server(
    repo: Optional[str],
    ref: str,
    *,
    tls: bool = True,
    sanitizer: Union[Sanitizer, str, None] = None,
    make_args: Iterable[str] = (),
    jobs: int = 0,
    cache_dir: Optional[str] = None,
    refresh: Optional[bool] = None,
    quiet: Optional[bool] = None,
) -> str:
    """Builds `ref` (tag, branch or commit) of `repo` (None: env VTF_VALKEY_REPO, else the
    Valkey project's repository; a local path or any git URL) and returns the path of the
    cached valkey-server. A second call with the same inputs is a cache hit."""
    options = lib.vtf_build_options_new()
    if not options:
        raise MemoryError("vtf_build_options_new returned NULL")
    try:
        check = _ffi.check
        check(lib.vtf_build_options_set_tls(options, bool(tls)))
        if sanitizer is not None:
            value = Sanitizer[sanitizer.upper()] if isinstance(sanitizer, str) else Sanitizer(sanitizer)
            check(lib.vtf_build_options_set_sanitizer(options, int(value)))
        for arg in make_args:
            check(lib.vtf_build_options_add_make_arg(options, enc(arg)))
        check(lib.vtf_build_options_set_jobs(options, int(jobs)))
        if cache_dir is not None:
            check(lib.vtf_build_options_set_cache_dir(options, enc(os.fspath(cache_dir))))
        if refresh is not None:
            check(lib.vtf_build_options_set_refresh(options, bool(refresh)))
        if quiet is not None:
            check(lib.vtf_build_options_set_quiet(options, bool(quiet)))
        out = ctypes.c_void_p()
        check(lib.vtf_build_server_with(enc(repo), enc(ref), options, ctypes.byref(out)))
        return _ffi.take_string(out)
    finally:
        lib.vtf_build_options_free(options)


def module_include_dir(binary: str) -> str:
    """The directory with valkeymodule.h of a server from build_server(), for `-I` when building modules."""
    out = ctypes.c_void_p()
    _ffi.check(lib.vtf_build_module_include_dir(enc(os.fspath(binary)), ctypes.byref(out)))
    return _ffi.take_string(out)
