//! `vtf_cluster_*`: the C mirror of [`crate::cluster::Cluster`].

use std::time::Duration;

use super::node::{NodeHandles, NodeKey, ServerHandle};
use super::{check_out, free_box, handle, handle_mut, null, vtf_status, write_out};
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
            let count = group_ref.node_count();
            Error::invalid(if index < count {
                format!("node index {index} is vacant: its shard was removed from the cluster")
            } else {
                format!("node index {index} is out of range: the cluster has {count} nodes")
            })
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
    // SAFETY: made by Box::into_raw in vtf_cluster_create (caller's contract).
    export!({ unsafe { free_box(cluster) } })
}

/// The number of shards in the cluster now: added ones counted, removed ones
/// not (0 for NULL). Shard numbers follow the order shards were made and are
/// never reused, so after a removal a number may be vacant.
///
/// # Safety
/// `cluster` must be NULL or a live cluster.
#[no_mangle]
pub unsafe extern "C" fn vtf_cluster_shard_count(cluster: *const ClusterHandle) -> usize {
    export!({
        // SAFETY: `cluster` is NULL or a live cluster (caller's contract).
        Ok(unsafe { handle(cluster, "cluster") }?.cluster.shard_count())
    })
}

/// Moves slots `first_slot..=last_slot` with their keys to shard `to_shard`
/// (SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE on every primary) and
/// waits until every node sees the new owner. Clients may write meanwhile.
///
/// # Safety
/// `cluster` must be NULL or a live cluster.
#[no_mangle]
pub unsafe extern "C" fn vtf_cluster_move_slots(
    cluster: *mut ClusterHandle,
    first_slot: u16,
    last_slot: u16,
    to_shard: usize,
) -> vtf_status {
    export!({
        // SAFETY: `cluster` is NULL or a live cluster (caller's contract).
        let cluster = &unsafe { handle(cluster, "cluster") }?.cluster;
        cluster.move_slots(first_slot, last_slot, to_shard)
    })
}

/// Starts and joins a new shard of one primary and `replicas` replicas (no
/// slots until some are moved to it); its nodes get the next indices, primary
/// first. Writes the new shard's number to `shard_out` on success.
///
/// # Safety
/// `cluster` must be NULL or a live cluster, not in use by another thread;
/// `shard_out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn vtf_cluster_add_shard(
    cluster: *mut ClusterHandle,
    replicas: usize,
    shard_out: *mut usize,
) -> vtf_status {
    export!({
        check_out(shard_out, "shard_out")?;
        // SAFETY: `cluster` is NULL or a live, unshared cluster (caller's contract).
        let cluster = &mut unsafe { handle_mut(cluster, "cluster") }?.cluster;
        let shard = cluster.add_shard(replicas)?;
        // SAFETY: `shard_out` was checked non-NULL and is writable (caller's contract).
        unsafe { write_out(shard_out, shard) };
        Ok(())
    })
}

/// Removes shard `shard`: its slots and keys move to the other shards first,
/// then its nodes are stopped and forgotten by every other node. Their
/// indices become vacant (`vtf_cluster_node` gives NULL for them, node
/// handles borrowed for them fail from then on); no other index changes.
///
/// # Safety
/// `cluster` must be NULL or a live cluster, not in use by another thread.
#[no_mangle]
pub unsafe extern "C" fn vtf_cluster_remove_shard(
    cluster: *mut ClusterHandle,
    shard: usize,
) -> vtf_status {
    export!({
        // SAFETY: `cluster` is NULL or a live, unshared cluster (caller's contract).
        let cluster = &mut unsafe { handle_mut(cluster, "cluster") }?.cluster;
        cluster.remove_shard(shard)
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
