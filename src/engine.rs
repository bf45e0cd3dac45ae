//! Which engine a server binary is (Valkey or Redis, and its version), read
//! from its `--version` output once per binary and process.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

use crate::error::{Error, ErrorKind, Result};
use crate::process::lock;

/// Which engine a binary is, from its `--version` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engine {
    /// "valkey" or "redis".
    pub name: String,
    pub version: (u32, u32, u32),
}

impl Engine {
    pub fn is_valkey(&self) -> bool {
        self.name == "valkey"
    }

    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.version.0, self.version.1) >= (major, minor)
    }

    /// Runs `binary --version` once per binary and process.
    pub fn detect(binary: &Path) -> Result<Engine> {
        static CACHE: OnceLock<Mutex<HashMap<PathBuf, Engine>>> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        if let Some(engine) = lock(cache).get(binary) {
            return Ok(engine.clone());
        }
        let output = Command::new(binary)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                Error::new(
                    ErrorKind::Spawn,
                    format!("running {} --version: {e}", binary.display()),
                )
            })?;
        let text = String::from_utf8_lossy(&output.stdout).to_string();
        let engine = Engine::parse(&text).ok_or_else(|| {
            Error::new(
                ErrorKind::Spawn,
                format!(
                    "{} --version printed {:?}, which is not a valkey-server or redis-server version",
                    binary.display(),
                    text.trim()
                ),
            )
        })?;
        lock(cache).insert(binary.to_path_buf(), engine.clone());
        Ok(engine)
    }

    /// Parses "Valkey server v=8.0.1 sha=..." or "Redis server v=7.0.15 ...".
    pub fn parse(text: &str) -> Option<Engine> {
        let name = text.split_whitespace().next()?.to_ascii_lowercase();
        if name != "valkey" && name != "redis" {
            return None;
        }
        let version = text.split_whitespace().find_map(|w| w.strip_prefix("v="))?;
        let mut parts = version.split('.').map(|p| {
            p.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse::<u32>()
                .unwrap_or(0)
        });
        let version = (
            parts.next()?,
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
        );
        Some(Engine { name, version })
    }

    /// Whether `SHUTDOWN ... NOW` is understood (Valkey, Redis >= 7).
    pub(crate) fn has_shutdown_now(&self) -> bool {
        self.is_valkey() || self.version.0 >= 7
    }
}
