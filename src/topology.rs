//! A description of running servers: which nodes (role, shard, address,
//! process, files), the credential and the TLS files. It is the one line of
//! JSON that `vtf ... --json` prints and that env `VTF_EXTERNAL` may carry,
//! so programs in any language can find and reach the servers.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::TlsMode;
use crate::error::{Error, Result};
use crate::{Cluster, Replication, Server};

/// What the nodes form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Server,
    Replication,
    Cluster,
}

/// A node's role when the description was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Primary,
    Replica,
}

/// One server. Only `host` and `port` are required when reading a
/// description: servers that vtf did not start have no pid or files here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub host: String,
    pub port: u16,
    #[serde(default)]
    pub pid: Option<u32>,
    #[serde(default = "primary")]
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<usize>,
    #[serde(default)]
    pub dir: Option<PathBuf>,
    #[serde(default)]
    pub log: Option<PathBuf>,
}

fn primary() -> Role {
    Role::Primary
}

/// TLS mode as written in the description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsModeName {
    On,
    Mutual,
}

/// The files a TLS client needs: the CA that signed the servers'
/// certificates, and the client certificate and key (required by mutual TLS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsInfo {
    pub mode: TlsModeName,
    pub ca_cert: PathBuf,
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    #[serde(default)]
    pub client_key: Option<PathBuf>,
}

impl TlsInfo {
    pub fn tls_mode(&self) -> TlsMode {
        match self.mode {
            TlsModeName::On => TlsMode::On,
            TlsModeName::Mutual => TlsMode::Mutual,
        }
    }
}

/// Servers and how to reach them (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    pub kind: Kind,
    pub nodes: Vec<Node>,
    /// The credential (`AUTH`), `None` when auth is off.
    #[serde(default)]
    pub password: Option<String>,
    /// `None` when the servers speak plain TCP.
    #[serde(default)]
    pub tls: Option<TlsInfo>,
}

impl Topology {
    /// One server, as a primary.
    pub fn of_server(server: &Server) -> Topology {
        Topology {
            kind: Kind::Server,
            nodes: vec![node(server, Role::Primary, None)],
            password: server.password().map(str::to_string),
            tls: tls_info(server),
        }
    }

    /// The primary first, then the replicas in index order.
    pub fn of_replication(group: &Replication) -> Topology {
        let mut nodes = vec![node(group.primary(), Role::Primary, None)];
        nodes.extend(group.replicas().map(|r| node(r, Role::Replica, None)));
        Topology {
            kind: Kind::Replication,
            nodes,
            password: group.primary().password().map(str::to_string),
            tls: tls_info(group.primary()),
        }
    }

    /// Every node in index order (primaries first), each with the shard it
    /// was created in.
    pub fn of_cluster(cluster: &Cluster) -> Topology {
        let nodes = cluster
            .nodes()
            .enumerate()
            .map(|(i, n)| {
                let role = if i < cluster.shards() {
                    Role::Primary
                } else {
                    Role::Replica
                };
                node(n, role, cluster.shard_of(i))
            })
            .collect();
        Topology {
            kind: Kind::Cluster,
            nodes,
            password: cluster
                .node(0)
                .and_then(Server::password)
                .map(str::to_string),
            tls: cluster.node(0).and_then(tls_info),
        }
    }

    /// The description as one line of JSON.
    pub fn to_json(&self) -> String {
        // Serializing plain structs with string keys cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a description written by [`Topology::to_json`] (or by hand:
    /// only `kind` and each node's `host` and `port` are required).
    pub fn from_json(text: &str) -> Result<Topology> {
        let topology: Topology = serde_json::from_str(text)
            .map_err(|e| Error::invalid(format!("not a vtf topology description: {e}")))?;
        if topology.nodes.is_empty() {
            return Err(Error::invalid(
                "the topology description lists no nodes".to_string(),
            ));
        }
        Ok(topology)
    }
}

fn node(server: &Server, role: Role, shard: Option<usize>) -> Node {
    Node {
        host: server.host().to_string(),
        port: server.port(),
        pid: server.pid(),
        role,
        shard,
        dir: Some(server.dir().to_path_buf()),
        log: Some(server.log_path().to_path_buf()),
    }
}

fn tls_info(server: &Server) -> Option<TlsInfo> {
    let files = server.tls_files()?;
    let mode = match server.tls_mode() {
        TlsMode::Off => return None,
        TlsMode::On => TlsModeName::On,
        TlsMode::Mutual => TlsModeName::Mutual,
    };
    Some(TlsInfo {
        mode,
        ca_cert: files.ca_cert.clone(),
        client_cert: Some(files.client_cert.clone()),
        client_key: Some(files.client_key.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_keeps_every_field_and_omits_shard_outside_clusters() {
        let t = Topology {
            kind: Kind::Replication,
            nodes: vec![Node {
                host: "127.0.0.1".into(),
                port: 11001,
                pid: Some(42),
                role: Role::Primary,
                shard: None,
                dir: Some("/tmp/a \"b\"".into()),
                log: Some("/tmp/a/valkey.log".into()),
            }],
            password: None,
            tls: None,
        };
        let json = t.to_json();
        assert!(!json.contains('\n'));
        assert!(!json.contains("shard"), "{json}");
        assert!(json.contains(r#""password":null"#), "{json}");
        assert!(json.contains(r#""tls":null"#), "{json}");
        assert!(json.contains(r#""role":"primary""#), "{json}");
        assert_eq!(Topology::from_json(&json).unwrap(), t);
    }

    #[test]
    fn a_hand_written_description_needs_only_addresses() {
        let t = Topology::from_json(
            r#"{"kind":"cluster","nodes":[{"host":"10.0.0.1","port":7000}],
                "tls":{"mode":"on","ca_cert":"/ca.crt"}}"#,
        )
        .unwrap();
        assert_eq!(t.nodes[0].role, Role::Primary);
        assert_eq!(t.nodes[0].pid, None);
        assert_eq!(t.tls.unwrap().tls_mode(), TlsMode::On);
        assert!(Topology::from_json(r#"{"kind":"server","nodes":[]}"#).is_err());
        assert!(Topology::from_json("not json").is_err());
    }
}
