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
