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
    // The C enums are made by a macro, which cbindgen does not expand
    // (without nightly): the library writes them out as Rust source.
    let enums = std::env::temp_dir().join(format!("vtf-c-enums-{}.rs", std::process::id()));
    std::fs::write(&enums, vtf::ffi::c_enum::cbindgen_sources())
        .unwrap_or_else(|e| panic!("writing {}: {e}", enums.display()));
    // with_src follows the `mod` tree from lib.rs without running `cargo
    // metadata`, so the result depends on the sources and the config only.
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src").join("lib.rs"))
        .with_src(&enums)
        .generate()
        .unwrap_or_else(|e| panic!("cbindgen failed on src/lib.rs: {e}"));
    let _ = std::fs::remove_file(&enums);
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

/// Every export runs inside the boundary macro (`export!`, src/ffi/boundary.rs),
/// so none can let a panic into C or forget the last error.
#[test]
fn every_export_runs_inside_the_boundary() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src")
        .join("ffi");
    let mut exports = 0;
    let mut outside = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("reading src/ffi") {
        let path = entry.expect("listing src/ffi").path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("reading a source file");
        for (at, _) in text.match_indices("extern \"C\" fn ") {
            let line_start = text[..at].rfind('\n').map_or(0, |n| n + 1);
            if text[line_start..at].trim_start().starts_with("//") {
                continue; // an example in a comment
            }
            let rest = &text[at..];
            let name: String = rest["extern \"C\" fn ".len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            // The body starts at the first `{` after the signature; comments
            // (`// SAFETY: ...`) may come first.
            let body = rest.find('{').map_or("", |open| &rest[open + 1..]);
            let body: String = body
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            exports += 1;
            if !body.starts_with("export!(") {
                outside.push(format!("{} in {}", name, path.display()));
            }
        }
    }
    assert!(
        exports > 70,
        "found only {exports} exports under {}",
        dir.display()
    );
    assert!(
        outside.is_empty(),
        "exports not declared through export!: {outside:#?}"
    );
}
