//! Forming a cluster: slots assigned, nodes introduced, replicas attached,
//! the takeovers that spare the primaries their 2 s hold, and the wait for
//! convergence.
//!
//! A primary reports `cluster_state:ok` only 2 s after its start
//! (`CLUSTER_WRITABLE_DELAY` in Valkey's `clusterUpdateState`, which holds
//! back only a primary whose state is still `fail`); a replica has no such
//! delay, and a replica that is already ok stays ok when it takes its shard
//! over. So while the cluster forms, another node owns each shard's slots and
//! the future primary follows it as a replica; once the future primary sees
//! the cluster ok, it takes the shard over (CLUSTER FAILOVER TAKEOVER). The
//! interim owner is the shard's first replica when it has one, else a helper
//! node started for this alone, which then stops and is forgotten by every
//! node. The roles, indices and CLUSTER NODES end as documented.

use std::time::{Duration, Instant};

use super::converge::Expect;
use super::topology::NodeLine;
use super::{expect_ok, log_tails, reply_field, slot_range, text, Cluster};
use crate::client::Client;
use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::process;
use crate::reply::Reply;
use crate::server::Server;

/// Who owns each shard's slots while the cluster forms.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Interim {
    /// The primaries themselves (engines without ADDSLOTSRANGE and TAKEOVER
    /// as used here): they wait out the 2 s hold.
    Primaries,
    /// The shard's first replica.
    FirstReplicas,
    /// Helper node `nodes + shard`.
    Helpers,
}

fn interim(replicas_per_shard: usize, engine: &Engine) -> Interim {
    if !engine.at_least(7, 0) {
        Interim::Primaries
    } else if replicas_per_shard > 0 {
        Interim::FirstReplicas
    } else {
        Interim::Helpers
    }
}

/// How many helper nodes forming this shape takes (started with the nodes).
pub(super) fn helpers_needed(shards: usize, replicas_per_shard: usize, engine: &Engine) -> usize {
    match interim(replicas_per_shard, engine) {
        Interim::Helpers => shards,
        _ => 0,
    }
}

impl Cluster {
    /// Forms the cluster from its started nodes (and `helpers`, which it
    /// stops) and waits until it has converged.
    pub(super) fn form(
        &self,
        engine: &Engine,
        helpers: Vec<Server>,
        timeout: Duration,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let interim = interim(self.replicas_per_shard, engine);
        let (mut clients, ids) = self
            .assign_and_take_over(engine, interim, &helpers, deadline)
            .map_err(|e| match helpers.is_empty() {
                true => e,
                false => {
                    let first = self.nodes.len();
                    let logs = log_tails("helper node", (first..).zip(helpers.iter()));
                    Error::new(e.kind(), format!("{e}\n{}", logs.join("\n")))
                }
            })?;
        if interim == Interim::Helpers {
            self.retire_helpers(helpers, &mut clients, &ids)?;
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

    /// Everything up to the final convergence: the nodes' and helpers'
    /// clients (nodes first) and cluster ids.
    fn assign_and_take_over(
        &self,
        engine: &Engine,
        interim: Interim,
        helpers: &[Server],
        deadline: Instant,
    ) -> Result<(Vec<Client>, Vec<String>)> {
        let all: Vec<&Server> = self.nodes().chain(helpers).collect();
        let count = self.nodes.len();
        let mut clients = all
            .iter()
            .map(|n| n.connect())
            .collect::<Result<Vec<Client>>>()?;
        let mut ids = Vec::with_capacity(all.len());
        for (node, client) in all.iter().zip(clients.iter_mut()) {
            let reply = client.cmd(["CLUSTER", "MYID"])?;
            ids.push(text(&reply, node, "CLUSTER MYID")?);
        }
        let owner = |shard: usize| match interim {
            Interim::Primaries => shard,
            Interim::FirstReplicas => self.replica_index(shard, 0).unwrap_or(shard),
            Interim::Helpers => count + shard,
        };
        // Every node gets its own config epoch before it meets any other, the
        // interim owners the lowest. Nodes left at epoch 0 are primaries with
        // equal epochs, and resolving that collision bumps one of them to
        // "current epoch + 1", which can land on an interim owner's epoch; the
        // owner then bumps itself past a takeover that has just happened and
        // takes its slots back (seen: the cluster never converged). With
        // distinct epochs nothing collides, and each takeover's new epoch is
        // above its interim owner's.
        let owners: Vec<usize> = (0..self.shards).map(owner).collect();
        let others = (0..all.len()).filter(|i| !owners.contains(i));
        for (epoch, index) in owners.iter().copied().chain(others).enumerate() {
            let epoch = (epoch + 1).to_string();
            let reply = clients[index].cmd(["CLUSTER", "SET-CONFIG-EPOCH", epoch.as_str()])?;
            expect_ok(
                &reply,
                all[index],
                &format!("CLUSTER SET-CONFIG-EPOCH {epoch}"),
            )?;
        }
        for shard in 0..self.shards {
            let index = owner(shard);
            let (node, client) = (all[index], &mut clients[index]);
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
            for to in &all[from + 1..] {
                let port = to.port().to_string();
                let reply = client.cmd(["CLUSTER", "MEET", "127.0.0.1", port.as_str()])?;
                expect_ok(&reply, all[from], &format!("CLUSTER MEET 127.0.0.1 {port}"))?;
            }
        }
        // Every other node follows its shard's interim owner, once gossip has
        // told it about it.
        let pending: Vec<usize> = (0..count).filter(|i| !owners.contains(i)).collect();
        let follows: Vec<(usize, usize)> = pending
            .iter()
            .map(|&i| (i, owner(self.shard_of(i).unwrap_or(0))))
            .collect();
        self.attach_replicas(&all, &mut clients, &ids, pending, owner, deadline)?;
        match interim {
            Interim::Primaries => {}
            Interim::FirstReplicas => {
                // No write on the interim owners: a takeover before it reached
                // the taker left the owner ahead of its new primary ("offset for
                // second ID was 53, but I can reply up to 1"), so it had to sync
                // in full again (27 of 66 takeovers in one run).
                self.wait_replicas_linked(&mut clients, &owners, deadline)?;
                self.take_over_shards(&mut clients, &ids, &follows, deadline)?;
                // The new primaries write once more, so that every replica
                // (the former owners included) shows a fresh offset in gossip.
                let primaries: Vec<usize> = (0..self.shards).collect();
                self.nudge_replication_offsets(&mut clients, &primaries, deadline)?;
            }
            Interim::Helpers => self.take_over_shards(&mut clients, &ids, &follows, deadline)?,
        }
        Ok((clients, ids))
    }

    /// CLUSTER REPLICATE on each of `pending` (indices into `all`) until it
    /// knows its shard's owner and accepts.
    fn attach_replicas(
        &self,
        all: &[&Server],
        clients: &mut [Client],
        ids: &[String],
        mut pending: Vec<usize>,
        owner: impl Fn(usize) -> usize,
        deadline: Instant,
    ) -> Result<()> {
        let timeout = deadline.saturating_duration_since(Instant::now());
        let attached = process::poll_for(timeout, Duration::from_millis(10), || {
            let mut last_error = String::new();
            let mut still = Vec::new();
            for &index in &pending {
                let primary = owner(self.shard_of(index).unwrap_or(0));
                match clients[index].cmd(["CLUSTER", "REPLICATE", ids[primary].as_str()]) {
                    Ok(Reply::Error(e)) => {
                        last_error = format!(
                            "node {index} ({}) answered CLUSTER REPLICATE {} (node {primary}, \
                             port {}) with: {e}",
                            all[index].address(),
                            ids[primary],
                            all[primary].port()
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
            match pending.is_empty() {
                true => Ok(()),
                false => Err(last_error),
            }
        });
        if let Err(last_error) = attached {
            return Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "replicas {pending:?} could not be attached to their primaries within {:.1} s; \
                     last answer: {last_error}",
                    timeout.as_secs_f64()
                ),
            ));
        }
        Ok(())
    }

    /// The takeover: each future primary (node `shard`, now a replica)
    /// waits until it sees the cluster ok and its sync is done, then takes
    /// its shard over. One shard at a time, each once the next taker has
    /// seen the last new owner, so that its new epoch is above that one's: side
    /// by side, takeovers picked the same new epoch, and in resolving that
    /// the nodes moved slots between shards and dropped primaries to `fail`
    /// (which costs them the 2 s hold again; measured, 50 rounds here).
    /// Then every node (`clients` holds every node's, helpers last) must
    /// show every new owner: a node that still saw a helper owning slots
    /// when the helper leaves would be left with slots of no one.
    ///
    /// First, every node must see each follower (`follows`: node, interim
    /// owner) as its owner's replica: a node learns that a replica moved to
    /// its primary's shard from the replica's own messages, and one that
    /// had not yet took the takeover for a move of every slot between
    /// shards, logging each (5461 lines per shard and node, each line an
    /// open/write/close of the log: tens of ms of CPU a time).
    fn take_over_shards(
        &self,
        clients: &mut [Client],
        ids: &[String],
        follows: &[(usize, usize)],
        deadline: Instant,
    ) -> Result<()> {
        self.wait_seen_following(clients, follows, ids, deadline)?;
        for shard in 0..self.shards {
            process::poll_for(
                deadline.saturating_duration_since(Instant::now()),
                Duration::from_millis(5),
                || self.ready_to_take_over(shard, &mut clients[shard]),
            )
            .map_err(|waiting| {
                Error::new(
                    ErrorKind::Timeout,
                    format!("node {shard} could not take shard {shard} over: {waiting}"),
                )
            })?;
            let node = &self.nodes[shard];
            let reply = clients[shard].cmd(["CLUSTER", "FAILOVER", "TAKEOVER"])?;
            expect_ok(&reply, node, "CLUSTER FAILOVER TAKEOVER")?;
            if shard + 1 < self.shards {
                let next = shard + 1;
                self.wait_seen_owning(&mut clients[next..=next], next, &[shard], ids, deadline)?;
            }
        }
        let shards: Vec<usize> = (0..self.shards).collect();
        self.wait_seen_owning(clients, 0, &shards, ids, deadline)
    }

    /// Waits until every node sees each of `follows` (node, primary) as a
    /// replica of that primary.
    fn wait_seen_following(
        &self,
        clients: &mut [Client],
        follows: &[(usize, usize)],
        ids: &[String],
        deadline: Instant,
    ) -> Result<()> {
        let mut named: Vec<(usize, &mut Client)> = clients.iter_mut().enumerate().collect();
        wait_all_see(&mut named, deadline, |index, lines| {
            for &(node, primary) in follows {
                let follows = lines
                    .iter()
                    .any(|l| l.id == ids[node] && !l.is_primary() && l.master == ids[primary]);
                if !follows {
                    return Err(format!(
                        "node {index} does not see node {node} replicating node {primary} yet"
                    ));
                }
            }
            Ok(())
        })
        .map_err(|behind| Error::new(ErrorKind::Timeout, behind))
    }

    /// Waits until each of `clients` (of nodes `first..`) sees each of
    /// `shards`' created primary owning the shard's first slot.
    fn wait_seen_owning(
        &self,
        clients: &mut [Client],
        first: usize,
        shards: &[usize],
        ids: &[String],
        deadline: Instant,
    ) -> Result<()> {
        let mut named: Vec<(usize, &mut Client)> = (first..).zip(clients.iter_mut()).collect();
        wait_all_see(&mut named, deadline, |index, lines| {
            for &shard in shards {
                let slot = slot_range(shard, self.shards).0.to_string();
                let owns = lines.iter().any(|l| {
                    l.id == ids[shard]
                        && l.is_primary()
                        && l.slots.iter().any(|r| r.split('-').next() == Some(&slot))
                });
                if !owns {
                    return Err(format!(
                        "node {index} does not see node {shard} owning slot {slot} yet"
                    ));
                }
            }
            Ok(())
        })
        .map_err(|behind| {
            Error::new(
                ErrorKind::Timeout,
                format!("after the takeovers of shards {shards:?}: {behind}"),
            )
        })
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

    /// Stops the helpers (now replicas of the real primaries) while every
    /// node forgets them. A forgotten helper cannot come back: a node learns
    /// of others only from a MEET or from the gossip of a node it knows, and
    /// CLUSTER FORGET bars the id for 60 s, so gossip from a node that has
    /// not forgotten it yet is ignored; once all have, none is left to
    /// mention it. Their ports are released when they drop.
    fn retire_helpers(
        &self,
        mut helpers: Vec<Server>,
        clients: &mut Vec<Client>,
        ids: &[String],
    ) -> Result<()> {
        let count = self.nodes.len();
        clients.truncate(count);
        std::thread::scope(|scope| {
            for helper in helpers.iter_mut() {
                scope.spawn(move || {
                    if helper.stop().is_err() {
                        helper.kill_now();
                    }
                });
            }
            self.forget(clients.iter_mut().enumerate(), &ids[count..])
        })
    }

    /// CLUSTER FORGET of each of `ids` (helpers') on each node of `clients`
    /// (node index, client).
    pub(super) fn forget<'a>(
        &self,
        clients: impl IntoIterator<Item = (usize, &'a mut Client)>,
        ids: &[String],
    ) -> Result<()> {
        for (index, client) in clients {
            for id in ids {
                let reply = client.cmd(["CLUSTER", "FORGET", id.as_str()])?;
                match reply.error() {
                    // Never knew it (or forgot it already): what we want.
                    Some(e) if e.contains("Unknown node") => {}
                    Some(e) => {
                        return Err(Error::invalid(format!(
                            "CLUSTER FORGET {id} (a helper node) on node {index} ({}) failed: {e}",
                            self.nodes[index].describe()
                        )))
                    }
                    None => {}
                }
            }
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
        self.wait_replicas_linked(clients, primaries, deadline)?;
        for &index in primaries {
            // An error reply (e.g. FUNCTION refused by ACL) only costs time.
            clients[index].cmd(["FUNCTION", "FLUSH"])?;
        }
        Ok(())
    }

    /// Waits until every node but `primaries` has `master_link_status:up`.
    fn wait_replicas_linked(
        &self,
        clients: &mut [Client],
        primaries: &[usize],
        deadline: Instant,
    ) -> Result<()> {
        process::poll_for(
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
                        return Err(format!(
                            "node {index} ({}): master_link_status is {status:?}, expected up",
                            self.nodes[index].address()
                        ));
                    }
                }
                Ok(())
            },
        )
        .map_err(|waiting| {
            Error::new(
                ErrorKind::Timeout,
                format!("the replicas did not link to their primaries: {waiting}"),
            )
        })
    }
}

/// Polls the CLUSTER NODES of every node of `clients` (node index, client)
/// until `sees(index, lines)` holds for each; else the last reason it gave.
pub(super) fn wait_all_see(
    clients: &mut [(usize, &mut Client)],
    deadline: Instant,
    sees: impl Fn(usize, &[NodeLine]) -> std::result::Result<(), String>,
) -> std::result::Result<(), String> {
    process::poll_for(
        deadline.saturating_duration_since(Instant::now()),
        Duration::from_millis(2),
        || {
            for (index, client) in clients.iter_mut() {
                sees(*index, &NodeLine::read(client))?;
            }
            Ok(())
        },
    )
}
