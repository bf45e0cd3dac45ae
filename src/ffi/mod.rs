//! The C ABI: a mechanical mirror of the Rust API (after rustls-ffi).
//!
//! Every export runs inside [`guard`] (or [`guard_value`]), which catches
//! panics and records the thread's last error. Out-parameters are written only
//! on success. Handles are the Rust types themselves where C owns them
//! outright (`Config` is `vtf_config`), or ffi-side wrappers that carry what
//! C needs besides (`vtf_server` may be a node borrowed from a group, see
//! `node`; `vtf_reply` owns its C strings).

use std::cell::{Cell, RefCell};
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::{Error, ErrorKind, Result};

pub mod build;
pub mod client;
pub mod cluster;
pub mod config;
pub mod diagnostics;
pub mod node;
pub mod replication;
pub mod reply;
pub mod server;

/// The result of every fallible C function; `VTF_OK` is 0.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum vtf_status {
    VTF_OK = 0,
    /// a required pointer was NULL
    VTF_ERR_NULL_ARGUMENT,
    /// a value out of range, not UTF-8, unknown option ...
    VTF_ERR_INVALID_ARGUMENT,
    /// no server binary at the path / in the env / on PATH / in the cache
    VTF_ERR_BINARY_NOT_FOUND,
    /// the process could not be started
    VTF_ERR_SPAWN,
    /// the server process exited (crash, bad config, module load failure)
    VTF_ERR_SERVER_EXITED,
    /// a wait ran out of time
    VTF_ERR_TIMEOUT,
    /// connect / read / write to a server failed
    VTF_ERR_CONNECTION,
    /// certificates, TLS handshake, or a binary built without TLS
    VTF_ERR_TLS,
    /// fetching or building the server from source failed
    VTF_ERR_BUILD,
    /// a local file-system operation failed
    VTF_ERR_IO,
    /// a bug inside the library; the message says where
    VTF_ERR_PANIC,
    /// the operation needs something this handle lacks (e.g. the process of an external server)
    VTF_ERR_UNSUPPORTED,
}

impl From<ErrorKind> for vtf_status {
    fn from(kind: ErrorKind) -> Self {
        use vtf_status::*;
        match kind {
            ErrorKind::NullArgument => VTF_ERR_NULL_ARGUMENT,
            ErrorKind::InvalidArgument => VTF_ERR_INVALID_ARGUMENT,
            ErrorKind::BinaryNotFound => VTF_ERR_BINARY_NOT_FOUND,
            ErrorKind::Spawn => VTF_ERR_SPAWN,
            ErrorKind::ServerExited => VTF_ERR_SERVER_EXITED,
            ErrorKind::Timeout => VTF_ERR_TIMEOUT,
            ErrorKind::Connection => VTF_ERR_CONNECTION,
            ErrorKind::Tls => VTF_ERR_TLS,
            ErrorKind::Build => VTF_ERR_BUILD,
            ErrorKind::Io => VTF_ERR_IO,
            ErrorKind::Panic => VTF_ERR_PANIC,
            ErrorKind::Unsupported => VTF_ERR_UNSUPPORTED,
        }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
    /// Cleared on success without touching the message, so success costs no
    /// allocation and a message already handed out stays valid until the
    /// next failure.
    static HAS_ERROR: Cell<bool> = const { Cell::new(false) };
}

fn set_last_error(message: &str) {
    if message.is_empty() {
        HAS_ERROR.with(|h| h.set(false));
        return;
    }
    // Interior NULs cannot travel through a C string; show them instead of truncating.
    let text = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = text);
    HAS_ERROR.with(|h| h.set(true));
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

/// Runs the body of a status-returning export: catches panics, records the
/// error (prefixed with the function's name) or clears it on success.
pub(crate) fn guard(function: &'static str, body: impl FnOnce() -> Result<()>) -> vtf_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => {
            set_last_error("");
            vtf_status::VTF_OK
        }
        Ok(Err(err)) => {
            set_last_error(&format!("{function}: {}", err.message()));
            err.kind().into()
        }
        Err(payload) => {
            set_last_error(&format!(
                "{function}: internal panic (a bug in vtf): {}",
                panic_message(payload.as_ref())
            ));
            vtf_status::VTF_ERR_PANIC
        }
    }
}

/// Runs the body of an export that returns a plain value: a failure or a
/// panic records the error and returns `fallback`.
pub(crate) fn guard_value<T>(
    function: &'static str,
    fallback: T,
    body: impl FnOnce() -> Result<T>,
) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => value,
        Ok(Err(err)) => {
            set_last_error(&format!("{function}: {}", err.message()));
            fallback
        }
        Err(payload) => {
            set_last_error(&format!(
                "{function}: internal panic (a bug in vtf): {}",
                panic_message(payload.as_ref())
            ));
            fallback
        }
    }
}

pub(crate) fn null(what: &str) -> Error {
    Error::new(ErrorKind::NullArgument, format!("{what} is NULL"))
}

/// Borrows a handle passed in by the caller.
///
/// # Safety
/// `ptr` must be NULL or point to a live `T` created by this library.
pub(crate) unsafe fn handle<'a, T>(ptr: *const T, what: &str) -> Result<&'a T> {
    // SAFETY: the caller guarantees `ptr` is NULL or a live handle of ours.
    unsafe { ptr.as_ref() }.ok_or_else(|| null(what))
}

/// Mutably borrows a handle passed in by the caller.
///
/// # Safety
/// `ptr` must be NULL or point to a live `T` created by this library, not in
/// use by another thread.
pub(crate) unsafe fn handle_mut<'a, T>(ptr: *mut T, what: &str) -> Result<&'a mut T> {
    // SAFETY: the caller guarantees `ptr` is NULL or a live, unshared handle of ours.
    unsafe { ptr.as_mut() }.ok_or_else(|| null(what))
}

/// Reads a NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `ptr` must be NULL or point to a NUL-terminated string.
pub(crate) unsafe fn str_arg<'a>(ptr: *const c_char, what: &str) -> Result<&'a str> {
    if ptr.is_null() {
        return Err(null(what));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    let raw = unsafe { CStr::from_ptr(ptr) };
    raw.to_str()
        .map_err(|_| Error::invalid(format!("{what} is not valid UTF-8: {raw:?}")))
}

/// Like [`str_arg`], but NULL is allowed and gives `None`.
///
/// # Safety
/// `ptr` must be NULL or point to a NUL-terminated string.
pub(crate) unsafe fn opt_str_arg<'a>(ptr: *const c_char, what: &str) -> Result<Option<&'a str>> {
    if ptr.is_null() {
        Ok(None)
    } else {
        // SAFETY: forwarded contract of this function.
        unsafe { str_arg(ptr, what) }.map(Some)
    }
}

/// Checks an out-parameter before any work is done, so that a NULL `out`
/// fails fast and nothing is created only to be leaked.
pub(crate) fn check_out<T>(out: *mut T, what: &str) -> Result<()> {
    if out.is_null() {
        Err(null(what))
    } else {
        Ok(())
    }
}

/// Writes an out-parameter (checked with [`check_out`] before).
///
/// # Safety
/// `out` must be non-NULL and valid for a write of `T`.
pub(crate) unsafe fn write_out<T>(out: *mut T, value: T) {
    // SAFETY: the caller checked `out` and guarantees it is writable.
    unsafe { out.write(value) }
}

/// Hands ownership of a Rust string to C (freed by `vtf_string_free`).
pub(crate) fn c_string(text: &str) -> *mut c_char {
    CString::new(text.replace('\0', "\\0"))
        .unwrap_or_default()
        .into_raw()
}

/// The message of the most recent failure on the calling thread; never NULL,
/// "" after success.
#[no_mangle]
pub extern "C" fn vtf_last_error() -> *const c_char {
    if HAS_ERROR.with(Cell::get) {
        LAST_ERROR.with(|e| e.borrow().as_ptr())
    } else {
        c"".as_ptr()
    }
}

/// A `vtf_status` as C passes it: any int. A Rust enum parameter holding a
/// value outside the enum would be undefined behaviour. `vtf_status` in vtf.h.
pub type RawStatus = std::ffi::c_int;

/// The name of a status as a static string ("VTF_OK", "VTF_ERR_TIMEOUT", ...);
/// "VTF_UNKNOWN_STATUS" for a value that is no status.
#[no_mangle]
pub extern "C" fn vtf_status_name(status: RawStatus) -> *const c_char {
    use vtf_status::*;
    const NAMES: [(vtf_status, &CStr); 13] = [
        (VTF_OK, c"VTF_OK"),
        (VTF_ERR_NULL_ARGUMENT, c"VTF_ERR_NULL_ARGUMENT"),
        (VTF_ERR_INVALID_ARGUMENT, c"VTF_ERR_INVALID_ARGUMENT"),
        (VTF_ERR_BINARY_NOT_FOUND, c"VTF_ERR_BINARY_NOT_FOUND"),
        (VTF_ERR_SPAWN, c"VTF_ERR_SPAWN"),
        (VTF_ERR_SERVER_EXITED, c"VTF_ERR_SERVER_EXITED"),
        (VTF_ERR_TIMEOUT, c"VTF_ERR_TIMEOUT"),
        (VTF_ERR_CONNECTION, c"VTF_ERR_CONNECTION"),
        (VTF_ERR_TLS, c"VTF_ERR_TLS"),
        (VTF_ERR_BUILD, c"VTF_ERR_BUILD"),
        (VTF_ERR_IO, c"VTF_ERR_IO"),
        (VTF_ERR_PANIC, c"VTF_ERR_PANIC"),
        (VTF_ERR_UNSUPPORTED, c"VTF_ERR_UNSUPPORTED"),
    ];
    NAMES
        .iter()
        .find(|(s, _)| *s as RawStatus == status)
        .map_or(c"VTF_UNKNOWN_STATUS", |(_, name)| *name)
        .as_ptr()
}

/// The library's version, e.g. "0.1.0".
#[no_mangle]
pub extern "C" fn vtf_version() -> *const c_char {
    const VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => c"unknown",
        };
    VERSION.as_ptr()
}

/// Frees a string returned through a `char **` out-parameter; NULL is allowed.
///
/// # Safety
/// `s` must be NULL or a string returned by this library, not freed before.
#[no_mangle]
pub unsafe extern "C" fn vtf_string_free(s: *mut c_char) {
    guard_value("vtf_string_free", (), || {
        if !s.is_null() {
            // SAFETY: `s` came from CString::into_raw in this library (caller's contract).
            drop(unsafe { CString::from_raw(s) });
        }
        Ok(())
    })
}
