//! The servers of a group (a replication group, a cluster), started and
//! stopped together: concurrently, as each start or stop is mostly waiting
//! on its own process.

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::server::Server;

/// Starts `count` servers from `config` concurrently. On a failure the ones that started are stopped and the first error
/// names `what` and its index.
pub(crate) fn start_nodes(config: &Config, count: usize, what: &str) -> Result<Vec<Server>> {
    let results: Vec<Result<Server>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..count)
            .map(|_| scope.spawn(|| Server::spawn(config)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(Error::new(
                        ErrorKind::Panic,
                        format!("a thread starting a {what} panicked"),
                    ))
                })
            })
            .collect()
    });
    let mut nodes = Vec::with_capacity(count);
    let mut first_error = None;
    for (index, result) in results.into_iter().enumerate() {
        match result {
            Ok(server) => nodes.push(server),
            Err(e) if first_error.is_none() => {
                first_error = Some(e.context(format!("starting {what} {index} of {count}")))
            }
            Err(_) => {}
        }
    }
    match first_error {
        // Dropping `nodes` stops the ones that started.
        Some(e) => Err(e),
        None => Ok(nodes),
    }
}

/// Stops every node concurrently (a node that will not stop is killed); their
/// directories go when the nodes are dropped.
///
/// No order is needed: a stop is `SHUTDOWN NOSAVE NOW`, with which a primary
/// does not wait for its replicas (and Redis before 7, which lacks NOW, never
/// waits for them either), and a replica whose primary is gone just retries
/// its link until it is stopped too.
pub(crate) fn stop_all<'a>(nodes: impl IntoIterator<Item = &'a mut Server>) {
    std::thread::scope(|scope| {
        for node in nodes.into_iter().filter(|n| !n.is_external()) {
            scope.spawn(move || {
                if node.stop().is_err() {
                    node.kill_now();
                }
            });
        }
    });
}

/// A faster cron (`hz` 100, the default is 10) while a group forms, then the
/// nodes' own hz back. A primary sees that a full sync's fork has ended only
/// on a cron tick: a second replica that asked for a sync during the first
/// one waits for that tick before its own fork starts, and a replica's first
/// ACK that came before it is lost (see replication.rs). Cluster forming
/// waits on ticks too. Measured: a primary with two replicas formed in 27 or
/// 120 ms, depending on that race; a 2x2 cluster in 567 ms, 487-564 with it.
/// The raise is a start argument: CONFIG SET hz takes effect only after the
/// tick already scheduled, up to 100 ms later.
pub(crate) struct QuickCron {
    /// What hz goes back to: the user's, or the default.
    hz: String,
}

impl QuickCron {
    const HZ: &'static str = "100";
    const DEFAULT_HZ: &'static str = "10";

    /// None with a config file, whose own hz is not known here.
    pub(crate) fn plan(config: &Config) -> Option<QuickCron> {
        if config.config_file.is_some() {
            return None;
        }
        let hz = config.get_arg("hz").unwrap_or(Self::DEFAULT_HZ).to_string();
        Some(QuickCron { hz })
    }

    /// The config to start the nodes with: `config` with the raise, if planned.
    pub(crate) fn raise(plan: &Option<QuickCron>, config: &Config) -> Config {
        match plan {
            Some(_) => config.clone().set_arg("hz", Self::HZ),
            None => config.clone(),
        }
    }

    /// Puts each node's hz back, and `config` (without the raise) as the one
    /// its restarts use.
    pub(crate) fn end<'a>(
        self,
        nodes: impl IntoIterator<Item = &'a mut Server>,
        config: &Config,
    ) -> Result<()> {
        for node in nodes {
            node.set_config(config.clone());
            let reply = node.connect()?.cmd(["CONFIG", "SET", "hz", &self.hz])?;
            if let Some(err) = reply.error() {
                return Err(Error::invalid(format!(
                    "CONFIG SET hz {} on {} failed, restoring its hz: {err}",
                    self.hz,
                    node.describe()
                )));
            }
        }
        Ok(())
    }
}
