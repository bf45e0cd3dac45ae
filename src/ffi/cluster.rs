//! `vtf_cluster_*`: the C mirror of [`crate::cluster::Cluster`].

use std::time::Duration;

use super::node::{NodeHandles, NodeKey, ServerHandle};
use super::{check_out, handle, null, vtf_status, write_out};
use crate::client::Client;
use crate::cluster::Cluster;
use crate::config::Config;
use crate::error::Error;

/// A running cluster (free with `vtf_cluster_free`). Its nodes are lent out
/// as `vtf_server` handles, valid until the cluster is freed.
pub struct ClusterHandle {
    cluster: Cluster,
    nodes: NodeHandles,
}

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
    out: *mut *mut ClusterHandle,
) -> vtf_status {
    export!({
        check_out(out, "out")?;
        // SAFETY: `config` is NULL or a live config (caller's contract).
        let config = unsafe { handle(config, "config") }?;
        let cluster = Cluster::start(config, shards, replicas_per_shard)?;
        // SAFETY: `out` was checked non-NULL and is writable (caller's contract).
        let handle = ClusterHandle {
            cluster,
            nodes: NodeHandles::default(),
        };
        unsafe { write_out(out, Box::into_raw(Box::new(handle))) };
        Ok(())
    })
}

/// The number of nodes (0 for NULL).
///
/// # Safety
/// `cluster` must be NULL or a live cluster.
#[no_mangle]
pub unsafe extern "C" fn vtf_cluster_node_count(cluster: *const ClusterHandle) -> usize {
    export!({
        // SAFETY: `cluster` is NULL or a live cluster (caller's contract).
        Ok(unsafe { handle(cluster, "cluster") }?.cluster.node_count())
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
pub unsafe extern "C" fn vtf_cluster_node(
    cluster: *mut ClusterHandle,
    index: usize,
) -> *mut ServerHandle {
    export!({
        if cluster.is_null() {
            return Err(null("cluster"));
        }
        // SAFETY: a live cluster, not used elsewhere meanwhile (caller's contract);
        // the node handles keep a pointer to the cluster itself, which stays put
        // inside the boxed handle until it is freed.
        let (group, nodes) = unsafe { (&raw mut (*cluster).cluster, &mut (*cluster).nodes) };
        // SAFETY: `group` was just derived from the live handle.
        let group_ref = unsafe { &*group };
        let node = group_ref.node(index).map(NodeKey::of).ok_or_else(|| {
            Error::invalid(format!(
                "node index {index} is out of range: the cluster has {} nodes",
                group_ref.node_count()
            ))
        })?;
        // SAFETY: `group` owns `nodes` and stays at its address.
        unsafe { nodes.lend(group, node) }
    })
}

/// A client that routes each command by its key's slot and follows
/// MOVED / ASK. Free with `vtf_client_free`.
///
/// # Safety
/// `cluster` must be NULL or a live cluster; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn vtf_cluster_connect(
    cluster: *mut ClusterHandle,
    out: *mut *mut Client,
) -> vtf_status {
    export!({
        check_out(out, "out")?;
        // SAFETY: `cluster` is NULL or a live cluster (caller's contract).
        let client = unsafe { handle(cluster, "cluster") }?.cluster.connect()?;
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
pub unsafe extern "C" fn vtf_cluster_wait_ok(
    cluster: *mut ClusterHandle,
    timeout_ms: u32,
) -> vtf_status {
    export!({
        // SAFETY: `cluster` is NULL or a live cluster (caller's contract).
        let cluster = &unsafe { handle(cluster, "cluster") }?.cluster;
        cluster.wait_ok(Duration::from_millis(u64::from(timeout_ms)))
    })
}

/// Promotes shard `shard`'s first running replica (CLUSTER FAILOVER) and
/// waits until every node sees it as the primary. Nodes keep their indices.
///
/// # Safety
/// `cluster` must be NULL or a live cluster.
#[no_mangle]
pub unsafe extern "C" fn vtf_cluster_failover(
    cluster: *mut ClusterHandle,
    shard: usize,
) -> vtf_status {
    export!({
        // SAFETY: `cluster` is NULL or a live cluster (caller's contract).
        let cluster = &unsafe { handle(cluster, "cluster") }?.cluster;
        cluster.failover(shard)
    })
}

/// Stops every node and removes their directories; NULL is allowed.
///
/// # Safety
/// `cluster` must be NULL or a cluster from `vtf_cluster_create`, not used
/// afterwards (nor the node pointers borrowed from it).
#[no_mangle]
pub unsafe extern "C" fn vtf_cluster_free(cluster: *mut ClusterHandle) {
    export!({
        if !cluster.is_null() {
            // SAFETY: created by Box::into_raw in vtf_cluster_create (caller's contract).
            drop(unsafe { Box::from_raw(cluster) });
        }
        Ok(())
    })
}

/// Attaches to the cluster of the node at `host:port` (any node; the others
/// are found with CLUSTER NODES), with the config's password and TLS files
/// (an empty config: plain TCP). Nodes are laid out as a created cluster's:
/// primaries in slot order, then each shard's replicas. Freeing it closes
/// connections only.
///
/// # Safety
/// `config` must be NULL or a live config; `host` NULL or a C string; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn vtf_cluster_attach(
    config: *const Config,
    host: *const std::ffi::c_char,
    port: u16,
    out: *mut *mut ClusterHandle,
) -> vtf_status {
    export!({
        check_out(out, "out")?;
        // SAFETY: caller's contract.
        let host = unsafe { super::str_arg(host, "host") }?;
        // SAFETY: caller's contract.
        let config = unsafe { handle(config, "config") }?;
        let handle = ClusterHandle {
            cluster: Cluster::attach(config, host, port)?,
            nodes: NodeHandles::default(),
        };
        // SAFETY: `out` was checked non-NULL and is writable (caller's contract).
        unsafe { write_out(out, Box::into_raw(Box::new(handle))) };
        Ok(())
    })
}
