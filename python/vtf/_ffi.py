"""The C ABI of libvtf as ctypes prototypes: the one place they are written (include/vtf.h mirrored).

Every other module calls `lib.vtf_*` through here and turns statuses into
exceptions with `check`. Exports added by later versions of the library
(`vtf_server_password`, `vtf_cluster_shard_count`, ...) are declared as
optional: `has(name)` says whether the loaded library has them.
"""

import ctypes
import os
from ctypes import (
    CFUNCTYPE,
    POINTER,
    c_bool,
    c_char_p,
    c_double,
    c_int,
    c_int32,
    c_int64,
    c_size_t,
    c_uint16,
    c_uint32,
    c_void_p,
)
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

LIBRARY_ENV = "VTF_LIBRARY"


def _library_path() -> str:
    """The libvtf the wheel carries, unless env VTF_LIBRARY names another (development)."""
    override = os.environ.get(LIBRARY_ENV)
    if override:
        return override
    return str(Path(__file__).resolve().parent / "libvtf.so")


def _load() -> ctypes.CDLL:
    path = _library_path()
    try:
        return ctypes.CDLL(path)
    except OSError as e:
        raise ImportError(
            f"vtf: cannot load libvtf from {path}: {e}. It is built into the package by "
            f"`pip install ./python`; for a development tree set {LIBRARY_ENV} to "
            "target/debug/libvtf.so after `cargo build`"
        ) from e


lib = _load()

# Opaque handles are void pointers; vtf_status is a C enum (int).
status_t = c_int
condition_t = CFUNCTYPE(c_bool, c_void_p)

_P = c_void_p
_PP = POINTER(c_void_p)
_STR = c_char_p
_STR_OUT = POINTER(c_void_p)  # char ** freed with vtf_string_free (not c_char_p: keep the pointer)

# name: (restype, argtypes). The same order as include/vtf.h.
_PROTOTYPES: Dict[str, Tuple[Any, List[Any]]] = {
    "vtf_last_error": (c_char_p, []),
    "vtf_status_name": (c_char_p, [status_t]),
    "vtf_version": (c_char_p, []),
    "vtf_string_free": (None, [c_void_p]),
    # builds
    "vtf_build_server": (status_t, [_STR, _STR, _STR_OUT]),
    "vtf_build_server_with": (status_t, [_STR, _STR, _P, _STR_OUT]),
    "vtf_build_module_include_dir": (status_t, [_STR, _STR_OUT]),
    "vtf_build_options_new": (_P, []),
    "vtf_build_options_free": (None, [_P]),
    "vtf_build_options_set_tls": (status_t, [_P, c_bool]),
    "vtf_build_options_set_sanitizer": (status_t, [_P, c_int]),
    "vtf_build_options_add_make_arg": (status_t, [_P, _STR]),
    "vtf_build_options_set_jobs": (status_t, [_P, c_uint32]),
    "vtf_build_options_set_cache_dir": (status_t, [_P, _STR]),
    "vtf_build_options_set_refresh": (status_t, [_P, c_bool]),
    "vtf_build_options_set_quiet": (status_t, [_P, c_bool]),
    # clients
    "vtf_client_connect": (status_t, [_P, _PP]),
    "vtf_client_command": (status_t, [_P, c_size_t, POINTER(c_char_p), POINTER(c_size_t), _PP]),
    "vtf_client_command_str": (status_t, [_P, _STR, _PP]),
    "vtf_client_set_timeout_ms": (status_t, [_P, c_uint32]),
    "vtf_client_free": (None, [_P]),
    # clusters
    "vtf_cluster_create": (status_t, [_P, c_size_t, c_size_t, _PP]),
    "vtf_cluster_node_count": (c_size_t, [_P]),
    "vtf_cluster_node": (_P, [_P, c_size_t]),
    "vtf_cluster_connect": (status_t, [_P, _PP]),
    "vtf_cluster_wait_ok": (status_t, [_P, c_uint32]),
    "vtf_cluster_failover": (status_t, [_P, c_size_t]),
    "vtf_cluster_free": (None, [_P]),
    # configs
    "vtf_config_new": (_P, []),
    "vtf_config_free": (None, [_P]),
    "vtf_config_set_binary": (status_t, [_P, _STR]),
    "vtf_config_add_arg": (status_t, [_P, _STR, _STR]),
    "vtf_config_add_module": (status_t, [_P, _STR, POINTER(c_char_p), c_size_t]),
    "vtf_config_set_config_file": (status_t, [_P, _STR]),
    "vtf_config_set_tls": (status_t, [_P, c_int]),
    "vtf_config_set_startup_timeout_ms": (status_t, [_P, c_uint32]),
    "vtf_config_set_version": (status_t, [_P, _STR]),
    "vtf_config_set_keep_data": (status_t, [_P, c_bool]),
    "vtf_config_set_wrapper": (status_t, [_P, _STR]),
    # waiting
    "vtf_wait_until": (status_t, [condition_t, c_void_p, c_uint32, _STR]),
    # ports
    "vtf_port_reserve": (status_t, [_PP]),
    "vtf_port_number": (c_uint16, [_P]),
    "vtf_port_free": (None, [_P]),
    # replication
    "vtf_replication_create": (status_t, [_P, c_size_t, _PP]),
    "vtf_replication_create_with": (status_t, [_P, _P, c_size_t, _PP]),
    "vtf_replication_primary": (_P, [_P]),
    "vtf_replication_replica": (_P, [_P, c_size_t]),
    "vtf_replication_replica_count": (c_size_t, [_P]),
    "vtf_replication_wait_sync": (status_t, [_P, c_uint32]),
    "vtf_replication_promote": (status_t, [_P, c_size_t]),
    "vtf_replication_add_replica": (status_t, [_P, POINTER(c_size_t)]),
    "vtf_replication_free": (None, [_P]),
    # replies
    "vtf_reply_get_type": (c_int, [_P]),
    "vtf_reply_integer": (c_int64, [_P]),
    "vtf_reply_double": (c_double, [_P]),
    "vtf_reply_string": (c_void_p, [_P, POINTER(c_size_t)]),
    "vtf_reply_len": (c_size_t, [_P]),
    "vtf_reply_element": (_P, [_P, c_size_t]),
    "vtf_reply_free": (None, [_P]),
    # servers
    "vtf_server_start": (status_t, [_P, _PP]),
    "vtf_server_port": (c_uint16, [_P]),
    "vtf_server_host": (c_char_p, [_P]),
    "vtf_server_pid": (c_int32, [_P]),
    "vtf_server_dir": (c_char_p, [_P]),
    "vtf_server_log_path": (c_char_p, [_P]),
    "vtf_server_is_running": (c_bool, [_P]),
    "vtf_server_stop": (status_t, [_P]),
    "vtf_server_restart": (status_t, [_P, c_bool]),
    "vtf_server_tls_ca_cert_path": (c_char_p, [_P]),
    "vtf_server_tls_client_cert_path": (c_char_p, [_P]),
    "vtf_server_tls_client_key_path": (c_char_p, [_P]),
    "vtf_server_log_contains": (status_t, [_P, _STR, POINTER(c_bool)]),
    "vtf_server_wait_for_log": (status_t, [_P, _STR, c_uint32]),
    "vtf_server_free": (None, [_P]),
    "vtf_server_log_tail": (status_t, [_P, c_size_t, _STR_OUT]),
    "vtf_server_info_field": (status_t, [_P, _STR, _STR, _STR_OUT]),
    "vtf_server_check_clean": (status_t, [_P]),
}

# Exports of the contract's second wave (c-api.md): used when the library has them.
_OPTIONAL: Dict[str, Tuple[Any, List[Any]]] = {
    "vtf_config_set_command_timeout_ms": (status_t, [_P, c_uint32]),
    "vtf_config_set_auth": (status_t, [_P, c_bool]),
    "vtf_config_set_password": (status_t, [_P, _STR]),
    "vtf_config_set_tls_files": (status_t, [_P, _STR, _STR, _STR]),
    "vtf_config_set_flush_on_attach": (status_t, [_P, c_bool]),
    "vtf_server_password": (c_char_p, [_P]),
    "vtf_server_attach": (status_t, [_P, _STR, c_uint16, _PP]),
    "vtf_cluster_attach": (status_t, [_P, _STR, c_uint16, _PP]),
    "vtf_server_is_external": (c_bool, [_P]),
    "vtf_cluster_shard_count": (c_size_t, [_P]),
    "vtf_cluster_move_slots": (status_t, [_P, c_uint16, c_uint16, c_size_t]),
    "vtf_cluster_add_shard": (status_t, [_P, c_size_t, POINTER(c_size_t)]),
    "vtf_cluster_remove_shard": (status_t, [_P, c_size_t]),
}

_present: Set[str] = set()


def _declare(table: Dict[str, Tuple[Any, List[Any]]], required: bool) -> None:
    for name, (restype, argtypes) in table.items():
        try:
            function = getattr(lib, name)
        except AttributeError:
            if required:
                raise ImportError(f"vtf: {_library_path()} lacks {name}: a libvtf older than this package")
            continue
        function.restype = restype
        function.argtypes = argtypes
        _present.add(name)


_declare(_PROTOTYPES, required=True)
_declare(_OPTIONAL, required=False)


def has(name: str) -> bool:
    """Whether the loaded libvtf exports `name` (for the contract's later additions)."""
    return name in _present


# ---------------------------------------------------------------- conversions


def enc(text: Optional[str]) -> Optional[bytes]:
    """A Python string as a C string argument (None stays NULL)."""
    if text is None:
        return None
    return os.fsencode(text) if isinstance(text, os.PathLike) else str(text).encode()


def dec(raw: Optional[bytes]) -> Optional[str]:
    """A borrowed C string result as str (NULL is None)."""
    return None if raw is None else raw.decode("utf-8", "replace")


def take_string(pointer: c_void_p) -> str:
    """Copies and frees a string returned through a `char **` out-parameter."""
    if not pointer.value:
        return ""
    try:
        return ctypes.string_at(pointer.value).decode("utf-8", "replace")
    finally:
        lib.vtf_string_free(pointer)


def string_array(items: Sequence[str]) -> "ctypes.Array[c_char_p]":
    array = (c_char_p * max(len(items), 1))()
    for i, item in enumerate(items):
        array[i] = enc(item)
    return array


def ms(seconds: Optional[float], what: str) -> int:
    """Seconds (Python's unit for time) as the C API's u32 milliseconds."""
    if seconds is None:
        raise ValueError(f"{what}: a timeout in seconds is required")
    value = int(round(float(seconds) * 1000))
    if value < 0 or value > 0xFFFFFFFF:
        raise ValueError(f"{what}: {seconds!r} s is out of range (0 to 4294967 s)")
    return value


def last_error() -> str:
    return dec(lib.vtf_last_error()) or ""


def status_name(status: int) -> str:
    return dec(lib.vtf_status_name(status)) or "VTF_UNKNOWN_STATUS"


def check(status: int) -> None:
    """Raises the exception for a failed call (read the thread's last error at once)."""
    __tracebackhide__ = True  # pytest: the report starts at the caller, not here
    if status != 0:
        from .errors import error_for

        raise error_for(status, last_error())


def check_value(ok: bool) -> None:
    """For exports that return NULL/0 on failure and record the last error."""
    if not ok:
        from .errors import InvalidArgument

        raise InvalidArgument(last_error())


def call_out(function: Callable[..., int], *args: Any) -> int:
    """Calls `function(*args, &out)` and returns out (a handle) after checking the status."""
    __tracebackhide__ = True
    out = c_void_p()
    check(function(*args, ctypes.byref(out)))
    if not out.value:
        from .errors import Panic

        raise Panic(f"{getattr(function, '__name__', 'a vtf function')} returned VTF_OK and no handle")
    return out.value
