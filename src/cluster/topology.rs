//! Parsing what a node says about the cluster: CLUSTER NODES lines and
//! CLUSTER SLOTS ranges.

use crate::client::Client;
use crate::reply::Reply;

/// One range of CLUSTER SLOTS: its slots, primary port and replica ports (sorted).
pub(super) struct SlotRange {
    pub(super) first: i64,
    pub(super) last: i64,
    pub(super) primary_port: i64,
    pub(super) replica_ports: Vec<u16>,
}

impl SlotRange {
    pub(super) fn parse_all(reply: &Reply) -> Vec<SlotRange> {
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
pub(super) struct NodeLine {
    pub(super) id: String,
    pub(super) port: u16,
    pub(super) flags: Vec<String>,
    pub(super) master: String,
    /// The config epoch this view holds for the node (0 when unreadable).
    pub(super) config_epoch: u64,
    /// Owned slots and ranges; migrating/importing entries (`[...]`) left out.
    pub(super) slots: Vec<String>,
    /// Slots with a migration open on this node (`[slot->-id]`, `[slot-<-id]`:
    /// only a node's own line shows them).
    pub(super) open: Vec<u16>,
}

impl NodeLine {
    /// The lines of `client`'s CLUSTER NODES now; none when it does not
    /// answer (a wait then simply polls again).
    pub(super) fn read(client: &mut Client) -> Vec<NodeLine> {
        let reply = client.cmd(["CLUSTER", "NODES"]);
        let text = reply.as_ref().ok().and_then(Reply::as_str).unwrap_or("");
        text.lines().filter_map(NodeLine::parse).collect()
    }

    pub(super) fn parse(line: &str) -> Option<NodeLine> {
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
            config_epoch: fields[6].parse().unwrap_or(0),
            slots: fields[8..]
                .iter()
                .filter(|s| !s.starts_with('['))
                .map(|s| s.to_string())
                .collect(),
            open: fields[8..]
                .iter()
                .filter_map(|s| s.strip_prefix('['))
                .filter_map(|s| s.split('-').next()?.parse().ok())
                .collect(),
        })
    }

    /// The owned slots as inclusive ranges.
    pub(super) fn slot_ranges(&self) -> Vec<(u16, u16)> {
        self.slots
            .iter()
            .filter_map(|entry| {
                let (first, last) = entry.split_once('-').unwrap_or((entry, entry));
                Some((first.parse().ok()?, last.parse().ok()?))
            })
            .collect()
    }

    /// Whether this node owns `slot`.
    pub(super) fn owns(&self, slot: u16) -> bool {
        self.slot_ranges()
            .iter()
            .any(|&(first, last)| (first..=last).contains(&slot))
    }

    pub(super) fn is_myself(&self) -> bool {
        self.flags.iter().any(|f| f == "myself")
    }

    pub(super) fn is_primary(&self) -> bool {
        self.flags.iter().any(|f| f == "master")
    }

    pub(super) fn role(&self) -> &'static str {
        if self.is_primary() {
            "a primary"
        } else {
            "a replica"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cluster_nodes_lines() {
        let line = NodeLine::parse(
            "e7d1eec 127.0.0.1:30001@40001,host myself,master - 0 0 1 connected 0-5460 [5461->-abc]",
        )
        .unwrap();
        assert_eq!(line.port, 30001);
        assert!(line.is_primary());
        assert_eq!(line.slots, ["0-5460"]);
        assert_eq!(line.slot_ranges(), [(0, 5460)]);
        assert_eq!(line.open, [5461]);
        assert!(line.owns(5460) && !line.owns(5461));
        assert!(line.is_myself());
        let replica =
            NodeLine::parse("aaa 127.0.0.1:30004@40004 slave e7d1eec 0 1 1 connected").unwrap();
        assert!(!replica.is_primary());
        assert_eq!(replica.master, "e7d1eec");
        assert!(NodeLine::parse("").is_none());
    }
}
