//! A server's own directory: created fresh under env `VTF_TMPDIR` (or the
//! system temp dir), holding its log, TLS files and data; cleared of data on
//! a restart without data, removed when the server goes.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// The server's log (stdout and stderr) inside its directory.
pub const LOG_FILE: &str = "server.log";
/// The generated TLS files inside its directory.
pub const TLS_DIR: &str = "tls";

/// A fresh directory under env `VTF_TMPDIR` or the system temp dir.
pub(crate) fn create_server_dir() -> Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let base = crate::env::tmpdir()
        .map(|dir| absolute(&dir))
        .unwrap_or_else(std::env::temp_dir);
    fs::create_dir_all(&base).map_err(|e| Error::io(format!("creating {}", base.display()), e))?;
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("vtf-{}-{n}", std::process::id()));
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            // Left by an earlier process with our (recycled) pid: take the next name.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(format!("creating {}", dir.display()), e)),
        }
    }
}

/// Removes everything in `dir` but the log and the TLS files.
pub(crate) fn clear_data(dir: &Path) -> Result<()> {
    let entries =
        fs::read_dir(dir).map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name == LOG_FILE || name == TLS_DIR {
            continue;
        }
        let path = entry.path();
        let removed = if path.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        removed.map_err(|e| Error::io(format!("removing {}", path.display()), e))?;
    }
    Ok(())
}

/// `path` made absolute against the working directory (the server runs in
/// its own directory, so relative paths given by a test mean the test's).
pub(crate) fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
