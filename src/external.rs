//! Servers that vtf did not start: what an attached [`Server`] knows (an
//! address, a credential, certificates; no process, no files), and env
//! `VTF_EXTERNAL`, which turns `Server::start` (and a cluster's start, when
//! it describes a cluster) into an attach so that a whole suite runs
//! against servers elsewhere.
//!
//! What a suite can rely on when it shares external servers: vtf never
//! stops, restarts or deletes anything there; it empties the keyspace at
//! attach only when asked (`Config::flush_on_attach`, env
//! `VTF_EXTERNAL_FLUSH=1`); everything else (data left by earlier tests,
//! the server's own config and modules) is as the servers are.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use crate::config::Config;
use crate::endpoint::ClientCertificates;
use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::reply::info_value;
use crate::tls::TlsMode;
use crate::topology::{Kind, Node, Role, Topology};

/// The env variable that makes `Server::start` attach.
pub const ENV: &str = crate::env::EXTERNAL;

/// How to reach a server vtf did not start.
#[derive(Debug, Clone)]
pub(crate) struct External {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) password: Option<String>,
    pub(crate) tls: TlsMode,
    pub(crate) certificates: Option<Arc<ClientCertificates>>,
}

/// The error of an operation that needs the server's process.
pub(crate) fn unsupported(address: &str, what: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!(
            "{what} needs the server process, but {address} is an external server \
             (attached, not started by vtf): vtf never stops, restarts or reads the files \
             of servers it did not start; skip this step when Server::is_external() is true"
        ),
    )
}

/// The description in env `VTF_EXTERNAL`, if set (and not empty).
pub fn from_env() -> Result<Option<Topology>> {
    match crate::env::value(ENV) {
        Some(text) => parse(&text)
            .map(Some)
            .map_err(|e| e.context(format!("env {ENV}"))),
        None => Ok(None),
    }
}

/// Reads `host:port[,host:port...]` or the JSON that `vtf ... --json`
/// prints. A list says nothing about the kind: it reads as a server (the
/// first address), and the cluster constructor asks the first node.
pub fn parse(text: &str) -> Result<Topology> {
    let text = text.trim();
    if text.starts_with('{') {
        return Topology::from_json(text);
    }
    let nodes = text
        .split(',')
        .map(|item| {
            let (host, port) = split_address(item.trim())?;
            Ok(Node {
                host,
                port,
                pid: None,
                role: Role::Primary,
                shard: None,
                dir: None,
                log: None,
            })
        })
        .collect::<Result<Vec<Node>>>()?;
    Ok(Topology {
        kind: Kind::Server,
        nodes,
        password: None,
        tls: None,
    })
}

/// `host:port`, `[v6]:port`.
fn split_address(item: &str) -> Result<(String, u16)> {
    let bad = || {
        Error::invalid(format!(
            "{item:?} is not host:port (expected host:port[,host:port...] or vtf's JSON)"
        ))
    };
    let (host, port) = item.rsplit_once(':').ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || port == 0 {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

/// The config with what the description says about credentials and TLS,
/// where the config itself says nothing.
pub(crate) fn config_for(config: &Config, topology: &Topology) -> Config {
    let mut config = config.clone();
    if config.get_password().is_none() {
        if let Some(password) = &topology.password {
            config = config.password(password);
        }
    }
    if config.get_tls_files().is_none() {
        if let Some(tls) = &topology.tls {
            config = config.tls_files(
                &tls.ca_cert,
                tls.client_cert
                    .clone()
                    .filter(|_| tls.tls_mode() == TlsMode::Mutual),
                tls.client_key
                    .clone()
                    .filter(|_| tls.tls_mode() == TlsMode::Mutual),
            );
        }
    }
    config
}

/// How to reach `host:port` with `config`'s credential and TLS settings:
/// its own TLS files when given, else vtf's CA when its TLS mode is on.
pub(crate) fn external(config: &Config, host: &str, port: u16) -> Result<External> {
    if host.is_empty() || port == 0 {
        return Err(Error::invalid(format!(
            "cannot attach to {host:?} port {port}: a host and a non-zero port are needed"
        )));
    }
    let (tls, certificates) = match config.get_tls_files() {
        Some(files) => {
            let read = |p: &Path| {
                fs::read(p).map_err(|e| {
                    Error::new(
                        ErrorKind::Tls,
                        format!(
                            "reading TLS file {} to attach to {host}:{port}: {e}",
                            p.display()
                        ),
                    )
                })
            };
            let client = match (&files.client_cert, &files.client_key) {
                (Some(cert), Some(key)) => Some((read(cert)?, read(key)?)),
                (None, None) => None,
                _ => {
                    return Err(Error::invalid(
                        "a client certificate needs its key (and a key its certificate)",
                    ))
                }
            };
            let mode = if client.is_some() {
                TlsMode::Mutual
            } else {
                TlsMode::On
            };
            let certs = ClientCertificates {
                ca_cert_pem: read(&files.ca_cert)?,
                client,
            };
            (mode, Some(Arc::new(certs)))
        }
        None => (config.tls_mode(), None),
    };
    Ok(External {
        host: host.to_string(),
        port,
        password: config.get_password().map(str::to_string),
        tls,
        certificates,
    })
}

/// Which engine answers, from `INFO server` (valkey_version, else redis_version).
pub(crate) fn engine_from_info(info: &str) -> Engine {
    let (name, version) = match info_value(info, "valkey_version") {
        Some(v) => ("valkey", v),
        None => (
            "redis",
            info_value(info, "redis_version").unwrap_or("0.0.0"),
        ),
    };
    let text = format!("{name} server v={version}");
    Engine::parse(&text).unwrap_or(Engine {
        name: name.to_string(),
        version: (0, 0, 0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_address_lists_and_json() {
        let t = parse(" 127.0.0.1:7000, [::1]:7001 ").unwrap();
        assert_eq!(t.kind, Kind::Server);
        assert_eq!(
            t.nodes
                .iter()
                .map(|n| (n.host.as_str(), n.port))
                .collect::<Vec<_>>(),
            [("127.0.0.1", 7000), ("::1", 7001)]
        );
        let t =
            parse(r#"{"kind":"cluster","nodes":[{"host":"h","port":1}],"password":"pw"}"#).unwrap();
        assert_eq!(t.kind, Kind::Cluster);
        assert_eq!(t.password.as_deref(), Some("pw"));
        for bad in ["localhost", "h:0", ":7000", "h:port", "h:7000,"] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bad}");
        }
    }

    #[test]
    fn the_engine_comes_from_info() {
        let e = engine_from_info("# Server\r\nredis_version:7.2.4\r\nvalkey_version:8.0.1\r\n");
        assert!(e.is_valkey());
        assert_eq!(e.version, (8, 0, 1));
        let e = engine_from_info("redis_version:7.0.15\r\n");
        assert_eq!((e.name.as_str(), e.version), ("redis", (7, 0, 15)));
    }
}
