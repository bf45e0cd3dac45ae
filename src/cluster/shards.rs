//! Adding and removing shards of a running cluster: starting a shard's nodes
//! and joining them (MEET, REPLICATE, linked replicas), or moving a shard's
//! slots away, stopping its nodes and making the others FORGET them. Each
//! operation ends only once every node agrees on the result (the `converge`
//! check plus what the operation wanted), and fails naming the nodes that do
//! not; a failed add leaves the cluster as it was.

use std::collections::BTreeMap;
use std::time::Instant;

use super::migrate::describe_slots;
use super::session::{Session, LOG_LINES};
use super::topology::NodeLine;
use super::{ready_timeout, Cluster};
use crate::config::Config;
use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::group::{self, QuickCron};
use crate::server::Server;

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
        // A helper spares the new primary its 2 s hold (join.rs); engines
        // before 7.0 form without takeovers (form.rs) and wait it out.
        let helpers = usize::from(Engine::detect(&config.resolve_binary()?)?.at_least(7, 0));
        let quick = QuickCron::plan(&config);
        let start_config = QuickCron::raise(&quick, &config);
        let mut nodes = group::start_nodes(
            &start_config,
            replicas + 1 + helpers,
            "node of the new shard",
        )
        .map_err(|e| match helpers {
            0 => e,
            _ => e.context("the last of them is a helper for the takeover"),
        })
        .map_err(|e| e.context(format!("adding shard {shard}")))?;
        let helper = if helpers == 1 { nodes.pop() } else { None };
        let base = self.nodes.len();
        self.nodes.extend(nodes);
        let members: Vec<usize> = (base..base + replicas + 1).collect();
        self.layout.push(Some(members.clone()));
        let timeout = ready_timeout(&config);
        let joined = self
            .join_shard(&members, helper, timeout.saturating_sub(started.elapsed()))
            .and_then(|()| match quick {
                Some(quick) => {
                    let new_nodes = self.nodes.iter_mut().skip(base);
                    quick.end(new_nodes, &config)
                }
                None => Ok(()),
            });
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
