//! Attaching to a cluster vtf did not start: its nodes discovered from one
//! node's CLUSTER NODES, laid out as a started cluster's are (primaries in
//! slot order, then each shard's replicas).

use super::topology::NodeLine;
use super::Cluster;
use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::server::Server;

impl Cluster {
    /// Attaches to the cluster that the node at `host:port` belongs to,
    /// with the config's credential and TLS settings (see
    /// [`Server::attach`]). Shard `s` is the primary with the `s`-th lowest
    /// slots (primaries without slots come last); failed and handshaking
    /// nodes are left out. With [`Config::flush_on_attach`] every primary
    /// is emptied. Dropping the cluster leaves every node running.
    pub fn attach(config: &Config, host: &str, port: u16) -> Result<Cluster> {
        let attaching = |e: Error| e.context(format!("attaching to the cluster of {host}:{port}"));
        let seed = Server::attached(config, host, port).map_err(attaching)?;
        let reply = seed
            .connect()?
            .cmd(["CLUSTER", "NODES"])
            .map_err(attaching)?;
        let text = match (reply.error(), reply.as_str()) {
            (None, Some(text)) => text.to_string(),
            (err, _) => {
                return Err(attaching(Error::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "CLUSTER NODES answered {}: is it a cluster node (cluster-enabled yes)?",
                        err.unwrap_or("no text")
                    ),
                )))
            }
        };
        let nodes: Vec<(NodeLine, String)> = text
            .lines()
            .filter_map(|line| Some((NodeLine::parse(line)?, node_host(line, host))))
            .filter(|(n, _)| {
                !n.flags
                    .iter()
                    .any(|f| matches!(f.as_str(), "fail" | "noaddr" | "handshake"))
            })
            .collect();
        let mut primaries: Vec<&(NodeLine, String)> =
            nodes.iter().filter(|(n, _)| n.is_primary()).collect();
        primaries.sort_by_key(|(n, _)| first_slot(n).unwrap_or(usize::MAX));
        if primaries.is_empty() {
            return Err(attaching(Error::invalid(format!(
                "CLUSTER NODES lists no reachable primary:\n{text}"
            ))));
        }
        // Index order: the primaries (shard order), then each shard's replicas.
        let mut order: Vec<&(NodeLine, String)> = primaries.clone();
        let mut layout = Vec::new();
        for (shard, (primary, _)) in primaries.iter().enumerate() {
            let mut members = vec![shard];
            for replica in nodes
                .iter()
                .filter(|(n, _)| !n.is_primary() && n.master == primary.id)
            {
                members.push(order.len());
                order.push(replica);
            }
            layout.push(Some(members));
        }
        let servers = order
            .iter()
            .map(|(n, node_host)| {
                Server::attached(config, node_host, n.port).map_err(|e| {
                    attaching(e.context(format!("reaching node {} ({node_host}:{})", n.id, n.port)))
                })
            })
            .collect::<Result<Vec<Server>>>()?;
        if config.flush_on_attach_requested()? {
            for (index, server) in servers.iter().enumerate().take(primaries.len()) {
                let reply = server.connect()?.cmd(["FLUSHALL"])?;
                if let Some(err) = reply.error() {
                    return Err(Error::new(
                        ErrorKind::Connection,
                        format!(
                            "FLUSHALL on primary {index} ({}) failed: {err}",
                            server.address()
                        ),
                    ));
                }
            }
        }
        let replicas = layout
            .iter()
            .flatten()
            .map(|m| m.len() - 1)
            .min()
            .unwrap_or(0);
        Ok(Cluster {
            nodes: servers,
            shards: primaries.len(),
            replicas_per_shard: replicas,
            layout,
            settle_timeout: config.scaled(super::DEFAULT_READY_TIMEOUT),
        })
    }

    /// Whether every node is attached rather than started.
    pub fn is_external(&self) -> bool {
        self.nodes.iter().all(Server::is_external)
    }
}

/// The host of a CLUSTER NODES line (`id ip:port@cport[,hostname] ...`); a
/// node that does not know its own address yet lists an empty ip: the seed's.
fn node_host(line: &str, seed_host: &str) -> String {
    let address = line
        .split_whitespace()
        .nth(1)
        .and_then(|a| a.split(['@', ',']).next())
        .unwrap_or_default();
    match address.rsplit_once(':') {
        Some((ip, _)) if !ip.is_empty() => {
            ip.trim_start_matches('[').trim_end_matches(']').to_string()
        }
        _ => seed_host.to_string(),
    }
}

/// The lowest slot a primary owns.
fn first_slot(node: &NodeLine) -> Option<usize> {
    node.slots
        .iter()
        .filter_map(|s| s.split('-').next()?.parse().ok())
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_hosts_and_first_slots() {
        assert_eq!(
            node_host("id 10.0.0.5:7000@17000 master - 0 0 1 connected", "s"),
            "10.0.0.5"
        );
        assert_eq!(
            node_host("id :7000@17000 myself,master - 0 0 1 connected", "seed"),
            "seed"
        );
        assert_eq!(
            node_host("id [::1]:7000@17000,h master - 0 0 1 connected", "s"),
            "::1"
        );
        let n =
            NodeLine::parse("id 1.2.3.4:1@2 master - 0 0 1 connected 9000-9100 5 [7->-x]").unwrap();
        assert_eq!(first_slot(&n), Some(5));
    }
}
