//! A Valkey cluster of real servers: `shards` primaries with
//! `replicas_per_shard` replicas each, formed with CLUSTER ADDSLOTSRANGE, MEET
//! and REPLICATE (no `valkey-cli --cluster create` and its fixed sleeps), and
//! ready only once every node agrees on the topology.
//!
//! Node order: primaries first (shard order), then the replicas in shard
//! order: replica `j` of shard `s` is node `shards + s * replicas + j`. A node
//! keeps its index for its lifetime, also after a failover swaps its role.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::client::Client;
use crate::config::{self, Config};
use crate::error::{Error, ErrorKind, Result};
use crate::process;
use crate::reply::Reply;
use crate::server::{info_value, Engine, Server};

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
    shards: usize,
    replicas_per_shard: usize,
}

impl Cluster {
    /// Starts `shards * (1 + replicas_per_shard)` nodes from `config` and
    /// returns once the cluster is formed: `cluster_state:ok` on every node,
    /// every node knows every other, all agree on slots and roles, and every
    /// replica is linked to its primary and caught up.
    pub fn start(config: &Config, shards: usize, replicas_per_shard: usize) -> Result<Cluster> {
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
        let nodes = crate::server::start_group_nodes(&node_config, count, "cluster node")?;
        let cluster = Cluster {
            nodes,
            shards,
            replicas_per_shard,
        };
        let timeout = scaled(DEFAULT_READY_TIMEOUT.max(config.effective_startup_timeout()));
        cluster
            .form(&engine, timeout.saturating_sub(started.elapsed()))
            .map_err(|e| {
                // The directories go with the cluster: quote the logs now.
                let logs: Vec<String> = cluster
                    .nodes()
                    .enumerate()
                    .map(|(i, n)| {
                        format!(
                            "node {i} ({}), last lines of {}:\n{}",
                            n.address(),
                            n.log_path().display(),
                            n.log_tail(LOG_LINES_ON_FAILURE).unwrap_or_default()
                        )
                    })
                    .collect();
                let e = e.context(format!(
                    "forming a cluster of {shards} shards x {replicas_per_shard} replicas \
                     ({count} nodes)"
                ));
                Error::new(e.kind(), format!("{e}\n{}", logs.join("\n")))
            })?;
        Ok(cluster)
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn shards(&self) -> usize {
        self.shards
    }

    pub fn replicas_per_shard(&self) -> usize {
        self.replicas_per_shard
    }

    /// Node `index` (primaries first), or `None` past the end.
    pub fn node(&self, index: usize) -> Option<&Server> {
        self.nodes.get(index)
    }

    /// Node `index`, to stop or restart it.
    pub fn node_mut(&mut self, index: usize) -> Option<&mut Server> {
        self.nodes.get_mut(index)
    }

    /// Every node, in index order.
    pub fn nodes(&self) -> impl Iterator<Item = &Server> {
        self.nodes.iter()
    }

    /// The node that was created as shard `shard`'s primary.
    pub fn primary(&self, shard: usize) -> Option<&Server> {
        (shard < self.shards).then(|| self.node(shard)).flatten()
    }

    /// The node that was created as replica `replica` of shard `shard`.
    pub fn replica(&self, shard: usize, replica: usize) -> Option<&Server> {
        self.replica_index(shard, replica)
            .and_then(|index| self.node(index))
    }

    /// The shard node `index` was created in.
    pub fn shard_of(&self, index: usize) -> Option<usize> {
        if index < self.shards {
            Some(index)
        } else if index < self.nodes.len() {
            Some((index - self.shards) / self.replicas_per_shard)
        } else {
            None
        }
    }

    fn replica_index(&self, shard: usize, replica: usize) -> Option<usize> {
        (shard < self.shards && replica < self.replicas_per_shard)
            .then(|| self.shards + shard * self.replicas_per_shard + replica)
    }

    /// The indices of the nodes created in `shard`: its primary, then its replicas.
    fn shard_members(&self, shard: usize) -> Vec<usize> {
        std::iter::once(shard)
            .chain((0..self.replicas_per_shard).filter_map(|j| self.replica_index(shard, j)))
            .collect()
    }

    /// The node's cluster id (CLUSTER MYID).
    pub fn node_id(&self, index: usize) -> Result<String> {
        let node = self.node(index).ok_or_else(|| self.bad_index(index))?;
        let mut client = node.connect()?;
        let reply = client.cmd(["CLUSTER", "MYID"])?;
        text(&reply, node, "CLUSTER MYID")
    }

    fn bad_index(&self, index: usize) -> Error {
        Error::invalid(format!(
            "node index {index} is out of range: the cluster has {} nodes",
            self.nodes.len()
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
        Client::connect_cluster(running)
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
        self.failover_with_timeout(shard, scaled(DEFAULT_READY_TIMEOUT))
    }

    pub fn failover_with_timeout(&self, shard: usize, timeout: Duration) -> Result<()> {
        if shard >= self.shards {
            return Err(Error::invalid(format!(
                "shard {shard} is out of range: the cluster has {} shards",
                self.shards
            )));
        }
        let mut primary_running = false;
        let mut candidate = None;
        for index in self.shard_members(shard) {
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
                "shard {shard} has no running replica to fail over to (nodes {:?})",
                self.shard_members(shard)
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

    /// Assigns slots, introduces the nodes, attaches the replicas and waits.
    fn form(&self, engine: &Engine, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut clients = self
            .nodes
            .iter()
            .map(|n| n.connect())
            .collect::<Result<Vec<Client>>>()?;
        let mut ids = Vec::with_capacity(self.nodes.len());
        for (index, client) in clients.iter_mut().enumerate() {
            let reply = client.cmd(["CLUSTER", "MYID"])?;
            ids.push(text(&reply, &self.nodes[index], "CLUSTER MYID")?);
        }
        // A primary reports cluster_state:ok only 2 s after its start
        // (CLUSTER_WRITABLE_DELAY); a replica has no such delay, and a
        // replica that is already ok stays ok when it takes over. So when
        // every shard has a replica, its first replica owns the slots while
        // the cluster forms, the future primary follows it, and then takes
        // the shard over (CLUSTER FAILOVER TAKEOVER) once it sees the
        // cluster ok: the roles end as documented, in a fraction of the time.
        let swap = self.replicas_per_shard > 0 && engine.at_least(7, 0);
        let owner = |shard: usize| {
            if swap {
                self.replica_index(shard, 0).unwrap_or(shard)
            } else {
                shard
            }
        };
        for shard in 0..self.shards {
            let index = owner(shard);
            let (node, client) = (&self.nodes[index], &mut clients[index]);
            // Distinct epochs up front spare the nodes resolving collisions
            // later (valkey-cli does the same). Only a speed-up: errors ignored.
            let epoch = (shard + 1).to_string();
            client.cmd(["CLUSTER", "SET-CONFIG-EPOCH", epoch.as_str()])?;
            let (first, last) = slot_range(shard, self.shards);
            let reply = if engine.at_least(7, 0) {
                client.cmd([
                    "CLUSTER".to_string(),
                    "ADDSLOTSRANGE".to_string(),
                    first.to_string(),
                    last.to_string(),
                ])?
            } else {
                let mut cmd = vec!["CLUSTER".to_string(), "ADDSLOTS".to_string()];
                cmd.extend((first..=last).map(|s| s.to_string()));
                client.cmd(cmd)?
            };
            expect_ok(
                &reply,
                node,
                &format!("CLUSTER ADDSLOTSRANGE {first} {last}"),
            )?;
        }
        // Every node meets every later one: each learns the others from its
        // own handshake instead of waiting for gossip to pass them along.
        for (from, client) in clients.iter_mut().enumerate() {
            for to in &self.nodes[from + 1..] {
                let port = to.port().to_string();
                let reply = client.cmd(["CLUSTER", "MEET", "127.0.0.1", port.as_str()])?;
                expect_ok(
                    &reply,
                    &self.nodes[from],
                    &format!("CLUSTER MEET 127.0.0.1 {port}"),
                )?;
            }
        }
        // A replica can follow its primary once gossip has told it about it.
        let owners: Vec<usize> = (0..self.shards).map(owner).collect();
        let mut pending: Vec<usize> = (0..self.nodes.len())
            .filter(|i| !owners.contains(i))
            .collect();
        let mut last_error = String::new();
        process::poll_until(
            deadline.saturating_duration_since(Instant::now()),
            Duration::from_millis(10),
            || {
                let mut still = Vec::new();
                for &index in &pending {
                    let primary = owner(self.shard_of(index).unwrap_or(0));
                    match clients[index].cmd(["CLUSTER", "REPLICATE", ids[primary].as_str()]) {
                        Ok(Reply::Error(e)) => {
                            last_error = format!(
                                "node {index} ({}) answered CLUSTER REPLICATE {} (node {primary}, \
                                 port {}) with: {e}",
                                self.nodes[index].address(),
                                ids[primary],
                                self.nodes[primary].port()
                            );
                            still.push(index);
                        }
                        Ok(_) => {}
                        Err(e) => {
                            last_error = e.to_string();
                            still.push(index);
                        }
                    }
                }
                pending = still;
                pending.is_empty()
            },
        );
        if !pending.is_empty() {
            return Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "replicas {pending:?} could not be attached to their primaries within {:.1} s; \
                     last answer: {last_error}",
                    timeout.as_secs_f64()
                ),
            ));
        }
        if self.replicas_per_shard > 0 && engine.at_least(7, 0) {
            self.nudge_replication_offsets(&mut clients, &owners, deadline)?;
        }
        if swap {
            self.take_over_shards(&mut clients, &ids, deadline)?;
            // The new primaries write once more, so that every replica
            // (the former owners included) shows a fresh offset in gossip.
            let primaries: Vec<usize> = (0..self.shards).collect();
            self.nudge_replication_offsets(&mut clients, &primaries, deadline)?;
        }
        drop(clients);
        let mut expect: Vec<Expect> = (0..self.shards)
            .map(|shard| Expect::Primary {
                index: shard,
                id: ids[shard].clone(),
            })
            .collect();
        expect.extend((self.shards..self.nodes.len()).map(|index| {
            let primary = self.shard_of(index).unwrap_or(0);
            Expect::ReplicaOf {
                index,
                id: ids[index].clone(),
                primary_id: ids[primary].clone(),
            }
        }));
        self.wait_converged(deadline.saturating_duration_since(Instant::now()), &expect)
    }

    /// The swap's second half: each future primary (node `shard`, now a
    /// replica) waits until it sees the cluster ok and its sync is done, then
    /// takes its shard over. One shard at a time, each after every node shows
    /// the new owner: simultaneous takeovers picked the same epoch, and a node
    /// acting on stale gossip could drop a new primary to `fail`, which costs
    /// it the 2 s delay again (seen in about 1 of 20 clusters before this).
    fn take_over_shards(
        &self,
        clients: &mut [Client],
        ids: &[String],
        deadline: Instant,
    ) -> Result<()> {
        for shard in 0..self.shards {
            let mut waiting = String::new();
            let ready = process::poll_until(
                deadline.saturating_duration_since(Instant::now()),
                Duration::from_millis(5),
                || match self.ready_to_take_over(shard, &mut clients[shard]) {
                    Ok(()) => true,
                    Err(why) => {
                        waiting = why;
                        false
                    }
                },
            );
            if !ready {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!("node {shard} could not take shard {shard} over: {waiting}"),
                ));
            }
            let node = &self.nodes[shard];
            let reply = clients[shard].cmd(["CLUSTER", "FAILOVER", "TAKEOVER"])?;
            expect_ok(&reply, node, "CLUSTER FAILOVER TAKEOVER")?;
            // Every node must have processed the new owner's claim (not just
            // heard of its epoch) before the next takeover.
            let (first, _) = slot_range(shard, self.shards);
            let first = first.to_string();
            let mut behind = String::new();
            let heard = process::poll_until(
                deadline.saturating_duration_since(Instant::now()),
                Duration::from_millis(2),
                || {
                    for (index, client) in clients.iter_mut().enumerate() {
                        let nodes = client
                            .cmd(["CLUSTER", "NODES"])
                            .map(|r| r.as_str().unwrap_or("").to_string())
                            .unwrap_or_default();
                        let owner_is_new = nodes.lines().filter_map(NodeLine::parse).any(|l| {
                            l.id == ids[shard]
                                && l.is_primary()
                                && l.slots.iter().any(|r| r.split('-').next() == Some(&first))
                        });
                        if !owner_is_new {
                            behind =
                                format!("node {index} does not see it owning slot {first} yet");
                            return false;
                        }
                    }
                    true
                },
            );
            if !heard {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!("after node {shard} took shard {shard} over: {behind}"),
                ));
            }
        }
        Ok(())
    }

    /// `Ok` once node `shard` sees the cluster ok and its first sync is over
    /// (a takeover mid-sync leaves the old owner streaming to it); else why not.
    fn ready_to_take_over(
        &self,
        shard: usize,
        client: &mut Client,
    ) -> std::result::Result<(), String> {
        let state = reply_field(client, &["CLUSTER", "INFO"], "cluster_state");
        if state != "ok" {
            return Err(format!(
                "{}: cluster_state is {state:?}",
                self.nodes[shard].address()
            ));
        }
        let link = reply_field(client, &["INFO", "replication"], "master_link_status");
        if link != "up" {
            return Err(format!(
                "{}: master_link_status is {link:?}",
                self.nodes[shard].address()
            ));
        }
        Ok(())
    }

    /// Replicas of a primary that has written nothing sit at offset 0, and a
    /// replica at offset 0 is left out of CLUSTER SLOTS until the primary's
    /// first replication PING (10 s). Once the replicas are linked, a
    /// FUNCTION FLUSH on each primary (nothing to flush in a new cluster)
    /// moves the offsets on at once.
    fn nudge_replication_offsets(
        &self,
        clients: &mut [Client],
        primaries: &[usize],
        deadline: Instant,
    ) -> Result<()> {
        let mut waiting = String::new();
        let linked = process::poll_until(
            deadline.saturating_duration_since(Instant::now()),
            Duration::from_millis(10),
            || {
                let replicas = clients
                    .iter_mut()
                    .enumerate()
                    .filter(|(i, _)| !primaries.contains(i));
                for (index, client) in replicas {
                    let status =
                        reply_field(client, &["INFO", "replication"], "master_link_status");
                    if status != "up" {
                        waiting = format!(
                            "node {index} ({}): master_link_status is {status:?}, expected up",
                            self.nodes[index].address()
                        );
                        return false;
                    }
                }
                true
            },
        );
        if !linked {
            return Err(Error::new(
                ErrorKind::Timeout,
                format!("the replicas did not link to their primaries: {waiting}"),
            ));
        }
        for &index in primaries {
            // An error reply (e.g. FUNCTION refused by ACL) only costs time.
            clients[index].cmd(["FUNCTION", "FLUSH"])?;
        }
        Ok(())
    }

    /// Polls every running node until [`Cluster::problems`] finds none.
    fn wait_converged(&self, timeout: Duration, expect: &[Expect]) -> Result<()> {
        let started = Instant::now();
        let mut clients: Vec<Option<Client>> = self.nodes.iter().map(|_| None).collect();
        let mut problems = Vec::new();
        let mut fatal = None;
        let converged = process::poll_until(timeout, Duration::from_millis(20), || {
            match self.problems(&mut clients, expect) {
                Ok(found) => {
                    problems = found;
                    problems.is_empty()
                }
                Err(e) => {
                    fatal = Some(e);
                    true
                }
            }
        });
        if let Some(e) = fatal {
            return Err(e);
        }
        if converged {
            return Ok(());
        }
        let shown = problems.len().min(MAX_PROBLEMS_SHOWN);
        let more = match problems.len() - shown {
            0 => String::new(),
            n => format!("\n  ... and {n} more"),
        };
        Err(Error::new(
            ErrorKind::Timeout,
            format!(
                "the cluster did not converge within {:.1} s; still wrong:\n  {}{more}",
                started.elapsed().as_secs_f64(),
                problems[..shown].join("\n  ")
            ),
        ))
    }

    /// What keeps the cluster from being converged, one line per problem,
    /// naming the node, what it sees and what was expected. `Err` when
    /// waiting longer cannot help: no node runs, or an expected one exited.
    fn problems(&self, clients: &mut [Option<Client>], expect: &[Expect]) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        let mut views: Vec<View> = Vec::new();
        for (index, node) in self.nodes.iter().enumerate() {
            if !node.is_running() {
                clients[index] = None;
                if expect.iter().any(|e| e.index() == index) {
                    return Err(Error::new(
                        ErrorKind::ServerExited,
                        format!(
                            "node {index} of the cluster is not running: {}; {}",
                            node.describe(),
                            node.state().log_excerpt()
                        ),
                    ));
                }
                continue;
            }
            match View::read(index, node, &mut clients[index]) {
                Ok(view) => views.push(view),
                Err(e) => {
                    clients[index] = None;
                    if e.kind() == ErrorKind::ServerExited {
                        return Err(e);
                    }
                    problems.push(format!("node {index} ({}): {e}", node.address()));
                }
            }
        }
        if views.is_empty() && problems.is_empty() {
            return Err(Error::new(
                ErrorKind::ServerExited,
                "no node of the cluster is running",
            ));
        }
        let total = self.nodes.len();
        for view in &views {
            let who = view.who();
            if view.state != "ok" {
                problems.push(format!(
                    "{who}: cluster_state is {:?}, expected ok",
                    view.state
                ));
            }
            if view.lines.len() != total {
                problems.push(format!(
                    "{who}: knows {} nodes, expected {total}",
                    view.lines.len()
                ));
            }
            for line in &view.lines {
                let bad: Vec<&str> = line
                    .flags
                    .iter()
                    .map(String::as_str)
                    .filter(|f| matches!(*f, "handshake" | "noaddr"))
                    .chain(
                        line.flags
                            .iter()
                            .map(String::as_str)
                            .filter(|f| matches!(*f, "fail" | "fail?"))
                            .filter(|_| self.running_on(line.port)),
                    )
                    .collect();
                if !bad.is_empty() {
                    problems.push(format!(
                        "{who}: sees node {} (port {}) as {}",
                        line.id,
                        line.port,
                        bad.join(",")
                    ));
                }
            }
        }
        // Every node must see the same slots and roles as the first one.
        if let Some(reference) = views.first() {
            let expected = reference.topology();
            for view in &views[1..] {
                let seen = view.topology();
                if seen != expected {
                    let missing: Vec<&String> = expected.difference(&seen).collect();
                    let extra: Vec<&String> = seen.difference(&expected).collect();
                    problems.push(format!(
                        "{}: disagrees with {} about the slot map and roles: it sees {extra:?} \
                         where {} sees {missing:?}",
                        view.who(),
                        reference.who(),
                        reference.who()
                    ));
                }
            }
        }
        if let Some(reference) = views.first() {
            // Slots owned by a stopped primary are served by no one.
            for line in reference.lines.iter().filter(|l| l.is_primary()) {
                if !line.slots.is_empty() && !self.running_on(line.port) {
                    problems.push(format!(
                        "slots {} are owned by node {} (port {}), which is not running",
                        line.slots.join(","),
                        line.id,
                        line.port
                    ));
                }
            }
            // Clients read CLUSTER SLOTS: a replica shows there once the
            // others have heard it has synced (a non-zero offset via gossip).
            for view in views.iter().filter(|v| v.role == "slave") {
                let primary_listed = reference
                    .slots
                    .iter()
                    .any(|r| r.primary_port.to_string() == view.master_port);
                let listed = reference
                    .slots
                    .iter()
                    .any(|r| r.replica_ports.contains(&view.port));
                if primary_listed && !listed {
                    problems.push(format!(
                        "{}: does not list replica {} in CLUSTER SLOTS yet",
                        reference.who(),
                        view.who()
                    ));
                }
            }
        }
        for want in expect {
            for view in &views {
                if let Some(problem) = want.check(view) {
                    problems.push(problem);
                }
            }
        }
        // Replicas: linked and caught up with their primary.
        for view in views.iter().filter(|v| v.role == "slave") {
            let who = view.who();
            if view.link_status != "up" {
                problems.push(format!(
                    "{who}: master_link_status is {:?}, expected up (primary port {})",
                    view.link_status, view.master_port
                ));
                continue;
            }
            let Some(primary) = views
                .iter()
                .find(|p| p.port.to_string() == view.master_port)
            else {
                continue;
            };
            if primary.role != "master" {
                problems.push(format!(
                    "{who}: replicates port {}, which is not a primary (role {})",
                    primary.port, primary.role
                ));
            } else if view.replica_offset != primary.primary_offset {
                // After a diskless full sync the primary streams only from the
                // replica's first ACK, which may come a second later; GETACK
                // makes the replica send one now (see replication.rs).
                if let Some(client) = clients[view.index].as_mut() {
                    let _ = client.cmd_without_reply(["REPLCONF", "GETACK", "*"]);
                }
                problems.push(format!(
                    "{who}: replication offset {} behind its primary {}'s {}",
                    view.replica_offset,
                    primary.who(),
                    primary.primary_offset
                ));
            }
        }
        Ok(problems)
    }

    fn running_on(&self, port: u16) -> bool {
        self.nodes
            .iter()
            .any(|n| n.port() == port && n.is_running())
    }
}

impl Drop for Cluster {
    /// Stops the nodes concurrently (then their directories go with them).
    fn drop(&mut self) {
        std::thread::scope(|scope| {
            for node in self.nodes.iter_mut() {
                scope.spawn(move || {
                    if node.stop().is_err() {
                        node.kill_now();
                    }
                });
            }
        });
    }
}

/// What a node must show in its CLUSTER NODES, beyond agreement.
enum Expect {
    Primary {
        index: usize,
        id: String,
    },
    ReplicaOf {
        index: usize,
        id: String,
        primary_id: String,
    },
}

impl Expect {
    fn index(&self) -> usize {
        match self {
            Expect::Primary { index, .. } | Expect::ReplicaOf { index, .. } => *index,
        }
    }

    fn check(&self, view: &View) -> Option<String> {
        let (index, id) = match self {
            Expect::Primary { index, id } | Expect::ReplicaOf { index, id, .. } => (index, id),
        };
        let Some(line) = view.lines.iter().find(|l| &l.id == id) else {
            return Some(format!("{}: does not know node {index} ({id})", view.who()));
        };
        match self {
            Expect::Primary { .. } if !line.is_primary() || line.slots.is_empty() => Some(format!(
                "{}: sees node {index} ({id}) as {} with slots {:?}, expected a primary with slots",
                view.who(),
                line.role(),
                line.slots
            )),
            Expect::ReplicaOf { primary_id, .. }
                if line.is_primary() || &line.master != primary_id =>
            {
                Some(format!(
                    "{}: sees node {index} ({id}) as {} of {}, expected a replica of {primary_id}",
                    view.who(),
                    line.role(),
                    line.master
                ))
            }
            _ => None,
        }
    }
}

/// One node's view of the cluster.
struct View {
    index: usize,
    port: u16,
    state: String,
    lines: Vec<NodeLine>,
    slots: Vec<SlotRange>,
    role: String,
    link_status: String,
    master_port: String,
    replica_offset: String,
    primary_offset: String,
}

impl View {
    fn read(index: usize, node: &Server, client: &mut Option<Client>) -> Result<View> {
        let client = match client {
            Some(c) => c,
            None => client.insert(node.connect()?),
        };
        let info = text(&client.cmd(["CLUSTER", "INFO"])?, node, "CLUSTER INFO")?;
        let nodes = text(&client.cmd(["CLUSTER", "NODES"])?, node, "CLUSTER NODES")?;
        let slots = client.cmd(["CLUSTER", "SLOTS"])?;
        if let Some(e) = slots.error() {
            return Err(Error::invalid(format!(
                "CLUSTER SLOTS on {} failed: {e}",
                node.describe()
            )));
        }
        let repl = text(
            &client.cmd(["INFO", "replication"])?,
            node,
            "INFO replication",
        )?;
        let field = |text: &str, name: &str| info_value(text, name).unwrap_or("").to_string();
        Ok(View {
            index,
            port: node.port(),
            state: field(&info, "cluster_state"),
            lines: nodes.lines().filter_map(NodeLine::parse).collect(),
            slots: SlotRange::parse_all(&slots),
            role: field(&repl, "role"),
            link_status: field(&repl, "master_link_status"),
            master_port: field(&repl, "master_port"),
            replica_offset: field(&repl, "slave_repl_offset"),
            primary_offset: field(&repl, "master_repl_offset"),
        })
    }

    fn who(&self) -> String {
        format!("node {} (port {})", self.index, self.port)
    }

    /// Slots and roles as a set of "id primary slots" / "id replica-of id",
    /// and the CLUSTER SLOTS ranges ("slots first-last port replicas [..]").
    fn topology(&self) -> BTreeSet<String> {
        let nodes = self.lines.iter().map(|l| {
            if l.is_primary() {
                format!("{} primary {}", l.id, l.slots.join(","))
            } else {
                format!("{} replica-of {}", l.id, l.master)
            }
        });
        let slots = self.slots.iter().map(|r| {
            format!(
                "slots {}-{} port {} replicas {:?}",
                r.first, r.last, r.primary_port, r.replica_ports
            )
        });
        nodes.chain(slots).collect()
    }
}

/// One range of CLUSTER SLOTS: its slots, primary port and replica ports (sorted).
struct SlotRange {
    first: i64,
    last: i64,
    primary_port: i64,
    replica_ports: Vec<u16>,
}

impl SlotRange {
    fn parse_all(reply: &Reply) -> Vec<SlotRange> {
        let port = |node: &Reply| node.elements().get(1).and_then(|p| p.as_int());
        let mut ranges: Vec<SlotRange> = reply
            .elements()
            .into_iter()
            .filter_map(|range| {
                let e = range.elements();
                let mut replica_ports: Vec<u16> = e
                    .iter()
                    .skip(3)
                    .filter_map(|n| port(n).and_then(|p| u16::try_from(p).ok()))
                    .collect();
                replica_ports.sort_unstable();
                Some(SlotRange {
                    first: e.first()?.as_int()?,
                    last: e.get(1)?.as_int()?,
                    primary_port: port(e.get(2)?)?,
                    replica_ports,
                })
            })
            .collect();
        ranges.sort_by_key(|r| r.first);
        ranges
    }
}

/// A line of CLUSTER NODES:
/// `id ip:port@cport[,hostname] flags master ping pong epoch link slots...`.
struct NodeLine {
    id: String,
    port: u16,
    flags: Vec<String>,
    master: String,
    /// Owned slots and ranges; migrating/importing entries (`[...]`) left out.
    slots: Vec<String>,
}

impl NodeLine {
    fn parse(line: &str) -> Option<NodeLine> {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 8 {
            return None;
        }
        let address = fields[1].split(['@', ',']).next()?;
        let port = address.rsplit(':').next()?.parse().ok()?;
        Some(NodeLine {
            id: fields[0].to_string(),
            port,
            flags: fields[2].split(',').map(str::to_string).collect(),
            master: fields[3].to_string(),
            slots: fields[8..]
                .iter()
                .filter(|s| !s.starts_with('['))
                .map(|s| s.to_string())
                .collect(),
        })
    }

    fn is_primary(&self) -> bool {
        self.flags.iter().any(|f| f == "master")
    }

    fn role(&self) -> &'static str {
        if self.is_primary() {
            "a primary"
        } else {
            "a replica"
        }
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

/// Timeouts grow tenfold under `VTF_SERVER_WRAPPER` (valgrind), as startup does.
fn scaled(timeout: Duration) -> Duration {
    if config::wrapper().is_empty() {
        timeout
    } else {
        timeout * 10
    }
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
    fn parses_cluster_nodes_lines() {
        let line = NodeLine::parse(
            "e7d1eec 127.0.0.1:30001@40001,host myself,master - 0 0 1 connected 0-5460 [5461->-abc]",
        )
        .unwrap();
        assert_eq!(line.port, 30001);
        assert!(line.is_primary());
        assert_eq!(line.slots, ["0-5460"]);
        let replica =
            NodeLine::parse("aaa 127.0.0.1:30004@40004 slave e7d1eec 0 1 1 connected").unwrap();
        assert!(!replica.is_primary());
        assert_eq!(replica.master, "e7d1eec");
        assert!(NodeLine::parse("").is_none());
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
