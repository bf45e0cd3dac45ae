//! ValkeyTestFramework (`vtf`): integration tests against real `valkey-server`
//! processes, for the authors of Valkey modules in C, C++ and Rust.
//!
//! ```no_run
//! use vtf::{Config, Server};
//! # fn main() -> vtf::Result<()> {
//! let server = Server::start(&Config::new().arg("maxmemory", "1mb"))?;
//! let mut client = server.connect()?;
//! client.cmd(["SET", "key", "value"])?;
//! assert_eq!(client.cmd_str("GET key")?.as_bytes(), Some(&b"value"[..]));
//! # Ok(()) }
//! ```
//!
//! One module per concept: [`ports`] (cross-process port reservation),
//! [`auth`] (the credential every server requires), [`config`], [`env`]
//! (every `VTF_*` variable, one flag rule), [`external`]
//! (servers vtf did not start), [`engine`] (which engine and version a binary is),
//! [`server`], [`process`] (spawning without orphans, and a process's
//! state), [`workdir`] (a server's directory), [`client`], [`endpoint`] (what
//! a server hands a client to connect with), [`reply`], [`tls`], `group`
//! (starting and stopping a group's servers), [`replication`], [`cluster`],
//! [`build`] (servers built from source), [`diagnostics`] (log tails, crash
//! and sanitizer reports, waits that explain themselves), [`topology`] (the
//! JSON description of running servers that the `vtf` command prints), and
//! [`ffi`] (the C ABI mirror).
//!
//! The modules depend on each other one way only: `client` knows endpoints
//! and processes, not servers; `server` hands out endpoints; the groups
//! build on `server`.

pub mod auth;
pub mod build;
pub mod client;
pub mod cluster;
pub mod config;
pub mod diagnostics;
pub mod endpoint;
pub mod engine;
pub mod env;
pub mod error;
pub mod external;
pub mod ffi;
mod group;
pub mod ports;
pub mod process;
pub mod replication;
pub mod reply;
pub mod server;
pub mod tls;
pub mod topology;
pub mod workdir;

pub use client::Client;
pub use cluster::Cluster;
pub use config::{ClientTlsFiles, Config};
pub use endpoint::Endpoint;
pub use engine::Engine;
pub use error::{Error, ErrorKind, Result};
pub use replication::Replication;
pub use reply::Reply;
pub use server::Server;
pub use tls::TlsMode;
