//! `vtf_server_*`: the C mirror of [`crate::server::Server`].

use std::ffi::c_char;
use std::time::Duration;

use super::node::{Lent, ServerHandle};
use super::{c_string, check_out, handle, handle_mut, str_arg, vtf_status, write_out};
use crate::config::Config;
use crate::error::Error;
use crate::server::Server;

/// Starts a server from `config`; returns once it answers PING.
///
/// # Safety
/// `config` must be NULL or a live config; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn vtf_server_start(
    config: *const Config,
    out: *mut *mut ServerHandle,
) -> vtf_status {
    export!({
        check_out(out, "out")?;
        // SAFETY: caller's contract.
        let config = unsafe { handle(config, "config") }?;
        let server = Server::start(config)?;
        // SAFETY: checked above; writable per the caller's contract.
        unsafe { write_out(out, Box::into_raw(Box::new(ServerHandle::owned(server)))) };
        Ok(())
    })
}

/// The server's port (0 for NULL).
///
/// # Safety
/// `server` must be NULL or a live server.
#[no_mangle]
pub unsafe extern "C" fn vtf_server_port(server: *const ServerHandle) -> u16 {
    // SAFETY: caller's contract.
    export!({ Ok(unsafe { handle(server, "server") }?.server()?.port()) })
}

/// "127.0.0.1" (NULL for a NULL server).
///
/// # Safety
/// `server` must be NULL or a live server.
#[no_mangle]
pub unsafe extern "C" fn vtf_server_host(server: *const ServerHandle) -> *const c_char {
    export!({
        // SAFETY: caller's contract.
        Ok(unsafe { handle(server, "server") }?.lend(Lent::Host))
    })
}

/// The pid, or -1 when not running.
///
/// # Safety
/// `server` must be NULL or a live server.
#[no_mangle]
pub unsafe extern "C" fn vtf_server_pid(server: *const ServerHandle) -> i32 {
    export!({
        // SAFETY: caller's contract.
        let server = unsafe { handle(server, "server") }?.server()?;
        Ok(server
            .pid()
            .and_then(|p| i32::try_from(p).ok())
            .unwrap_or(-1))
    })
}

/// The working directory (rdb, aof, nodes.conf, the log).
///
/// # Safety
/// `server` must be NULL or a live server.
#[no_mangle]
pub unsafe extern "C" fn vtf_server_dir(server: *const ServerHandle) -> *const c_char {
    export!({
        // SAFETY: caller's contract.
        Ok(unsafe { handle(server, "server") }?.lend(Lent::Dir))
    })
}

/// The log file (server log, crash reports, sanitizer output).
///
/// # Safety
/// `server` must be NULL or a live server.
#[no_mangle]
pub unsafe extern "C" fn vtf_server_log_path(server: *const ServerHandle) -> *const c_char {
    export!({
        // SAFETY: caller's contract.
        Ok(unsafe { handle(server, "server") }?.lend(Lent::LogPath))
    })
}

/// Whether the process runs.
///
/// # Safety
/// `server` must be NULL or a live server.
#[no_mangle]
pub unsafe extern "C" fn vtf_server_is_running(server: *const ServerHandle) -> bool {
    // SAFETY: caller's contract.
    export!({ Ok(unsafe { handle(server, "server") }?.server()?.is_running()) })
}

/// Stops the server gracefully (SHUTDOWN NOSAVE NOW, then SIGTERM, then SIGKILL); idempotent.
///
/// # Safety
/// `server` must be NULL or a live server.
#[no_mangle]
pub unsafe extern "C" fn vtf_server_stop(server: *mut ServerHandle) -> vtf_status {
    // SAFETY: caller's contract.
    export!({
        unsafe { handle_mut(server, "server") }?
            .server_mut()?
            .stop()
    })
}

/// Restarts on the same port, keeping (saving) or dropping the data.
///
/// # Safety
/// `server` must be NULL or a live server.
#[no_mangle]
pub unsafe extern "C" fn vtf_server_restart(
    server: *mut ServerHandle,
    keep_data: bool,
) -> vtf_status {
    // SAFETY: caller's contract.
    export!({
        unsafe { handle_mut(server, "server") }?
            .server_mut()?
            .restart(keep_data)
    })
}

/// The generated CA certificate's path; NULL when TLS is off.
///
/// # Safety
/// `server` must be NULL or a live server.
#[no_mangle]
pub unsafe extern "C" fn vtf_server_tls_ca_cert_path(server: *const ServerHandle) -> *const c_char {
    export!({
        // SAFETY: caller's contract.
        Ok(unsafe { handle(server, "server") }?.lend(Lent::CaCert))
    })
}

/// The generated client certificate's path (for other TLS clients); NULL when TLS is off.
///
/// # Safety
/// `server` must be NULL or a live server.
#[no_mangle]
pub unsafe extern "C" fn vtf_server_tls_client_cert_path(
    server: *const ServerHandle,
) -> *const c_char {
    export!({
        // SAFETY: caller's contract.
        Ok(unsafe { handle(server, "server") }?.lend(Lent::ClientCert))
    })
}

/// The generated client key's path (mode 0600); NULL when TLS is off.
///
/// # Safety
/// `server` must be NULL or a live server.
#[no_mangle]
pub unsafe extern "C" fn vtf_server_tls_client_key_path(
    server: *const ServerHandle,
) -> *const c_char {
    export!({
        // SAFETY: caller's contract.
        Ok(unsafe { handle(server, "server") }?.lend(Lent::ClientKey))
    })
}

/// Whether the server's log holds `needle`.
///
/// # Safety
/// Pointers must be NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn vtf_server_log_contains(
    server: *const ServerHandle,
    needle: *const c_char,
    found: *mut bool,
) -> vtf_status {
    export!({
        check_out(found, "found")?;
        // SAFETY: caller's contract.
        let (server, needle) = unsafe {
            (
                handle(server, "server")?.server()?,
                str_arg(needle, "needle")?,
            )
        };
        let result = server.log_contains(needle)?;
        // SAFETY: checked above.
        unsafe { write_out(found, result) };
        Ok(())
    })
}

/// Waits until the server's log holds `needle` (fails early if the server exits).
///
/// # Safety
/// Pointers must be NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn vtf_server_wait_for_log(
    server: *const ServerHandle,
    needle: *const c_char,
    timeout_ms: u32,
) -> vtf_status {
    export!({
        // SAFETY: caller's contract.
        let (server, needle) = unsafe {
            (
                handle(server, "server")?.server()?,
                str_arg(needle, "needle")?,
            )
        };
        server.wait_for_log(needle, Duration::from_millis(timeout_ms.into()))
    })
}

/// Stops the server and removes its directory (kept with VTF_KEEP_DATA=1);
/// NULL is allowed. Nodes of a replication group or cluster belong to their
/// group: freeing one is refused (an error is recorded, nothing happens).
///
/// # Safety
/// `server` must be NULL or a live server, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn vtf_server_free(server: *mut ServerHandle) {
    export!({
        if server.is_null() {
            return Ok(());
        }
        // SAFETY: caller's contract.
        if unsafe { &*server }.is_borrowed() {
            return Err(Error::invalid(
                "this server belongs to a replication group or cluster; free the group instead",
            ));
        }
        // SAFETY: created by Box::into_raw in vtf_server_start (caller's contract).
        drop(unsafe { Box::from_raw(server) });
        Ok(())
    })
}

/// The last `lines` lines of the server's log; free with `vtf_string_free`.
///
/// # Safety
/// Pointers must be NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn vtf_server_log_tail(
    server: *const ServerHandle,
    lines: usize,
    text_out: *mut *mut c_char,
) -> vtf_status {
    export!({
        check_out(text_out, "text_out")?;
        // SAFETY: caller's contract.
        let text = unsafe { handle(server, "server") }?
            .server()?
            .log_tail(lines)?;
        // SAFETY: checked above.
        unsafe { write_out(text_out, c_string(&text)) };
        Ok(())
    })
}

/// One field of `INFO section`, e.g. ("replication", "role"); free the value
/// with `vtf_string_free`. A field the server does not report is
/// VTF_ERR_INVALID_ARGUMENT.
///
/// # Safety
/// Pointers must be NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn vtf_server_info_field(
    server: *const ServerHandle,
    section: *const c_char,
    field: *const c_char,
    value_out: *mut *mut c_char,
) -> vtf_status {
    export!({
        check_out(value_out, "value_out")?;
        // SAFETY: caller's contract.
        let (server, section, field) = unsafe {
            (
                handle(server, "server")?.server()?,
                str_arg(section, "section")?,
                str_arg(field, "field")?,
            )
        };
        let value = server.info_field(section, field)?.ok_or_else(|| {
            Error::invalid(format!(
                "INFO {section} of {} has no field {field:?}",
                server.describe()
            ))
        })?;
        // SAFETY: checked above.
        unsafe { write_out(value_out, c_string(&value)) };
        Ok(())
    })
}

/// After a stop: VTF_ERR_SERVER_EXITED with the report when the process
/// exited non-zero or its output holds sanitizer or valgrind reports.
///
/// # Safety
/// `server` must be NULL or a live server.
#[no_mangle]
pub unsafe extern "C" fn vtf_server_check_clean(server: *const ServerHandle) -> vtf_status {
    // SAFETY: caller's contract.
    export!({ unsafe { handle(server, "server") }?.server()?.check_clean() })
}

/// Attaches to a server vtf did not start, at `host:port`, with the
/// config's password and TLS files (an empty config: plain TCP, no
/// password). Returns once it answers. Commands, clients and
/// `vtf_server_info_field` work; stop, restart, logs and check_clean return
/// VTF_ERR_UNSUPPORTED; its pid is -1, its dir and log path "".
/// `vtf_server_free` closes nothing but the handle: the server keeps running.
///
/// # Safety
/// `config` must be NULL or a live config; `host` NULL or a C string; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn vtf_server_attach(
    config: *const Config,
    host: *const c_char,
    port: u16,
    out: *mut *mut ServerHandle,
) -> vtf_status {
    export!({
        check_out(out, "out")?;
        // SAFETY: caller's contract.
        let host = unsafe { str_arg(host, "host") }?;
        // SAFETY: caller's contract.
        let config = unsafe { handle(config, "config") }?;
        let server = Server::attach(config, host, port)?;
        // SAFETY: checked above; writable per the caller's contract.
        unsafe { write_out(out, Box::into_raw(Box::new(ServerHandle::owned(server)))) };
        Ok(())
    })
}

/// Whether the server was attached (`vtf_server_attach`, env VTF_EXTERNAL)
/// rather than started; false for NULL.
///
/// # Safety
/// `server` must be NULL or a live server.
#[no_mangle]
pub unsafe extern "C" fn vtf_server_is_external(server: *const ServerHandle) -> bool {
    export!({
        // SAFETY: caller's contract.
        Ok(unsafe { handle(server, "server") }?.server()?.is_external())
    })
}
