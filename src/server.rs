//! A `valkey-server` process: started on a reserved port in a directory of
//! its own, ready when it answers PING, stopped (and its directory removed)
//! when dropped.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::client::Client;
use crate::config::{Config, TlsMode};
use crate::error::{Error, ErrorKind, Result};
use crate::ports::{self, PortReservation};
use crate::process;
use crate::tls::{self, TlsFiles};

pub const HOST: &str = "127.0.0.1";
const LOG_FILE: &str = "server.log";
const TLS_DIR: &str = "tls";
/// Lines of the server's log shown in error messages.
pub const LOG_TAIL_LINES: usize = 30;
/// Bind races with programs that do not use our port locks are retried this often.
const PORT_ATTEMPTS: usize = 5;

/// Which engine a binary is, from its `--version` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engine {
    /// "valkey" or "redis".
    pub name: String,
    pub version: (u32, u32, u32),
}

impl Engine {
    pub fn is_valkey(&self) -> bool {
        self.name == "valkey"
    }

    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.version.0, self.version.1) >= (major, minor)
    }

    /// Runs `binary --version` once per binary and process.
    pub fn detect(binary: &Path) -> Result<Engine> {
        static CACHE: OnceLock<Mutex<HashMap<PathBuf, Engine>>> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        if let Some(engine) = lock(cache).get(binary) {
            return Ok(engine.clone());
        }
        let output = Command::new(binary)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                Error::new(
                    ErrorKind::Spawn,
                    format!("running {} --version: {e}", binary.display()),
                )
            })?;
        let text = String::from_utf8_lossy(&output.stdout).to_string();
        let engine = Engine::parse(&text).ok_or_else(|| {
            Error::new(
                ErrorKind::Spawn,
                format!(
                    "{} --version printed {:?}, which is not a valkey-server or redis-server version",
                    binary.display(),
                    text.trim()
                ),
            )
        })?;
        lock(cache).insert(binary.to_path_buf(), engine.clone());
        Ok(engine)
    }

    /// Parses "Valkey server v=8.0.1 sha=..." or "Redis server v=7.0.15 ...".
    pub fn parse(text: &str) -> Option<Engine> {
        let name = text.split_whitespace().next()?.to_ascii_lowercase();
        if name != "valkey" && name != "redis" {
            return None;
        }
        let version = text.split_whitespace().find_map(|w| w.strip_prefix("v="))?;
        let mut parts = version.split('.').map(|p| {
            p.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse::<u32>()
                .unwrap_or(0)
        });
        let version = (
            parts.next()?,
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
        );
        Some(Engine { name, version })
    }
}

/// Process state shared between a server and the clients connected to it, so
/// that a client whose connection breaks can tell a crash from a hiccup.
#[derive(Debug)]
pub(crate) struct ProcessState {
    child: Mutex<Option<Child>>,
    exit: Mutex<Option<ExitStatus>>,
    /// The pid of the last process, kept after it exited for messages.
    last_pid: Mutex<Option<u32>>,
    /// Length of the log when the last process was spawned: what it wrote
    /// starts there, so a crash of an earlier run is not blamed on it.
    log_start: Mutex<u64>,
    pub(crate) port: u16,
    pub(crate) dir: PathBuf,
    pub(crate) log_path: PathBuf,
}

impl ProcessState {
    /// The pid while the process runs.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.poll();
        lock(&self.child).as_ref().map(Child::id)
    }

    /// Reaps the process if it exited; returns whether it still runs.
    pub(crate) fn poll(&self) -> bool {
        let mut child = lock(&self.child);
        let Some(running) = child.as_mut() else {
            return false;
        };
        match running.try_wait() {
            Ok(None) => true,
            Ok(Some(status)) => {
                *lock(&self.exit) = Some(status);
                *child = None;
                false
            }
            // Not our child any more (cannot happen for a Child we own); treat as gone.
            Err(_) => {
                *child = None;
                false
            }
        }
    }

    pub(crate) fn exit_status(&self) -> Option<ExitStatus> {
        *lock(&self.exit)
    }

    /// Waits up to `timeout` for the process to exit; returns whether it did.
    pub(crate) fn wait_exit(&self, timeout: Duration) -> bool {
        process::poll_until(timeout, Duration::from_millis(5), || !self.poll())
    }

    pub(crate) fn describe(&self) -> String {
        let pid = match self.pid() {
            Some(pid) => format!("pid {pid}"),
            None => match (self.exit_status(), *lock(&self.last_pid)) {
                (Some(status), Some(pid)) => format!("pid {pid} {}", describe_exit(status)),
                (Some(status), None) => format!("exited: {}", describe_exit(status)),
                _ => "not running".to_string(),
            },
        };
        format!(
            "server {HOST}:{} ({pid}, dir {})",
            self.port,
            self.dir.display()
        )
    }

    /// The last `lines` lines the current (or last) process wrote to the log.
    pub(crate) fn log_tail(&self, lines: usize) -> String {
        let from = *lock(&self.log_start);
        log_tail_from(&self.log_path, from, lines)
            .unwrap_or_else(|e| format!("(log unreadable: {e})"))
    }

    /// "last N lines of <log>:\n..." for error messages, from the current run.
    pub(crate) fn log_excerpt(&self) -> String {
        format_log_excerpt(&self.log_path, &self.log_tail(LOG_TAIL_LINES))
    }

    fn set_child(&self, child: Child, log_start: u64) {
        *lock(&self.exit) = None;
        *lock(&self.log_start) = log_start;
        *lock(&self.last_pid) = Some(child.id());
        *lock(&self.child) = Some(child);
    }
}

/// A running (or stopped) server. Dropping it stops the process and removes
/// its directory (kept with `Config::keep_data` or env `VTF_KEEP_DATA=1`).
#[derive(Debug)]
pub struct Server {
    config: Config,
    binary: PathBuf,
    engine: Engine,
    tls_mode: TlsMode,
    tls_files: Option<TlsFiles>,
    reservation: PortReservation,
    state: Arc<ProcessState>,
}

impl Server {
    /// Starts a server and returns once it answers PING.
    pub fn start(config: &Config) -> Result<Server> {
        config.validate()?;
        let binary = absolute(&config.resolve_binary()?);
        let engine = Engine::detect(&binary)?;
        let dir = create_server_dir()?;
        let result = Server::start_in(config, binary, engine, &dir);
        if result.is_err() && !config.keep_data_requested() {
            let _ = fs::remove_dir_all(&dir);
        }
        result
    }

    fn start_in(config: &Config, binary: PathBuf, engine: Engine, dir: &Path) -> Result<Server> {
        let tls_mode = config.tls_mode();
        let tls_files = if tls_mode.is_on() {
            Some(tls::write_files(&dir.join(TLS_DIR))?)
        } else {
            None
        };
        let log_path = dir.join(LOG_FILE);
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            let reservation = ports::reserve()?;
            let state = Arc::new(ProcessState {
                child: Mutex::new(None),
                exit: Mutex::new(None),
                last_pid: Mutex::new(None),
                log_start: Mutex::new(0),
                port: reservation.port(),
                dir: dir.to_path_buf(),
                log_path: log_path.clone(),
            });
            let mut server = Server {
                config: config.clone(),
                binary: binary.clone(),
                engine: engine.clone(),
                tls_mode,
                tls_files: tls_files.clone(),
                reservation,
                state,
            };
            match server.spawn_and_wait() {
                Ok(()) => return Ok(server),
                Err(StartError::PortTaken(e)) => {
                    // Someone outside our locks bound the port; try another.
                    server.state.poll();
                    last_error = Some(e);
                }
                Err(StartError::Fatal(e)) => {
                    server.kill_now();
                    // The directory goes with the failed start; keep the log in the message.
                    return Err(e);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| Error::new(ErrorKind::Spawn, "no port could be bound")))
    }

    /// The full argv after the binary (and any wrapper).
    fn server_args(&self) -> Vec<OsString> {
        let port = self.port().to_string();
        let mut args: Vec<OsString> = Vec::new();
        // The server runs in its own directory: relative paths given by the
        // test mean the test's working directory.
        if let Some(file) = &self.config.config_file {
            args.push(absolute(file).into());
        }
        let mut opt = |name: &str, value: &str| {
            args.push(format!("--{name}").into());
            args.push(value.into());
        };
        match &self.tls_files {
            Some(files) => {
                for (name, value) in
                    tls::server_args(files, self.tls_mode == TlsMode::Mutual, self.port())
                {
                    opt(&name, &value);
                }
            }
            None => opt("port", &port),
        }
        opt("bind", HOST);
        opt("dir", &self.state.dir.to_string_lossy());
        // Log to stdout, which goes to the log file together with stderr, so
        // crash reports, sanitizer and valgrind output land in one place.
        opt("logfile", "");
        opt("daemonize", "no");
        opt("save", "");
        opt("appendonly", "no");
        if self.engine.at_least(7, 0) {
            opt("enable-debug-command", "yes");
            opt("enable-module-command", "yes");
        }
        for module in &self.config.modules {
            args.push("--loadmodule".into());
            args.push(absolute(&module.path).into());
            args.extend(module.args.iter().map(OsString::from));
        }
        for (name, value) in &self.config.args {
            args.push(format!("--{name}").into());
            args.push(value.into());
        }
        args
    }

    fn spawn_and_wait(&mut self) -> std::result::Result<(), StartError> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.state.log_path)
            .map_err(|e| {
                Error::io(
                    format!("opening log file {}", self.state.log_path.display()),
                    e,
                )
            })?;
        let stderr = log
            .try_clone()
            .map_err(|e| Error::io("duplicating log file", e))?;
        let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
        let wrapper = self.config.wrapper_command();
        let mut command = match wrapper.split_first() {
            Some((program, wrapper_args)) => {
                let mut c = Command::new(program);
                c.args(wrapper_args).arg(&self.binary);
                c
            }
            None => Command::new(&self.binary),
        };
        command
            .args(self.server_args())
            .current_dir(&self.state.dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr);
        let shown = format!("{:?}", command);
        let child = process::spawn(command)
            .map_err(|e| Error::new(ErrorKind::Spawn, format!("spawning {shown} failed: {e}")))?;
        self.state.set_child(child, log_start);
        self.wait_ready(&shown)
    }

    fn wait_ready(&self, command: &str) -> std::result::Result<(), StartError> {
        let timeout = self.config.effective_startup_timeout();
        let started = Instant::now();
        let mut last_probe_error = String::new();
        let ready = process::poll_until(timeout, Duration::from_millis(10), || {
            if !self.state.poll() {
                return true; // exited: stop waiting, reported below
            }
            match self.probe() {
                Ok(()) => true,
                Err(e) => {
                    last_probe_error = e;
                    false
                }
            }
        });
        if !self.state.poll() {
            return Err(self.exited_during_start(command));
        }
        if ready {
            return Ok(());
        }
        Err(StartError::Fatal(Error::new(
            ErrorKind::Timeout,
            format!(
                "{} did not answer PING within {:.1} s (last attempt: {}); command: {command}; {}",
                self.state.describe(),
                started.elapsed().as_secs_f64(),
                if last_probe_error.is_empty() {
                    "none"
                } else {
                    &last_probe_error
                },
                self.state.log_excerpt()
            ),
        )))
    }

    /// One readiness probe: PING answered by anything but LOADING.
    fn probe(&self) -> std::result::Result<(), String> {
        if self.tls_mode.is_on() {
            let mut client = Client::connect(self).map_err(|e| e.to_string())?;
            return match client.cmd(["PING"]) {
                Ok(reply) if reply.error().is_some_and(|e| e.starts_with("LOADING")) => {
                    Err("LOADING".into())
                }
                Ok(_) => Ok(()),
                Err(e) => Err(e.to_string()),
            };
        }
        let mut stream = TcpStream::connect((HOST, self.port())).map_err(|e| e.to_string())?;
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = stream.set_nodelay(true);
        stream.write_all(b"PING\r\n").map_err(|e| e.to_string())?;
        let mut buf = [0u8; 64];
        let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
        let reply = String::from_utf8_lossy(&buf[..n]);
        if n == 0 {
            Err("connection closed".into())
        } else if reply.starts_with("-LOADING") {
            Err("LOADING".into())
        } else {
            Ok(())
        }
    }

    fn exited_during_start(&self, command: &str) -> StartError {
        let tail = self.state.log_tail(200);
        let excerpt = self.state.log_excerpt();
        if tail.contains("Address already in use") {
            return StartError::PortTaken(Error::new(
                ErrorKind::Spawn,
                format!(
                    "port {} was taken by another program; {excerpt}",
                    self.port()
                ),
            ));
        }
        if tail.contains("TLS support") && self.tls_mode.is_on() {
            return StartError::Fatal(Error::new(
                ErrorKind::Tls,
                format!(
                    "{} has no TLS support (it was built without BUILD_TLS=yes), so it cannot \
                     serve TLS; use a binary built with `make BUILD_TLS=yes` (vtf_build_server \
                     builds one) or turn TLS off; {excerpt}",
                    self.binary.display()
                ),
            ));
        }
        StartError::Fatal(Error::new(
            ErrorKind::ServerExited,
            format!(
                "{} exited during startup; command: {command}; {excerpt}",
                self.describe()
            ),
        ))
    }

    pub fn port(&self) -> u16 {
        self.reservation.port()
    }

    /// The cluster bus port (port + 10000), reserved with the port.
    pub fn bus_port(&self) -> u16 {
        self.reservation.bus_port()
    }

    pub fn host(&self) -> &str {
        HOST
    }

    /// "127.0.0.1:port".
    pub fn address(&self) -> String {
        format!("{HOST}:{}", self.port())
    }

    /// The pid while the process runs.
    pub fn pid(&self) -> Option<u32> {
        self.state.pid()
    }

    pub fn dir(&self) -> &Path {
        &self.state.dir
    }

    pub fn log_path(&self) -> &Path {
        &self.state.log_path
    }

    pub fn is_running(&self) -> bool {
        self.state.poll()
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

    /// "server 127.0.0.1:PORT (pid N, dir D)", for messages.
    pub fn describe(&self) -> String {
        self.state.describe()
    }

    pub(crate) fn state(&self) -> &Arc<ProcessState> {
        &self.state
    }

    /// Opens a new client connection to this server.
    pub fn connect(&self) -> Result<Client> {
        Client::connect(self)
    }

    /// Stops the server: SHUTDOWN NOSAVE NOW, a bounded wait, then SIGTERM, then
    /// SIGKILL, by pid. Stopping a stopped server does nothing.
    pub fn stop(&mut self) -> Result<()> {
        self.shutdown(false)
    }

    /// Stops the server, saving the dataset first when `save` is true.
    pub fn shutdown(&mut self, save: bool) -> Result<()> {
        if !self.state.poll() {
            return Ok(());
        }
        let grace = if self.config.wrapper_command().is_empty() {
            Duration::from_secs(10)
        } else {
            Duration::from_secs(60)
        };
        let command = if save { "SAVE" } else { "NOSAVE" };
        // NOW: a primary does not wait (up to shutdown-timeout, ~1 s in practice)
        // for its replicas to acknowledge the last writes; tests that need the
        // replicas caught up say so with wait_sync. Valkey and Redis >= 7 know it.
        let mut shutdown = vec!["SHUTDOWN", command];
        if self.engine.is_valkey() || self.engine.version.0 >= 7 {
            shutdown.push("NOW");
        }
        if let Ok(mut client) = Client::connect(self) {
            // The reply is the connection closing; an error reply means it refused.
            if let Ok(reply) = client.cmd_unwatched(&shutdown) {
                if let Some(err) = reply.error() {
                    eprintln!(
                        "vtf: SHUTDOWN {command} refused by {}: {err}",
                        self.describe()
                    );
                }
            }
        }
        if self.state.wait_exit(grace) {
            return Ok(());
        }
        if let Some(pid) = self.pid() {
            let _ = process::signal(pid, libc::SIGTERM);
        }
        if self.state.wait_exit(Duration::from_secs(5)) {
            return Ok(());
        }
        self.kill_now();
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
        let mut child = lock(&self.state.child);
        if let Some(running) = child.as_mut() {
            let _ = running.kill();
            if let Ok(status) = running.wait() {
                *lock(&self.state.exit) = Some(status);
            }
            *child = None;
        }
    }

    /// Restarts on the same port. With `keep_data` the dataset is saved at
    /// shutdown and the directory kept, so it is loaded again; without, the
    /// data files are removed and the server starts empty.
    pub fn restart(&mut self, keep_data: bool) -> Result<()> {
        self.shutdown(keep_data)?;
        if !keep_data {
            self.clear_data()?;
        }
        match self.spawn_and_wait() {
            Ok(()) => Ok(()),
            Err(StartError::PortTaken(e)) | Err(StartError::Fatal(e)) => {
                self.kill_now();
                Err(e.context(format!("restarting {}", self.address())))
            }
        }
    }

    /// Removes everything in the directory but the log and the TLS files.
    fn clear_data(&self) -> Result<()> {
        let entries = fs::read_dir(self.dir())
            .map_err(|e| Error::io(format!("reading {}", self.dir().display()), e))?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name == LOG_FILE || name == TLS_DIR {
                continue;
            }
            let path = entry.path();
            let removed = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            removed.map_err(|e| Error::io(format!("removing {}", path.display()), e))?;
        }
        Ok(())
    }

    /// Changes the config used by later restarts (e.g. a new `replicaof`).
    #[allow(dead_code)] // used by the replication and cluster groups
    pub(crate) fn set_config(&mut self, config: Config) {
        self.config = config;
    }

    /// Whether the log holds `needle`.
    pub fn log_contains(&self, needle: &str) -> Result<bool> {
        let text = fs::read(self.log_path())
            .map_err(|e| Error::io(format!("reading {}", self.log_path().display()), e))?;
        Ok(String::from_utf8_lossy(&text).contains(needle))
    }

    /// Waits until the log holds `needle`; fails early if the server exits
    /// without having written it.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> Result<()> {
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
                        self.state.log_excerpt()
                    ),
                ))
            }
            false => Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "{} did not log {needle:?} within {:.1} s; {}",
                    self.describe(),
                    timeout.as_secs_f64(),
                    self.state.log_excerpt()
                ),
            )),
        }
    }

    /// The last `lines` lines of the server's log.
    pub fn log_tail(&self, lines: usize) -> Result<String> {
        log_tail(self.log_path(), lines)
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
        let report_lines: Vec<&str> = text.lines().filter(|l| is_report_line(l)).collect();
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
                self.state.log_excerpt()
            ),
        ))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
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

enum StartError {
    /// The port was bound by a program outside our locks: retry elsewhere.
    PortTaken(Error),
    Fatal(Error),
}

impl From<Error> for StartError {
    fn from(e: Error) -> Self {
        StartError::Fatal(e)
    }
}

fn is_report_line(line: &str) -> bool {
    const MARKERS: [&str; 9] = [
        // The server's own crash report (its tail is often a code dump).
        "crashed by signal",
        "=== ASSERTION FAILED ===",
        "Guru Meditation",
        "ERROR: AddressSanitizer",
        "ERROR: LeakSanitizer",
        "runtime error:",
        "WARNING: ThreadSanitizer",
        "SUMMARY: AddressSanitizer",
        "SUMMARY: UndefinedBehaviorSanitizer",
    ];
    if MARKERS.iter().any(|m| line.contains(m)) {
        return true;
    }
    // valgrind: "==123== ERROR SUMMARY: 2 errors from 2 contexts" with a non-zero count,
    // and definite leaks.
    if let Some(rest) = line.split("ERROR SUMMARY: ").nth(1) {
        return !rest.starts_with("0 ");
    }
    line.contains("definitely lost:") && !line.contains("definitely lost: 0 bytes")
}

/// The value of `field` in INFO text ("field:value" lines).
pub fn info_value<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        (name == field).then(|| value.trim_end())
    })
}

pub(crate) fn describe_exit(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => format!("{status}"),
    }
}

/// The last `lines` lines of a log file (reads at most its last 256 KiB).
pub fn log_tail(path: &Path, lines: usize) -> Result<String> {
    log_tail_from(path, 0, lines)
}

/// Like [`log_tail`], ignoring the bytes before offset `from`.
fn log_tail_from(path: &Path, from: u64, lines: usize) -> Result<String> {
    let mut file =
        File::open(path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(256 * 1024).max(from.min(len));
    file.seek(SeekFrom::Start(start))
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    Ok(all[all.len().saturating_sub(lines)..].join("\n"))
}

pub(crate) fn format_log_excerpt(path: &Path, tail: &str) -> String {
    if tail.trim().is_empty() {
        format!("its log {} is empty", path.display())
    } else {
        format!("last lines of its log {}:\n{tail}", path.display())
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// A fresh directory under env `VTF_TMPDIR` or the system temp dir.
fn create_server_dir() -> Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let base = std::env::var_os("VTF_TMPDIR")
        .filter(|v| !v.is_empty())
        .map(|dir| absolute(Path::new(&dir)))
        .unwrap_or_else(std::env::temp_dir);
    fs::create_dir_all(&base).map_err(|e| Error::io(format!("creating {}", base.display()), e))?;
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("vtf-{}-{n}", std::process::id()));
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            // Left by an earlier process with our (recycled) pid: take the next name.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(format!("creating {}", dir.display()), e)),
        }
    }
}

/// Locks a mutex, ignoring poisoning: the state it guards stays consistent
/// (a panicking test thread must not wedge every later cleanup).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts `count` servers of a group from `config` concurrently (each start is
/// mostly waiting for its process), marked as owned by the group. On a failure
/// the ones that started are stopped and the first error names `what` and its index.
pub(crate) fn start_group_nodes(config: &Config, count: usize, what: &str) -> Result<Vec<Server>> {
    let results: Vec<Result<Server>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..count)
            .map(|_| scope.spawn(|| Server::start(config)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(Error::new(
                        ErrorKind::Panic,
                        format!("a thread starting a {what} panicked"),
                    ))
                })
            })
            .collect()
    });
    let mut nodes = Vec::with_capacity(count);
    let mut first_error = None;
    for (index, result) in results.into_iter().enumerate() {
        match result {
            Ok(server) => nodes.push(server),
            Err(e) if first_error.is_none() => {
                first_error = Some(e.context(format!("starting {what} {index} of {count}")))
            }
            Err(_) => {}
        }
    }
    match first_error {
        // Dropping `nodes` stops the ones that started.
        Some(e) => Err(e),
        None => Ok(nodes),
    }
}
