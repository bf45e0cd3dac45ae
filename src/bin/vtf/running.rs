//! The topology the command line started: one server, a replication group
//! or a cluster, held until vtf tears it down (by dropping it).

use std::time::Instant;

use vtf::topology::Topology;
use vtf::{Cluster, Config, Replication, Server};

/// What to start.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    Server,
    Replication { replicas: usize },
    Cluster { shards: usize, replicas: usize },
}

impl Shape {
    pub fn describe(self, config: &Config) -> String {
        let tls = if config.tls_mode().is_on() {
            "TLS "
        } else {
            ""
        };
        match self {
            Shape::Server => format!("a {tls}server"),
            Shape::Replication { replicas } => {
                format!("a {tls}primary with {}", plural(replicas, "replica"))
            }
            Shape::Cluster { shards, replicas } => format!(
                "a {tls}cluster of {} x {} ({})",
                plural(shards, "shard"),
                plural(replicas, "replica"),
                plural(shards * (1 + replicas), "node")
            ),
        }
    }
}

pub fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

pub enum Running {
    Server(Box<Server>),
    Replication(Box<Replication>),
    Cluster(Box<Cluster>),
}

impl Running {
    /// Starts `shape`, saying so on stderr (a source build prints its own progress).
    pub fn start(shape: Shape, config: &Config) -> vtf::Result<Running> {
        let what = shape.describe(config);
        eprintln!("vtf: starting {what}");
        let started = Instant::now();
        let running = match shape {
            Shape::Server => Running::Server(Box::new(Server::start(config)?)),
            Shape::Replication { replicas } => {
                Running::Replication(Box::new(Replication::create(config, replicas)?))
            }
            Shape::Cluster { shards, replicas } => {
                Running::Cluster(Box::new(Cluster::start(config, shards, replicas)?))
            }
        };
        eprintln!(
            "vtf: {what} ready in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Ok(running)
    }

    pub fn topology(&self) -> Topology {
        match self {
            Running::Server(s) => Topology::of_server(s),
            Running::Replication(r) => Topology::of_replication(r),
            Running::Cluster(c) => Topology::of_cluster(c),
        }
    }

    /// Every node, in the order of [`Running::topology`].
    pub fn nodes(&self) -> Vec<&Server> {
        match self {
            Running::Server(s) => vec![&**s],
            Running::Replication(r) => std::iter::once(r.primary()).chain(r.replicas()).collect(),
            Running::Cluster(c) => c.nodes().collect(),
        }
    }

    /// The last `lines` of every node's log, each headed by the node.
    pub fn log_tails(&self, lines: usize) -> String {
        let mut text = String::new();
        for (i, node) in self.nodes().iter().enumerate() {
            text.push_str(&format!(
                "--- node {i} ({}), last {lines} lines of {}:\n",
                node.address(),
                node.log_path().display()
            ));
            match node.log_tail(lines) {
                Ok(tail) => text.push_str(&tail),
                Err(e) => text.push_str(&format!("(cannot read the log: {e})")),
            }
            if !text.ends_with('\n') {
                text.push('\n');
            }
        }
        text
    }
}
