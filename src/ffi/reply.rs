//! `vtf_reply_*`: replies in a form C can read in place: every string is
//! NUL-terminated as well as length-counted, maps are flattened to
//! alternating keys and values.

use std::ffi::c_char;
use std::ptr;

use super::{free_box, handle};
use crate::reply::Reply;

/// The type of a reply (RESP2 and RESP3).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum vtf_reply_type {
    VTF_REPLY_NIL,
    VTF_REPLY_STATUS,
    VTF_REPLY_ERROR,
    VTF_REPLY_INTEGER,
    VTF_REPLY_STRING,
    VTF_REPLY_ARRAY,
    VTF_REPLY_MAP,
    VTF_REPLY_SET,
    VTF_REPLY_DOUBLE,
    VTF_REPLY_BOOLEAN,
    VTF_REPLY_BIG_NUMBER,
    VTF_REPLY_VERBATIM,
    VTF_REPLY_PUSH,
}

/// A reply's type for a NULL reply (or a panic) is NIL.
impl super::boundary::Returned for vtf_reply_type {
    type Ok = Self;
    const CLEARS_ERROR: bool = false;
    fn success(ok: Self) -> Self {
        ok
    }
    fn failure(_: crate::error::ErrorKind) -> Self {
        vtf_reply_type::VTF_REPLY_NIL
    }
}

/// A reply owned by the caller (free with `vtf_reply_free`); its elements
/// are borrowed from it.
#[allow(non_camel_case_types)]
pub struct vtf_reply {
    kind: vtf_reply_type,
    integer: i64,
    double: f64,
    /// The bytes plus a trailing NUL, for string-like replies.
    text: Option<Vec<u8>>,
    elements: Vec<vtf_reply>,
}

impl vtf_reply {
    fn new(kind: vtf_reply_type) -> Self {
        vtf_reply {
            kind,
            integer: 0,
            double: 0.0,
            text: None,
            elements: Vec::new(),
        }
    }

    fn with_text(kind: vtf_reply_type, bytes: impl Into<Vec<u8>>) -> Self {
        let mut text = bytes.into();
        text.push(0);
        vtf_reply {
            text: Some(text),
            ..vtf_reply::new(kind)
        }
    }

    fn with_elements(kind: vtf_reply_type, items: Vec<Reply>) -> Self {
        vtf_reply {
            elements: items.into_iter().map(vtf_reply::from).collect(),
            ..vtf_reply::new(kind)
        }
    }
}

impl From<Reply> for vtf_reply {
    fn from(reply: Reply) -> Self {
        use vtf_reply_type::*;
        match reply {
            Reply::Nil => vtf_reply::new(VTF_REPLY_NIL),
            Reply::Status(s) => vtf_reply::with_text(VTF_REPLY_STATUS, s),
            Reply::Error(s) => vtf_reply::with_text(VTF_REPLY_ERROR, s),
            Reply::Integer(i) => vtf_reply {
                integer: i,
                double: i as f64,
                ..vtf_reply::new(VTF_REPLY_INTEGER)
            },
            Reply::String(b) => vtf_reply::with_text(VTF_REPLY_STRING, b),
            Reply::Array(items) => vtf_reply::with_elements(VTF_REPLY_ARRAY, items),
            Reply::Set(items) => vtf_reply::with_elements(VTF_REPLY_SET, items),
            Reply::Push { data, .. } => vtf_reply::with_elements(VTF_REPLY_PUSH, data),
            Reply::Map(pairs) => vtf_reply::with_elements(
                VTF_REPLY_MAP,
                pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
            ),
            Reply::Double(d) => vtf_reply {
                double: d,
                ..vtf_reply::new(VTF_REPLY_DOUBLE)
            },
            Reply::Boolean(b) => vtf_reply {
                integer: b as i64,
                ..vtf_reply::new(VTF_REPLY_BOOLEAN)
            },
            Reply::BigNumber(n) => vtf_reply::with_text(VTF_REPLY_BIG_NUMBER, n),
            Reply::Verbatim { text, .. } => vtf_reply::with_text(VTF_REPLY_VERBATIM, text),
        }
    }
}

/// The reply's type (VTF_REPLY_NIL for NULL).
///
/// # Safety
/// `reply` must be NULL or a live reply.
#[no_mangle]
pub unsafe extern "C" fn vtf_reply_get_type(reply: *const vtf_reply) -> vtf_reply_type {
    export!({
        // SAFETY: caller's contract.
        Ok(unsafe { handle(reply, "reply") }?.kind)
    })
}

/// The value of an INTEGER (or BOOLEAN as 0/1) reply; 0 for other types.
///
/// # Safety
/// `reply` must be NULL or a live reply.
#[no_mangle]
pub unsafe extern "C" fn vtf_reply_integer(reply: *const vtf_reply) -> i64 {
    // SAFETY: caller's contract.
    export!({ Ok(unsafe { handle(reply, "reply") }?.integer) })
}

/// The value of a DOUBLE (or INTEGER) reply; 0.0 for other types.
///
/// # Safety
/// `reply` must be NULL or a live reply.
#[no_mangle]
pub unsafe extern "C" fn vtf_reply_double(reply: *const vtf_reply) -> f64 {
    // SAFETY: caller's contract.
    export!({ Ok(unsafe { handle(reply, "reply") }?.double) })
}

/// The bytes of a STRING, STATUS, ERROR, VERBATIM or BIG_NUMBER reply,
/// NUL-terminated; `len` (may be NULL) gets their count. NULL for other types.
///
/// # Safety
/// `reply` must be NULL or a live reply; `len` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn vtf_reply_string(
    reply: *const vtf_reply,
    len: *mut usize,
) -> *const c_char {
    export!({
        // SAFETY: caller's contract.
        let reply = unsafe { handle(reply, "reply") }?;
        let Some(text) = &reply.text else {
            return Ok(ptr::null());
        };
        if !len.is_null() {
            // SAFETY: non-NULL and writable per the caller's contract.
            unsafe { len.write(text.len() - 1) };
        }
        Ok(text.as_ptr().cast())
    })
}

/// The number of elements of an ARRAY, SET or PUSH reply; 2 x pairs of a MAP.
///
/// # Safety
/// `reply` must be NULL or a live reply.
#[no_mangle]
pub unsafe extern "C" fn vtf_reply_len(reply: *const vtf_reply) -> usize {
    // SAFETY: caller's contract.
    export!({ Ok(unsafe { handle(reply, "reply") }?.elements.len()) })
}

/// Element `index` (maps: keys at even, values at odd indexes), borrowed from
/// `reply`; NULL when out of range.
///
/// # Safety
/// `reply` must be NULL or a live reply.
#[no_mangle]
pub unsafe extern "C" fn vtf_reply_element(
    reply: *const vtf_reply,
    index: usize,
) -> *const vtf_reply {
    export!({
        // SAFETY: caller's contract.
        let reply = unsafe { handle(reply, "reply") }?;
        reply
            .elements
            .get(index)
            .map(|e| e as *const vtf_reply)
            .ok_or_else(|| {
                crate::error::Error::invalid(format!(
                    "index {index} is out of range (the reply has {} elements)",
                    reply.elements.len()
                ))
            })
    })
}

/// Frees a reply and its elements; NULL is allowed.
///
/// # Safety
/// `reply` must be NULL or a reply returned by a command (not an element).
#[no_mangle]
pub unsafe extern "C" fn vtf_reply_free(reply: *mut vtf_reply) {
    // SAFETY: made by Box::into_raw in a command function (caller's contract).
    export!({ unsafe { free_box(reply) } })
}
