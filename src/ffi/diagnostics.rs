//! `vtf_wait_until`: the C mirror of [`crate::diagnostics::wait_until`].

use std::ffi::{c_char, c_void};
use std::time::Duration;

use super::{null, opt_str_arg, vtf_status};
use crate::diagnostics::wait_until;

/// A condition polled by `vtf_wait_until`.
#[allow(non_camel_case_types)]
pub type vtf_condition = Option<unsafe extern "C" fn(user_data: *mut c_void) -> bool>;

/// Polls `condition(user_data)` until it returns true, for at most
/// `timeout_ms`; VTF_ERR_TIMEOUT names `description` (may be NULL).
///
/// # Safety
/// `condition` must be safe to call with `user_data`; `description` NULL or a string.
#[no_mangle]
pub unsafe extern "C" fn vtf_wait_until(
    condition: vtf_condition,
    user_data: *mut c_void,
    timeout_ms: u32,
    description: *const c_char,
) -> vtf_status {
    export!({
        let condition = condition.ok_or_else(|| null("condition"))?;
        // SAFETY: caller's contract.
        let description =
            unsafe { opt_str_arg(description, "description") }?.unwrap_or("the condition holds");
        wait_until(
            description,
            Duration::from_millis(timeout_ms.into()),
            || {
                // SAFETY: the caller vouches for condition and user_data.
                unsafe { condition(user_data) }
            },
        )
    })
}
