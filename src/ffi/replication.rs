//! `vtf_replication_*`: the C mirror of [`crate::replication::Replication`].
//! Nodes are lent out as `vtf_server` handles the group keeps (see `node`).

use std::time::Duration;

use super::node::{NodeHandles, NodeKey, ServerHandle};
use super::{check_out, free_box, handle, handle_mut, null, vtf_status, write_out};
use crate::config::Config;
use crate::error::Result;
use crate::replication::Replication;

/// A primary and its replicas (free with `vtf_replication_free`). Its nodes
/// are lent out as `vtf_server` handles, valid until the group is freed.
pub struct ReplicationHandle {
    group: Replication,
    nodes: NodeHandles,
}

impl ReplicationHandle {
    fn new(group: Replication) -> *mut ReplicationHandle {
        Box::into_raw(Box::new(ReplicationHandle {
            group,
            nodes: NodeHandles::default(),
        }))
    }
}

/// Lends the node `pick` chooses (by its address).
///
/// # Safety
/// `handle` must be NULL or a live group, not used by another thread meanwhile.
unsafe fn lend(
    handle: *mut ReplicationHandle,
    pick: impl FnOnce(&Replication) -> Result<NodeKey>,
) -> Result<*mut ServerHandle> {
    if handle.is_null() {
        return Err(null("group"));
    }
    // SAFETY: a live group (caller's contract); the node handles keep a pointer
    // to the group itself, which stays put inside the boxed handle until freed.
    let (group, nodes) = unsafe { (&raw mut (*handle).group, &mut (*handle).nodes) };
    // SAFETY: `group` was just derived from the live handle.
    let node = pick(unsafe { &*group })?;
    // SAFETY: `group` owns `nodes` and stays at its address.
    unsafe { nodes.lend(group, node) }
}

/// Starts a primary and `replicas` replicas from `config`; returns once every
/// replica has processed the primary's replication offset. Free with
/// `vtf_replication_free`.
///
/// # Safety
/// `config` must be NULL or a live config; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn vtf_replication_create(
    config: *const Config,
    replicas: usize,
    out: *mut *mut ReplicationHandle,
) -> vtf_status {
    export!({
        check_out(out, "out")?;
        // SAFETY: NULL or a live config (caller's contract).
        let config = unsafe { handle(config, "config") }?;
        let group = Replication::create(config, replicas)?;
        // SAFETY: checked non-NULL above; writable per the caller's contract.
        unsafe { write_out(out, ReplicationHandle::new(group)) };
        Ok(())
    })
}

/// Like `vtf_replication_create`, with a config of their own for the
/// replicas (also used by `vtf_replication_add_replica`).
///
/// # Safety
/// `primary` and `replica` must be NULL or live configs; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn vtf_replication_create_with(
    primary: *const Config,
    replica: *const Config,
    replicas: usize,
    out: *mut *mut ReplicationHandle,
) -> vtf_status {
    export!({
        check_out(out, "out")?;
        // SAFETY: NULL or live configs (caller's contract).
        let (primary, replica) =
            unsafe { (handle(primary, "primary")?, handle(replica, "replica")?) };
        let group = Replication::create_with(primary, replica, replicas)?;
        // SAFETY: checked non-NULL above; writable per the caller's contract.
        unsafe { write_out(out, ReplicationHandle::new(group)) };
        Ok(())
    })
}

/// The current primary, borrowed from the group (never free it); NULL for a
/// NULL group.
///
/// # Safety
/// `group` must be NULL or a live group.
#[no_mangle]
pub unsafe extern "C" fn vtf_replication_primary(
    group: *mut ReplicationHandle,
) -> *mut ServerHandle {
    export!({
        // SAFETY: NULL or a live group, not freed concurrently (caller's contract).
        unsafe { lend(group, |g| Ok(NodeKey::of(g.primary()))) }
    })
}

/// Replica `index`, borrowed from the group (never free it); NULL (and the
/// last error set) for a NULL group or an index out of range.
///
/// # Safety
/// `group` must be NULL or a live group.
#[no_mangle]
pub unsafe extern "C" fn vtf_replication_replica(
    group: *mut ReplicationHandle,
    index: usize,
) -> *mut ServerHandle {
    export!({
        // SAFETY: NULL or a live group, not freed concurrently (caller's contract).
        unsafe { lend(group, |g| Ok(NodeKey::of(g.replica(index)?))) }
    })
}

/// The number of replicas (0 for a NULL group).
///
/// # Safety
/// `group` must be NULL or a live group.
#[no_mangle]
pub unsafe extern "C" fn vtf_replication_replica_count(group: *const ReplicationHandle) -> usize {
    export!({
        // SAFETY: NULL or a live group (caller's contract).
        Ok(unsafe { handle(group, "group") }?.group.replica_count())
    })
}

/// Waits until every running replica has processed the primary's
/// replication offset as it was at the call; VTF_ERR_TIMEOUT names the
/// lagging replica, both offsets and its log.
///
/// # Safety
/// `group` must be NULL or a live group.
#[no_mangle]
pub unsafe extern "C" fn vtf_replication_wait_sync(
    group: *mut ReplicationHandle,
    timeout_ms: u32,
) -> vtf_status {
    export!({
        // SAFETY: NULL or a live group (caller's contract).
        let group = &unsafe { handle(group, "group") }?.group;
        group.wait_sync(Duration::from_millis(timeout_ms.into()))
    })
}

/// Makes replica `replica_index` the primary (the old primary takes its
/// index as a replica) and waits until the group is in sync again.
///
/// # Safety
/// `group` must be NULL or a live group, not used by another thread meanwhile.
#[no_mangle]
pub unsafe extern "C" fn vtf_replication_promote(
    group: *mut ReplicationHandle,
    replica_index: usize,
) -> vtf_status {
    export!({
        // SAFETY: NULL or a live, unshared group (caller's contract).
        let group = &mut unsafe { handle_mut(group, "group") }?.group;
        group.promote(replica_index)
    })
}

/// Starts one more replica (from the replica config) and writes its index
/// once it is in sync.
///
/// # Safety
/// `group` must be NULL or a live group, not used by another thread
/// meanwhile; `index_out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn vtf_replication_add_replica(
    group: *mut ReplicationHandle,
    index_out: *mut usize,
) -> vtf_status {
    export!({
        check_out(index_out, "index_out")?;
        // SAFETY: NULL or a live, unshared group (caller's contract).
        let group = &mut unsafe { handle_mut(group, "group") }?.group;
        let index = group.add_replica()?;
        // SAFETY: checked non-NULL above; writable per the caller's contract.
        unsafe { write_out(index_out, index) };
        Ok(())
    })
}

/// Stops every node and removes their directories (kept with
/// VTF_KEEP_DATA=1); NULL is allowed. Pointers to its nodes die with it.
///
/// # Safety
/// `group` must be NULL or a group from this library, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn vtf_replication_free(group: *mut ReplicationHandle) {
    // SAFETY: made by Box::into_raw in vtf_replication_create* (caller's contract).
    export!({ unsafe { free_box(group) } })
}
