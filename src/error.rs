//! One error type for the whole library. Its kinds and the C `vtf_status`
//! values are made from one list (`with_error_kinds!`), so the FFI layer
//! maps errors mechanically.

use std::fmt;

/// The one list of error kinds: each `ErrorKind` variant with its C status
/// and what it means. `ErrorKind` (here) and the C `vtf_status` (src/ffi) are
/// both made from it, so a new kind is one line, appended at the end (C
/// values are positions and never change).
macro_rules! with_error_kinds {
    ($make:ident) => {
        $make! {
            /// A required pointer was NULL (only the C API takes pointers).
            NullArgument => VTF_ERR_NULL_ARGUMENT,
            /// A value out of range, not UTF-8, an unknown option ...
            InvalidArgument => VTF_ERR_INVALID_ARGUMENT,
            /// No server binary at the path / in the env / on PATH / in the cache.
            BinaryNotFound => VTF_ERR_BINARY_NOT_FOUND,
            /// The process could not be started.
            Spawn => VTF_ERR_SPAWN,
            /// The server process exited (crash, bad config, module load failure).
            ServerExited => VTF_ERR_SERVER_EXITED,
            /// A wait ran out of time.
            Timeout => VTF_ERR_TIMEOUT,
            /// Connect / read / write to a server failed.
            Connection => VTF_ERR_CONNECTION,
            /// Certificates, TLS handshake, or a binary built without TLS.
            Tls => VTF_ERR_TLS,
            /// Fetching or building the server from source failed.
            Build => VTF_ERR_BUILD,
            /// A local file-system operation failed.
            Io => VTF_ERR_IO,
            /// A bug inside the library; the message says where.
            Panic => VTF_ERR_PANIC,
            /// The operation needs something this handle lacks (e.g. the
            /// process of an external server).
            Unsupported => VTF_ERR_UNSUPPORTED,
        }
    };
}
pub(crate) use with_error_kinds;

macro_rules! error_kind_enum {
    ($( $(#[doc = $doc:literal])* $kind:ident => $status:ident, )+) => {
        /// What went wrong, in the categories a test author acts on differently.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorKind {
            $( $(#[doc = $doc])* $kind, )+
        }
    };
}
with_error_kinds!(error_kind_enum);

/// An error with a message that says what was tried and what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error with more context in front ("starting the replica: ...").
    pub fn context(self, what: impl fmt::Display) -> Self {
        Error {
            kind: self.kind,
            message: format!("{what}: {}", self.message),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    pub(crate) fn io(what: impl fmt::Display, err: std::io::Error) -> Self {
        Error::new(ErrorKind::Io, format!("{what}: {err}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;
