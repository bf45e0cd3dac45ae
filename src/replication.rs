//! A primary and its replicas, started together and waited on by
//! replication offsets. The group owns its nodes; borrowed nodes can be
//! stopped and restarted, and a restarted replica comes back as a replica of
//! the current primary (its config's `replicaof` follows promotions).

use std::time::{Duration, Instant};

use crate::client::Client;
use crate::config::Config;
use crate::diagnostics::log_excerpt;
use crate::error::{Error, ErrorKind, Result};
use crate::group::{self, QuickCron};
use crate::ports::HOST;
use crate::reply::info_value;
use crate::server::Server;

/// How long one INFO may take while waiting, so that a hung replica cannot
/// hold a wait past its deadline by more than this.
const INFO_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a linked replica may lag before it is asked for an ACK.
const NUDGE_INTERVAL: Duration = Duration::from_millis(50);

/// A primary and `n` replicas of it.
///
/// ```no_run
/// use vtf::{Config, Replication};
/// # fn main() -> vtf::Result<()> {
/// let group = Replication::create(&Config::new(), 2)?;
/// group.primary().connect()?.cmd(["SET", "k", "v"])?;
/// group.wait_sync(std::time::Duration::from_secs(5))?;
/// let value = group.replica(0)?.connect()?.cmd(["GET", "k"])?;
/// assert_eq!(value.as_str(), Some("v"));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Replication {
    nodes: Vec<Server>,
    /// Indices into `nodes`: `order[0]` is the primary, `order[1 + i]` replica `i`.
    order: Vec<usize>,
    /// What `add_replica` starts from (already prepared by `node_config`).
    replica_config: Config,
    /// How long creation, promotion and `add_replica` wait for the group to sync.
    sync_timeout: Duration,
}

/// What a replica's INFO replication says, for waiting and for messages.
#[derive(Debug, Default)]
struct ReplicaView {
    master_port: Option<u16>,
    link: Option<String>,
    replid: Option<String>,
    offset: Option<i64>,
}

impl ReplicaView {
    fn parse(info: &str) -> ReplicaView {
        ReplicaView {
            master_port: info_value(info, "master_port").and_then(|p| p.parse().ok()),
            link: info_value(info, "master_link_status").map(str::to_string),
            replid: info_value(info, "master_replid").map(str::to_string),
            offset: info_value(info, "slave_repl_offset").and_then(|o| o.parse().ok()),
        }
    }
}

/// The primary's replication offset at the start of a wait. Its replication
/// id is read on every poll instead: a primary changes it when it creates its
/// backlog for its first replica.
struct Target {
    port: u16,
    offset: i64,
}

impl Replication {
    /// Starts a primary and `replicas` replicas from the same config (modules
    /// and arguments included); returns once every replica has processed the
    /// primary's replication offset.
    pub fn create(config: &Config, replicas: usize) -> Result<Replication> {
        Replication::create_with(config, config, replicas)
    }

    /// Like [`Replication::create`], with a config of their own for the replicas
    /// (also used by [`Replication::add_replica`]).
    pub fn create_with(
        primary_config: &Config,
        replica_config: &Config,
        replicas: usize,
    ) -> Result<Replication> {
        let primary_config = node_config(primary_config);
        let replica_config = node_config(replica_config);
        same_credential(&primary_config, &replica_config)?;
        // Each config's startup timeout, grown under its wrapper (Config::scaled).
        let sync_timeout = primary_config
            .effective_startup_timeout()
            .max(replica_config.effective_startup_timeout());
        // Only the primary's cron holds a sync up (see group::QuickCron).
        let quick = QuickCron::plan(&primary_config);
        let primary = Server::spawn(&QuickCron::raise(&quick, &primary_config))
            .map_err(|e| e.context("starting the primary"))?;
        let attached = replica_config
            .clone()
            .set_arg("replicaof", replicaof(primary.port()));
        // On an error, the servers started so far are dropped, which stops them.
        let replicas = group::start_nodes(&attached, replicas, "replica")?;
        let mut nodes = vec![primary];
        nodes.extend(replicas);
        let mut group = Replication {
            order: (0..nodes.len()).collect(),
            nodes,
            replica_config,
            sync_timeout,
        };
        group
            .wait_sync(sync_timeout)
            .map_err(|e| e.context("waiting for the replicas' first sync"))?;
        if let Some(quick) = quick {
            quick
                .end([group.primary_mut()], &primary_config)
                .map_err(|e| e.context("after the replicas' first sync"))?;
        }
        Ok(group)
    }

    /// The current primary.
    pub fn primary(&self) -> &Server {
        &self.nodes[self.order[0]]
    }

    /// The current primary, to stop or restart it.
    pub fn primary_mut(&mut self) -> &mut Server {
        &mut self.nodes[self.order[0]]
    }

    /// Replica `index` (0-based, `< replica_count()`).
    pub fn replica(&self, index: usize) -> Result<&Server> {
        let node = self.order[self.replica_slot(index)?];
        Ok(&self.nodes[node])
    }

    /// Replica `index`, to stop or restart it.
    pub fn replica_mut(&mut self, index: usize) -> Result<&mut Server> {
        let node = self.order[self.replica_slot(index)?];
        Ok(&mut self.nodes[node])
    }

    pub fn replica_count(&self) -> usize {
        self.order.len() - 1
    }

    /// The replicas in index order.
    pub fn replicas(&self) -> impl Iterator<Item = &Server> {
        self.order[1..].iter().map(|&n| &self.nodes[n])
    }

    fn replica_slot(&self, index: usize) -> Result<usize> {
        if index < self.replica_count() {
            Ok(index + 1)
        } else {
            Err(Error::invalid(format!(
                "replica index {index} is out of range: the group has {} replica(s)",
                self.replica_count()
            )))
        }
    }

    /// Waits until every running replica has processed the primary's
    /// replication offset as it was at the call (stopped replicas are
    /// skipped). Judged by offsets and replication id, not by link status
    /// alone, so a write made before the call is readable on every replica
    /// afterwards.
    pub fn wait_sync(&self, timeout: Duration) -> Result<()> {
        self.wait_replicas(0..self.replica_count(), timeout)
    }

    fn wait_replicas(&self, indices: impl Iterator<Item = usize>, timeout: Duration) -> Result<()> {
        let started = Instant::now();
        let target = self.target()?;
        for index in indices {
            let replica = self.replica(index)?;
            if !replica.is_running() {
                continue;
            }
            let remaining = timeout.saturating_sub(started.elapsed());
            wait_replica(index, replica, self.primary(), &target, remaining, started)?;
        }
        Ok(())
    }

    fn target(&self) -> Result<Target> {
        let primary = self.primary();
        if !primary.is_running() {
            return Err(Error::new(
                ErrorKind::ServerExited,
                format!(
                    "the primary is not running, so there is nothing to sync with: {}",
                    primary.describe()
                ),
            ));
        }
        let mut client = primary.connect()?;
        let reply = client.cmd(["INFO", "replication"])?;
        let text = reply.as_str().unwrap_or_default();
        let field = |name: &str| {
            info_value(text, name).ok_or_else(|| {
                Error::invalid(format!(
                    "INFO replication of the primary {} has no {name} (reply: {reply:?})",
                    primary.describe()
                ))
            })
        };
        let offset = field("master_repl_offset")?;
        Ok(Target {
            port: primary.port(),
            offset: offset.parse().map_err(|_| {
                Error::invalid(format!(
                    "the primary's master_repl_offset {offset:?} is not a number"
                ))
            })?,
        })
    }

    /// Makes replica `index` the primary: it and the old primary swap
    /// places (the old primary becomes replica `index`), the others are
    /// re-pointed to it, and the call returns once the group is in sync. A
    /// stopped node only has its config updated, so it rejoins as a replica
    /// of the new primary when restarted.
    pub fn promote(&mut self, index: usize) -> Result<()> {
        let slot = self.replica_slot(index)?;
        let new = self.order[slot];
        if !self.nodes[new].is_running() {
            return Err(Error::invalid(format!(
                "replica {index} is not running, so it cannot be promoted: {}",
                self.nodes[new].describe()
            )));
        }
        // A manual failover: the new primary first gets everything the old one had.
        if self.primary().is_running() {
            self.wait_replicas(std::iter::once(index), self.sync_timeout)
                .map_err(|e| e.context(format!("before promoting replica {index}")))?;
        }
        command(&self.nodes[new], &["REPLICAOF", "NO", "ONE"])?;
        let config = self.nodes[new].config().clone().remove_arg("replicaof");
        self.nodes[new].set_config(config);
        // From here on the accessors show the new roles, even if re-pointing fails.
        self.order.swap(0, slot);
        let value = replicaof(self.nodes[new].port());
        let port = self.nodes[new].port().to_string();
        for (i, node) in self.nodes.iter_mut().enumerate() {
            if i == new {
                continue;
            }
            let config = node.config().clone().set_arg("replicaof", value.clone());
            node.set_config(config);
            if node.is_running() {
                command(node, &["REPLICAOF", HOST, &port])?;
            }
        }
        self.wait_sync(self.sync_timeout)
            .map_err(|e| e.context(format!("after promoting replica {index}")))
    }

    /// Starts one more replica of the current primary (from the replica
    /// config) and returns its index once it is in sync. On failure the
    /// group is unchanged.
    pub fn add_replica(&mut self) -> Result<usize> {
        let index = self.replica_count();
        let config = self
            .replica_config
            .clone()
            .set_arg("replicaof", replicaof(self.primary().port()));
        let server =
            Server::spawn(&config).map_err(|e| e.context(format!("starting replica {index}")))?;
        self.nodes.push(server);
        self.order.push(self.nodes.len() - 1);
        if let Err(e) = self.wait_replicas(std::iter::once(index), self.sync_timeout) {
            self.order.pop();
            self.nodes.pop();
            return Err(e.context(format!("waiting for the new replica {index} to sync")));
        }
        Ok(index)
    }
}

impl Drop for Replication {
    /// Stops every node concurrently (then their directories go with them).
    fn drop(&mut self) {
        group::stop_all(&mut self.nodes);
    }
}

/// A node's config: our settings unless the user chose otherwise, and no
/// `replicaof` (the group sets it).
fn node_config(config: &Config) -> Config {
    let mut config = config.clone().remove_arg("replicaof").remove_arg("slaveof");
    // Default 5 s: every full sync would wait that long. Replicas too, as they may be promoted.
    if config.get_arg("repl-diskless-sync-delay").is_none() {
        config = config.arg("repl-diskless-sync-delay", "0");
    }
    config
}

/// A node authenticates to its primary with its own password (`masterauth`,
/// see auth.rs), and any node may become the primary (promote): a group whose
/// configs require different passwords could never sync, so it is refused
/// before anything starts instead of timing out.
fn same_credential(primary: &Config, replicas: &Config) -> Result<()> {
    let (p, r) = (primary.server_password()?, replicas.server_password()?);
    if p == r {
        return Ok(());
    }
    let what = |password: &Option<String>| match password {
        Some(_) => "a password",
        None => "no password",
    };
    let detail = match (&p, &r) {
        (Some(_), Some(_)) => "different passwords".to_string(),
        _ => format!("{} and {}", what(&p), what(&r)),
    };
    Err(Error::invalid(format!(
        "the primary's config and the replicas' config require {detail}: every node of a \
         group must require the same (Config::password, Config::auth or a requirepass \
         argument), as each authenticates to its primary with its own and any may be promoted"
    )))
}

fn replicaof(port: u16) -> String {
    format!("{HOST} {port}")
}

/// Runs a command whose error reply is a failure.
fn command(server: &Server, args: &[&str]) -> Result<()> {
    let reply = server.connect()?.cmd(args)?;
    match reply.error() {
        Some(err) => Err(Error::invalid(format!(
            "{} on {} failed: {err}",
            args.join(" "),
            server.describe()
        ))),
        None => Ok(()),
    }
}

/// Polls the replica's INFO replication until it follows `target`'s history
/// (same replication id, link up, right primary) at or past its offset.
fn wait_replica(
    index: usize,
    replica: &Server,
    primary: &Server,
    target: &Target,
    timeout: Duration,
    started: Instant,
) -> Result<()> {
    let mut client: Option<Client> = None;
    let mut primary_client: Option<Client> = None;
    let mut view = ReplicaView::default();
    let mut primary_replid: Option<String> = None;
    let mut last_error: Option<String> = None;
    let mut last_nudge: Option<Instant> = None;
    let caught_up = crate::process::poll_until(timeout, Duration::from_millis(20), || {
        if !replica.is_running() || !primary.is_running() {
            return true; // reported below
        }
        let infos = info(replica, &mut client)
            .and_then(|r| info(primary, &mut primary_client).map(|p| (r, p)));
        match infos {
            Ok((replica_info, primary_info)) => {
                view = ReplicaView::parse(&replica_info);
                primary_replid = info_value(&primary_info, "master_replid").map(str::to_string);
                last_error = None;
            }
            Err(e) => {
                last_error = Some(e.message().to_string());
                return false;
            }
        }
        let linked = view.master_port == Some(target.port)
            && view.link.as_deref() == Some("up")
            && view.replid.is_some()
            && view.replid == primary_replid;
        let behind = view.offset.is_none_or(|o| o < target.offset);
        if linked && behind && last_nudge.is_none_or(|at| at.elapsed() >= NUDGE_INTERVAL) {
            // After a diskless full sync the primary streams to a replica
            // only from its first ACK in the online state; an ACK that came
            // too early leaves it waiting for the next one, a second later.
            // GETACK makes the replica send one now (it replies nothing).
            last_nudge = Some(Instant::now());
            if let Some(c) = client.as_mut() {
                if let Err(e) = c.cmd_without_reply(["REPLCONF", "GETACK", "*"]) {
                    last_error = Some(e.message().to_string());
                    client = None;
                }
            }
        }
        linked && !behind
    });
    if !replica.is_running() {
        return Err(Error::new(
            ErrorKind::ServerExited,
            format!(
                "replica {index} exited while the group waited for it to sync: {}; {}",
                replica.describe(),
                log_excerpt(replica.state())
            ),
        ));
    }
    if !primary.is_running() {
        return Err(Error::new(
            ErrorKind::ServerExited,
            format!(
                "the primary exited while the group waited for replica {index} to sync: {}; {}",
                primary.describe(),
                log_excerpt(primary.state())
            ),
        ));
    }
    if caught_up {
        return Ok(());
    }
    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
    Err(Error::new(
        ErrorKind::Timeout,
        format!(
            "replica {index} ({}, which is {}) did not catch up with the primary {HOST}:{} \
             (which is {}) within {:.1} s: {}; primary master_repl_offset {} at the call (replid \
             now {}), replica slave_repl_offset {} (replid {}, master_port {}, \
             master_link_status {}){}; {}",
            replica.describe(),
            replica.activity(),
            target.port,
            primary.activity(),
            started.elapsed().as_secs_f64(),
            match view.offset {
                Some(offset) if offset < target.offset =>
                    format!("lagging by {} bytes", target.offset - offset),
                Some(_) => "not following the primary's history".to_string(),
                None => "its replication offset unknown".to_string(),
            },
            target.offset,
            show(&primary_replid),
            view.offset.map_or("(none)".into(), |o| o.to_string()),
            show(&view.replid),
            view.master_port.map_or("(none)".into(), |p| p.to_string()),
            show(&view.link),
            last_error.map_or(String::new(), |e| format!("; last INFO failed: {e}")),
            log_excerpt(replica.state())
        ),
    ))
}

/// INFO replication through a kept connection with a short read timeout.
fn info(server: &Server, client: &mut Option<Client>) -> Result<String> {
    if client.is_none() {
        let mut c = server.connect()?;
        c.set_timeout(Some(INFO_TIMEOUT))?;
        *client = Some(c);
    }
    let Some(c) = client.as_mut() else {
        return Err(Error::new(ErrorKind::Panic, "no client after connecting"));
    };
    let reply = match c.cmd(["INFO", "replication"]) {
        Ok(reply) => reply,
        Err(e) => {
            *client = None; // reconnect (with the timeout) next time
            return Err(e);
        }
    };
    match reply.error() {
        Some(err) => Err(Error::invalid(format!("INFO replication failed: {err}"))),
        None => Ok(reply.as_str().unwrap_or_default().to_string()),
    }
}
