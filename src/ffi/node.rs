//! The C handle of a server (`vtf_server`): an owned [`Server`] or a node
//! borrowed from a replication group or cluster, with the C strings it lends.
//!
//! After wasmtime's C handles (a wrapper around the Rust value) and
//! rustls-ffi's borrowed objects: the core types know nothing of C. A
//! borrowed handle names its node by address (a server keeps its host and
//! port for its whole life, restarts included; the host tells apart external
//! nodes on one port) and finds it in the group on every call,
//! so it stays right when the group reorders or grows its nodes (promote,
//! add_replica, failover, adding shards) and fails cleanly, instead of
//! dangling, for a node the group no longer has.

use std::ffi::{c_char, CString};
use std::path::Path;
use std::ptr::{self, NonNull};

use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::replication::Replication;
use crate::server::Server;

/// A running (or stopped) server: one from `vtf_server_start` (free it with
/// `vtf_server_free`) or a node borrowed from a replication group or cluster
/// (valid until the group is freed; never free it).
pub struct ServerHandle {
    target: Target,
    strings: CStrings,
}

// Every handle is on the heap already and a group lends a handful: the size
// of a borrowed one does not matter.
#[allow(clippy::large_enum_variant)]
enum Target {
    Owned(Server),
    /// A node of the group at `group`, which outlives this handle (the group
    /// handle owns it).
    Borrowed {
        group: *mut dyn NodeGroup,
        node: NodeKey,
    },
}

/// How a group's node is named: its address.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct NodeKey {
    host: String,
    port: u16,
}

impl NodeKey {
    pub(crate) fn of(server: &Server) -> NodeKey {
        NodeKey {
            host: server.host().to_string(),
            port: server.port(),
        }
    }

    fn is(&self, server: &Server) -> bool {
        server.port() == self.port && server.host() == self.host
    }
}

/// NUL-terminated copies of the strings the C API lends out; a server's
/// paths never change, so they are made once.
struct CStrings {
    host: CString,
    dir: CString,
    log_path: CString,
    ca_cert: Option<CString>,
    client_cert: Option<CString>,
    client_key: Option<CString>,
}

impl CStrings {
    fn of(server: &Server) -> CStrings {
        let c = |p: &Path| CString::new(p.as_os_str().as_encoded_bytes()).unwrap_or_default();
        let tls = server.tls_files();
        CStrings {
            host: CString::new(server.host()).unwrap_or_default(),
            dir: c(server.dir()),
            log_path: c(server.log_path()),
            ca_cert: tls.map(|f| c(&f.ca_cert)),
            client_cert: tls.map(|f| c(&f.client_cert)),
            client_key: tls.map(|f| c(&f.client_key)),
        }
    }
}

/// Which of its strings a handle lends.
#[derive(Clone, Copy)]
pub(crate) enum Lent {
    Host,
    Dir,
    LogPath,
    CaCert,
    ClientCert,
    ClientKey,
}

impl ServerHandle {
    pub(crate) fn owned(server: Server) -> ServerHandle {
        ServerHandle {
            strings: CStrings::of(&server),
            target: Target::Owned(server),
        }
    }

    pub(crate) fn is_borrowed(&self) -> bool {
        matches!(self.target, Target::Borrowed { .. })
    }

    /// The server behind the handle.
    pub(crate) fn server(&self) -> Result<&Server> {
        match &self.target {
            Target::Owned(server) => Ok(server),
            Target::Borrowed { group, node } => {
                // SAFETY: the group outlives its node handles (it frees them), and
                // C uses a group and its nodes from one thread at a time.
                let group = unsafe { &**group };
                group.node_on(node).ok_or_else(|| gone(node))
            }
        }
    }

    /// The server behind the handle, to stop or restart it.
    pub(crate) fn server_mut(&mut self) -> Result<&mut Server> {
        match &mut self.target {
            Target::Owned(server) => Ok(server),
            Target::Borrowed { group, node } => {
                // SAFETY: as in `server`; the caller promises no other use meanwhile.
                let group = unsafe { &mut **group };
                group.node_on_mut(node).ok_or_else(|| gone(node))
            }
        }
    }

    /// A string borrowed from the handle (valid while it lives); NULL for a
    /// TLS path of a server without TLS.
    pub(crate) fn lend(&self, which: Lent) -> *const c_char {
        let s = &self.strings;
        let text = match which {
            Lent::Host => Some(&s.host),
            Lent::Dir => Some(&s.dir),
            Lent::LogPath => Some(&s.log_path),
            Lent::CaCert => s.ca_cert.as_ref(),
            Lent::ClientCert => s.client_cert.as_ref(),
            Lent::ClientKey => s.client_key.as_ref(),
        };
        text.map_or(ptr::null(), |t| t.as_ptr())
    }
}

fn gone(node: &NodeKey) -> Error {
    Error::invalid(format!(
        "the node {}:{} is no longer part of its group",
        node.host, node.port
    ))
}

/// A group whose nodes C may borrow: finds a node by its address.
pub(crate) trait NodeGroup {
    fn node_on(&self, node: &NodeKey) -> Option<&Server>;
    fn node_on_mut(&mut self, node: &NodeKey) -> Option<&mut Server>;
}

impl NodeGroup for Replication {
    fn node_on(&self, node: &NodeKey) -> Option<&Server> {
        std::iter::once(self.primary())
            .chain(self.replicas())
            .find(|s| node.is(s))
    }

    fn node_on_mut(&mut self, node: &NodeKey) -> Option<&mut Server> {
        if node.is(self.primary()) {
            return Some(self.primary_mut());
        }
        let index = self.replicas().position(|s| node.is(s))?;
        self.replica_mut(index).ok()
    }
}

impl NodeGroup for Cluster {
    fn node_on(&self, node: &NodeKey) -> Option<&Server> {
        self.nodes().find(|s| node.is(s))
    }

    fn node_on_mut(&mut self, node: &NodeKey) -> Option<&mut Server> {
        // Indices, not positions: a removed shard leaves its indices vacant.
        let index = self
            .node_indices()
            .into_iter()
            .find(|&i| self.node(i).is_some_and(|s| node.is(s)))?;
        self.node_mut(index)
    }
}

/// The node handles a group has lent out, one per node, made on first use
/// and freed with the group; each stays at its address however the group
/// changes, so pointers C holds stay valid for the group's lifetime.
#[derive(Default)]
pub(crate) struct NodeHandles(Vec<NonNull<ServerHandle>>);

impl NodeHandles {
    /// The handle of `group`'s node `node`, made now if it is the first
    /// time this node is lent.
    ///
    /// # Safety
    /// `group` must point to the group that owns `self` (so it outlives the
    /// handles) and stay at that address.
    pub(crate) unsafe fn lend<G: NodeGroup + 'static>(
        &mut self,
        group: *mut G,
        node: NodeKey,
    ) -> Result<*mut ServerHandle> {
        for handle in &self.0 {
            // SAFETY: every pointer in the list is a live handle we made.
            if let Target::Borrowed { node: lent, .. } = unsafe { &handle.as_ref().target } {
                if *lent == node {
                    return Ok(handle.as_ptr());
                }
            }
        }
        // SAFETY: `group` is live (the caller's contract).
        let server = unsafe { &*group }
            .node_on(&node)
            .ok_or_else(|| gone(&node))?;
        let handle = Box::new(ServerHandle {
            strings: CStrings::of(server),
            target: Target::Borrowed {
                group: group as *mut dyn NodeGroup,
                node,
            },
        });
        let handle = NonNull::from(Box::leak(handle));
        self.0.push(handle);
        Ok(handle.as_ptr())
    }
}

impl Drop for NodeHandles {
    fn drop(&mut self) {
        for handle in self.0.drain(..) {
            // SAFETY: made by Box::leak in `lend`, freed only here.
            drop(unsafe { Box::from_raw(handle.as_ptr()) });
        }
    }
}
