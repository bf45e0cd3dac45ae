//! `vtf_port`: a port (and its cluster bus port, +10000) reserved across
//! processes by `vtf::ports`, for a program a test starts itself. The same
//! lock files keep it from every vtf server and every other reservation on
//! the machine until it is freed (or the process dies).

use super::{check_out, free_box, handle, write_out};
use crate::ffi::vtf_status;
use crate::ports::{self, PortReservation};

/// Reserves a free port whose bus port (+10000) is free too, below the
/// kernel's ephemeral range. Free with `vtf_port_free`, which releases it.
///
/// # Safety
/// `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn vtf_port_reserve(out: *mut *mut PortReservation) -> vtf_status {
    export!({
        check_out(out, "out")?;
        let reservation = ports::reserve()?;
        // SAFETY: checked above; writable per the caller's contract.
        unsafe { write_out(out, Box::into_raw(Box::new(reservation))) };
        Ok(())
    })
}

/// The reserved port (0 for NULL).
///
/// # Safety
/// `port` must be NULL or a live reservation.
#[no_mangle]
pub unsafe extern "C" fn vtf_port_number(port: *const PortReservation) -> u16 {
    // SAFETY: caller's contract.
    export!({ Ok(unsafe { handle(port, "port") }?.port()) })
}

/// Releases the reservation; NULL is allowed. A program still listening on
/// the port keeps it, but vtf may hand it out again.
///
/// # Safety
/// `port` must be NULL or a live reservation, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn vtf_port_free(port: *mut PortReservation) {
    // SAFETY: made by Box::into_raw in vtf_port_reserve (caller's contract).
    export!({ unsafe { free_box(port) } })
}
