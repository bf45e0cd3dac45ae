//! `vtf_config_*`: the C mirror of [`crate::config::Config`].

use std::ffi::c_char;
use std::time::Duration;

use super::{free_box, handle_mut, null, opt_str_arg, str_arg, vtf_status};
use crate::config::{validate_arg_name, Config, TlsMode};
use crate::error::{Error, Result};

c_enum! {
    /// How servers started from a config speak TLS.
    pub enum vtf_tls_mode as RawTlsMode, rust TlsMode {
        /// plain TCP (the default unless env VTF_TLS=1)
        VTF_TLS_OFF = 0 => (TlsMode::Off),
        /// server-side TLS; clients verify the generated CA
        VTF_TLS_ON => (TlsMode::On),
        /// clients must also present the generated client certificate
        VTF_TLS_MUTUAL => (TlsMode::Mutual),
    }
}

/// Applies a consuming builder method to the config behind `config`.
///
/// # Safety
/// `config` must be NULL or a live `vtf_config`.
unsafe fn update(config: *mut Config, apply: impl FnOnce(Config) -> Config) -> Result<()> {
    // SAFETY: forwarded from the caller.
    let config = unsafe { handle_mut(config, "config") }?;
    *config = apply(std::mem::take(config));
    Ok(())
}

/// A new, empty configuration (defaults everywhere). Free with `vtf_config_free`.
#[no_mangle]
pub extern "C" fn vtf_config_new() -> *mut Config {
    export!({ Ok(Box::into_raw(Box::new(Config::new()))) })
}

/// Frees a configuration; NULL is allowed. Servers started from it are unaffected.
///
/// # Safety
/// `config` must be NULL or a live `vtf_config`, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn vtf_config_free(config: *mut Config) {
    // SAFETY: made by Box::into_raw in vtf_config_new (caller's contract).
    export!({ unsafe { free_box(config) } })
}

/// The server binary to run (first in the resolution order).
///
/// # Safety
/// Pointers must be NULL or valid (a live config, a NUL-terminated string).
#[no_mangle]
pub unsafe extern "C" fn vtf_config_set_binary(
    config: *mut Config,
    path: *const c_char,
) -> vtf_status {
    export!({
        // SAFETY: caller's contract.
        let path = unsafe { str_arg(path, "path") }?;
        if path.is_empty() {
            return Err(Error::invalid("path is empty"));
        }
        // SAFETY: caller's contract.
        unsafe { update(config, |c| c.binary(path)) }
    })
}

/// Passes `--name value` to the server; the value is one argv item ("" allowed).
///
/// # Safety
/// Pointers must be NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn vtf_config_add_arg(
    config: *mut Config,
    name: *const c_char,
    value: *const c_char,
) -> vtf_status {
    export!({
        // SAFETY: caller's contract.
        let (name, value) = unsafe { (str_arg(name, "name")?, str_arg(value, "value")?) };
        validate_arg_name(name)?;
        // SAFETY: caller's contract.
        unsafe { update(config, |c| c.arg(name, value)) }
    })
}

/// Loads a module at startup with `nargs` arguments (`args` may be NULL when 0).
///
/// # Safety
/// Pointers must be NULL or valid; `args` must hold `nargs` string pointers.
#[no_mangle]
pub unsafe extern "C" fn vtf_config_add_module(
    config: *mut Config,
    path: *const c_char,
    args: *const *const c_char,
    nargs: usize,
) -> vtf_status {
    export!({
        // SAFETY: caller's contract.
        let path = unsafe { str_arg(path, "path") }?;
        if path.is_empty() {
            return Err(Error::invalid("module path is empty"));
        }
        let mut owned = Vec::with_capacity(nargs);
        if nargs > 0 {
            if args.is_null() {
                return Err(null("args (with nargs > 0)"));
            }
            for i in 0..nargs {
                // SAFETY: `args` holds `nargs` pointers (caller's contract).
                let arg = unsafe { *args.add(i) };
                // SAFETY: each is NULL or a NUL-terminated string.
                owned.push(unsafe { str_arg(arg, &format!("args[{i}]")) }?.to_string());
            }
        }
        // SAFETY: caller's contract.
        unsafe { update(config, |c| c.module(path, owned)) }
    })
}

/// A config file given to the server before all other arguments.
///
/// # Safety
/// Pointers must be NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn vtf_config_set_config_file(
    config: *mut Config,
    path: *const c_char,
) -> vtf_status {
    export!({
        // SAFETY: caller's contract.
        let path = unsafe { str_arg(path, "path") }?;
        if path.is_empty() {
            return Err(Error::invalid("config file path is empty"));
        }
        // SAFETY: caller's contract.
        unsafe { update(config, |c| c.config_file(path)) }
    })
}

/// TLS off, on, or mutual.
///
/// # Safety
/// `config` must be NULL or a live config.
#[no_mangle]
pub unsafe extern "C" fn vtf_config_set_tls(config: *mut Config, mode: RawTlsMode) -> vtf_status {
    export!({
        let mode = vtf_tls_mode::try_from(mode)?.to_rust()?;
        // SAFETY: caller's contract.
        unsafe { update(config, |c| c.tls(mode)) }
    })
}

/// How long a start may wait for PING (default 20 s; x10 under a wrapper).
///
/// # Safety
/// `config` must be NULL or a live config.
#[no_mangle]
pub unsafe extern "C" fn vtf_config_set_startup_timeout_ms(
    config: *mut Config,
    ms: u32,
) -> vtf_status {
    export!({
        if ms == 0 {
            return Err(Error::invalid("startup timeout must be more than 0 ms"));
        }
        // SAFETY: caller's contract.
        unsafe {
            update(config, |c| {
                c.startup_timeout(Duration::from_millis(ms.into()))
            })
        }
    })
}

/// How long each command of clients of servers from this config may wait
/// for its reply; 0 = forever. Default: env VTF_COMMAND_TIMEOUT_MS, else 60 s;
/// grown x10 under a wrapper. A command without a reply in time fails with
/// VTF_ERR_TIMEOUT naming the command, the server and what its process is doing.
///
/// # Safety
/// `config` must be NULL or a live config.
#[no_mangle]
pub unsafe extern "C" fn vtf_config_set_command_timeout_ms(
    config: *mut Config,
    ms: u32,
) -> vtf_status {
    export!({
        let timeout = (ms > 0).then(|| Duration::from_millis(ms.into()));
        // SAFETY: caller's contract.
        unsafe { update(config, |c| c.command_timeout(timeout)) }
    })
}

/// The Valkey version (git ref) to run, built from source and cached (from env
/// VTF_VALKEY_REPO or the Valkey repository). Used unless the config names a
/// binary; wins over VTF_SERVER_BINARY, PATH and VTF_VALKEY_VERSION.
///
/// # Safety
/// Pointers must be NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn vtf_config_set_version(
    config: *mut Config,
    git_ref: *const c_char,
) -> vtf_status {
    export!({
        // SAFETY: caller's contract.
        let git_ref = unsafe { str_arg(git_ref, "git_ref") }?;
        if git_ref.is_empty() {
            return Err(Error::invalid("git_ref is empty"));
        }
        // SAFETY: caller's contract.
        unsafe { update(config, |c| c.version(git_ref)) }
    })
}

/// Keep the server directories when servers are freed (like VTF_KEEP_DATA=1).
///
/// # Safety
/// `config` must be NULL or a live config.
#[no_mangle]
pub unsafe extern "C" fn vtf_config_set_keep_data(config: *mut Config, keep: bool) -> vtf_status {
    export!({
        // SAFETY: caller's contract.
        unsafe { update(config, |c| c.keep_data(keep)) }
    })
}

/// Runs the server under `command`, a program and its arguments split like a
/// command line (e.g. `"valgrind --error-exitcode=99 --leak-check=full"`),
/// overriding env `VTF_SERVER_WRAPPER`; startup timeouts grow x10 under it.
/// An empty string means no wrapper even when the env var is set; NULL goes
/// back to the env var.
///
/// # Safety
/// `config` must be NULL or a live config; `command` NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn vtf_config_set_wrapper(
    config: *mut Config,
    command: *const c_char,
) -> vtf_status {
    export!({
        // SAFETY: caller's contract.
        let command = unsafe { opt_str_arg(command, "command") }?;
        let words = match command {
            Some(line) if line.trim().is_empty() => Some(Vec::new()),
            Some(line) => Some(crate::client::split_command(line)?),
            None => None,
        };
        // SAFETY: caller's contract.
        unsafe {
            update(config, |c| match words {
                Some(words) => c.wrapper(words),
                None => c.without_wrapper(),
            })
        }
    })
}

/// Whether servers started from this config require a password (default
/// on: one generated per test process, unless env VTF_AUTH=0). `false` gives
/// open servers, for tests of authentication itself or poking by hand.
///
/// # Safety
/// `config` must be NULL or a live config.
#[no_mangle]
pub unsafe extern "C" fn vtf_config_set_auth(config: *mut Config, on: bool) -> vtf_status {
    // SAFETY: caller's contract.
    export!({ unsafe { update(config, |c| c.auth(on)) } })
}

/// The password (copied) that servers started from this config require and
/// that vtf's clients send, instead of the one generated per test process;
/// it turns auth on even under VTF_AUTH=0. Empty is refused (use
/// vtf_config_set_auth(config, false)). Clients of servers attached with
/// `vtf_server_attach` / `vtf_cluster_attach` send it too.
///
/// # Safety
/// `config` must be NULL or a live config; `password` NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn vtf_config_set_password(
    config: *mut Config,
    password: *const c_char,
) -> vtf_status {
    export!({
        // SAFETY: caller's contract.
        let password = unsafe { str_arg(password, "password") }?.to_string();
        if password.is_empty() {
            return Err(Error::invalid(
                "the password is empty; to turn auth off use vtf_config_set_auth(config, false)",
            ));
        }
        // SAFETY: caller's contract.
        unsafe { update(config, |c| c.password(password)) }
    })
}

/// TLS files to attach with instead of vtf's own CA: `ca_cert` (required)
/// signed the server's certificate; `client_cert` and `client_key` (both or
/// neither; NULL for none) are presented under mutual TLS. Copied.
///
/// # Safety
/// `config` must be NULL or a live config; the paths NULL or C strings.
#[no_mangle]
pub unsafe extern "C" fn vtf_config_set_tls_files(
    config: *mut Config,
    ca_cert: *const c_char,
    client_cert: *const c_char,
    client_key: *const c_char,
) -> vtf_status {
    export!({
        // SAFETY: caller's contract.
        let (ca, cert, key) = unsafe {
            (
                str_arg(ca_cert, "ca_cert")?,
                opt_str_arg(client_cert, "client_cert")?,
                opt_str_arg(client_key, "client_key")?,
            )
        };
        if cert.is_some() != key.is_some() {
            return Err(Error::invalid(
                "client_cert and client_key go together: give both or neither",
            ));
        }
        let (ca, cert, key) = (ca.to_string(), cert.map(Into::into), key.map(Into::into));
        // SAFETY: caller's contract.
        unsafe { update(config, |c| c.tls_files(ca, cert, key)) }
    })
}

/// Whether attaching empties the server (FLUSHALL; a cluster's primaries)
/// so a test starts from an empty keyspace (default: env
/// VTF_EXTERNAL_FLUSH=1, else off).
///
/// # Safety
/// `config` must be NULL or a live config.
#[no_mangle]
pub unsafe extern "C" fn vtf_config_set_flush_on_attach(
    config: *mut Config,
    on: bool,
) -> vtf_status {
    // SAFETY: caller's contract.
    export!({ unsafe { update(config, |c| c.flush_on_attach(on)) } })
}
