//! The boundary every export runs inside (after rustls-ffi's
//! `ffi_panic_boundary!`): no panic crosses into C, a failure records the
//! thread's last error, and what C gets back on failure follows from the
//! export's return type ([`Returned`]), not from each function.
//!
//! ```ignore
//! #[no_mangle]
//! pub unsafe extern "C" fn vtf_server_port(server: *const ServerHandle) -> u16 {
//!     export!({ Ok(unsafe { handle(server, "server") }?.server()?.port()) })
//! }
//! ```
//!
//! The signature stays written out (cbindgen reads it without expanding
//! macros); the macro wraps the body and takes the function's name from the
//! function itself, for the error message.

use std::cell::{Cell, RefCell};
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::vtf_status;
use crate::error::{ErrorKind, Result};

/// Wraps an export's body (a block giving `Result<_>`; for a status-returning
/// export `Result<()>`). `export!(pure { .. })` is for exports that cannot
/// fail (names, the version, the last error itself): a plain value, and the
/// last error is left as it is.
macro_rules! export {
    (pure $body:block) => {{
        fn here() {}
        $crate::ffi::boundary::run_pure(::std::any::type_name_of_val(&here), || $body)
    }};
    ($body:block) => {{
        fn here() {}
        $crate::ffi::boundary::run(::std::any::type_name_of_val(&here), || $body)
    }};
}

/// What an export gives C: its value on success, its fallback on a failure
/// or a panic.
pub(crate) trait Returned: Sized {
    /// What the body yields on success.
    type Ok;
    fn success(ok: Self::Ok) -> Self;
    fn failure(kind: ErrorKind) -> Self;
    /// Whether a success clears `vtf_last_error()`: yes for a status and a
    /// new or lent handle (`*mut`). The frees and the queries of a handle's
    /// properties (numbers, flags, borrowed `const` strings and elements)
    /// leave it, so that cleanup and a report of the failure (its server's
    /// pid, dir ...) may run between a failure and reading its message.
    const CLEARS_ERROR: bool;
}

impl Returned for vtf_status {
    type Ok = ();
    const CLEARS_ERROR: bool = true;
    fn success((): ()) -> Self {
        vtf_status::VTF_OK
    }
    fn failure(kind: ErrorKind) -> Self {
        kind.into()
    }
}

impl Returned for () {
    type Ok = ();
    fn success((): ()) -> Self {}
    fn failure(_: ErrorKind) -> Self {}
    const CLEARS_ERROR: bool = false;
}

impl<T> Returned for *const T {
    type Ok = Self;
    const CLEARS_ERROR: bool = false;
    fn success(ok: Self) -> Self {
        ok
    }
    fn failure(_: ErrorKind) -> Self {
        std::ptr::null()
    }
}

impl<T> Returned for *mut T {
    type Ok = Self;
    const CLEARS_ERROR: bool = true;
    fn success(ok: Self) -> Self {
        ok
    }
    fn failure(_: ErrorKind) -> Self {
        std::ptr::null_mut()
    }
}

/// Plain values whose failure value is fixed by their type (as documented
/// in vtf.h: counts, ports and integers 0, a pid -1, false).
macro_rules! returned_value {
    ($($t:ty => $fallback:expr),* $(,)?) => {$(
        impl Returned for $t {
            type Ok = Self;
            const CLEARS_ERROR: bool = false;
            fn success(ok: Self) -> Self {
                ok
            }
            fn failure(_: ErrorKind) -> Self {
                $fallback
            }
        }
    )*};
}
returned_value!(bool => false, u16 => 0, usize => 0, i64 => 0, f64 => 0.0, i32 => -1);

/// The function's own name from the type name of an item inside it
/// ("vtf::ffi::server::vtf_server_port::here" -> "vtf_server_port").
fn function_name(inner: &'static str) -> &'static str {
    let outer = inner.rsplit_once("::").map_or(inner, |(outer, _)| outer);
    outer.rsplit_once("::").map_or(outer, |(_, name)| name)
}

pub(crate) fn run<R: Returned>(inner: &'static str, body: impl FnOnce() -> Result<R::Ok>) -> R {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => {
            if R::CLEARS_ERROR {
                clear_last_error();
            }
            R::success(value)
        }
        Ok(Err(err)) => {
            set_last_error(&format!("{}: {}", function_name(inner), err.message()));
            R::failure(err.kind())
        }
        Err(payload) => {
            record_panic(inner, payload.as_ref());
            R::failure(ErrorKind::Panic)
        }
    }
}

pub(crate) fn run_pure<R: Returned<Ok = R>>(inner: &'static str, body: impl FnOnce() -> R) -> R {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|payload| {
        record_panic(inner, payload.as_ref());
        R::failure(ErrorKind::Panic)
    })
}

fn record_panic(inner: &'static str, payload: &(dyn std::any::Any + Send)) {
    let message = if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.as_str()
    } else {
        "unknown panic payload"
    };
    set_last_error(&format!(
        "{}: internal panic (a bug in vtf): {message}",
        function_name(inner)
    ));
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
    /// Cleared on success without touching the message, so success costs no
    /// allocation and a message already handed out stays valid until the
    /// next failure.
    static HAS_ERROR: Cell<bool> = const { Cell::new(false) };
}

fn clear_last_error() {
    HAS_ERROR.with(|h| h.set(false));
}

fn set_last_error(message: &str) {
    // Interior NULs cannot travel through a C string; show them instead of truncating.
    let text = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = text);
    HAS_ERROR.with(|h| h.set(true));
}

/// `vtf_last_error()`: the message, or "" when the last call succeeded.
pub(crate) fn last_error() -> *const c_char {
    if HAS_ERROR.with(Cell::get) {
        LAST_ERROR.with(|e| e.borrow().as_ptr())
    } else {
        c"".as_ptr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_is_the_functions_own() {
        fn vtf_example() -> &'static str {
            fn here() {}
            function_name(std::any::type_name_of_val(&here))
        }
        assert_eq!(vtf_example(), "vtf_example");
    }

    #[test]
    fn a_panic_gives_the_fallback_of_the_return_type_and_says_where() {
        fn vtf_panics() -> vtf_status {
            export!({ panic!("on purpose") })
        }
        fn vtf_panics_ptr() -> *const u8 {
            export!({ panic!("on purpose too") })
        }
        assert_eq!(vtf_panics(), vtf_status::VTF_ERR_PANIC);
        // SAFETY: last_error points to a live NUL-terminated string of this thread.
        let message = unsafe { std::ffi::CStr::from_ptr(last_error()) };
        assert_eq!(
            message.to_str(),
            Ok("vtf_panics: internal panic (a bug in vtf): on purpose")
        );
        assert!(vtf_panics_ptr().is_null());
    }

    #[test]
    fn queries_and_frees_keep_the_last_error_statuses_and_handles_clear_it() {
        fn message() -> String {
            // SAFETY: last_error points to a live NUL-terminated string of this thread.
            let text = unsafe { std::ffi::CStr::from_ptr(last_error()) };
            text.to_string_lossy().into_owned()
        }
        fn vtf_fails() -> vtf_status {
            export!({ Err(crate::error::Error::invalid("no")) })
        }
        fn vtf_query() -> u16 {
            export!({ Ok(7) })
        }
        fn vtf_text() -> *const u8 {
            export!({ Ok(c"x".as_ptr().cast()) })
        }
        fn vtf_free() {
            export!({ Ok(()) })
        }
        fn vtf_new() -> *mut u8 {
            export!({ Ok(std::ptr::NonNull::dangling().as_ptr()) })
        }
        fn vtf_ok() -> vtf_status {
            export!({ Ok(()) })
        }
        assert_eq!(vtf_fails(), vtf_status::VTF_ERR_INVALID_ARGUMENT);
        assert_eq!(
            (vtf_query(), vtf_text().is_null(), vtf_free()),
            (7, false, ())
        );
        assert_eq!(message(), "vtf_fails: no");
        assert!(!vtf_new().is_null());
        assert_eq!(message(), "");
        vtf_fails();
        assert_eq!(vtf_ok(), vtf_status::VTF_OK);
        assert_eq!(message(), "");
    }
}
