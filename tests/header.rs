//! The committed C header (include/vtf.h) must be exactly what cbindgen makes
//! of the current Rust sources with cbindgen.toml.
//!
//! `VTF_BLESS=1 cargo test --test header` (or scripts/gen-header.sh) rewrites
//! the header instead of comparing.

use std::path::Path;

const REGENERATE: &str = "scripts/gen-header.sh   (or: VTF_BLESS=1 cargo test --test header)";

fn generate(root: &Path) -> String {
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml"))
        .unwrap_or_else(|e| panic!("reading {}: {e}", root.join("cbindgen.toml").display()));
    // with_src follows the `mod` tree from lib.rs without running `cargo
    // metadata`, so the result depends on the sources and the config only.
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src").join("lib.rs"))
        .generate()
        .unwrap_or_else(|e| panic!("cbindgen failed on src/lib.rs: {e}"));
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("cbindgen wrote UTF-8")
}

/// The first line where the two texts differ, for a readable failure.
fn first_difference(committed: &str, fresh: &str) -> String {
    let mut committed_lines = committed.lines();
    let mut fresh_lines = fresh.lines();
    for number in 1.. {
        match (committed_lines.next(), fresh_lines.next()) {
            (Some(a), Some(b)) if a == b => continue,
            (None, None) => break,
            (a, b) => {
                return format!(
                    "line {number}:\n  committed: {}\n  generated: {}",
                    a.unwrap_or("<end of file>"),
                    b.unwrap_or("<end of file>")
                )
            }
        }
    }
    "the texts differ only in line endings or a trailing newline".to_string()
}

#[test]
fn committed_header_matches_the_rust_sources() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = root.join("include").join("vtf.h");
    let fresh = generate(root);

    // Generation must not depend on anything but the inputs.
    assert_eq!(
        fresh,
        generate(root),
        "cbindgen output is not deterministic"
    );

    if std::env::var_os("VTF_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).expect("creating include/");
        std::fs::write(&path, &fresh).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        eprintln!("wrote {}", path.display());
        return;
    }

    let committed = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => panic!(
            "{} cannot be read ({e}); generate it with {REGENERATE}",
            path.display()
        ),
    };
    if committed != fresh {
        panic!(
            "{} is out of date with the Rust sources; first difference at {}\nregenerate it with {REGENERATE} and commit it",
            path.display(),
            first_difference(&committed, &fresh)
        );
    }
}
