//! Convergence: polling every running node until all agree on slots, roles
//! and membership, each is `cluster_state:ok` and every replica is linked and
//! caught up; on timeout, one line per problem.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::topology::{NodeLine, SlotRange};
use super::{text, Cluster, MAX_PROBLEMS_SHOWN};
use crate::client::Client;
use crate::diagnostics::log_excerpt;
use crate::error::{Error, ErrorKind, Result};
use crate::process;
use crate::reply::info_value;
use crate::server::Server;

/// How long one read of a node's state may take while waiting (grown under
/// a wrapper), so that a node that stopped answering cannot hold a wait past
/// its deadline by more than this; the wait then names it and its state.
const READ_TIMEOUT: Duration = Duration::from_secs(1);

impl Cluster {
    /// Polls every running node until [`Cluster::problems`] finds none.
    pub(super) fn wait_converged(&self, timeout: Duration, expect: &[Expect]) -> Result<()> {
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
        let members = self.node_indices();
        for &index in &members {
            let node = &self.nodes[index];
            if !node.is_running() {
                clients[index] = None;
                if expect.iter().any(|e| e.index() == index) {
                    return Err(Error::new(
                        ErrorKind::ServerExited,
                        format!(
                            "node {index} of the cluster is not running: {}; {}",
                            node.describe(),
                            log_excerpt(node.state())
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
        // Removed shards' nodes are forgotten: only the members count.
        let total = members.len();
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
        // And the same config epoch for every primary. A view that holds an
        // older epoch for a primary than the others do takes a later UPDATE
        // about it at face value, slot list included; one that came from a
        // moment mid-migration can then hand a slot the primary still serves
        // to a node importing it (a remove_shard right after a move_slots
        // was refused "I'm not the owner of hash slot 62" once in CI).
        problems.extend(epoch_disagreements(&views));
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
        self.nodes().any(|n| n.port() == port && n.is_running())
    }
}

/// What a node must show in its CLUSTER NODES, beyond agreement.
pub(super) enum Expect {
    Primary {
        index: usize,
        id: String,
    },
    ReplicaOf {
        index: usize,
        id: String,
        primary_id: String,
    },
    /// Node `index` (a primary) owns every slot of `slots` (inclusive
    /// ranges), and no node has a migration of them still open.
    Owns {
        index: usize,
        id: String,
        slots: Vec<(u16, u16)>,
    },
}

impl Expect {
    fn index(&self) -> usize {
        match self {
            Expect::Primary { index, .. }
            | Expect::ReplicaOf { index, .. }
            | Expect::Owns { index, .. } => *index,
        }
    }

    fn check(&self, view: &View) -> Option<String> {
        let (index, id) = match self {
            Expect::Primary { index, id }
            | Expect::ReplicaOf { index, id, .. }
            | Expect::Owns { index, id, .. } => (index, id),
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
            Expect::Owns { slots, .. } => {
                let missing: Vec<String> = slots
                    .iter()
                    .flat_map(|&(first, last)| first..=last)
                    .filter(|&slot| !line.is_primary() || !line.owns(slot))
                    .map(|slot| slot.to_string())
                    .take(5)
                    .collect();
                let open: Vec<String> = view
                    .lines
                    .iter()
                    .filter(|l| l.is_myself())
                    .flat_map(|l| l.open.iter())
                    .filter(|&&slot| slots.iter().any(|&(f, l)| (f..=l).contains(&slot)))
                    .map(|slot| slot.to_string())
                    .take(5)
                    .collect();
                if !missing.is_empty() {
                    Some(format!(
                        "{}: does not see node {index} ({id}) owning slot(s) {} yet (it sees {} with {:?})",
                        view.who(),
                        missing.join(","),
                        line.role(),
                        line.slots
                    ))
                } else if !open.is_empty() {
                    Some(format!(
                        "{}: still has a migration of slot(s) {} open",
                        view.who(),
                        open.join(",")
                    ))
                } else {
                    None
                }
            }
            _ => None,
        }
    }
}

/// One node's view of the cluster.
pub(super) struct View {
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
            None => {
                // The bound covers connecting too: a stopped node accepts
                // the TCP connection and never answers the handshake.
                let bound = Some(node.config().scaled(READ_TIMEOUT));
                client.insert(Client::connect(&node.endpoint().command_timeout(bound))?)
            }
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

/// One line per primary whose config epoch the views do not agree on.
fn epoch_disagreements(views: &[View]) -> Vec<String> {
    let mut seen: BTreeMap<&str, BTreeMap<u64, Vec<String>>> = BTreeMap::new();
    for view in views {
        for line in view.lines.iter().filter(|l| l.is_primary()) {
            seen.entry(line.id.as_str())
                .or_default()
                .entry(line.config_epoch)
                .or_default()
                .push(view.who());
        }
    }
    seen.into_iter()
        .filter(|(_, epochs)| epochs.len() > 1)
        .map(|(id, epochs)| {
            let by: Vec<String> = epochs
                .iter()
                .map(|(epoch, who)| format!("{epoch} in {}", who.join(", ")))
                .collect();
            format!(
                "the views differ on primary {id}'s config epoch: {}",
                by.join("; ")
            )
        })
        .collect()
}
