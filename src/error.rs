//! One error type for the whole library. Its kind mirrors the C `vtf_status`
//! one to one, so the FFI layer maps errors mechanically.

use std::fmt;

/// What went wrong, in the categories a test author acts on differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A required pointer was NULL (C API only).
    NullArgument,
    /// A value out of range, not UTF-8, an unknown option ...
    InvalidArgument,
    /// No server binary at the path / in the env / on PATH / in the cache.
    BinaryNotFound,
    /// The process could not be started.
    Spawn,
    /// The server process exited (crash, bad config, module load failure).
    ServerExited,
    /// A wait ran out of time.
    Timeout,
    /// Connect / read / write to a server failed.
    Connection,
    /// Certificates, TLS handshake, or a binary built without TLS.
    Tls,
    /// Fetching or building the server from source failed.
    Build,
    /// A local file-system operation failed.
    Io,
    /// A bug inside the library.
    Panic,
    /// The operation needs something this handle lacks (e.g. the process
    /// of an external server).
    Unsupported,
}

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
