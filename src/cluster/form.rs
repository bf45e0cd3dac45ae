//! Forming a cluster: slots assigned, nodes introduced, replicas attached,
//! and (when every shard has a replica) the swap that spares the primaries
//! their 2 s hold, then the wait for convergence.

use std::time::{Duration, Instant};

use super::converge::Expect;
use super::topology::NodeLine;
use super::{expect_ok, reply_field, slot_range, text, Cluster};
use crate::client::Client;
use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::process;
use crate::reply::Reply;

impl Cluster {
    /// Assigns slots, introduces the nodes, attaches the replicas and waits.
    pub(super) fn form(&self, engine: &Engine, timeout: Duration) -> Result<()> {
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
}
