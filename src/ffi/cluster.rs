//! `vtf_cluster_*`: the C mirror of [`crate::cluster::Cluster`].

use std::ptr;
use std::time::Duration;

use super::{check_out, guard, guard_value, handle, handle_mut, vtf_status, write_out};
use crate::client::Client;
use crate::cluster::Cluster;
use crate::config::Config;
use crate::server::Server;

/// Starts a cluster of `shards` primaries with `replicas_per_shard` replicas
/// each and returns once every node reports `cluster_state:ok`, all agree on
/// slots and roles, and every replica is in sync. Free with `vtf_cluster_free`.
///
/// # Safety
/// `config` must be NULL or a live config; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn vtf_cluster_create(
    config: *const Config,
    shards: usize,
    replicas_per_shard: usize,
    out: *mut *mut Cluster,
) -> vtf_status {
    guard("vtf_cluster_create", || {
        check_out(out, "out")?;
        // SAFETY: `config` is NULL or a live config (caller's contract).
        let config = unsafe { handle(config, "config") }?;
        let cluster = Cluster::start(config, shards, replicas_per_shard)?;
        // SAFETY: `out` was checked non-NULL and is writable (caller's contract).
        unsafe { write_out(out, Box::into_raw(Box::new(cluster))) };
        Ok(())
    })
}

/// The number of nodes (0 for NULL).
///
/// # Safety
/// `cluster` must be NULL or a live cluster.
#[no_mangle]
pub unsafe extern "C" fn vtf_cluster_node_count(cluster: *const Cluster) -> usize {
    guard_value("vtf_cluster_node_count", 0, || {
        // SAFETY: `cluster` is NULL or a live cluster (caller's contract).
        Ok(unsafe { handle(cluster, "cluster") }?.node_count())
    })
}

/// Node `index`: primaries first (shard order), then replica j of shard s at
/// `shards + s * replicas_per_shard + j`. Borrowed from the cluster: it may be
/// stopped and restarted, never freed. NULL (and the last error) for a NULL
/// cluster or an index out of range.
///
/// # Safety
/// `cluster` must be NULL or a live cluster.
#[no_mangle]
pub unsafe extern "C" fn vtf_cluster_node(cluster: *mut Cluster, index: usize) -> *mut Server {
    guard_value("vtf_cluster_node", ptr::null_mut(), || {
        // SAFETY: `cluster` is NULL or a live cluster (caller's contract).
        let cluster = unsafe { handle_mut(cluster, "cluster") }?;
        let count = cluster.node_count();
        let node = cluster.node_mut(index).ok_or_else(|| {
            crate::error::Error::invalid(format!(
                "node index {index} is out of range: the cluster has {count} nodes"
            ))
        })?;
        // The node is boxed inside the cluster, so the pointer stays valid
        // until the cluster is freed.
        Ok(node as *mut Server)
    })
}

/// A client that routes each command by its key's slot and follows
/// MOVED / ASK. Free with `vtf_client_free`.
///
/// # Safety
/// `cluster` must be NULL or a live cluster; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn vtf_cluster_connect(
    cluster: *mut Cluster,
    out: *mut *mut Client,
) -> vtf_status {
    guard("vtf_cluster_connect", || {
        check_out(out, "out")?;
        // SAFETY: `cluster` is NULL or a live cluster (caller's contract).
        let client = unsafe { handle(cluster, "cluster") }?.connect()?;
        // SAFETY: `out` was checked non-NULL and is writable (caller's contract).
        unsafe { write_out(out, Box::into_raw(Box::new(client))) };
        Ok(())
    })
}

/// Waits up to `timeout_ms` until the running nodes agree again (state ok,
/// all nodes known, same slots and roles, replicas in sync).
///
/// # Safety
/// `cluster` must be NULL or a live cluster.
#[no_mangle]
pub unsafe extern "C" fn vtf_cluster_wait_ok(cluster: *mut Cluster, timeout_ms: u32) -> vtf_status {
    guard("vtf_cluster_wait_ok", || {
        // SAFETY: `cluster` is NULL or a live cluster (caller's contract).
        let cluster = unsafe { handle(cluster, "cluster") }?;
        cluster.wait_ok(Duration::from_millis(u64::from(timeout_ms)))
    })
}

/// Promotes shard `shard`'s first running replica (CLUSTER FAILOVER) and
/// waits until every node sees it as the primary. Nodes keep their indices.
///
/// # Safety
/// `cluster` must be NULL or a live cluster.
#[no_mangle]
pub unsafe extern "C" fn vtf_cluster_failover(cluster: *mut Cluster, shard: usize) -> vtf_status {
    guard("vtf_cluster_failover", || {
        // SAFETY: `cluster` is NULL or a live cluster (caller's contract).
        let cluster = unsafe { handle(cluster, "cluster") }?;
        cluster.failover(shard)
    })
}

/// Stops every node and removes their directories; NULL is allowed.
///
/// # Safety
/// `cluster` must be NULL or a cluster from `vtf_cluster_create`, not used
/// afterwards (nor the node pointers borrowed from it).
#[no_mangle]
pub unsafe extern "C" fn vtf_cluster_free(cluster: *mut Cluster) {
    guard_value("vtf_cluster_free", (), || {
        if !cluster.is_null() {
            // SAFETY: created by Box::into_raw in vtf_cluster_create (caller's contract).
            drop(unsafe { Box::from_raw(cluster) });
        }
        Ok(())
    })
}
