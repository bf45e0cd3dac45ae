//! Valkey's own test module `datatype`, compiled for the tests that load it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Valkey's own test module `datatype` (a module type with RDB save/load),
/// compiled once per test process against the fetched Valkey source.
pub fn datatype_module() -> PathBuf {
    static MODULE: OnceLock<PathBuf> = OnceLock::new();
    MODULE
        .get_or_init(|| {
            let base = std::env::var_os("VTF_SOURCE_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/valkey-src"));
            let src = base.join("valkey");
            let source = src.join("tests/modules/datatype.c");
            assert!(
                source.is_file(),
                "{} is missing: run scripts/fetch-valkey-source.sh (or set VTF_SOURCE_DIR \
                 to the directory that holds valkey/)",
                source.display()
            );
            let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("datatype-{}.so", std::process::id()));
            let status = Command::new("cc")
                .args(["-shared", "-fPIC", "-std=gnu11", "-O1", "-w", "-I"])
                .arg(src.join("src"))
                .arg("-o")
                .arg(&out)
                .arg(&source)
                .status()
                .expect("running cc");
            assert!(status.success(), "compiling {} failed", source.display());
            out
        })
        .clone()
}
