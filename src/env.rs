//! The environment: every `VTF_*` variable the library reads is read here,
//! and every flag with one rule.
//!
//! | Variable | What it does | Unset or empty |
//! |---|---|---|
//! | `VTF_SERVER_BINARY` | the server binary, unless the config names a binary or a version | `valkey-server` on `PATH` |
//! | `VTF_VALKEY_VERSION` | a Valkey version (git ref) built from source (and cached) when no binary is found | no source build |
//! | `VTF_VALKEY_REPO` | the git repository (URL or path) source builds come from | the Valkey project's |
//! | `VTF_CACHE_DIR` | the cache of source builds | `$XDG_CACHE_HOME/valkey-test-framework`, else `~/.cache/valkey-test-framework` |
//! | `VTF_REFRESH` | flag: re-resolve a git ref even when a commit is cached for it | off |
//! | `VTF_QUIET` | flag: no progress lines from source builds on stderr | off |
//! | `VTF_TLS` | flag, or `mutual`: servers speak TLS (clients present certificates under `mutual`) unless the config chose | off |
//! | `VTF_KEEP_DATA` | flag: keep every server's directory when the server goes (its path is printed) | off |
//! | `VTF_SERVER_WRAPPER` | a command, split on white space, that servers run under (e.g. `valgrind --error-exitcode=99`), unless the config sets one; every timeout grows tenfold under it | none |
//! | `VTF_COMMAND_TIMEOUT_MS` | how long a command of vtf's clients may wait for its reply, in ms (`0`: forever), unless the config sets it; grown under a wrapper | 60000 |
//! | `VTF_TMPDIR` | where the servers' directories are made | the system temp dir |
//! | `VTF_PORT_LOCK_DIR` | the port lock files; every process on the machine must use the same | `<system temp dir>/vtf-ports` |
//! | `VTF_EXTERNAL` | `host:port[,host:port...]` or the JSON `vtf ... --json` prints: `Server::start` attaches to the first server instead of starting one, and a cluster's start to the cluster it describes (see `external`) | servers are started |
//! | `VTF_EXTERNAL_FLUSH` | flag: attaching empties the server (FLUSHALL) unless the config chose | off |
//!
//! **Flags** are case-insensitive, with white space around ignored: `1`,
//! `true`, `yes` and `on` are on; `0`, `false`, `no`, `off`, empty and unset
//! are off. Any other value is a mistake, not a silent "off": starting a
//! server or a build fails with `InvalidArgument` naming the variable, its
//! value and what it accepts. (Where no error can be returned, such as when
//! a server is dropped, the value counts as off and a warning is printed on
//! stderr once.)

use std::collections::HashSet;
use std::env;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::process::lock;
use crate::tls::TlsMode;

pub const SERVER_BINARY: &str = "VTF_SERVER_BINARY";
pub const VALKEY_VERSION: &str = "VTF_VALKEY_VERSION";
pub const VALKEY_REPO: &str = "VTF_VALKEY_REPO";
pub const CACHE_DIR: &str = "VTF_CACHE_DIR";
pub const REFRESH: &str = "VTF_REFRESH";
pub const QUIET: &str = "VTF_QUIET";
pub const TLS: &str = "VTF_TLS";
pub const KEEP_DATA: &str = "VTF_KEEP_DATA";
pub const SERVER_WRAPPER: &str = "VTF_SERVER_WRAPPER";
pub const TMPDIR: &str = "VTF_TMPDIR";
pub const COMMAND_TIMEOUT_MS: &str = "VTF_COMMAND_TIMEOUT_MS";
pub const PORT_LOCK_DIR: &str = "VTF_PORT_LOCK_DIR";
pub const EXTERNAL: &str = "VTF_EXTERNAL";
pub const EXTERNAL_FLUSH: &str = "VTF_EXTERNAL_FLUSH";

/// The value of a flag's text by the one rule; `None` for anything else.
pub fn parse_flag(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

/// The value of variable `name`, `None` when unset or empty (or only white space).
pub fn value(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Flag `name` by the one rule; an unknown value is an error.
pub fn flag(name: &str) -> Result<bool> {
    let Some(text) = value(name) else {
        return Ok(false);
    };
    parse_flag(&text).ok_or_else(|| {
        Error::invalid(format!(
            "env {name}={text:?} is not a flag: use 1, true, yes or on for on, and 0, false, \
             no, off or nothing for off (case does not matter)"
        ))
    })
}

/// Env `VTF_TLS`: `None` when off, else the mode (`mutual`, or a flag that is on).
pub fn tls() -> Result<Option<TlsMode>> {
    match value(TLS) {
        Some(text) if text.trim().eq_ignore_ascii_case("mutual") => Ok(Some(TlsMode::Mutual)),
        Some(text) => match parse_flag(&text) {
            Some(true) => Ok(Some(TlsMode::On)),
            Some(false) => Ok(None),
            None => Err(Error::invalid(format!(
                "env {TLS}={text:?} is not a TLS setting: use mutual, 1, true, yes or on for \
                 TLS, and 0, false, no, off or nothing for plain TCP (case does not matter)"
            ))),
        },
        None => Ok(None),
    }
}

/// Env `VTF_COMMAND_TIMEOUT_MS`: `None` when unset, `Some(None)` for 0
/// (forever), else the timeout.
pub fn command_timeout() -> Result<Option<Option<Duration>>> {
    let Some(text) = value(COMMAND_TIMEOUT_MS) else {
        return Ok(None);
    };
    match text.trim().parse::<u64>() {
        Ok(0) => Ok(Some(None)),
        Ok(ms) => Ok(Some(Some(Duration::from_millis(ms)))),
        Err(_) => Err(Error::invalid(format!(
            "env {COMMAND_TIMEOUT_MS}={text:?} is not a number of milliseconds (0 means forever)"
        ))),
    }
}

pub fn keep_data() -> Result<bool> {
    flag(KEEP_DATA)
}

pub fn refresh() -> Result<bool> {
    flag(REFRESH)
}

pub fn quiet() -> Result<bool> {
    flag(QUIET)
}

pub fn external_flush() -> Result<bool> {
    flag(EXTERNAL_FLUSH)
}

/// Checks every variable that has a fixed set of values, so that a mistake
/// fails the first start instead of being read as off later.
pub fn check() -> Result<()> {
    keep_data()?;
    tls()?;
    command_timeout()?;
    Ok(())
}

/// `result`, or `fallback` (the default: off for a flag) after a warning on
/// stderr (once per message), for the places that cannot return an error.
pub(crate) fn or_warn<T>(result: Result<T>, fallback: T) -> T {
    result.unwrap_or_else(|e| {
        static WARNED: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
        let message = e.message().to_string();
        if lock(WARNED.get_or_init(Default::default)).insert(message.clone()) {
            eprintln!("vtf: warning: {message}; the default applies");
        }
        fallback
    })
}

/// Env `VTF_SERVER_WRAPPER`, split on white space (empty: no wrapper).
pub fn server_wrapper() -> Vec<String> {
    value(SERVER_WRAPPER)
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// A path-valued variable, `None` when unset or empty (read as an OS string:
/// paths need not be UTF-8).
fn path(name: &str) -> Option<PathBuf> {
    env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

pub fn server_binary() -> Option<PathBuf> {
    path(SERVER_BINARY)
}

pub fn valkey_version() -> Option<String> {
    value(VALKEY_VERSION).map(|v| v.trim().to_string())
}

pub fn valkey_repo() -> Option<String> {
    value(VALKEY_REPO)
}

pub fn cache_dir() -> Option<PathBuf> {
    path(CACHE_DIR)
}

pub fn tmpdir() -> Option<PathBuf> {
    path(TMPDIR)
}

pub fn port_lock_dir() -> Option<PathBuf> {
    path(PORT_LOCK_DIR)
}

#[cfg(test)]
mod tests {
    use super::parse_flag;

    #[test]
    fn one_flag_rule() {
        for on in ["1", "true", "TRUE", "True", "yes", "YES", " on ", "On"] {
            assert_eq!(parse_flag(on), Some(true), "{on:?}");
        }
        for off in ["0", "false", "FALSE", "no", "No", "off", "OFF", "", "  "] {
            assert_eq!(parse_flag(off), Some(false), "{off:?}");
        }
        for unknown in ["2", "maybe", "enabled", "y", "t", "mutual"] {
            assert_eq!(parse_flag(unknown), None, "{unknown:?}");
        }
    }
}
