//! A `valkey-server` process: started on a reserved port in a directory of
//! its own, ready when it answers PING, stopped (and its directory removed)
//! when dropped (or a server vtf did not start, attached by address).
//! Starting one (argv, spawn, readiness) is in `start`.

mod start;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::auth;
use crate::client::Client;
use crate::config::Config;
use crate::diagnostics::{self, log_excerpt};
use crate::endpoint::Endpoint;
pub use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::external::{self, External};
use crate::ports::PortReservation;
pub use crate::ports::HOST;
use crate::process::{self, describe_exit, Activity, ProcessState};
pub use crate::reply::info_value;
use crate::tls::{TlsFiles, TlsMode};
use crate::workdir;

/// How long a server may take to exit after SHUTDOWN (grown under a wrapper).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How long a server may take to exit after SIGTERM before it gets SIGKILL.
pub const SIGTERM_GRACE: Duration = Duration::from_secs(3);

/// A running (or stopped) server. Dropping it stops the process and removes
/// its directory (kept with `Config::keep_data` or env `VTF_KEEP_DATA=1`).
#[derive(Debug)]
pub struct Server {
    config: Config,
    binary: PathBuf,
    engine: Engine,
    tls_mode: TlsMode,
    tls_files: Option<TlsFiles>,
    /// `None` for an attached server, which has no port of ours.
    reservation: Option<PortReservation>,
    state: Arc<ProcessState>,
    /// What the default user must give (`None`: auth is off); for an
    /// attached server, the credential its config brings.
    password: Option<String>,
    /// The 0600 config file that requires it (includes the test's own).
    auth_config: Option<PathBuf>,
    /// Set for a server vtf did not start (see [`Server::attach`]).
    external: Option<Box<External>>,
}

impl Server {
    /// Attaches to a server that vtf did not start, at `host:port`, with the
    /// config's credential ([`Config::password`]) and TLS settings
    /// ([`Config::tls_files`], else vtf's CA when its TLS mode is on); the
    /// config's binary, arguments and modules do not apply. Returns once the
    /// server answers PING, after `FLUSHALL` when
    /// [`Config::flush_on_attach`] asks for it. Clients, commands and
    /// `info_field` work; what needs the process (stop, restart, pid, logs,
    /// check_clean) fails with [`ErrorKind::Unsupported`]; dropping it
    /// leaves the server as it is.
    pub fn attach(config: &Config, host: &str, port: u16) -> Result<Server> {
        let server = Server::attached(config, host, port)?;
        if config.flush_on_attach_requested()? {
            server.flush_all()?;
        }
        Ok(server)
    }

    /// [`Server::attach`] without the flush (a cluster flushes its primaries only).
    pub(crate) fn attached(config: &Config, host: &str, port: u16) -> Result<Server> {
        let external = external::external(config, host, port)?;
        let address = format!("{}:{}", external.host, external.port);
        let mut server = Server {
            config: config.clone(),
            binary: PathBuf::new(),
            engine: Engine {
                name: "valkey".to_string(),
                version: (0, 0, 0),
            },
            tls_mode: external.tls,
            tls_files: None,
            reservation: None,
            state: Arc::new(ProcessState::new(
                address.clone(),
                PathBuf::new(),
                PathBuf::new(),
            )),
            password: external.password.clone(),
            auth_config: None,
            external: Some(Box::new(external)),
        };
        let attaching = |e: Error| e.context(format!("attaching to the external server {address}"));
        let mut client = server.connect().map_err(attaching)?;
        let reply = client.cmd(["INFO", "server"]).map_err(attaching)?;
        if let Some(err) = reply.error() {
            return Err(attaching(Error::new(
                ErrorKind::Connection,
                format!("INFO server was refused: {err}"),
            )));
        }
        server.engine = external::engine_from_info(reply.as_str().unwrap_or_default());
        Ok(server)
    }

    fn flush_all(&self) -> Result<()> {
        let reply = self.connect()?.cmd(["FLUSHALL"])?;
        match reply.error() {
            Some(err) => Err(Error::new(
                ErrorKind::Connection,
                format!(
                    "FLUSHALL on {} (flush on attach) failed: {err}",
                    self.address()
                ),
            )),
            None => Ok(()),
        }
    }

    /// The password the server requires of its default user (`None` when
    /// auth is off), which vtf's clients send: for valkey-cli (`-a PASSWORD
    /// --no-auth-warning` or env `REDISCLI_AUTH`) and other clients. For an
    /// attached server, the one its config brings.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// A shell command that reaches this server by hand while it runs, as
    /// the tests do: valkey-cli with the password from its 0600 file and the
    /// TLS options the server needs.
    pub fn cli_command(&self) -> String {
        let cli = self
            .cli_path()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "valkey-cli".to_string());
        let mut line = String::new();
        if self.password.is_some() && self.auth_config.is_some() {
            line.push_str(&auth::cli_auth_prefix(self.dir()));
        }
        line.push_str(&format!("{cli} -h {} -p {}", self.host(), self.port()));
        if let Some(files) = &self.tls_files {
            line.push_str(&format!(" --tls --cacert {}", files.ca_cert.display()));
            if self.tls_mode == TlsMode::Mutual {
                line.push_str(&format!(
                    " --cert {} --key {}",
                    files.client_cert.display(),
                    files.client_key.display()
                ));
            }
        }
        line
    }

    /// Whether vtf attached to this server rather than starting it.
    pub fn is_external(&self) -> bool {
        self.external.is_some()
    }

    /// Fails with [`ErrorKind::Unsupported`] for an attached server.
    fn require_process(&self, what: &str) -> Result<()> {
        match &self.external {
            Some(_) => Err(external::unsupported(&self.address(), what)),
            None => Ok(()),
        }
    }

    pub fn port(&self) -> u16 {
        match (&self.external, &self.reservation) {
            (Some(external), _) => external.port,
            (None, Some(reservation)) => reservation.port(),
            (None, None) => 0,
        }
    }

    /// The cluster bus port (port + 10000), reserved with the port.
    pub fn bus_port(&self) -> u16 {
        match &self.reservation {
            Some(reservation) => reservation.bus_port(),
            None => self.port().saturating_add(10000),
        }
    }

    /// "127.0.0.1", or the host of an attached server.
    pub fn host(&self) -> &str {
        match &self.external {
            Some(external) => &external.host,
            None => HOST,
        }
    }

    /// "host:port".
    pub fn address(&self) -> String {
        format!("{}:{}", self.host(), self.port())
    }

    /// The pid while the process runs.
    pub fn pid(&self) -> Option<u32> {
        self.state.pid()
    }

    pub fn dir(&self) -> &Path {
        self.state.dir()
    }

    pub fn log_path(&self) -> &Path {
        self.state.log_path()
    }

    /// Whether the process runs; an attached server counts as running
    /// (vtf has no process of it to watch).
    pub fn is_running(&self) -> bool {
        self.external.is_some() || self.state.poll()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// The command-line client of this server's engine (`valkey-cli`, or
    /// `redis-cli` for Redis): the one next to the binary, else on PATH.
    pub fn cli_path(&self) -> Result<PathBuf> {
        let name = if self.engine.is_valkey() {
            "valkey-cli"
        } else {
            "redis-cli"
        };
        let next_to = self.binary.with_file_name(name);
        crate::config::executable(&next_to)
            .or_else(|| crate::config::find_on_path(name))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::BinaryNotFound,
                    format!(
                        "{name} is neither at {} nor on PATH ({})",
                        next_to.display(),
                        std::env::var("PATH").unwrap_or_default()
                    ),
                )
            })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn tls_mode(&self) -> TlsMode {
        self.tls_mode
    }

    pub fn tls_files(&self) -> Option<&TlsFiles> {
        self.tls_files.as_ref()
    }

    /// The exit status of the last process, once it stopped.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.state.exit_status()
    }

    /// What the process is doing, as the kernel reports it (running,
    /// sleeping, stopped, gone with its exit status).
    pub fn activity(&self) -> Activity {
        self.state.activity()
    }

    /// "server 127.0.0.1:PORT (pid N, dir D)", for messages.
    pub fn describe(&self) -> String {
        match &self.external {
            Some(_) => format!("external server {}", self.address()),
            None => self.state.describe(),
        }
    }

    pub(crate) fn state(&self) -> &Arc<ProcessState> {
        &self.state
    }

    /// Where clients connect: this server's address and TLS mode, with its
    /// process to watch when a connection breaks.
    pub fn endpoint(&self) -> Endpoint {
        match &self.external {
            Some(external) => {
                let endpoint = Endpoint::new(&external.host, external.port)
                    .tls(external.tls)
                    .password(external.password.clone())
                    .command_timeout(self.config.effective_command_timeout());
                match &external.certificates {
                    Some(certs) => endpoint.certificates(certs.clone()),
                    None => endpoint,
                }
            }
            None => Endpoint::new(HOST, self.port())
                .tls(self.tls_mode)
                .password(self.password.clone())
                .command_timeout(self.config.effective_command_timeout())
                .watching(self.state.clone()),
        }
    }

    /// Opens a new client connection to this server.
    pub fn connect(&self) -> Result<Client> {
        Client::connect(&self.endpoint())
    }

    /// Stops the server: SHUTDOWN NOSAVE NOW, a bounded wait, then SIGTERM, then
    /// SIGKILL, by pid. Stopping a stopped server does nothing.
    pub fn stop(&mut self) -> Result<()> {
        self.shutdown(false)
    }

    /// Stops the server, saving the dataset first when `save` is true.
    ///
    /// Always ends, whatever the process does: SHUTDOWN (its connect and
    /// reply bounded), then the grace to exit (10 s, grown under a wrapper),
    /// then SIGTERM and [`SIGTERM_GRACE`], then SIGKILL by pid, and the
    /// process is reaped. A stopped process (SIGSTOP) can neither answer nor
    /// handle SIGTERM, so it gets SIGKILL at once. An error says the dataset
    /// could not be saved or the process would not die.
    pub fn shutdown(&mut self, save: bool) -> Result<()> {
        self.require_process("stopping a server")?;
        if !self.state.poll() {
            return Ok(());
        }
        let grace = self.config.scaled(SHUTDOWN_GRACE);
        let started = Instant::now();
        let command = if save { "SAVE" } else { "NOSAVE" };
        if self.state.activity() == Activity::Stopped {
            let described = self.describe();
            eprintln!("vtf: {described} is stopped (SIGSTOP?), so it cannot shut down: SIGKILL");
            self.kill_now();
            if save {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "SHUTDOWN SAVE was impossible: {described} was stopped, so it was \
                         killed without saving; {}",
                        log_excerpt(&self.state)
                    ),
                ));
            }
            return self.reaped();
        }
        // NOW: a primary does not wait (up to shutdown-timeout, ~1 s in practice)
        // for its replicas to acknowledge the last writes; tests that need the
        // replicas caught up say so with wait_sync. Valkey and Redis >= 7 know it.
        let mut shutdown = vec!["SHUTDOWN", command];
        if self.engine.has_shutdown_now() {
            shutdown.push("NOW");
        }
        // Unwatched: the connection closing is the expected reply, which
        // comes when the process exits, so the reply may take the grace.
        let endpoint = self.endpoint().unwatched().command_timeout(Some(grace));
        if let Ok(mut client) = Client::connect(&endpoint) {
            // An error reply means it refused.
            if let Ok(reply) = client.cmd(&shutdown) {
                if let Some(err) = reply.error() {
                    eprintln!(
                        "vtf: SHUTDOWN {command} refused by {}: {err}",
                        self.describe()
                    );
                }
            }
        }
        if self
            .state
            .wait_exit(grace.saturating_sub(started.elapsed()))
        {
            return Ok(());
        }
        eprintln!(
            "vtf: {} did not exit within {:.1} s of SHUTDOWN {command} (it is {}): SIGTERM",
            self.describe(),
            grace.as_secs_f64(),
            self.activity()
        );
        if let Some(pid) = self.pid() {
            let _ = process::signal(pid, libc::SIGTERM);
        }
        if self.state.wait_exit(SIGTERM_GRACE) {
            return Ok(());
        }
        eprintln!(
            "vtf: {} did not exit within {:.1} s of SIGTERM: SIGKILL",
            self.describe(),
            SIGTERM_GRACE.as_secs_f64()
        );
        self.kill_now();
        self.reaped()
    }

    /// After a SIGKILL: Ok once the process is gone.
    fn reaped(&self) -> Result<()> {
        if self.state.poll() {
            return Err(Error::new(
                ErrorKind::Timeout,
                format!("{} did not exit after SIGKILL", self.describe()),
            ));
        }
        Ok(())
    }

    /// Kills the process at once (SIGKILL) and reaps it.
    pub fn kill_now(&mut self) {
        self.state.kill_now();
    }

    /// Restarts on the same port. With `keep_data` the dataset is saved at
    /// shutdown and the directory kept, so it is loaded again; without, the
    /// data files are removed and the server starts empty.
    pub fn restart(&mut self, keep_data: bool) -> Result<()> {
        self.require_process("restarting a server")?;
        self.shutdown(keep_data)?;
        if !keep_data {
            workdir::clear_data(self.dir())?;
        }
        self.respawn()
            .map_err(|e| e.context(format!("restarting {}", self.address())))
    }

    /// Changes the config used by later restarts (e.g. a new `replicaof`).
    #[allow(dead_code)] // used by the replication and cluster groups
    pub(crate) fn set_config(&mut self, config: Config) {
        self.config = config;
    }

    /// Whether the log holds `needle`.
    pub fn log_contains(&self, needle: &str) -> Result<bool> {
        self.require_process("reading the server's log")?;
        let text = fs::read(self.log_path())
            .map_err(|e| Error::io(format!("reading {}", self.log_path().display()), e))?;
        Ok(String::from_utf8_lossy(&text).contains(needle))
    }

    /// Waits until the log holds `needle`; fails early if the server exits
    /// without having written it.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> Result<()> {
        self.require_process("waiting for the server's log")?;
        let mut found = Ok(false);
        let mut exited = false;
        process::poll_until(timeout, Duration::from_millis(20), || {
            found = self.log_contains(needle);
            exited = !self.is_running();
            !matches!(found, Ok(false)) || exited
        });
        match found? {
            true => Ok(()),
            false if exited => {
                // The exit may have raced the last read.
                if self.log_contains(needle)? {
                    return Ok(());
                }
                Err(Error::new(
                    ErrorKind::ServerExited,
                    format!(
                        "{} exited before its log said {needle:?}; {}",
                        self.describe(),
                        log_excerpt(&self.state)
                    ),
                ))
            }
            false => Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "{} did not log {needle:?} within {:.1} s (it is {}); {}",
                    self.describe(),
                    timeout.as_secs_f64(),
                    self.activity(),
                    log_excerpt(&self.state)
                ),
            )),
        }
    }

    /// The last `lines` lines of the server's log.
    pub fn log_tail(&self, lines: usize) -> Result<String> {
        self.require_process("reading the server's log")?;
        diagnostics::log_tail(self.log_path(), lines)
    }

    /// One field of `INFO section` (e.g. `("replication", "role")`); `None`
    /// when the server does not report it.
    pub fn info_field(&self, section: &str, field: &str) -> Result<Option<String>> {
        let mut client = self.connect()?;
        let reply = client.cmd(["INFO", section])?;
        if let Some(err) = reply.error() {
            return Err(Error::invalid(format!(
                "INFO {section} on {} failed: {err}",
                self.describe()
            )));
        }
        let text = reply.as_str().unwrap_or_default();
        Ok(info_value(text, field).map(str::to_string))
    }

    /// After a stop: `Err(ServerExited)` when the process exited with a
    /// non-zero status or its output holds a sanitizer or valgrind report.
    pub fn check_clean(&self) -> Result<()> {
        self.require_process("checking the server's exit and crash reports")?;
        if self.is_running() {
            return Err(Error::invalid(format!(
                "{} is still running; stop it before checking it",
                self.describe()
            )));
        }
        let text = fs::read(self.log_path())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|e| Error::io(format!("reading {}", self.log_path().display()), e))?;
        let mut problems = Vec::new();
        if let Some(status) = self.exit_status() {
            if !status.success() {
                problems.push(format!("the process {}", describe_exit(status)));
            }
        }
        let report_lines = diagnostics::report_lines(&text);
        if !report_lines.is_empty() {
            problems.push(format!(
                "its output holds {} report line(s):\n{}",
                report_lines.len(),
                report_lines
                    .iter()
                    .take(40)
                    .copied()
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
        }
        if problems.is_empty() {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::ServerExited,
            format!(
                "{} is not clean: {}; {}",
                self.describe(),
                problems.join("; "),
                log_excerpt(&self.state)
            ),
        ))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.external.is_some() {
            // Not ours: its connections went with their clients.
            return;
        }
        if self.shutdown(false).is_err() {
            self.kill_now();
        }
        if self.config.keep_data_requested() {
            eprintln!(
                "vtf: kept the directory of {}: {}",
                self.address(),
                self.dir().display()
            );
        } else {
            let _ = fs::remove_dir_all(self.dir());
        }
    }
}
