//! Clients: binary-safe commands and typed replies over the `redis` crate,
//! plain or TLS, to one server or routed across a cluster. A broken
//! connection is explained: if the server process died, the error says so
//! and quotes its crash report.

use std::sync::Arc;
use std::time::Duration;

use redis::cluster::{ClusterClient, ClusterConnection};
use redis::{Cmd, ConnectionLike, IntoConnectionInfo, RedisError};

use crate::diagnostics;
use crate::endpoint::Endpoint;
use crate::error::{Error, ErrorKind, Result};
use crate::process::{self, ProcessState};
use crate::reply::Reply;
use crate::tls::{self, TlsMode};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a broken connection waits for its server's exit to become visible.
const EXIT_GRACE: Duration = Duration::from_millis(200);

enum Target {
    Single(redis::Client),
    Cluster(ClusterClient),
}

enum Connection {
    Single(redis::Connection),
    Cluster(Box<ClusterConnection>),
}

/// A connection to a server (or a cluster). Used by one thread at a time.
pub struct Client {
    target: Target,
    /// Dropped after a transport error and reopened by the next command, so
    /// a client outlives a server restart.
    connection: Option<Connection>,
    /// The processes behind this client, consulted when the connection breaks.
    watched: Vec<Arc<ProcessState>>,
    /// Applied to every connection this client opens.
    timeout: Option<Duration>,
    description: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("target", &self.description)
            .finish()
    }
}

impl Client {
    /// Connects to `endpoint`, over TLS when it says so.
    pub fn connect(endpoint: &Endpoint) -> Result<Client> {
        let mut client = Client {
            target: Target::Single(single_client(endpoint)?),
            connection: None,
            watched: endpoint.process.iter().cloned().collect(),
            timeout: endpoint.command_timeout,
            description: endpoint.description.clone(),
        };
        client.ensure_connected()?;
        Ok(client)
    }

    /// Connects to a cluster through its nodes; commands are routed by key
    /// slot and MOVED / ASK redirections are followed.
    pub fn connect_cluster(nodes: impl IntoIterator<Item = Endpoint>) -> Result<Client> {
        let nodes: Vec<Endpoint> = nodes.into_iter().collect();
        let first = nodes
            .first()
            .ok_or_else(|| Error::invalid("a cluster client needs at least one node"))?;
        let mode = first.tls;
        let timeout = first.command_timeout;
        let urls: Vec<String> = nodes.iter().map(Endpoint::url).collect();
        let mut builder = ClusterClient::builder(urls)
            .connection_timeout(CONNECT_TIMEOUT)
            .retries(6);
        if let Some(timeout) = timeout {
            builder = builder.response_timeout(timeout);
        }
        if mode.is_on() {
            tls::install_crypto_provider();
            builder = builder
                .tls(redis::TlsMode::Secure)
                .certs(certificates_for(first)?);
        }
        if let Some(password) = &first.password {
            builder = builder.password(password);
        }
        let cluster = builder.build().map_err(|e| {
            Error::new(
                ErrorKind::Connection,
                format!("building a cluster client: {e}"),
            )
        })?;
        let mut client = Client {
            target: Target::Cluster(cluster),
            connection: None,
            watched: nodes.iter().filter_map(|n| n.process.clone()).collect(),
            timeout,
            description: format!(
                "cluster of {} nodes ({}, ...)",
                nodes.len(),
                first.description
            ),
        };
        client.ensure_connected()?;
        Ok(client)
    }

    /// Sends one command, each argument binary-safe, and returns its reply.
    /// An error reply from the server is `Ok(Reply::Error(..))`.
    pub fn cmd<I, A>(&mut self, args: I) -> Result<Reply>
    where
        I: IntoIterator<Item = A>,
        A: AsRef<[u8]>,
    {
        let cmd = build_cmd(args)?;
        self.send(&cmd)
    }

    /// Sends a command given as one string, split on white space; double
    /// quotes group (`SET k "a b"`), with `\"` and `\\` escapes inside them.
    pub fn cmd_str(&mut self, line: &str) -> Result<Reply> {
        let args = split_command(line)?;
        self.cmd(&args)
    }

    /// Sends a command the server answers with nothing (such as `REPLCONF
    /// GETACK *`), pipelined with a PING whose reply shows it was read.
    pub(crate) fn cmd_without_reply<I, A>(&mut self, args: I) -> Result<()>
    where
        I: IntoIterator<Item = A>,
        A: AsRef<[u8]>,
    {
        let cmd = build_cmd(args)?;
        let mut packed = cmd.get_packed_command();
        packed.extend(redis::cmd("PING").get_packed_command());
        self.ensure_connected()?;
        let result = match self.connection.as_mut() {
            Some(Connection::Single(conn)) => conn.req_packed_commands(&packed, 0, 1).map(drop),
            Some(Connection::Cluster(_)) => {
                return Err(Error::invalid("cmd_without_reply is for single servers"))
            }
            None => unreachable_connection().map(drop),
        };
        result.map_err(|e| {
            self.connection = None;
            self.explain_broken(&e, &format!("sending {}", describe_cmd(&cmd)))
        })
    }

    /// Sends `commands` in one write and reads their replies in order: one
    /// round trip, and the server runs them in one pass of its event loop
    /// (one nodes.conf fsync for a thousand CLUSTER SETSLOTs instead of a
    /// thousand). An error reply is a `Reply::Error` in its place. Single
    /// servers only.
    pub(crate) fn pipeline<A: AsRef<[u8]>>(&mut self, commands: &[Vec<A>]) -> Result<Vec<Reply>> {
        if commands.is_empty() {
            return Ok(Vec::new());
        }
        let mut packed = Vec::new();
        for command in commands {
            packed.extend(build_cmd(command)?.get_packed_command());
        }
        self.ensure_connected()?;
        let result = match self.connection.as_mut() {
            Some(Connection::Single(conn)) => conn.req_packed_commands(&packed, 0, commands.len()),
            Some(Connection::Cluster(_)) => {
                return Err(Error::invalid("pipeline is for single servers"))
            }
            None => unreachable_connection().map(|v| vec![v]),
        };
        match result {
            Ok(values) => Ok(values.into_iter().map(Reply::from_value).collect()),
            Err(e) => {
                self.connection = None;
                let first = build_cmd(&commands[0])?;
                let what = format!(
                    "sending {} commands ({} first)",
                    commands.len(),
                    describe_cmd(&first)
                );
                Err(self.explain_broken(&e, &what))
            }
        }
    }

    /// Sets how long a command may wait for its reply (`None`: forever), for
    /// this connection and the ones it reopens. A command without a reply in
    /// time fails with `ErrorKind::Timeout`. (A cluster client keeps the
    /// timeout it was built with.)
    pub fn set_timeout(&mut self, timeout: Option<Duration>) -> Result<()> {
        self.timeout = timeout;
        self.ensure_connected()?;
        if let Some(Connection::Single(conn)) = &mut self.connection {
            apply_timeout(conn, timeout)?;
        }
        Ok(())
    }

    /// The command timeout in effect (`None`: forever).
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    fn ensure_connected(&mut self) -> Result<()> {
        if self.connection.is_some() {
            return Ok(());
        }
        let timeout = self.timeout;
        let connect_timeout = self.connect_timeout();
        let connection = match &self.target {
            Target::Single(client) => client
                .get_connection_with_timeout(connect_timeout)
                .and_then(|conn| {
                    conn.set_read_timeout(timeout)?;
                    conn.set_write_timeout(timeout)?;
                    Ok(conn)
                })
                .map(Connection::Single),
            Target::Cluster(cluster) => cluster
                .get_connection()
                .map(|c| Connection::Cluster(Box::new(c))),
        };
        match connection {
            Ok(c) => {
                self.connection = Some(c);
                Ok(())
            }
            Err(e) => Err(self.explain(&e, "connecting", Some(connect_timeout))),
        }
    }

    /// The bound on setting a connection up (TCP, TLS, AUTH): `CONNECT_TIMEOUT`,
    /// or the command timeout when that is shorter, since a stopped server
    /// accepts the TCP connection and then never answers the handshake.
    fn connect_timeout(&self) -> Duration {
        self.timeout
            .filter(|t| !t.is_zero())
            .map_or(CONNECT_TIMEOUT, |t| t.min(CONNECT_TIMEOUT))
    }

    fn send(&mut self, cmd: &Cmd) -> Result<Reply> {
        self.send_attempt(cmd, true)
    }

    fn send_attempt(&mut self, cmd: &Cmd, may_retry: bool) -> Result<Reply> {
        self.ensure_connected()?;
        let result = match self.connection.as_mut() {
            Some(Connection::Single(conn)) => conn.req_command(cmd),
            Some(Connection::Cluster(conn)) => conn.req_command(cmd),
            None => unreachable_connection(),
        };
        match result {
            Ok(value) => Ok(Reply::from_value(value)),
            Err(e) => {
                if let Some(reply) = server_error_reply(&e) {
                    return Ok(reply);
                }
                self.connection = None;
                // redis' cluster client keeps retrying a node that is gone (a
                // removed shard's) instead of asking the others; a new
                // connection reads the slot map afresh. Its own retries resend
                // a command the same way, so this adds no new kind of repeat.
                if may_retry && matches!(self.target, Target::Cluster(_)) && !e.is_timeout() {
                    return self.send_attempt(cmd, false);
                }
                let what = format!("sending {}", describe_cmd(cmd));
                Err(self.explain_broken(&e, &what))
            }
        }
    }

    /// [`Client::explain`] for an open connection that broke. A killed
    /// process closes its sockets before it can be reaped, so the exit is
    /// given a moment to show; a healthy server costs the error that moment.
    fn explain_broken(&self, err: &RedisError, what: &str) -> Error {
        if !self.watched.is_empty() && !err.is_timeout() {
            process::poll_until(EXIT_GRACE, Duration::from_millis(2), || {
                self.watched.iter().any(|s| !s.poll())
            });
        }
        self.explain(err, what, self.timeout)
    }

    /// Turns a transport error into ours. When a watched server process has
    /// died (or is dying: its log shows a crash report), says so with the
    /// report; when the reply did not come within `limit`, it is a Timeout
    /// that says what the server processes are doing.
    fn explain(&self, err: &RedisError, what: &str, limit: Option<Duration>) -> Error {
        for state in &self.watched {
            if state.poll() && !diagnostics::crash_in_log(state) {
                continue;
            }
            // A crashing server is still writing its report: give it time.
            state.wait_exit(Duration::from_secs(10));
            return Error::new(
                ErrorKind::ServerExited,
                format!(
                    "{what} to {}: the connection broke ({err}) because the server process is gone: {}; {}",
                    self.description,
                    state.describe(),
                    diagnostics::crash_report(state)
                ),
            );
        }
        if err.is_timeout() {
            let within = limit.map_or(String::new(), |t| {
                format!(" within {:.1} s", t.as_secs_f64())
            });
            let doing: Vec<String> = self
                .watched
                .iter()
                .map(|s| format!("{} is {}", s.describe(), s.activity()))
                .collect();
            let doing = if doing.is_empty() {
                "no server process is watched by this client".to_string()
            } else {
                doing.join("; ")
            };
            return Error::new(
                ErrorKind::Timeout,
                format!(
                    "{what} to {}: no reply{within} ({err}); {doing}",
                    self.description
                ),
            );
        }
        let kind = if err.kind() == redis::ErrorKind::Io || err.is_connection_dropped() {
            ErrorKind::Connection
        } else if format!("{err}").contains("TLS") || format!("{err:?}").contains("Tls") {
            ErrorKind::Tls
        } else {
            ErrorKind::Connection
        };
        Error::new(kind, format!("{what} to {}: {err}", self.description))
    }
}

fn apply_timeout(conn: &mut redis::Connection, timeout: Option<Duration>) -> Result<()> {
    conn.set_read_timeout(timeout)
        .and_then(|_| conn.set_write_timeout(timeout))
        .map_err(|e| Error::invalid(format!("setting the timeout: {e}")))
}

fn unreachable_connection() -> redis::RedisResult<redis::Value> {
    Err(RedisError::from((redis::ErrorKind::Io, "not connected")))
}

/// A server error (`-ERR ...`) comes back from the `redis` crate as an
/// `Err`; it is a reply for our users.
fn server_error_reply(err: &RedisError) -> Option<Reply> {
    if err.is_io_error() || err.is_connection_dropped() {
        return None;
    }
    let code = err.code()?;
    Some(Reply::Error(match err.detail() {
        Some(detail) => format!("{code} {detail}"),
        None => code.to_string(),
    }))
}

fn build_cmd<I, A>(args: I) -> Result<Cmd>
where
    I: IntoIterator<Item = A>,
    A: AsRef<[u8]>,
{
    let mut cmd = Cmd::new();
    let mut count = 0;
    for arg in args {
        cmd.arg(arg.as_ref());
        count += 1;
    }
    if count == 0 {
        return Err(Error::invalid("a command needs at least one argument"));
    }
    Ok(cmd)
}

fn describe_cmd(cmd: &Cmd) -> String {
    let mut words: Vec<String> = cmd
        .args_iter()
        .take(4)
        .map(|a| match a {
            redis::Arg::Simple(bytes) => String::from_utf8_lossy(bytes).chars().take(40).collect(),
            _ => "<cursor>".to_string(),
        })
        .collect();
    if cmd.args_iter().count() > 4 {
        words.push("...".into());
    }
    format!("`{}`", words.join(" "))
}

fn single_client(endpoint: &Endpoint) -> Result<redis::Client> {
    let mode = endpoint.tls;
    let certs = if mode.is_on() {
        tls::install_crypto_provider();
        Some(certificates_for(endpoint)?)
    } else {
        None
    };
    let built = endpoint.url().into_connection_info().and_then(|info| {
        // No CLIENT SETINFO on connect: one round trip less for every
        // connection (readiness probes over TLS, stop, info_field).
        // AUTH goes in the connection setup, so it costs no separate wait.
        let mut settings = info.redis_settings().clone().set_skip_set_lib_name();
        if let Some(password) = &endpoint.password {
            settings = settings.set_password(password);
        }
        let info = info.set_redis_settings(settings);
        match certs {
            Some(certs) => redis::Client::build_with_tls(info, certs),
            None => redis::Client::open(info),
        }
    });
    built.map_err(|e| {
        Error::new(
            ErrorKind::Connection,
            format!("client for {}: {e}", endpoint.description),
        )
    })
}

/// The endpoint's own certificates, else vtf's CA (and client certificate
/// under mutual TLS).
fn certificates_for(endpoint: &Endpoint) -> Result<redis::TlsCertificates> {
    match &endpoint.certificates {
        Some(certs) => Ok(certs.for_redis()),
        None => tls::client_certificates(endpoint.tls == TlsMode::Mutual),
    }
}

/// Splits a command line on white space; double quotes group, and inside
/// them `\"` and `\\` stand for `"` and `\`. `""` is an empty argument.
pub fn split_command(line: &str) -> Result<Vec<String>> {
    let mut args = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut arg = String::new();
        let mut quoted = false;
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            chars.next();
            if c != '"' {
                arg.push(c);
                continue;
            }
            quoted = true;
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(e @ ('"' | '\\')) => arg.push(e),
                        Some('n') => arg.push('\n'),
                        Some(other) => {
                            arg.push('\\');
                            arg.push(other);
                        }
                        None => return Err(unterminated(line)),
                    },
                    Some(other) => arg.push(other),
                    None => return Err(unterminated(line)),
                }
            }
        }
        if !arg.is_empty() || quoted {
            args.push(arg);
        }
    }
    if args.is_empty() {
        return Err(Error::invalid(format!("command {line:?} is empty")));
    }
    Ok(args)
}

fn unterminated(line: &str) -> Error {
    Error::invalid(format!("command {line:?} has an unterminated double quote"))
}

#[cfg(test)]
mod tests {
    use super::split_command;

    #[test]
    fn splits_and_groups() {
        assert_eq!(split_command("SET k v").unwrap(), ["SET", "k", "v"]);
        assert_eq!(
            split_command("  SET  k \"a b\" ").unwrap(),
            ["SET", "k", "a b"]
        );
        assert_eq!(split_command("SET k \"\"").unwrap(), ["SET", "k", ""]);
        assert_eq!(
            split_command(r#"SET k "say \"hi\"""#).unwrap(),
            ["SET", "k", "say \"hi\""]
        );
        assert_eq!(
            split_command("SET k pre\"mid dle\"post").unwrap(),
            ["SET", "k", "premid dlepost"]
        );
        assert!(split_command("SET k \"open").is_err());
        assert!(split_command("   ").is_err());
    }
}
