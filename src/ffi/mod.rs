//! The C ABI: a mechanical mirror of the Rust API (after rustls-ffi).
//!
//! Every export runs inside `export!` (see `boundary`), which catches
//! panics and records the thread's last error. Out-parameters are written only
//! on success. Handles are the Rust types themselves where C owns them
//! outright (`Config` is `vtf_config`), or ffi-side wrappers that carry what
//! C needs besides (`vtf_server` may be a node borrowed from a group, see
//! `node`; `vtf_reply` owns its C strings).

use std::ffi::{c_char, CStr, CString};

use crate::error::{Error, ErrorKind, Result};

#[macro_use]
pub(crate) mod boundary;
#[macro_use]
pub mod c_enum;
pub mod build;
pub mod client;
pub mod cluster;
pub mod config;
pub mod diagnostics;
pub mod node;
pub mod port;
pub mod replication;
pub mod reply;
pub mod server;

// vtf_status from the one list of error kinds (src/error.rs): VTF_OK, then
// one value per kind in the list's order.
macro_rules! status_enum {
    ($( $(#[doc = $doc:literal])* $kind:ident => $status:ident, )+) => {
        c_enum! {
            /// The result of every fallible C function; `VTF_OK` is 0.
            pub enum vtf_status as RawStatus, rust ErrorKind {
                VTF_OK = 0,
                $( $(#[doc = $doc])* $status => (ErrorKind::$kind), )+
            }
        }
    };
}
crate::error::with_error_kinds!(status_enum);

impl From<ErrorKind> for vtf_status {
    fn from(kind: ErrorKind) -> Self {
        vtf_status::from_rust(kind)
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

/// Frees a handle that an export made with `Box::into_raw` (NULL: nothing),
/// the body of every plain `vtf_*_free`.
///
/// # Safety
/// `ptr` must be NULL or from `Box::into_raw` of a `T` in this library, not
/// freed before and not used afterwards.
pub(crate) unsafe fn free_box<T>(ptr: *mut T) -> Result<()> {
    if !ptr.is_null() {
        // SAFETY: per this function's contract.
        drop(unsafe { Box::from_raw(ptr) });
    }
    Ok(())
}

/// Hands ownership of a Rust string to C (freed by `vtf_string_free`).
pub(crate) fn c_string(text: &str) -> *mut c_char {
    CString::new(text.replace('\0', "\\0"))
        .unwrap_or_default()
        .into_raw()
}

/// The message of the most recent failure on the calling thread; never NULL,
/// "" after a successful call that returns a status or a handle (the frees
/// and the queries of a handle's properties leave it, so a report may use
/// them). Valid until the thread's next failure.
#[no_mangle]
pub extern "C" fn vtf_last_error() -> *const c_char {
    export!(pure { boundary::last_error() })
}

/// The name of a status as a static string ("VTF_OK", "VTF_ERR_TIMEOUT", ...);
/// "VTF_UNKNOWN_STATUS" for a value that is no status.
#[no_mangle]
pub extern "C" fn vtf_status_name(status: RawStatus) -> *const c_char {
    export!(pure {
        vtf_status::try_from(status)
            .map_or(c"VTF_UNKNOWN_STATUS", vtf_status::name)
            .as_ptr()
    })
}

/// The library's version, e.g. "0.1.0".
#[no_mangle]
pub extern "C" fn vtf_version() -> *const c_char {
    export!(pure { c_enum::c_name(concat!(env!("CARGO_PKG_VERSION"), "\0")).as_ptr() })
}

/// Frees a string returned through a `char **` out-parameter; NULL is allowed.
///
/// # Safety
/// `s` must be NULL or a string returned by this library, not freed before.
#[no_mangle]
pub unsafe extern "C" fn vtf_string_free(s: *mut c_char) {
    export!({
        if !s.is_null() {
            // SAFETY: `s` came from CString::into_raw in this library (caller's contract).
            drop(unsafe { CString::from_raw(s) });
        }
        Ok(())
    })
}
