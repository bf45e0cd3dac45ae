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
//! [`config`], [`server`], [`process`] (spawning without orphans), [`client`],
//! [`reply`], [`tls`], [`replication`], [`cluster`], [`build`] (servers built
//! from source), [`diagnostics`], [`topology`] (the JSON description of running
//! servers that the `vtf` command prints), and [`ffi`] (the C ABI mirror).

pub mod build;
pub mod client;
pub mod cluster;
pub mod config;
pub mod diagnostics;
pub mod error;
pub mod ffi;
pub mod ports;
pub mod process;
pub mod replication;
pub mod reply;
pub mod server;
pub mod tls;
pub mod topology;

pub use client::Client;
pub use cluster::Cluster;
pub use config::{Config, TlsMode};
pub use error::{Error, ErrorKind, Result};
pub use replication::Replication;
pub use reply::Reply;
pub use server::Server;
