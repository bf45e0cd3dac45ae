//! A Valkey cluster of real servers: `shards` primaries with
//! `replicas_per_shard` replicas each, formed with CLUSTER ADDSLOTSRANGE, MEET,
//! REPLICATE and FAILOVER TAKEOVER (no `valkey-cli --cluster create` and its
//! fixed sleeps, no 2 s hold of a new primary), and ready only once every node
//! agrees on the topology.
//!
//! Node order: primaries first (shard order), then the replicas in shard
//! order: replica `j` of shard `s` is node `shards + s * replicas + j`. A node
//! keeps its index for its lifetime, also after a failover swaps its role.
//! Shards added later (`shards`) append their nodes after the existing ones;
//! a removed shard leaves its indices and its shard number vacant, never reused.
//!
//! The handle lives here; forming is in `form`, the
//! convergence check in `converge`, CLUSTER NODES / SLOTS parsing in
//! `topology`, attaching to a running cluster in `attach`; moving slots with
//! their keys in `migrate`, adding and removing shards in `shards`, both over
//! a `session` (one operation's connections to every node).

mod attach;
mod converge;
mod form;
mod join;
mod migrate;
mod session;
mod shards;
mod topology;

use std::time::{Duration, Instant};

use self::converge::Expect;
use crate::client::Client;
use crate::config::Config;
use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::group;
use crate::reply::{info_value, Reply};
use crate::server::Server;

/// The number of hash slots.
pub const SLOTS: usize = 16384;
/// `cluster-node-timeout` unless the config sets one (ms), as Valkey's own tests use.
pub const DEFAULT_NODE_TIMEOUT_MS: u32 = 3000;
/// Gossip interval (ms) on engines that have the hidden `cluster-ping-interval`.
const PING_INTERVAL_MS: u32 = 100;
/// How long forming a cluster or a failover may take before it is reported.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Log lines quoted per node when forming a cluster fails.
const LOG_LINES_ON_FAILURE: usize = 8;
/// Problems listed in a timeout message.
const MAX_PROBLEMS_SHOWN: usize = 12;

/// A running cluster. Dropping it stops every node and removes their directories.
#[derive(Debug)]
pub struct Cluster {
    nodes: Vec<Server>,
    /// The shape the cluster was started with.
    shards: usize,
    replicas_per_shard: usize,
    /// Per shard number, in the order made: the indices of the nodes created
    /// in it (its primary first); `None` once the shard was removed. A
    /// removed node stays in `nodes`, stopped (its log kept for diagnosis),
    /// but no accessor hands it out.
    layout: Vec<Option<Vec<usize>>>,
    /// The wait for the cluster to settle after a failover or a change of
    /// shape: [`DEFAULT_READY_TIMEOUT`], scaled by the config (`Config::scaled`).
    settle_timeout: Duration,
}

impl Cluster {
    /// Starts `shards * (1 + replicas_per_shard)` nodes from `config` and
    /// returns once the cluster is formed: `cluster_state:ok` on every node,
    /// every node knows every other, all agree on slots and roles, and every
    /// replica is linked to its primary and caught up.
    ///
    /// With env `VTF_EXTERNAL` describing a cluster (its JSON says so, or
    /// the first `host:port` listed is a cluster node), attaches to that
    /// cluster instead ([`Cluster::attach`]); the shape asked for is not
    /// checked against it.
    pub fn start(config: &Config, shards: usize, replicas_per_shard: usize) -> Result<Cluster> {
        if let Some(topology) = crate::external::from_env()? {
            let config = crate::external::config_for(config, &topology);
            let node = &topology.nodes[0];
            let is_cluster = topology.kind == crate::topology::Kind::Cluster
                || Server::attached(&config, &node.host, node.port)?
                    .info_field("cluster", "cluster_enabled")?
                    .as_deref()
                    == Some("1");
            if is_cluster {
                return Cluster::attach(&config, &node.host, node.port)
                    .map_err(|e| e.context(format!("env {}", crate::external::ENV)));
            }
        }
        if shards == 0 {
            return Err(Error::invalid("a cluster needs at least one shard"));
        }
        if shards > SLOTS {
            return Err(Error::invalid(format!(
                "{shards} shards cannot each own a slot: a cluster has {SLOTS} slots"
            )));
        }
        let count = shards
            .checked_mul(replicas_per_shard + 1)
            .filter(|&n| n <= 1000)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "{shards} shards with {replicas_per_shard} replicas each is too many nodes"
                ))
            })?;
        config.validate()?;
        let engine = Engine::detect(&config.resolve_binary()?)?;
        let node_config = node_config(config, &engine);
        let started = Instant::now();
        let helpers = form::helpers_needed(shards, replicas_per_shard, &engine);
        // Shards without replicas form with helper nodes (see form.rs),
        // started with the others.
        let quick = group::QuickCron::plan(&node_config);
        let start_config = group::QuickCron::raise(&quick, &node_config);
        let mut nodes = group::start_nodes(&start_config, count + helpers, "cluster node")
            .map_err(|e| match helpers {
                0 => e,
                _ => e.context(format!(
                    "nodes {count} and up are helpers that own the slots while the cluster forms"
                )),
            })?;
        let helpers = nodes.split_off(count);
        let layout = (0..shards)
            .map(|s| {
                let replicas = (0..replicas_per_shard).map(|j| shards + s * replicas_per_shard + j);
                Some(std::iter::once(s).chain(replicas).collect())
            })
            .collect();
        let mut cluster = Cluster {
            nodes,
            shards,
            replicas_per_shard,
            layout,
            settle_timeout: config.scaled(DEFAULT_READY_TIMEOUT),
        };
        let timeout = ready_timeout(config);
        cluster
            .form(&engine, helpers, timeout.saturating_sub(started.elapsed()))
            .and_then(|()| match quick {
                Some(quick) => quick
                    .end(cluster.nodes.iter_mut(), &node_config)
                    .map_err(|e| e.context("after the cluster formed")),
                None => Ok(()),
            })
            .map_err(|e| {
                // The directories go with the cluster: quote the logs now.
                let logs = log_tails("node", cluster.nodes().enumerate());
                let e = e.context(format!(
                    "forming a cluster of {shards} shards x {replicas_per_shard} replicas \
                     ({count} nodes)"
                ));
                Error::new(e.kind(), format!("{e}\n{}", logs.join("\n")))
            })?;
        Ok(cluster)
    }

    /// One past the highest node index handed out: a removed shard's indices
    /// stay counted (vacant, [`Cluster::node`] gives `None` for them), so
    /// `0..node_count()` visits every index a node ever had.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The number of shards the cluster was started with.
    pub fn shards(&self) -> usize {
        self.shards
    }

    pub fn replicas_per_shard(&self) -> usize {
        self.replicas_per_shard
    }

    /// Whether `index` belongs to a node of the cluster now (not out of
    /// range, not vacated by `remove_shard`).
    fn is_member(&self, index: usize) -> bool {
        self.layout.iter().flatten().any(|m| m.contains(&index))
    }

    /// Node `index` (primaries first), or `None` past the end or when its
    /// shard was removed.
    pub fn node(&self, index: usize) -> Option<&Server> {
        if !self.is_member(index) {
            return None;
        }
        self.nodes.get(index)
    }

    /// Node `index`, to stop or restart it.
    pub fn node_mut(&mut self, index: usize) -> Option<&mut Server> {
        if !self.is_member(index) {
            return None;
        }
        self.nodes.get_mut(index)
    }

    /// Every node of the cluster, in index order (vacant indices skipped).
    pub fn nodes(&self) -> impl Iterator<Item = &Server> {
        self.node_indices().into_iter().map(|i| &self.nodes[i])
    }

    /// The indices of the cluster's nodes, in order (vacant ones skipped).
    pub fn node_indices(&self) -> Vec<usize> {
        let mut indices: Vec<usize> = self.layout.iter().flatten().flatten().copied().collect();
        indices.sort_unstable();
        indices
    }

    /// The node that was created as shard `shard`'s primary.
    pub fn primary(&self, shard: usize) -> Option<&Server> {
        let index = *self.shard_members(shard)?.first()?;
        self.node(index)
    }

    /// The node that was created as replica `replica` of shard `shard`.
    pub fn replica(&self, shard: usize, replica: usize) -> Option<&Server> {
        self.replica_index(shard, replica)
            .and_then(|index| self.node(index))
    }

    /// The shard node `index` was created in (`None` when vacant).
    pub fn shard_of(&self, index: usize) -> Option<usize> {
        self.layout
            .iter()
            .position(|m| m.as_ref().is_some_and(|m| m.contains(&index)))
    }

    fn replica_index(&self, shard: usize, replica: usize) -> Option<usize> {
        self.shard_members(shard)?.get(replica + 1).copied()
    }

    /// The indices of the nodes created in `shard`: its primary, then its
    /// replicas; `None` for a shard never made or removed.
    fn shard_members(&self, shard: usize) -> Option<&[usize]> {
        self.layout.get(shard)?.as_deref()
    }

    /// The node's cluster id (CLUSTER MYID).
    pub fn node_id(&self, index: usize) -> Result<String> {
        let node = self.node(index).ok_or_else(|| self.bad_index(index))?;
        let mut client = node.connect()?;
        let reply = client.cmd(["CLUSTER", "MYID"])?;
        text(&reply, node, "CLUSTER MYID")
    }

    fn bad_index(&self, index: usize) -> Error {
        if index < self.nodes.len() {
            return Error::invalid(format!(
                "node index {index} is vacant: its shard was removed from the cluster"
            ));
        }
        Error::invalid(format!(
            "node index {index} is out of range: the cluster has {} nodes",
            self.nodes.len()
        ))
    }

    fn bad_shard(&self, shard: usize) -> Error {
        if shard < self.layout.len() {
            return Error::invalid(format!("shard {shard} was removed from the cluster"));
        }
        Error::invalid(format!(
            "shard {shard} is out of range: the cluster has made {} shards",
            self.layout.len()
        ))
    }

    /// A client that routes each command to the node owning its key's slot
    /// and follows MOVED / ASK redirections.
    pub fn connect(&self) -> Result<Client> {
        let running: Vec<&Server> = self.nodes().filter(|n| n.is_running()).collect();
        if running.is_empty() {
            return Err(Error::new(
                ErrorKind::ServerExited,
                "no node of the cluster is running",
            ));
        }
        Client::connect_cluster(running.iter().map(|n| n.endpoint()))
    }

    /// Waits until the running nodes agree again: `cluster_state:ok` on each,
    /// every node known to each, the same slots and roles seen by all, and
    /// every replica linked and caught up. Stopped nodes are left out (the
    /// others still list them). Use it after restarting or stopping nodes.
    pub fn wait_ok(&self, timeout: Duration) -> Result<()> {
        self.wait_converged(timeout, &[])
    }

    /// Promotes shard `shard`'s first running replica with CLUSTER FAILOVER
    /// (FORCE when the shard's primary is not running) and waits until every
    /// running node sees it as the shard's primary and the cluster is ok.
    /// Nodes keep their indices; the new roles show in CLUSTER NODES.
    pub fn failover(&self, shard: usize) -> Result<()> {
        self.failover_with_timeout(shard, self.settle_timeout)
    }

    pub fn failover_with_timeout(&self, shard: usize, timeout: Duration) -> Result<()> {
        let members = self
            .shard_members(shard)
            .ok_or_else(|| self.bad_shard(shard))?;
        let mut primary_running = false;
        let mut candidate = None;
        for &index in members {
            let node = &self.nodes[index];
            if !node.is_running() {
                continue;
            }
            match node.info_field("replication", "role")?.as_deref() {
                Some("master") => primary_running = true,
                Some("slave") if candidate.is_none() => candidate = Some(index),
                _ => {}
            }
        }
        let candidate = candidate.ok_or_else(|| {
            Error::invalid(format!(
                "shard {shard} has no running replica to fail over to (nodes {members:?})"
            ))
        })?;
        let node = &self.nodes[candidate];
        let id = self.node_id(candidate)?;
        let mut command = vec!["CLUSTER", "FAILOVER"];
        if !primary_running {
            command.push("FORCE");
        }
        let reply = node.connect()?.cmd(&command)?;
        if let Some(err) = reply.error() {
            return Err(Error::invalid(format!(
                "{} on node {candidate} ({}) failed: {err}",
                command.join(" "),
                node.describe()
            )));
        }
        self.wait_converged(
            timeout,
            &[Expect::Primary {
                index: candidate,
                id,
            }],
        )
        .map_err(|e| {
            e.context(format!(
                "failing shard {shard} over to node {candidate} ({})",
                node.address()
            ))
        })
    }
}

impl Drop for Cluster {
    /// Stops the nodes concurrently (then their directories go with them).
    fn drop(&mut self) {
        group::stop_all(&mut self.nodes);
    }
}

/// The first and last slot of `shard` when `shards` split the slots evenly.
pub fn slot_range(shard: usize, shards: usize) -> (usize, usize) {
    (shard * SLOTS / shards, (shard + 1) * SLOTS / shards - 1)
}

/// The config every node starts with: the user's, plus cluster mode and the
/// options that make forming it fast (kept when the user set them).
fn node_config(config: &Config, engine: &Engine) -> Config {
    let mut node = config
        .clone()
        .set_arg("cluster-enabled", "yes")
        // Relative: each node's working directory is its own.
        .set_arg("cluster-config-file", "nodes.conf");
    let mut default = |name: &str, value: String| {
        if config.get_arg(name).is_none() {
            node = std::mem::take(&mut node).arg(name, value);
        }
    };
    default("cluster-node-timeout", DEFAULT_NODE_TIMEOUT_MS.to_string());
    // The default 5 s delay would hold up every replica's first sync.
    default("repl-diskless-sync-delay", "0".to_string());
    // A hidden Valkey 8 option; older Valkey and Redis refuse to start with it.
    if engine.is_valkey() && engine.at_least(8, 0) {
        default("cluster-ping-interval", PING_INTERVAL_MS.to_string());
    }
    node
}

/// The last log lines of each node, for a failure message (the directories
/// go with the nodes).
fn log_tails<'a>(what: &str, nodes: impl Iterator<Item = (usize, &'a Server)>) -> Vec<String> {
    nodes
        .map(|(i, n)| {
            format!(
                "{what} {i} ({}), last lines of {}:\n{}",
                n.address(),
                n.log_path().display(),
                n.log_tail(LOG_LINES_ON_FAILURE).unwrap_or_default()
            )
        })
        .collect()
}

/// How long [`Cluster::start`] waits for a cluster from `config` to form:
/// [`DEFAULT_READY_TIMEOUT`] or the startup timeout if longer, grown once
/// under a wrapper ([`Config::scaled`]), whether the config or env
/// `VTF_SERVER_WRAPPER` sets it.
pub fn ready_timeout(config: &Config) -> Duration {
    config.scaled(DEFAULT_READY_TIMEOUT.max(config.startup_timeout_base()))
}

/// One `name:value` field of the reply to `command` (CLUSTER INFO, INFO ...);
/// "" when absent, the error text when the command failed (for messages).
fn reply_field(client: &mut Client, command: &[&str], name: &str) -> String {
    client
        .cmd(command)
        .map(|r| {
            info_value(r.as_str().unwrap_or(""), name)
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_else(|e| e.to_string())
}

fn text(reply: &Reply, node: &Server, what: &str) -> Result<String> {
    match reply {
        Reply::Error(e) => Err(Error::invalid(format!(
            "{what} on {} failed: {e}",
            node.describe()
        ))),
        other => other.as_str().map(str::to_string).ok_or_else(|| {
            Error::invalid(format!(
                "{what} on {} gave an unexpected reply: {other}",
                node.describe()
            ))
        }),
    }
}

fn expect_ok(reply: &Reply, node: &Server, what: &str) -> Result<()> {
    match reply.error() {
        Some(e) => Err(Error::invalid(format!(
            "{what} on {} failed: {e}",
            node.describe()
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_split_evenly_and_cover_all() {
        assert_eq!(slot_range(0, 1), (0, 16383));
        assert_eq!(slot_range(0, 3), (0, 5460));
        assert_eq!(slot_range(1, 3), (5461, 10921));
        assert_eq!(slot_range(2, 3), (10922, 16383));
        for shards in [1, 2, 3, 7, 100] {
            let mut next = 0;
            for s in 0..shards {
                let (first, last) = slot_range(s, shards);
                assert_eq!(first, next);
                assert!(last >= first);
                next = last + 1;
            }
            assert_eq!(next, SLOTS);
        }
    }

    #[test]
    fn node_config_adds_cluster_options_without_overriding_the_users() {
        let valkey8 = Engine {
            name: "valkey".into(),
            version: (8, 0, 1),
        };
        let redis7 = Engine {
            name: "redis".into(),
            version: (7, 0, 15),
        };
        let user = Config::new().arg("cluster-node-timeout", "5000");
        let c = node_config(&user, &valkey8);
        assert_eq!(c.get_arg("cluster-enabled"), Some("yes"));
        assert_eq!(c.get_arg("cluster-config-file"), Some("nodes.conf"));
        assert_eq!(c.get_arg("cluster-node-timeout"), Some("5000"));
        assert_eq!(c.get_arg("repl-diskless-sync-delay"), Some("0"));
        assert_eq!(c.get_arg("cluster-ping-interval"), Some("100"));
        let c = node_config(&Config::new(), &redis7);
        assert_eq!(c.get_arg("cluster-node-timeout"), Some("3000"));
        assert_eq!(c.get_arg("cluster-ping-interval"), None);
    }
}
