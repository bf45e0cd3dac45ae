//! Starting a server: its argv, spawning it (on another port when a program
//! outside our locks took the reserved one), and waiting until it answers
//! PING, with a message that quotes its log when it does not.

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Server;
use crate::auth;
use crate::config::Config;
use crate::diagnostics::{self, log_excerpt};
use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::external;
use crate::ports::{self, HOST};
use crate::process::{self, ProcessState};
use crate::tls::{self, TlsMode};
use crate::workdir::{self, absolute, LOG_FILE, TLS_DIR};

/// Bind races with programs that do not use our port locks are retried this often.
const PORT_ATTEMPTS: usize = 5;

impl Server {
    /// Starts a server and returns once it answers PING; with env
    /// `VTF_EXTERNAL` set, attaches to the first server it names instead
    /// (see [`crate::external`]).
    pub fn start(config: &Config) -> Result<Server> {
        match external::from_env()? {
            Some(topology) => {
                let node = &topology.nodes[0];
                Server::attach(
                    &external::config_for(config, &topology),
                    &node.host,
                    node.port,
                )
                .map_err(|e| e.context(format!("env {}", external::ENV)))
            }
            None => Server::spawn(config),
        }
    }

    /// Starts a server process whatever env `VTF_EXTERNAL` says.
    pub fn spawn(config: &Config) -> Result<Server> {
        if config.get_tls_files().is_some() {
            return Err(Error::invalid(
                "Config::tls_files are for attaching to servers vtf did not start; the servers \
                 vtf starts use its own certificates",
            ));
        }
        config.validate()?;
        let binary = absolute(&config.resolve_binary()?);
        let engine = Engine::detect(&binary)?;
        let dir = workdir::create_server_dir()?;
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
        let password = config.server_password()?;
        let auth_config = match &password {
            Some(password) => Some(auth::write_files(
                dir,
                password,
                config.config_file.as_deref().map(absolute).as_deref(),
            )?),
            None => None,
        };
        let log_path = dir.join(LOG_FILE);
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            let reservation = ports::reserve()?;
            let state = Arc::new(ProcessState::new(
                format!("{HOST}:{}", reservation.port()),
                dir.to_path_buf(),
                log_path.clone(),
            ));
            let mut server = Server {
                config: config.clone(),
                binary: binary.clone(),
                engine: engine.clone(),
                tls_mode,
                tls_files: tls_files.clone(),
                reservation: Some(reservation),
                state,
                password: password.clone(),
                auth_config: auth_config.clone(),
                external: None,
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
        // The credential goes in a file of ours, not on the command line,
        // which every local user can read; it includes the test's file.
        match (&self.auth_config, &self.config.config_file) {
            (Some(ours), _) => args.push(ours.into()),
            (None, Some(file)) => args.push(absolute(file).into()),
            (None, None) => {}
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
        opt("dir", &self.state.dir().to_string_lossy());
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
            .open(self.state.log_path())
            .map_err(|e| {
                Error::io(
                    format!("opening log file {}", self.state.log_path().display()),
                    e,
                )
            })?;
        let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
        let mut argv: Vec<OsString> = self
            .config
            .wrapper_command()
            .into_iter()
            .map(OsString::from)
            .collect();
        argv.push(self.binary.clone().into_os_string());
        argv.extend(self.server_args());
        let launch = process::Launch {
            argv,
            dir: self.state.dir().to_path_buf(),
            output: log,
        };
        let shown = launch.to_string();
        let child = process::spawn(launch)
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
                "{} did not answer PING within {:.1} s (it is {}; last attempt: {}); command: {command}; {}",
                self.state.describe(),
                started.elapsed().as_secs_f64(),
                self.state.activity(),
                if last_probe_error.is_empty() {
                    "none"
                } else {
                    &last_probe_error
                },
                log_excerpt(&self.state)
            ),
        )))
    }

    /// One readiness probe: PING answered by anything but LOADING. With a
    /// password, AUTH goes in the same write as the PING (one round trip);
    /// a NOAUTH alone would not do, as the server checks it before LOADING.
    fn probe(&self) -> std::result::Result<(), String> {
        if self.tls_mode.is_on() {
            let mut client = self.connect().map_err(|e| e.to_string())?;
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
        let mut request = Vec::new();
        if let Some(password) = &self.password {
            request.extend_from_slice(b"*2\r\n$4\r\nAUTH\r\n");
            request.extend_from_slice(format!("${}\r\n", password.len()).as_bytes());
            request.extend_from_slice(password.as_bytes());
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        stream.write_all(&request).map_err(|e| e.to_string())?;
        // One line per command: +OK or an error for AUTH, then PING's.
        let expected = if self.password.is_some() { 2 } else { 1 };
        let mut buf = Vec::with_capacity(64);
        let mut chunk = [0u8; 256];
        while buf.windows(2).filter(|w| w == b"\r\n").count() < expected {
            let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("connection closed".into());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let text = String::from_utf8_lossy(&buf);
        let mut lines = text.split("\r\n");
        if self.password.is_some() {
            let auth = lines.next().unwrap_or_default();
            if auth.starts_with('-') {
                return Err(format!("AUTH was refused: {auth}"));
            }
        }
        if lines.next().unwrap_or_default().starts_with("-LOADING") {
            Err("LOADING".into())
        } else {
            Ok(())
        }
    }

    fn exited_during_start(&self, command: &str) -> StartError {
        let tail = diagnostics::run_log_tail(&self.state, 200);
        let excerpt = log_excerpt(&self.state);
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

    /// Spawns the process again on the same port (for a restart); a failed
    /// start is killed.
    pub(super) fn respawn(&mut self) -> Result<()> {
        match self.spawn_and_wait() {
            Ok(()) => Ok(()),
            Err(StartError::PortTaken(e)) | Err(StartError::Fatal(e)) => {
                self.kill_now();
                Err(e)
            }
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
