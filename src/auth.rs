//! Access: the servers vtf starts admit only the tests that started them.
//!
//! A 127.0.0.1 server with `enable-module-command yes` and no password lets
//! every local user `MODULE LOAD` code into a process that may run as root
//! (PostgreSQL's test harness had this hole: CVE-2014-0067). So by default
//! each server requires a password for its default user, generated once per
//! test process from the OS random source. It reaches the server in a 0600
//! config file inside the server's 0700 directory, never on the command
//! line (which `/proc/PID/cmdline` shows every user); the same directory
//! holds it alone in [`PASSWORD_FILE`] for tools run by hand.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::{Error, ErrorKind, Result};

/// The password alone, for valkey-cli (`-a "$(cat FILE)"`) and friends.
pub const PASSWORD_FILE: &str = "password";
/// The config file the server starts from: `requirepass` and `masterauth`
/// (after an `include` of the test's own config file, if any).
pub const CONFIG_FILE: &str = "auth.conf";
/// Characters of a generated password: 32 of 62 letters and digits, about
/// 190 bits, safe unquoted in any shell or config line.
const LENGTH: usize = 32;
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// The password of this test process, generated on first use.
pub fn process_password() -> Result<&'static str> {
    static PASSWORD: OnceLock<String> = OnceLock::new();
    if let Some(password) = PASSWORD.get() {
        return Ok(password);
    }
    let generated = generate()?;
    // Two threads may race here: one password wins for both.
    Ok(PASSWORD.get_or_init(|| generated))
}

/// A fresh random password from the OS (getrandom(2)); bytes that would
/// bias the alphabet are drawn again.
fn generate() -> Result<String> {
    let limit = (256 / ALPHABET.len() * ALPHABET.len()) as u8; // 248
    let mut password = String::with_capacity(LENGTH);
    let mut buf = [0u8; 64];
    while password.len() < LENGTH {
        getrandom::getrandom(&mut buf).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("reading the OS random source for the server password: {e}"),
            )
        })?;
        for &b in buf.iter().filter(|&&b| b < limit) {
            if password.len() == LENGTH {
                break;
            }
            password.push(ALPHABET[usize::from(b) % ALPHABET.len()] as char);
        }
    }
    Ok(password)
}

/// Writes [`PASSWORD_FILE`] and [`CONFIG_FILE`] (both 0600) into `dir` and
/// returns the config file's path: the server's first argument.
pub(crate) fn write_files(dir: &Path, password: &str, include: Option<&Path>) -> Result<PathBuf> {
    write_private(&dir.join(PASSWORD_FILE), password.as_bytes())?;
    let mut text =
        String::from("# Written by vtf: only the tests that started this server get in.\n");
    if let Some(file) = include {
        text.push_str(&format!("include {}\n", quote(&file.to_string_lossy())));
    }
    // masterauth on every node: any of them may become a replica (failover).
    text.push_str(&format!("requirepass {}\n", quote(password)));
    text.push_str(&format!("masterauth {}\n", quote(password)));
    let path = dir.join(CONFIG_FILE);
    write_private(&path, text.as_bytes())?;
    Ok(path)
}

/// Creates (or replaces) `path` with mode 0600 from the start, so no other
/// user can open it in between.
fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    let _ = fs::remove_file(path);
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(contents))
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// A config-file argument in double quotes, with what the server's
/// tokenizer (sdssplitargs) would read otherwise escaped.
fn quote(value: &str) -> String {
    let mut out = String::from("\"");
    for b in value.bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
}

/// The shell words that hand a server's password to valkey-cli from its
/// file (`REDISCLI_AUTH`), so the password itself is printed nowhere.
pub fn cli_auth_prefix(dir: &Path) -> String {
    let file = dir.join(PASSWORD_FILE);
    format!(
        "REDISCLI_AUTH=\"$(cat {})\" ",
        shell_quote(&file.to_string_lossy())
    )
}

/// `value` in single quotes for a POSIX shell.
fn shell_quote(value: &str) -> String {
    if !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=@%".contains(&b))
    {
        return value.to_string();
    }
    format!("'{}'", value.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_are_long_random_and_plain() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_eq!(a.len(), LENGTH);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| ALPHABET.contains(&c)), "{a}");
        assert_eq!(process_password().unwrap(), process_password().unwrap());
    }

    #[test]
    fn config_values_are_quoted_for_the_server() {
        assert_eq!(quote("abc"), "\"abc\"");
        assert_eq!(quote("a \"b\"\\c"), "\"a \\\"b\\\"\\\\c\"");
        assert_eq!(quote("x\ny"), "\"x\\x0ay\"");
    }

    #[test]
    fn the_cli_reads_the_password_from_its_file() {
        assert_eq!(
            cli_auth_prefix(Path::new("/tmp/vtf-1-0")),
            "REDISCLI_AUTH=\"$(cat /tmp/vtf-1-0/password)\" "
        );
        assert_eq!(
            cli_auth_prefix(Path::new("/tmp/it's")),
            "REDISCLI_AUTH=\"$(cat '/tmp/it'\\''s/password')\" "
        );
    }
}
