//! A session: for one cluster operation, a connection to and the id of every
//! running node, with the queries and pipelines the operations share (each
//! error names the node, the command and the node's last log lines).

use std::collections::BTreeMap;

use super::topology::NodeLine;
use super::{text, Cluster};
use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::reply::Reply;
use crate::server::Server;

/// Connections per node that SETSLOT steps are spread over.
const PARALLEL_CONNECTIONS: usize = 16;
/// Log lines quoted from a node that refused a command.
pub(super) const LOG_LINES: usize = 8;

/// A connection to, and the id of, every running member, for one operation.
pub(super) struct Session<'a> {
    cluster: &'a Cluster,
    clients: BTreeMap<usize, Client>,
    pub(super) ids: BTreeMap<usize, String>,
    /// Per primary: the slots it has a migration open for (from its own line).
    pub(super) open: BTreeMap<usize, Vec<u16>>,
    /// Extra connections per node for [`Session::parallel_pipeline`].
    pools: BTreeMap<usize, Vec<Client>>,
}

impl<'a> Session<'a> {
    pub(super) fn open(cluster: &'a Cluster) -> Result<Session<'a>> {
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

    pub(super) fn node(&self, index: usize) -> &Server {
        &self.cluster.nodes[index]
    }

    pub(super) fn index_of(&self, id: &str) -> Option<usize> {
        self.ids
            .iter()
            .find(|(_, i)| *i == id)
            .map(|(&index, _)| index)
    }

    /// Sends `args` to node `index`; an error reply is an error naming the
    /// node, the command and the node's last log lines.
    pub(super) fn ok<A: AsRef<[u8]>>(&mut self, index: usize, args: &[A]) -> Result<Reply> {
        let reply = self.cmd(index, args)?;
        match reply.error() {
            Some(e) => Err(self.refused(index, args, e)),
            None => Ok(reply),
        }
    }

    fn cmd<A: AsRef<[u8]>>(&mut self, index: usize, args: &[A]) -> Result<Reply> {
        self.client(index)?.cmd(args)
    }

    /// Node `index`'s connection (none once it stopped).
    fn client(&mut self, index: usize) -> Result<&mut Client> {
        let address = self.cluster.nodes[index].address();
        self.clients.get_mut(&index).ok_or_else(|| {
            Error::new(
                ErrorKind::ServerExited,
                format!("node {index} ({address}) is not running"),
            )
        })
    }

    pub(super) fn refused<A: AsRef<[u8]>>(&self, index: usize, args: &[A], error: &str) -> Error {
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
    pub(super) fn current_primary(&mut self, shard: usize, members: &[usize]) -> Result<usize> {
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
    pub(super) fn slot_owners(&mut self, index: usize) -> Result<BTreeMap<u16, String>> {
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
    pub(super) fn owned_slots(&mut self, index: usize) -> Result<Vec<u16>> {
        let line = self.own_line(index)?;
        Ok(line
            .slot_ranges()
            .into_iter()
            .flat_map(|(first, last)| first..=last)
            .collect())
    }

    /// The running members that are primaries now; notes their open migrations.
    pub(super) fn primaries(&mut self) -> Result<Vec<usize>> {
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
    pub(super) fn keep_shard_roles(&mut self, index: usize) -> Result<()> {
        self.ok(
            index,
            &["CONFIG", "SET", "cluster-allow-replica-migration", "no"],
        )
        .map(drop)
    }

    pub(super) fn pipeline<A: AsRef<[u8]>>(
        &mut self,
        index: usize,
        commands: &[Vec<A>],
    ) -> Result<Vec<Reply>> {
        self.client(index)?.pipeline(commands)
    }

    /// [`Session::pipeline`] split over [`PARALLEL_CONNECTIONS`] connections.
    /// A primary with replicas holds each SETSLOT until its replicas have
    /// acknowledged it (Valkey 8 replicates SETSLOT first): on one connection
    /// that is a round trip and a replica fsync per slot, while the SETSLOTs
    /// of many connections are acknowledged together.
    pub(super) fn parallel_pipeline(
        &mut self,
        index: usize,
        commands: &[Vec<String>],
    ) -> Result<Vec<Reply>> {
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
}
