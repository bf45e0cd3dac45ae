"""The exceptions: one class per vtf_status, all under VtfError, with vtf's own message.

The classes follow the status names the library reports (`vtf_status_name`):
VTF_ERR_SERVER_EXITED is `ServerExited`, VTF_ERR_TIMEOUT is `Timeout`. The
known ones are written out below for readers and type checkers; a status that
a newer libvtf reports and this file does not name gets a class made at import
(same naming rule), so a new status needs one line here or none.
"""

import re
from typing import Dict, List, Optional, Type, cast

from . import _ffi


class VtfError(Exception):
    """A failure reported by libvtf.

    `str(error)` is vtf's message: what was tried, what happened and, for a
    server that failed, the last lines of its log and the log's path.
    """

    #: The C status name, e.g. "VTF_ERR_TIMEOUT".
    status_name: str = "VTF_ERR"
    #: The C status value (None for a status this library does not know).
    status: Optional[int] = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NullArgument(VtfError):
    """A required pointer was NULL (a bug in the caller of the C API)."""


class InvalidArgument(VtfError):
    """A value out of range, not UTF-8, an unknown option..."""


class BinaryNotFound(VtfError):
    """No server binary at the path, in the environment, on PATH or in the build cache."""


class Spawn(VtfError):
    """The server process could not be started."""


class ServerExited(VtfError):
    """The server process exited (crash, bad config, module load failure)."""


class Timeout(VtfError):
    """A wait ran out of time."""


class Connection(VtfError):
    """Connecting, reading or writing to a server failed."""


class Tls(VtfError):
    """Certificates, the TLS handshake, or a binary built without TLS."""


class Build(VtfError):
    """Fetching or building the server from source failed."""


class Io(VtfError):
    """A local file-system operation failed."""


class Panic(VtfError):
    """A bug inside libvtf; the message says where."""


class Unsupported(VtfError):
    """The operation needs something the handle lacks (e.g. the process of an external server)."""


def _class_name(status_name: str) -> str:
    """VTF_ERR_SERVER_EXITED -> ServerExited."""
    stem = status_name[len("VTF_ERR_") :] if status_name.startswith("VTF_ERR_") else status_name
    return "".join(part.capitalize() for part in stem.lower().split("_"))


def _status_name(cls: Type[VtfError]) -> str:
    """ServerExited -> VTF_ERR_SERVER_EXITED."""
    return "VTF_ERR_" + re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).upper()


_BY_STATUS: Dict[int, Type[VtfError]] = {}
#: Every exception class, by status name, including those made at import.
CLASSES: Dict[str, Type[VtfError]] = {}


def _register() -> List[str]:
    made: List[str] = []
    written = {c.__name__: c for c in VtfError.__subclasses__()}
    for cls in written.values():
        cls.status_name = _status_name(cls)
        CLASSES[cls.status_name] = cls
    status = 1
    while True:
        name = _ffi.status_name(status)
        if name == "VTF_UNKNOWN_STATUS" or status > 255:
            break
        known = written.get(_class_name(name))
        if known is not None:
            cls = known
        else:
            cls = cast(Type[VtfError], type(_class_name(name), (VtfError,), {"__doc__": f"libvtf status {name}."}))
            cls.__module__ = __name__
            cls.status_name = name
            CLASSES[name] = cls
            globals()[cls.__name__] = cls
            made.append(cls.__name__)
        cls.status = status
        _BY_STATUS[status] = cls
        status += 1
    return made


#: Names of the classes made at import for statuses this file does not write out.
MADE = _register()


def error_for(status: int, message: str) -> VtfError:
    """The exception for a failed call's status and message."""
    cls = _BY_STATUS.get(status)
    if cls is None:
        error = VtfError(f"{message} (status {status}: {_ffi.status_name(status)})")
        error.status = status
        return error
    return cls(message or f"{cls.status_name} with no message from libvtf")


__all__ = [
    "VtfError",
    "CLASSES",
    "NullArgument",
    "InvalidArgument",
    "BinaryNotFound",
    "Spawn",
    "ServerExited",
    "Timeout",
    "Connection",
    "Tls",
    "Build",
    "Io",
    "Panic",
    "Unsupported",
]
# Classes made at import for statuses this file does not name (see _register).
__all__ += MADE
