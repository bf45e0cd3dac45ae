//! What a server is started with: binary, arguments, modules, config file,
//! TLS and timeouts. A plain value (cheap to clone) so groups can derive the
//! configs of their nodes from it.

use std::env;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::env as vars;
use crate::error::{Error, ErrorKind, Result};
pub use crate::tls::TlsMode;

/// Default wait for a server to answer PING after it was spawned.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
/// Default wait for the reply to each command of vtf's clients (grown under a
/// wrapper); a test that blocks on purpose sets `None` (forever).
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How much slower a server runs under a wrapper (valgrind: about tenfold).
pub const WRAPPER_SLOWDOWN: u32 = 10;

/// A module to load at startup, with its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    pub path: PathBuf,
    pub args: Vec<String>,
}

/// A server configuration, built with chained calls:
///
/// ```
/// let config = vtf::Config::new()
///     .arg("maxmemory", "1mb")
///     .arg("save", "")
///     .module("/path/to/module.so", ["arg1", "arg2"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    pub(crate) binary: Option<PathBuf>,
    pub(crate) version: Option<String>,
    pub(crate) args: Vec<(String, String)>,
    pub(crate) modules: Vec<Module>,
    pub(crate) config_file: Option<PathBuf>,
    pub(crate) tls: Option<TlsMode>,
    pub(crate) startup_timeout: Option<Duration>,
    pub(crate) keep_data: bool,
    /// `None`: env `VTF_COMMAND_TIMEOUT_MS`, else the default; `Some(None)`: forever.
    pub(crate) command_timeout: Option<Option<Duration>>,
    pub(crate) wrapper: Option<Vec<String>>,
    pub(crate) password: Option<String>,
    pub(crate) tls_files: Option<ClientTlsFiles>,
    pub(crate) flush_on_attach: Option<bool>,
}

/// TLS files a client brings for a server vtf did not start: the CA that
/// signed the server's certificate, and for mutual TLS a client certificate
/// and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTlsFiles {
    pub ca_cert: PathBuf,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

impl Config {
    pub fn new() -> Self {
        Config::default()
    }

    /// The server binary to run (first in the resolution order).
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// A Valkey version (git ref) to run, built from source (and cached) from
    /// env `VTF_VALKEY_REPO` or the Valkey project's repository. Used unless the
    /// config also names a binary; wins over `VTF_SERVER_BINARY` and `PATH`.
    pub fn version(mut self, git_ref: impl Into<String>) -> Self {
        self.version = Some(git_ref.into());
        self
    }

    /// Passes `--name value` to the server. The value is one argv item, even
    /// with spaces; "" passes an empty value. Repeated names are kept in order.
    pub fn arg(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.args.push((name.into(), value.into()));
        self
    }

    /// Replaces every earlier `name` argument with this one.
    pub fn set_arg(mut self, name: &str, value: impl Into<String>) -> Self {
        self.args.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.arg(name, value)
    }

    /// Removes every `name` argument.
    pub fn remove_arg(mut self, name: &str) -> Self {
        self.args.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    /// Loads a module at startup (`--loadmodule path args...`).
    pub fn module<I, S>(mut self, path: impl Into<PathBuf>, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.modules.push(Module {
            path: path.into(),
            args: args.into_iter().map(Into::into).collect(),
        });
        self
    }

    /// A config file passed as the server's first argument; our own
    /// arguments and `arg`s override what it says.
    pub fn config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config_file = Some(path.into());
        self
    }

    pub fn tls(mut self, mode: TlsMode) -> Self {
        self.tls = Some(mode);
        self
    }

    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = Some(timeout);
        self
    }

    /// How long each command of a client of these servers may wait for its
    /// reply (`None`: forever), instead of env `VTF_COMMAND_TIMEOUT_MS` or
    /// [`DEFAULT_COMMAND_TIMEOUT`]. Grown under a wrapper, like every wait.
    pub fn command_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.command_timeout = Some(timeout);
        self
    }

    /// The command timeout clients of these servers get: the config's, else
    /// env `VTF_COMMAND_TIMEOUT_MS`'s, else [`DEFAULT_COMMAND_TIMEOUT`],
    /// grown by [`Config::scaled`]; `None` is forever.
    pub fn effective_command_timeout(&self) -> Option<Duration> {
        let chosen = match self.command_timeout {
            Some(timeout) => timeout,
            None => vars::or_warn(vars::command_timeout(), None)
                .unwrap_or(Some(DEFAULT_COMMAND_TIMEOUT)),
        };
        chosen.map(|t| self.scaled(t))
    }

    /// Keep the server's directory when it is dropped (also env `VTF_KEEP_DATA=1`).
    pub fn keep_data(mut self, keep: bool) -> Self {
        self.keep_data = keep;
        self
    }

    /// Runs the server under `command` (e.g. `["valgrind", "--error-exitcode=99"]`),
    /// overriding env `VTF_SERVER_WRAPPER`; an empty command means no wrapper.
    pub fn wrapper<I, S>(mut self, command: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.wrapper = Some(command.into_iter().map(Into::into).collect());
        self
    }

    /// The credential clients send (`AUTH`). For attached servers
    /// ([`crate::Server::attach`]); servers vtf starts do not take one yet.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// TLS files to connect with instead of vtf's own CA: for attached
    /// servers, which vtf's CA did not sign. The client certificate and key
    /// are for mutual TLS (both or neither).
    pub fn tls_files(
        mut self,
        ca_cert: impl Into<PathBuf>,
        client_cert: Option<PathBuf>,
        client_key: Option<PathBuf>,
    ) -> Self {
        self.tls_files = Some(ClientTlsFiles {
            ca_cert: ca_cert.into(),
            client_cert,
            client_key,
        });
        self
    }

    /// Empty an attached server (`FLUSHALL`) when attaching to it, so a test
    /// starts from an empty keyspace as it does on a server vtf started
    /// (default: env `VTF_EXTERNAL_FLUSH=1`, else off: an external server's
    /// data is not vtf's to delete unless asked).
    pub fn flush_on_attach(mut self, flush: bool) -> Self {
        self.flush_on_attach = Some(flush);
        self
    }

    pub(crate) fn flush_on_attach_requested(&self) -> Result<bool> {
        match self.flush_on_attach {
            Some(flush) => Ok(flush),
            None => vars::external_flush(),
        }
    }

    pub fn get_password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    pub fn get_tls_files(&self) -> Option<&ClientTlsFiles> {
        self.tls_files.as_ref()
    }

    /// Forgets a wrapper set with [`Config::wrapper`]: env `VTF_SERVER_WRAPPER` applies again.
    pub fn without_wrapper(mut self) -> Self {
        self.wrapper = None;
        self
    }

    /// The wrapper in effect: the config's, else env `VTF_SERVER_WRAPPER`'s.
    pub fn wrapper_command(&self) -> Vec<String> {
        self.wrapper.clone().unwrap_or_else(vars::server_wrapper)
    }

    /// How many times slower servers from this config run: [`WRAPPER_SLOWDOWN`]
    /// under a wrapper (the config's or env `VTF_SERVER_WRAPPER`'s), else 1.
    pub fn slowdown(&self) -> u32 {
        if self.wrapper_command().is_empty() {
            1
        } else {
            WRAPPER_SLOWDOWN
        }
    }

    /// `timeout` grown by [`Config::slowdown`]: the one place every wait on a
    /// server (startup, shutdown, replication, cluster) is scaled.
    pub fn scaled(&self, timeout: Duration) -> Duration {
        timeout.saturating_mul(self.slowdown())
    }

    pub fn args(&self) -> &[(String, String)] {
        &self.args
    }

    pub fn modules(&self) -> &[Module] {
        &self.modules
    }

    /// The last value given for `name`, if any.
    pub fn get_arg(&self, name: &str) -> Option<&str> {
        self.args
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The TLS mode: the one chosen, else env `VTF_TLS`'s (on for a flag
    /// that is on, mutual TLS for `mutual`; see [`crate::env`]).
    pub fn tls_mode(&self) -> TlsMode {
        self.tls
            .unwrap_or_else(|| vars::or_warn(vars::tls(), None).unwrap_or(TlsMode::Off))
    }

    /// The startup timeout as set (default [`DEFAULT_STARTUP_TIMEOUT`]), before
    /// any slow-down.
    pub fn startup_timeout_base(&self) -> Duration {
        self.startup_timeout.unwrap_or(DEFAULT_STARTUP_TIMEOUT)
    }

    /// The startup timeout, grown under a wrapper ([`Config::scaled`]).
    pub fn effective_startup_timeout(&self) -> Duration {
        self.scaled(self.startup_timeout_base())
    }

    /// Whether directories are kept: the config's choice or env `VTF_KEEP_DATA`.
    pub(crate) fn keep_data_requested(&self) -> bool {
        self.keep_data || vars::or_warn(vars::keep_data(), false)
    }

    /// Checks what can be checked before anything is spawned, the
    /// environment's flags included.
    pub fn validate(&self) -> Result<()> {
        vars::check()?;
        for (name, _) in &self.args {
            validate_arg_name(name)?;
        }
        for module in &self.modules {
            if !module.path.is_file() {
                return Err(Error::invalid(format!(
                    "module {} does not exist or is not a file",
                    module.path.display()
                )));
            }
        }
        if let Some(file) = &self.config_file {
            if !file.is_file() {
                return Err(Error::invalid(format!(
                    "config file {} does not exist or is not a file",
                    file.display()
                )));
            }
        }
        Ok(())
    }

    /// Finds the server binary; first match wins: the config's path, a
    /// (cached) source build of the config's version, env `VTF_SERVER_BINARY`,
    /// `valkey-server` on PATH, then a source build of env
    /// `VTF_VALKEY_VERSION`. The error lists every place tried.
    pub fn resolve_binary(&self) -> Result<PathBuf> {
        let mut tried = Vec::new();
        if let Some(path) = &self.binary {
            return executable(path).ok_or_else(|| {
                Error::new(
                    ErrorKind::BinaryNotFound,
                    format!(
                        "server binary {} (set in the config) does not exist or is not executable",
                        path.display()
                    ),
                )
            });
        }
        tried.push("the config's binary: not set".to_string());
        // A version named in the config is as explicit as a binary: it wins
        // over whatever the environment offers.
        if let Some(version) = &self.version {
            return crate::build::server_for_version(version).map_err(|e| {
                e.context(format!(
                    "building Valkey {version} (the config's version) from source failed"
                ))
            });
        }
        match vars::server_binary() {
            Some(path) => {
                return executable(&path).ok_or_else(|| {
                    Error::new(
                        ErrorKind::BinaryNotFound,
                        format!(
                            "server binary {} (from env VTF_SERVER_BINARY) does not exist or is not executable",
                            path.display()
                        ),
                    )
                });
            }
            None => tried.push("env VTF_SERVER_BINARY: not set".to_string()),
        }
        match find_on_path("valkey-server") {
            Some(path) => return Ok(path),
            None => tried.push(format!(
                "valkey-server on PATH ({}): not found",
                env::var("PATH").unwrap_or_default()
            )),
        }
        match vars::valkey_version() {
            Some(version) => crate::build::server_for_version(&version).map_err(|e| {
                e.context(format!(
                    "no server binary found ({}); building Valkey {version} from source failed",
                    tried.join("; ")
                ))
            }),
            None => {
                tried.push("a source build: env VTF_VALKEY_VERSION not set".to_string());
                Err(Error::new(
                    ErrorKind::BinaryNotFound,
                    format!(
                        "no valkey-server binary found; tried {}. Install valkey-server, set VTF_SERVER_BINARY, or set VTF_VALKEY_VERSION to build one",
                        tried.join("; ")
                    ),
                ))
            }
        }
    }
}

/// Argument names are config option names: non-empty, no white space, and
/// given without the leading `--`.
pub fn validate_arg_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid("argument name is empty"));
    }
    if name.starts_with("--") {
        return Err(Error::invalid(format!(
            "argument name {name:?} must be given without the leading \"--\""
        )));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::invalid(format!(
            "argument name {name:?} contains white space or control characters"
        )));
    }
    // These are how vtf finds, watches and isolates the server.
    const OWNED: [(&str, &str); 7] = [
        ("port", "every server gets a port reserved across processes"),
        (
            "tls-port",
            "TLS servers listen on their reserved port; use Config::tls",
        ),
        ("bind", "servers bind 127.0.0.1 only"),
        (
            "dir",
            "every server runs in its own directory (see VTF_TMPDIR)",
        ),
        (
            "logfile",
            "the log goes to the server's log file, read by vtf",
        ),
        ("daemonize", "vtf watches the server process itself"),
        (
            "cluster-port",
            "the cluster bus is on port + 10000, which vtf reserves with the port",
        ),
    ];
    if let Some((owned, why)) = OWNED.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
        return Err(Error::invalid(format!(
            "argument {owned:?} is set by vtf and cannot be overridden: {why}"
        )));
    }
    Ok(())
}

/// The program and arguments of env `VTF_SERVER_WRAPPER`, split on white space.
pub fn wrapper() -> Vec<String> {
    vars::server_wrapper()
}

pub(crate) fn executable(path: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).ok()?;
    (meta.is_file() && meta.permissions().mode() & 0o111 != 0).then(|| path.to_path_buf())
}

pub(crate) fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path).find_map(|dir| executable(&dir.join(program)))
}
