//! Redis 7 for the tests that check vtf against the other engine.

use std::path::PathBuf;

/// `redis-server` on PATH; `None` (and a loud SKIPPED line naming `test`) where
/// it is not installed.
pub fn redis_server(test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("redis-server"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        eprintln!("SKIPPED {test}: redis-server is not installed, nothing to check against Redis");
    }
    found
}
