//! The readable form of a topology: a table of nodes, the TLS files, the
//! credential, and a valkey-cli line to paste.

use std::fmt::Write as _;

use vtf::topology::{Kind, Role, TlsModeName, Topology};

pub fn table(topology: &Topology) -> String {
    let show = |p: &Option<std::path::PathBuf>| {
        p.as_ref()
            .map_or_else(|| "-".to_string(), |p| p.display().to_string())
    };
    let mut rows: Vec<[String; 7]> = vec![[
        "ROLE".into(),
        "SHARD".into(),
        "HOST".into(),
        "PORT".into(),
        "PID".into(),
        "DIR".into(),
        "LOG".into(),
    ]];
    for node in &topology.nodes {
        rows.push([
            match node.role {
                Role::Primary => "primary".into(),
                Role::Replica => "replica".into(),
            },
            node.shard.map_or_else(|| "-".into(), |s| s.to_string()),
            node.host.clone(),
            node.port.to_string(),
            node.pid.map_or_else(|| "-".into(), |p| p.to_string()),
            show(&node.dir),
            show(&node.log),
        ]);
    }
    let skip_shard = topology.kind != Kind::Cluster;
    let mut widths = [0usize; 7];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i == 1 && skip_shard {
                continue;
            }
            let _ = write!(line, "{cell:<width$}  ", width = widths[i]);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push('\n');
    match &topology.tls {
        Some(tls) => {
            let mode = match tls.mode {
                TlsModeName::On => "on",
                TlsModeName::Mutual => "mutual (clients present the client certificate)",
            };
            let _ = writeln!(out, "TLS:          {mode}");
            let _ = writeln!(out, "CA cert:      {}", tls.ca_cert.display());
            let _ = writeln!(out, "client cert:  {}", show(&tls.client_cert));
            let _ = writeln!(out, "client key:   {}", show(&tls.client_key));
        }
        None => out.push_str("TLS:          off\n"),
    }
    match &topology.password {
        Some(p) => {
            let _ = writeln!(out, "password:     {p}");
        }
        None => out.push_str("password:     none (auth off)\n"),
    }
    if let Some(first) = topology.nodes.first() {
        let _ = writeln!(out, "\nvalkey-cli:   {}", cli_line(topology, first.port));
    }
    out
}

/// A valkey-cli invocation that reaches the node on `port`.
fn cli_line(topology: &Topology, port: u16) -> String {
    let mut line = format!("valkey-cli -p {port}");
    if topology.kind == Kind::Cluster {
        line.push_str(" -c");
    }
    if let Some(tls) = &topology.tls {
        let _ = write!(line, " --tls --cacert {}", tls.ca_cert.display());
        let mutual = tls.mode == TlsModeName::Mutual;
        if let (true, Some(cert), Some(key)) = (mutual, &tls.client_cert, &tls.client_key) {
            let _ = write!(line, " --cert {} --key {}", cert.display(), key.display());
        }
    }
    if topology.password.is_some() {
        line.push_str(" --askpass");
    }
    line
}
