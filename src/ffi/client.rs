//! `vtf_client_*`: the C mirror of [`crate::client::Client`].

use std::ffi::{c_char, CStr};
use std::time::Duration;

use super::node::ServerHandle;
use super::reply::vtf_reply;
use super::{check_out, free_box, handle, handle_mut, null, str_arg, vtf_status, write_out};
use crate::client::Client;
use crate::error::{Error, Result};

/// Connects a client to `server` (over TLS when the server uses it).
///
/// # Safety
/// `server` must be NULL or a live server; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn vtf_client_connect(
    server: *const ServerHandle,
    out: *mut *mut Client,
) -> vtf_status {
    export!({
        check_out(out, "out")?;
        // SAFETY: caller's contract.
        let client = unsafe { handle(server, "server") }?.server()?.connect()?;
        // SAFETY: checked above.
        unsafe { write_out(out, Box::into_raw(Box::new(client))) };
        Ok(())
    })
}

/// Sends a command of `argc` arguments. With `argvlen`, arguments are
/// binary-safe byte strings of those lengths; without (NULL), NUL-terminated.
/// A server error is a reply of type VTF_REPLY_ERROR with status VTF_OK.
///
/// # Safety
/// `argv` must hold `argc` pointers, each valid for its length (or
/// NUL-terminated when `argvlen` is NULL); other pointers NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn vtf_client_command(
    client: *mut Client,
    argc: usize,
    argv: *const *const c_char,
    argvlen: *const usize,
    out: *mut *mut vtf_reply,
) -> vtf_status {
    export!({
        check_out(out, "out")?;
        // SAFETY: caller's contract.
        let client = unsafe { handle_mut(client, "client") }?;
        if argc == 0 {
            return Err(Error::invalid(
                "argc is 0: a command needs at least one argument",
            ));
        }
        if argv.is_null() {
            return Err(null("argv"));
        }
        // SAFETY: argv holds argc pointers; argvlen, when given, argc lengths.
        let args = unsafe { collect_args(argc, argv, argvlen) }?;
        let reply = client.cmd(&args)?;
        // SAFETY: checked above.
        unsafe { write_out(out, Box::into_raw(Box::new(vtf_reply::from(reply)))) };
        Ok(())
    })
}

/// # Safety
/// See `vtf_client_command`.
unsafe fn collect_args<'a>(
    argc: usize,
    argv: *const *const c_char,
    argvlen: *const usize,
) -> Result<Vec<&'a [u8]>> {
    (0..argc)
        .map(|i| {
            // SAFETY: argv holds argc pointers (caller's contract).
            let arg = unsafe { *argv.add(i) };
            if arg.is_null() {
                return Err(null(&format!("argv[{i}]")));
            }
            if argvlen.is_null() {
                // SAFETY: NUL-terminated when no lengths are given.
                Ok(unsafe { CStr::from_ptr(arg) }.to_bytes())
            } else {
                // SAFETY: argvlen holds argc lengths, each valid for its argument.
                Ok(unsafe { std::slice::from_raw_parts(arg.cast::<u8>(), *argvlen.add(i)) })
            }
        })
        .collect()
}

/// Sends a command given as one string, split on white space; double quotes
/// group (`SET k "a b"`).
///
/// # Safety
/// Pointers must be NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn vtf_client_command_str(
    client: *mut Client,
    command: *const c_char,
    out: *mut *mut vtf_reply,
) -> vtf_status {
    export!({
        check_out(out, "out")?;
        // SAFETY: caller's contract.
        let (client, command) =
            unsafe { (handle_mut(client, "client")?, str_arg(command, "command")?) };
        let reply = client.cmd_str(command)?;
        // SAFETY: checked above.
        unsafe { write_out(out, Box::into_raw(Box::new(vtf_reply::from(reply)))) };
        Ok(())
    })
}

/// How long a command may wait for its reply; 0 means forever (the default).
///
/// # Safety
/// `client` must be NULL or a live client.
#[no_mangle]
pub unsafe extern "C" fn vtf_client_set_timeout_ms(
    client: *mut Client,
    timeout_ms: u32,
) -> vtf_status {
    export!({
        // SAFETY: caller's contract.
        let client = unsafe { handle_mut(client, "client") }?;
        client.set_timeout((timeout_ms > 0).then(|| Duration::from_millis(timeout_ms.into())))
    })
}

/// Closes the connection; NULL is allowed.
///
/// # Safety
/// `client` must be NULL or a live client, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn vtf_client_free(client: *mut Client) {
    // SAFETY: made by Box::into_raw in this library (caller's contract).
    export!({ unsafe { free_box(client) } })
}
