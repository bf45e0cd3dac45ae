//! Changing a running cluster: moving slots with their keys, adding and
//! removing shards. Each operation ends only once every node agrees on the
//! result (the `converge` check plus what the operation wanted), and fails
//! naming the nodes that do not.
//!
//! Slots move the way Valkey's own tools move them: SETSLOT IMPORTING on the
//! target, MIGRATING on the source, GETKEYSINSLOT + MIGRATE ... KEYS in
//! batches, then SETSLOT NODE on the target, the source and every other
//! primary. Clients may keep writing meanwhile: the source answers -ASK for
//! keys it no longer has, and keys written before MIGRATING are picked up by
//! the next GETKEYSINSLOT.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::converge::Expect;
use super::topology::NodeLine;
use super::{expect_ok, ready_timeout, text, Cluster, SLOTS};
use crate::client::Client;
use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::process;
use crate::reply::Reply;
use crate::server::Server;

/// Keys per MIGRATE (valkey-cli moves 10; larger batches cost fewer round trips).
const MIGRATE_BATCH: usize = 100;
/// MIGRATE's own timeout for one batch (ms).
const MIGRATE_TIMEOUT_MS: u32 = 10_000;
/// Slots moved per pipelined step (a step's replies are read in one go).
const PIPELINE_SLOTS: usize = 1024;
/// Connections per node that SETSLOT steps are spread over.
const PARALLEL_CONNECTIONS: usize = 16;
/// How long a primary may wait for its replicas to acknowledge a SETSLOT.
const SETSLOT_REPLICA_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a SETSLOT answered NOREPLICAS is sent again.
const NOREPLICAS_RETRIES: usize = 3;
/// Log lines quoted from a node that refused a command.
const LOG_LINES: usize = 8;

impl Cluster {
    /// The number of shards in the cluster now (added ones counted, removed
    /// ones not). Shard numbers are given in the order shards are made and
    /// never reused, so after a removal they have a gap: see
    /// [`Cluster::shard_numbers`].
    pub fn shard_count(&self) -> usize {
        self.layout.iter().flatten().count()
    }

    /// The numbers of the shards in the cluster now, in order.
    pub fn shard_numbers(&self) -> Vec<usize> {
        (0..self.layout.len())
            .filter(|&s| self.layout[s].is_some())
            .collect()
    }

    /// Moves slots `first..=last` with their keys to shard `to_shard`'s
    /// primary (whichever of its nodes that is now), from whichever primaries
    /// own them; slots it already owns stay. Usable while clients write (they
    /// see -ASK and -MOVED, which cluster clients follow). Returns once every
    /// node sees the new owner and no migration is left open. A shard that
    /// loses its last slot stays a shard (an empty primary with its replicas)
    /// unless the config sets `cluster-allow-replica-migration` itself.
    pub fn move_slots(&self, first: u16, last: u16, to_shard: usize) -> Result<()> {
        if first > last || usize::from(last) >= SLOTS {
            return Err(Error::invalid(format!(
                "slot range {first}..={last} is not a range of slots 0..={}",
                SLOTS - 1
            )));
        }
        let slots: Vec<u16> = (first..=last).collect();
        self.move_slot_list(&slots, to_shard)
            .map_err(|e| e.context(format!("moving slots {first}-{last} to shard {to_shard}")))
    }

    /// Starts `replicas + 1` nodes from the cluster's node config, joins them
    /// as a new shard (one primary, its replicas) and returns its number once
    /// every node knows them and the replicas are linked. The new shard owns
    /// no slots until [`Cluster::move_slots`] gives it some. Its nodes get
    /// the next indices, primary first.
    pub fn add_shard(&mut self, replicas: usize) -> Result<usize> {
        self.require_own_nodes("add_shard")?;
        if replicas > 100 {
            return Err(Error::invalid(format!(
                "{replicas} replicas for one shard is too many"
            )));
        }
        let shard = self.layout.len();
        let config = self.node_template()?;
        let started = Instant::now();
        let nodes = crate::group::start_nodes(&config, replicas + 1, "node of the new shard")
            .map_err(|e| e.context(format!("adding shard {shard}")))?;
        let base = self.nodes.len();
        self.nodes.extend(nodes);
        let members: Vec<usize> = (base..base + replicas + 1).collect();
        self.layout.push(Some(members.clone()));
        let timeout = ready_timeout(&config);
        let joined = self.join_shard(&members, timeout.saturating_sub(started.elapsed()));
        if let Err(e) = joined {
            // Leave no half-joined nodes behind: the cluster stays as it was.
            let logs = self.quote_logs(&members);
            let undone = self.drop_shard_nodes(shard).err();
            let undone = undone
                .map(|u| format!("\n(undoing it failed too: {u})"))
                .unwrap_or_default();
            let e = e.context(format!("adding shard {shard} (nodes {members:?})"));
            return Err(Error::new(e.kind(), format!("{e}{undone}\n{logs}")));
        }
        Ok(shard)
    }

    /// Removes shard `shard`: moves its slots and keys to the other shards
    /// (split evenly, in slot order), stops its nodes and makes every
    /// remaining node forget them (CLUSTER FORGET). Returns once the
    /// remaining nodes agree. The removed nodes' indices and the shard number
    /// become vacant: [`Cluster::node`] gives `None` for them, `nodes()` skips
    /// them, `node_count()` still counts them (indices are never reused).
    /// Every remaining node must be running (a stopped one could not forget).
    pub fn remove_shard(&mut self, shard: usize) -> Result<()> {
        self.remove_shard_inner(shard)
            .map_err(|e| e.context(format!("removing shard {shard}")))
    }

    fn remove_shard_inner(&mut self, shard: usize) -> Result<()> {
        self.require_own_nodes("remove_shard")?;
        let members = self
            .shard_members(shard)
            .ok_or_else(|| self.bad_shard(shard))?
            .to_vec();
        let others: Vec<usize> = self
            .shard_numbers()
            .into_iter()
            .filter(|&s| s != shard)
            .collect();
        if others.is_empty() {
            return Err(Error::invalid(format!(
                "shard {shard} is the only shard: its slots would have nowhere to go"
            )));
        }
        let stopped: Vec<String> = self
            .node_indices()
            .into_iter()
            .filter(|i| !members.contains(i) && !self.nodes[*i].is_running())
            .map(|i| format!("node {i} ({})", self.nodes[i].address()))
            .collect();
        if !stopped.is_empty() {
            return Err(Error::invalid(format!(
                "{} not running: every remaining node must forget the removed ones (start \
                 them again first)",
                stopped.join(", ")
            )));
        }
        let mut session = Session::open(self)?;
        // Its nodes stay primaries while their slots leave (else Valkey turns
        // an emptied primary and its replicas into replicas of the new owner,
        // with full syncs, just before they are stopped).
        for &index in &members {
            if session.ids.contains_key(&index) {
                session.keep_shard_roles(index)?;
            }
        }
        let primary = session.current_primary(shard, &members)?;
        let owned = session.owned_slots(primary)?;
        drop(session);
        // Split evenly, in slot order: other shard k gets the k-th part.
        let parts = others.len();
        for (k, &to) in others.iter().enumerate() {
            let part = &owned[k * owned.len() / parts..(k + 1) * owned.len() / parts];
            if !part.is_empty() {
                self.move_slot_list(part, to).map_err(|e| {
                    e.context(format!(
                        "moving {} slot(s) {} to shard {to}",
                        part.len(),
                        describe_slots(part)
                    ))
                })?;
            }
        }
        self.drop_shard_nodes(shard)
    }

    /// Stops shard `shard`'s nodes, makes every other member forget them,
    /// marks the shard and its indices vacant and waits until the remaining
    /// nodes agree.
    fn drop_shard_nodes(&mut self, shard: usize) -> Result<()> {
        let members = self
            .shard_members(shard)
            .ok_or_else(|| self.bad_shard(shard))?
            .to_vec();
        let mut ids = Vec::new();
        for &index in &members {
            if self.nodes[index].is_running() {
                ids.push((index, self.node_id(index)?));
            }
        }
        let ids = ids
            .into_iter()
            .chain(members.iter().filter_map(|&i| {
                // A stopped node's id is in its nodes.conf (the `myself` line).
                let known = std::fs::read_to_string(self.nodes[i].dir().join("nodes.conf")).ok()?;
                let line = known
                    .lines()
                    .filter_map(NodeLine::parse)
                    .find(|l| l.is_myself())?;
                Some((i, line.id))
            }))
            .collect::<BTreeMap<usize, String>>();
        // Stopped first, so that they cannot gossip themselves back; FORGET's
        // 60 s ban covers the others gossiping about them meanwhile.
        crate::group::stop_all(
            self.nodes
                .iter_mut()
                .enumerate()
                .filter(|(i, _)| members.contains(i))
                .map(|(_, node)| node),
        );
        self.layout[shard] = None;
        let remaining = self.node_indices();
        let mut refused = Vec::new();
        for &index in &remaining {
            let node = &self.nodes[index];
            if !node.is_running() {
                continue;
            }
            let mut client = node.connect()?;
            for (removed, id) in &ids {
                let reply = client.cmd(["CLUSTER", "FORGET", id.as_str()])?;
                if let Some(e) = reply.error() {
                    // Already forgotten (or never met, when adding failed) is fine.
                    if !e.contains("Unknown node") {
                        refused.push(format!(
                            "node {index} ({}) refused CLUSTER FORGET {id} (node {removed}): {e}",
                            node.address()
                        ));
                    }
                }
            }
        }
        if !refused.is_empty() {
            return Err(Error::invalid(refused.join("; ")));
        }
        let timeout = self.settle_timeout;
        self.wait_converged(timeout, &[]).map_err(|e| {
            e.context(format!(
                "after stopping nodes {members:?} and making every other node forget them"
            ))
        })
    }

    /// MEETs the new nodes with every member, attaches the replicas to the
    /// new primary (`members[0]`) and waits until all agree.
    fn join_shard(&self, members: &[usize], timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut clients = members
            .iter()
            .map(|&i| self.nodes[i].connect())
            .collect::<Result<Vec<Client>>>()?;
        let mut ids = Vec::new();
        for (k, client) in clients.iter_mut().enumerate() {
            let node = &self.nodes[members[k]];
            ids.push(text(
                &client.cmd(["CLUSTER", "MYID"])?,
                node,
                "CLUSTER MYID",
            )?);
        }
        // Each new node meets every running member (the others hear of it
        // too, but its own handshakes are faster than gossip).
        let running: Vec<usize> = self
            .node_indices()
            .into_iter()
            .filter(|i| self.nodes[*i].is_running() && !members[1..].contains(i))
            .collect();
        for (k, client) in clients.iter_mut().enumerate() {
            for &to in running.iter().filter(|&&to| to != members[k]) {
                let port = self.nodes[to].port().to_string();
                let reply = client.cmd(["CLUSTER", "MEET", self.nodes[to].host(), &port])?;
                expect_ok(
                    &reply,
                    &self.nodes[members[k]],
                    &format!("CLUSTER MEET {} {port}", self.nodes[to].host()),
                )?;
            }
        }
        // A replica can follow its primary once it has heard of it.
        let mut pending: Vec<usize> = (1..members.len()).collect();
        let mut last = String::new();
        process::poll_until(
            deadline.saturating_duration_since(Instant::now()),
            Duration::from_millis(10),
            || {
                pending.retain(|&k| {
                    match clients[k].cmd(["CLUSTER", "REPLICATE", ids[0].as_str()]) {
                        Ok(Reply::Error(e)) => {
                            last = format!(
                                "node {} answered CLUSTER REPLICATE {}: {e}",
                                members[k], ids[0]
                            );
                            true
                        }
                        Ok(_) => false,
                        Err(e) => {
                            last = e.to_string();
                            true
                        }
                    }
                });
                pending.is_empty()
            },
        );
        if !pending.is_empty() {
            let stuck: Vec<usize> = pending.iter().map(|&k| members[k]).collect();
            return Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "replicas {stuck:?} could not follow node {}: {last}",
                    members[0]
                ),
            ));
        }
        if members.len() > 1 {
            // A replica at offset 0 is left out of CLUSTER SLOTS until the
            // primary's first replication PING (10 s): once linked, a write
            // that changes nothing moves the offsets on (as forming does).
            let mut waiting = String::new();
            let linked = process::poll_until(
                deadline.saturating_duration_since(Instant::now()),
                Duration::from_millis(10),
                || {
                    clients[1..].iter_mut().enumerate().all(|(k, c)| {
                        let status =
                            super::reply_field(c, &["INFO", "replication"], "master_link_status");
                        waiting = format!("node {}: master_link_status {status:?}", members[k + 1]);
                        status == "up"
                    })
                },
            );
            if !linked {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!("the new replicas did not link to their primary: {waiting}"),
                ));
            }
            clients[0].cmd(["FUNCTION", "FLUSH"])?;
        }
        drop(clients);
        let expect: Vec<Expect> = (1..members.len())
            .map(|k| Expect::ReplicaOf {
                index: members[k],
                id: ids[k].clone(),
                primary_id: ids[0].clone(),
            })
            .collect();
        self.wait_converged(deadline.saturating_duration_since(Instant::now()), &expect)
    }

    /// Moves each of `slots` to shard `to_shard`'s current primary, then waits
    /// until every node agrees.
    fn move_slot_list(&self, slots: &[u16], to_shard: usize) -> Result<()> {
        let members = self
            .shard_members(to_shard)
            .ok_or_else(|| self.bad_shard(to_shard))?
            .to_vec();
        let mut session = Session::open(self)?;
        let target = session.current_primary(to_shard, &members)?;
        let target_id = session.ids[&target].clone();
        let owners = session.slot_owners(target)?;
        // Which primary gives which slots, found before anything changes.
        let mut plan: BTreeMap<usize, Vec<u16>> = BTreeMap::new();
        for &slot in slots {
            let owner_id = owners.get(&slot).ok_or_else(|| {
                Error::invalid(format!(
                    "slot {slot} has no owner in node {target}'s view: nothing to move it from"
                ))
            })?;
            if owner_id == &target_id {
                continue;
            }
            let source = session.index_of(owner_id).ok_or_else(|| {
                Error::invalid(format!(
                    "slot {slot} is owned by node {owner_id}, which is not a running node of \
                     this cluster"
                ))
            })?;
            plan.entry(source).or_default().push(slot);
        }
        let user_set = self.nodes[target]
            .config()
            .get_arg("cluster-allow-replica-migration")
            .is_some();
        for (&source, moving) in &plan {
            let owned = owners
                .values()
                .filter(|o| **o == session.ids[&source])
                .count();
            if owned == moving.len() && !user_set {
                // Its last slots leave: keep its nodes a shard of their own.
                let shard = self.shard_of(source).unwrap_or(usize::MAX);
                for index in self.shard_members(shard).unwrap_or(&[]).to_vec() {
                    if session.ids.contains_key(&index) {
                        session.keep_shard_roles(index)?;
                    }
                }
            }
        }
        let primaries = session.primaries()?;
        let auth = migrate_auth(self.nodes[target].config());
        for (&source, moving) in &plan {
            for chunk in moving.chunks(PIPELINE_SLOTS) {
                session.move_slots(chunk, source, target, &primaries, &auth)?;
            }
        }
        drop(session);
        let expect = [Expect::Owns {
            index: target,
            id: target_id,
            slots: ranges(slots),
        }];
        self.wait_converged(self.settle_timeout, &expect)
            .map_err(|e| e.context("after moving the slots"))
    }

    /// Adding and removing shards start and stop nodes: only for a cluster
    /// vtf started (an attached one's nodes are not ours to stop).
    fn require_own_nodes(&self, what: &str) -> Result<()> {
        if self.nodes.iter().any(Server::is_external) {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "{what} starts or stops nodes, and this cluster was attached to, not \
                     started by vtf (move_slots works on it)"
                ),
            ));
        }
        Ok(())
    }

    /// The config new nodes start from: that of a member (cluster options included).
    fn node_template(&self) -> Result<Config> {
        let index = *self
            .node_indices()
            .first()
            .ok_or_else(|| Error::invalid("the cluster has no nodes"))?;
        Ok(self.nodes[index].config().clone())
    }

    fn quote_logs(&self, indices: &[usize]) -> String {
        indices
            .iter()
            .map(|&i| {
                let n = &self.nodes[i];
                format!(
                    "node {i} ({}), last lines of {}:\n{}",
                    n.address(),
                    n.log_path().display(),
                    n.log_tail(LOG_LINES).unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A connection to, and the id of, every running member, for one operation.
struct Session<'a> {
    cluster: &'a Cluster,
    clients: BTreeMap<usize, Client>,
    ids: BTreeMap<usize, String>,
    /// Per primary: the slots it has a migration open for (from its own line).
    open: BTreeMap<usize, Vec<u16>>,
    /// Extra connections per node for [`Session::parallel_pipeline`].
    pools: BTreeMap<usize, Vec<Client>>,
}

impl<'a> Session<'a> {
    fn open(cluster: &'a Cluster) -> Result<Session<'a>> {
        let mut session = Session {
            cluster,
            clients: BTreeMap::new(),
            ids: BTreeMap::new(),
            open: BTreeMap::new(),
            pools: BTreeMap::new(),
        };
        for index in cluster.node_indices() {
            let node = &cluster.nodes[index];
            if !node.is_running() {
                continue;
            }
            let mut client = node.connect()?;
            let id = text(&client.cmd(["CLUSTER", "MYID"])?, node, "CLUSTER MYID")?;
            session.clients.insert(index, client);
            session.ids.insert(index, id);
        }
        Ok(session)
    }

    fn node(&self, index: usize) -> &Server {
        &self.cluster.nodes[index]
    }

    fn index_of(&self, id: &str) -> Option<usize> {
        self.ids
            .iter()
            .find(|(_, i)| *i == id)
            .map(|(&index, _)| index)
    }

    /// Sends `args` to node `index`; an error reply is an error naming the
    /// node, the command and the node's last log lines.
    fn ok<A: AsRef<[u8]>>(&mut self, index: usize, args: &[A]) -> Result<Reply> {
        let reply = self.cmd(index, args)?;
        match reply.error() {
            Some(e) => Err(self.refused(index, args, e)),
            None => Ok(reply),
        }
    }

    fn cmd<A: AsRef<[u8]>>(&mut self, index: usize, args: &[A]) -> Result<Reply> {
        let client = self.clients.get_mut(&index).ok_or_else(|| {
            Error::new(
                ErrorKind::ServerExited,
                format!(
                    "node {index} ({}) is not running",
                    self.cluster.nodes[index].address()
                ),
            )
        })?;
        client.cmd(args)
    }

    fn refused<A: AsRef<[u8]>>(&self, index: usize, args: &[A], error: &str) -> Error {
        let shown: Vec<String> = args
            .iter()
            .take(8)
            .map(|a| String::from_utf8_lossy(a.as_ref()).into_owned())
            .collect();
        let node = self.node(index);
        Error::invalid(format!(
            "node {index} ({}) refused {}{}: {error}; last lines of {}:\n{}",
            node.address(),
            shown.join(" "),
            if args.len() > 8 { " ..." } else { "" },
            node.log_path().display(),
            node.log_tail(LOG_LINES).unwrap_or_default()
        ))
    }

    fn nodes_lines(&mut self, index: usize) -> Result<Vec<NodeLine>> {
        let reply = self.ok(index, &["CLUSTER", "NODES"])?;
        let nodes = text(&reply, self.node(index), "CLUSTER NODES")?;
        Ok(nodes.lines().filter_map(NodeLine::parse).collect())
    }

    /// Node `index`'s own line of its CLUSTER NODES.
    fn own_line(&mut self, index: usize) -> Result<NodeLine> {
        let lines = self.nodes_lines(index)?;
        lines.into_iter().find(NodeLine::is_myself).ok_or_else(|| {
            Error::invalid(format!(
                "node {index} ({}) has no 'myself' line in CLUSTER NODES",
                self.node(index).address()
            ))
        })
    }

    /// Which member of a shard is its primary now (a failover may have
    /// swapped roles): the running one that sees itself as a primary.
    fn current_primary(&mut self, shard: usize, members: &[usize]) -> Result<usize> {
        for &index in members {
            if self.ids.contains_key(&index) && self.own_line(index)?.is_primary() {
                return Ok(index);
            }
        }
        Err(Error::invalid(format!(
            "shard {shard} has no running primary among its nodes {members:?}"
        )))
    }

    /// Every slot's owner id as node `index` sees it.
    fn slot_owners(&mut self, index: usize) -> Result<BTreeMap<u16, String>> {
        let mut owners = BTreeMap::new();
        for line in self.nodes_lines(index)?.iter().filter(|l| l.is_primary()) {
            for (first, last) in line.slot_ranges() {
                for slot in first..=last {
                    owners.insert(slot, line.id.clone());
                }
            }
        }
        Ok(owners)
    }

    /// The slots node `index` owns, in order.
    fn owned_slots(&mut self, index: usize) -> Result<Vec<u16>> {
        let line = self.own_line(index)?;
        Ok(line
            .slot_ranges()
            .into_iter()
            .flat_map(|(first, last)| first..=last)
            .collect())
    }

    /// The running members that are primaries now; notes their open migrations.
    fn primaries(&mut self) -> Result<Vec<usize>> {
        let mut primaries = Vec::new();
        for index in self.ids.keys().copied().collect::<Vec<_>>() {
            let line = self.own_line(index)?;
            if line.is_primary() {
                self.open.insert(index, line.open.clone());
                primaries.push(index);
            }
        }
        Ok(primaries)
    }

    /// Valkey turns a primary that loses its last slot (and its replicas)
    /// into replicas of the new owner unless this is off.
    fn keep_shard_roles(&mut self, index: usize) -> Result<()> {
        self.ok(
            index,
            &["CONFIG", "SET", "cluster-allow-replica-migration", "no"],
        )
        .map(drop)
    }

    /// Sends one command per slot of `slots` to node `index` in one
    /// pipeline; every reply must be a success.
    ///
    /// A primary whose replicas did not acknowledge a SETSLOT in time answers
    /// NOREPLICAS without applying it (its replicas may have): such commands
    /// are sent again, a few times, since each SETSLOT can be repeated.
    fn per_slot(&mut self, index: usize, slots: &[u16], args: &[&str]) -> Result<()> {
        let mut commands = self.setslot_commands(index, slots, args);
        for round in 0.. {
            let replies = self.parallel_pipeline(index, &commands)?;
            let mut again = Vec::new();
            for (command, reply) in commands.into_iter().zip(&replies) {
                match reply.error() {
                    None => {}
                    Some(e) if e.starts_with("NOREPLICAS") && round < NOREPLICAS_RETRIES => {
                        again.push(command)
                    }
                    Some(e) => return Err(self.refused(index, &command, e)),
                }
            }
            if again.is_empty() {
                break;
            }
            commands = again;
        }
        Ok(())
    }

    /// `CLUSTER SETSLOT <slot> args...` for each slot; on Valkey 8 or later
    /// with a TIMEOUT for the replicas' acknowledgement that suits a loaded
    /// machine (Valkey's default is 2 s).
    fn setslot_commands(&self, index: usize, slots: &[u16], args: &[&str]) -> Vec<Vec<String>> {
        let node = self.node(index);
        let engine = node.engine();
        let timeout = node
            .config()
            .scaled(SETSLOT_REPLICA_TIMEOUT)
            .as_millis()
            .to_string();
        let mut args = args.to_vec();
        if engine.is_valkey() && engine.at_least(8, 0) {
            args.extend(["TIMEOUT", timeout.as_str()]);
        }
        per_slot_commands(slots, &args)
    }

    fn pipeline<A: AsRef<[u8]>>(
        &mut self,
        index: usize,
        commands: &[Vec<A>],
    ) -> Result<Vec<Reply>> {
        let client = self.clients.get_mut(&index).ok_or_else(|| {
            Error::new(
                ErrorKind::ServerExited,
                format!(
                    "node {index} ({}) is not running",
                    self.cluster.nodes[index].address()
                ),
            )
        })?;
        client.pipeline(commands)
    }

    /// [`Session::pipeline`] split over [`PARALLEL_CONNECTIONS`] connections.
    /// A primary with replicas holds each SETSLOT until its replicas have
    /// acknowledged it (Valkey 8 replicates SETSLOT first): on one connection
    /// that is a round trip and a replica fsync per slot, while the SETSLOTs
    /// of many connections are acknowledged together.
    fn parallel_pipeline(&mut self, index: usize, commands: &[Vec<String>]) -> Result<Vec<Reply>> {
        if commands.len() < 2 * PARALLEL_CONNECTIONS {
            return self.pipeline(index, commands);
        }
        let node = &self.cluster.nodes[index];
        let pool = match self.pools.entry(index) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => e.insert(
                (0..PARALLEL_CONNECTIONS)
                    .map(|_| node.connect())
                    .collect::<Result<Vec<Client>>>()?,
            ),
        };
        let share = commands.len().div_ceil(pool.len().max(1));
        let results: Vec<Result<Vec<Reply>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = pool
                .iter_mut()
                .zip(commands.chunks(share))
                .map(|(client, part)| scope.spawn(move || client.pipeline(part)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(Error::new(ErrorKind::Panic, "a pipeline thread panicked"))
                    })
                })
                .collect()
        });
        let mut replies = Vec::with_capacity(commands.len());
        for result in results {
            replies.extend(result?);
        }
        Ok(replies)
    }

    /// Moves `slots` and their keys from `source` to `target` and tells every
    /// primary (target first, so a slot never lacks an owner). Each step is
    /// one pipeline over all the slots: a SETSLOT costs its node a nodes.conf
    /// fsync per event-loop pass, not per command.
    fn move_slots(
        &mut self,
        slots: &[u16],
        source: usize,
        target: usize,
        primaries: &[usize],
        auth: &[String],
    ) -> Result<()> {
        let (source_id, target_id) = (self.ids[&source].clone(), self.ids[&target].clone());
        self.per_slot(target, slots, &["IMPORTING", &source_id])?;
        self.per_slot(source, slots, &["MIGRATING", &target_id])?;
        self.migrate_keys(slots, source, target, auth)?;
        self.per_slot(target, slots, &["NODE", &target_id])?;
        let commands = self.setslot_commands(source, slots, &["NODE", &target_id]);
        let replies = self.parallel_pipeline(source, &commands)?;
        for ((&slot, command), reply) in slots.iter().zip(&commands).zip(&replies) {
            let Some(e) = reply.error() else { continue };
            // Valkey's own valkey-cli accepts these on the source: it may
            // have turned into a replica of the target meanwhile.
            let benign = ["Please use SETSLOT only with", "UNBLOCKED", "NOREPLICAS"];
            if benign.iter().any(|b| e.contains(b)) {
                continue;
            }
            if !e.contains("still hold keys") {
                return Err(self.refused(source, command, e));
            }
            // A key that arrived between counting and MIGRATING: move it too.
            self.migrate_keys(&[slot], source, target, auth)?;
            self.ok(source, command)?;
        }
        for &other in primaries.iter().filter(|&&p| p != source && p != target) {
            let open: Vec<u16> = slots
                .iter()
                .copied()
                .filter(|s| self.open.get(&other).is_some_and(|o| o.contains(s)))
                .collect();
            // A migration left open by hand on a third primary.
            self.per_slot(other, &open, &["STABLE"])?;
            self.per_slot(other, slots, &["NODE", &target_id])?;
        }
        Ok(())
    }

    /// Moves every key of `slots` from `source` to `target`: COUNTKEYSINSLOT
    /// for all of them in one pipeline, GETKEYSINSLOT for the ones with
    /// keys, then a MIGRATE ... KEYS per slot, each step one pipeline, until
    /// the counts are all 0. MIGRATING makes
    /// the source refuse new keys of these slots (-ASK), so this ends.
    fn migrate_keys(
        &mut self,
        slots: &[u16],
        source: usize,
        target: usize,
        auth: &[String],
    ) -> Result<()> {
        let host = self.node(target).host().to_string();
        let port = self.node(target).port().to_string();
        let timeout = MIGRATE_TIMEOUT_MS.to_string();
        let batch = MIGRATE_BATCH.to_string();
        let mut pending = slots.to_vec();
        loop {
            let counts = self.pipeline(
                source,
                &per_slot_commands_with(&pending, "COUNTKEYSINSLOT", &[]),
            )?;
            let mut with_keys = Vec::new();
            for (&slot, count) in pending.iter().zip(&counts) {
                match count.as_int() {
                    Some(0) => {}
                    Some(_) => with_keys.push(slot),
                    None => {
                        return Err(self.refused(
                            source,
                            &["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()],
                            &format!("{count:?}"),
                        ))
                    }
                }
            }
            if with_keys.is_empty() {
                return Ok(());
            }
            let listed = self.pipeline(
                source,
                &per_slot_commands_with(&with_keys, "GETKEYSINSLOT", &[&batch]),
            )?;
            // One MIGRATE per slot (cluster mode refuses CROSSSLOT), all
            // in one pipeline.
            let mut migrates: Vec<Vec<Vec<u8>>> = Vec::new();
            for (&slot, reply) in with_keys.iter().zip(&listed) {
                if let Some(e) = reply.error() {
                    let command = ["CLUSTER", "GETKEYSINSLOT", &slot.to_string(), &batch];
                    return Err(self.refused(source, &command, e));
                }
                let mut migrate: Vec<Vec<u8>> = ["MIGRATE", &host, &port, "", "0", &timeout]
                    .iter()
                    .map(|a| a.as_bytes().to_vec())
                    .collect();
                migrate.extend(auth.iter().map(|a| a.as_bytes().to_vec()));
                migrate.push(b"KEYS".to_vec());
                migrate.extend(
                    reply
                        .elements()
                        .iter()
                        .filter_map(|k| k.as_bytes().map(<[u8]>::to_vec)),
                );
                migrates.push(migrate);
            }
            let replies = self.pipeline(source, &migrates)?;
            for (migrate, reply) in migrates.iter().zip(&replies) {
                if let Some(e) = reply.error() {
                    // Keys that expired meanwhile are not an error.
                    if !e.starts_with("NOKEY") {
                        return Err(self.refused(source, migrate, e));
                    }
                }
            }
            pending = with_keys;
        }
    }
}

/// `CLUSTER SETSLOT <slot> args...` for each slot.
fn per_slot_commands(slots: &[u16], args: &[&str]) -> Vec<Vec<String>> {
    per_slot_commands_with(slots, "SETSLOT", args)
}

/// `CLUSTER <subcommand> <slot> args...` for each slot.
fn per_slot_commands_with(slots: &[u16], subcommand: &str, args: &[&str]) -> Vec<Vec<String>> {
    slots
        .iter()
        .map(|slot| {
            ["CLUSTER", subcommand, &slot.to_string()]
                .into_iter()
                .chain(args.iter().copied())
                .map(str::to_string)
                .collect()
        })
        .collect()
}

/// MIGRATE's AUTH arguments: the target needs the password the nodes
/// require (the config's client credential, else its `requirepass`).
fn migrate_auth(config: &Config) -> Vec<String> {
    match config
        .get_password()
        .or_else(|| config.get_arg("requirepass"))
    {
        Some(password) if !password.is_empty() => vec!["AUTH".into(), password.into()],
        _ => Vec::new(),
    }
}

/// Sorted slots as inclusive ranges.
fn ranges(slots: &[u16]) -> Vec<(u16, u16)> {
    let mut sorted = slots.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out: Vec<(u16, u16)> = Vec::new();
    for slot in sorted {
        match out.last_mut() {
            Some((_, last)) if *last + 1 == slot => *last = slot,
            _ => out.push((slot, slot)),
        }
    }
    out
}

/// "0-99,200" for messages.
fn describe_slots(slots: &[u16]) -> String {
    ranges(slots)
        .iter()
        .map(|&(f, l)| {
            if f == l {
                f.to_string()
            } else {
                format!("{f}-{l}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_group_into_ranges() {
        assert_eq!(ranges(&[5, 1, 2, 3, 9, 10]), [(1, 3), (5, 5), (9, 10)]);
        assert_eq!(describe_slots(&[0, 1, 2, 7]), "0-2,7");
        assert!(ranges(&[]).is_empty());
    }

    #[test]
    fn migrate_authenticates_when_the_nodes_require_a_password() {
        assert!(migrate_auth(&Config::new()).is_empty());
        let config = Config::new().arg("requirepass", "s3cret");
        assert_eq!(migrate_auth(&config), ["AUTH", "s3cret"]);
        let attached = Config::new().password("client-secret");
        assert_eq!(migrate_auth(&attached), ["AUTH", "client-secret"]);
    }
}
