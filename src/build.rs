//! Building valkey-server from source, cached (being written: see issue 6).

use std::path::PathBuf;

use crate::error::{Error, ErrorKind, Result};

/// The cached `valkey-server` built from the ref `version` of the repository
/// named by env `VTF_VALKEY_REPO` (default: the Valkey project's), building it
/// when it is not cached yet.
pub fn server_for_version(version: &str) -> Result<PathBuf> {
    Err(Error::new(
        ErrorKind::Build,
        format!("building Valkey {version} from source is not implemented yet"),
    ))
}
