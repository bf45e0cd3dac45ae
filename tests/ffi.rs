//! The C boundary through its exports, without a server: the last error's
//! life cycle (set by a failure, "" after a successful status or handle call,
//! kept by the frees and name lookups), the function names in messages, and
//! the status list.

use std::ffi::{c_char, CStr};
use std::ptr;

use vtf::ffi::config::{vtf_config_add_arg, vtf_config_free, vtf_config_new, vtf_config_set_tls};
use vtf::ffi::server::{vtf_server_is_running, vtf_server_port};
use vtf::ffi::{vtf_last_error, vtf_status, vtf_status_name, vtf_version};

fn last_error() -> String {
    // SAFETY: vtf_last_error never returns NULL; the text lives until the
    // thread's next failure, and it is copied at once.
    unsafe { CStr::from_ptr(vtf_last_error()) }
        .to_string_lossy()
        .into_owned()
}

fn name(status: i32) -> String {
    // SAFETY: vtf_status_name returns a static C string for any int.
    unsafe { CStr::from_ptr(vtf_status_name(status)) }
        .to_string_lossy()
        .into_owned()
}

fn c(text: &CStr) -> *const c_char {
    text.as_ptr()
}

#[test]
fn the_last_error_is_empty_after_a_success_that_follows_a_failure() {
    // A query fails ...
    // SAFETY: NULL is allowed and is the failure under test.
    assert_eq!(unsafe { vtf_server_port(ptr::null()) }, 0);
    assert_eq!(last_error(), "vtf_server_port: server is NULL");
    // ... and an export that returns a handle succeeds: "" as vtf.h promises.
    let config = vtf_config_new();
    assert!(!config.is_null());
    assert_eq!(
        last_error(),
        "",
        "a successful vtf_config_new left the last error"
    );

    // The same with a status-returning export.
    // SAFETY: NULL is allowed.
    assert!(!unsafe { vtf_server_is_running(ptr::null()) });
    assert_eq!(last_error(), "vtf_server_is_running: server is NULL");
    // SAFETY: a live config and NUL-terminated strings.
    let status = unsafe { vtf_config_add_arg(config, c(c"maxmemory"), c(c"1mb")) };
    assert_eq!(status, vtf_status::VTF_OK);
    assert_eq!(last_error(), "");

    // A failing status export names itself once, then the problem.
    // SAFETY: a live config; 7 is no vtf_tls_mode, which is the failure under test.
    let status = unsafe { vtf_config_set_tls(config, 7) };
    assert_eq!(status, vtf_status::VTF_ERR_INVALID_ARGUMENT);
    assert_eq!(last_error(), "vtf_config_set_tls: 7 is not a vtf_tls_mode");

    // Freeing (cleanup between a failure and reading it) keeps the message,
    // and so do the lookups used to report it.
    // SAFETY: the config is live and not used afterwards.
    unsafe { vtf_config_free(config) };
    assert_eq!(
        name(vtf_status::VTF_ERR_INVALID_ARGUMENT as i32),
        "VTF_ERR_INVALID_ARGUMENT"
    );
    assert!(!vtf_version().is_null());
    assert_eq!(last_error(), "vtf_config_set_tls: 7 is not a vtf_tls_mode");
}

#[test]
fn every_status_has_its_c_name_and_nothing_else_has_one() {
    let names: Vec<String> = (0..=12).map(name).collect();
    assert_eq!(
        names,
        [
            "VTF_OK",
            "VTF_ERR_NULL_ARGUMENT",
            "VTF_ERR_INVALID_ARGUMENT",
            "VTF_ERR_BINARY_NOT_FOUND",
            "VTF_ERR_SPAWN",
            "VTF_ERR_SERVER_EXITED",
            "VTF_ERR_TIMEOUT",
            "VTF_ERR_CONNECTION",
            "VTF_ERR_TLS",
            "VTF_ERR_BUILD",
            "VTF_ERR_IO",
            "VTF_ERR_PANIC",
            "VTF_ERR_UNSUPPORTED",
        ]
    );
    for raw in [-1, 13, i32::MAX, i32::MIN] {
        assert_eq!(name(raw), "VTF_UNKNOWN_STATUS", "status {raw}");
    }
}

#[test]
fn every_error_kind_has_its_own_status() {
    use vtf::ErrorKind::*;
    let kinds = [
        NullArgument,
        InvalidArgument,
        BinaryNotFound,
        Spawn,
        ServerExited,
        Timeout,
        Connection,
        Tls,
        Build,
        Io,
        Panic,
        Unsupported,
    ];
    let statuses: Vec<i32> = kinds.iter().map(|&k| vtf_status::from(k) as i32).collect();
    assert_eq!(statuses, (1..=12).collect::<Vec<_>>());
}
