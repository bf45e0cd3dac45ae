//! Joining a new shard's nodes to a running cluster: MEET, the takeover that
//! spares its primary the 2 s hold, REPLICATE, linked replicas, agreement.
//!
//! A new primary reports `cluster_state:ok` only 2 s after its start, and
//! until then refuses every keyed command, MIGRATE's RESTORE-ASKING
//! included, so `add_shard` used to take 2 s. As in forming (form.rs), the
//! new primary first follows a helper node, a replica sees the cluster ok at
//! once, and it then takes the (empty) shard over with CLUSTER FAILOVER
//! TAKEOVER; the helper stops and every node forgets it.

use std::time::{Duration, Instant};

use super::converge::Expect;
use super::form::wait_all_see;
use super::{expect_ok, reply_field, text, Cluster};
use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::process;
use crate::reply::Reply;
use crate::server::Server;

impl Cluster {
    /// MEETs the new nodes with every member, attaches the replicas to the
    /// new primary (`members[0]`) and waits until all agree. With a
    /// `helper`, the primary takes its shard over from it first (see above).
    pub(super) fn join_shard(
        &self,
        members: &[usize],
        helper: Option<Server>,
        timeout: Duration,
    ) -> Result<()> {
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
                let to = &self.nodes[to];
                meet(client, &self.nodes[members[k]], to.host(), to.port())?;
            }
        }
        if let Some(helper) = helper {
            self.take_over_from_helper(members[0], &mut clients[0], &ids[0], helper, deadline)?;
        }
        // A replica can follow its primary once it has heard of it.
        let mut pending: Vec<usize> = (1..members.len()).collect();
        let followed = process::poll_for(
            deadline.saturating_duration_since(Instant::now()),
            Duration::from_millis(10),
            || {
                let mut last = String::new();
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
                if pending.is_empty() {
                    Ok(())
                } else {
                    Err(last)
                }
            },
        );
        if let Err(last) = followed {
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
            process::poll_for(
                deadline.saturating_duration_since(Instant::now()),
                Duration::from_millis(10),
                || {
                    for (k, c) in clients[1..].iter_mut().enumerate() {
                        let status = reply_field(c, &["INFO", "replication"], "master_link_status");
                        if status != "up" {
                            return Err(format!(
                                "node {}: master_link_status {status:?}",
                                members[k + 1]
                            ));
                        }
                    }
                    Ok(())
                },
            )
            .map_err(|waiting| {
                Error::new(
                    ErrorKind::Timeout,
                    format!("the new replicas did not link to their primary: {waiting}"),
                )
            })?;
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

    /// Node `primary` (client, id) follows `helper` until it sees the cluster
    /// ok, takes the shard over, and once every node sees it as a primary the
    /// helper stops while every node forgets it.
    fn take_over_from_helper(
        &self,
        primary: usize,
        client: &mut Client,
        id: &str,
        helper: Server,
        deadline: Instant,
    ) -> Result<()> {
        let mut helper_client = helper.connect()?;
        let helper_id = text(
            &helper_client.cmd(["CLUSTER", "MYID"])?,
            &helper,
            "CLUSTER MYID",
        )?;
        let helper = Helper {
            server: helper,
            client: helper_client,
            id: helper_id.clone(),
        };
        let taken = self.take_over(primary, client, id, helper, deadline);
        if taken.is_err() {
            // The helper stopped when it dropped; the nodes that met it
            // forget it, so a failed add leaves the cluster as it was.
            let mut clients: Vec<(usize, Client)> = self
                .node_indices()
                .into_iter()
                .filter_map(|i| self.nodes[i].connect().ok().map(|c| (i, c)))
                .collect();
            let _ = self.forget(clients.iter_mut().map(|(i, c)| (*i, c)), &[helper_id]);
        }
        taken
    }

    /// The steps of [`Cluster::take_over_from_helper`], which undoes them on an error.
    fn take_over(
        &self,
        primary: usize,
        client: &mut Client,
        id: &str,
        mut helper: Helper,
        deadline: Instant,
    ) -> Result<()> {
        let node = &self.nodes[primary];
        // The helper joins as a primary without slots: every node must know
        // it for the takeover to be agreed on.
        meet(&mut helper.client, &helper.server, node.host(), node.port())?;
        process::poll_for(
            deadline.saturating_duration_since(Instant::now()),
            Duration::from_millis(5),
            || match client.cmd(["CLUSTER", "REPLICATE", helper.id.as_str()]) {
                Ok(Reply::Error(e)) => Err(format!("CLUSTER REPLICATE of the helper: {e}")),
                Err(e) => Err(e.to_string()),
                Ok(_) => {
                    let state = reply_field(client, &["CLUSTER", "INFO"], "cluster_state");
                    let link = reply_field(client, &["INFO", "replication"], "master_link_status");
                    match state == "ok" && link == "up" {
                        true => Ok(()),
                        false => Err(format!(
                            "cluster_state {state:?}, master_link_status {link:?}"
                        )),
                    }
                }
            },
        )
        .map_err(|why| {
            Error::new(
                ErrorKind::Timeout,
                format!(
                    "node {primary} ({}) did not get ready to take its shard over from the \
                     helper {}: {why}",
                    node.address(),
                    helper.server.address()
                ),
            )
        })?;
        let reply = client.cmd(["CLUSTER", "FAILOVER", "TAKEOVER"])?;
        expect_ok(&reply, node, "CLUSTER FAILOVER TAKEOVER")?;
        // Every node must see it as a primary before the helper leaves (one
        // that still saw it following the helper would keep it a replica of
        // a forgotten node), and know the helper by its id: a node that heard
        // of the helper only by gossip holds it as a handshake under a random
        // id, which FORGET of the real id leaves behind until the handshake
        // times out (seen: 3 s).
        let mut clients = self
            .node_indices()
            .into_iter()
            .filter(|&i| self.nodes[i].is_running())
            .map(|i| self.nodes[i].connect().map(|c| (i, c)))
            .collect::<Result<Vec<(usize, Client)>>>()?;
        let mut named: Vec<(usize, &mut Client)> =
            clients.iter_mut().map(|(i, c)| (*i, c)).collect();
        wait_all_see(&mut named, deadline, |index, lines| {
            if !lines.iter().any(|l| l.id == id && l.is_primary()) {
                return Err(format!(
                    "node {index} does not see node {primary} as a primary yet"
                ));
            }
            let helper_known = lines.iter().any(|l| l.id == helper.id);
            let handshakes = lines
                .iter()
                .any(|l| l.flags.iter().any(|f| f == "handshake"));
            if !helper_known || handshakes {
                return Err(format!(
                    "node {index} is still in a handshake with the helper"
                ));
            }
            Ok(())
        })
        .map_err(|behind| {
            Error::new(
                ErrorKind::Timeout,
                format!("after node {primary}'s takeover from the helper: {behind}"),
            )
        })?;
        std::thread::scope(|scope| {
            let server = &mut helper.server;
            scope.spawn(move || {
                if server.stop().is_err() {
                    server.kill_now();
                }
            });
            self.forget(
                clients.iter_mut().map(|(i, c)| (*i, c)),
                &[helper.id.clone()],
            )
        })
    }
}

/// A helper node while a new shard's primary takes over from it.
struct Helper {
    server: Server,
    client: Client,
    id: String,
}

fn meet(client: &mut Client, node: &Server, host: &str, port: u16) -> Result<()> {
    let port = port.to_string();
    let reply = client.cmd(["CLUSTER", "MEET", host, &port])?;
    expect_ok(&reply, node, &format!("CLUSTER MEET {host} {port}"))
}
