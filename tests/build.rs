//! Builds real Valkey 8.1.1 from source (the local repository made by
//! scripts/fetch-valkey-source.sh) exactly once per run: two processes start
//! together on an empty cache of their own, one builds, the other waits for
//! it; every other test here reuses that cache entry. The result is then
//! copied into the shared cache (env `VTF_CACHE_DIR`, else target/vtf-cache)
//! so that later test binaries of the same run do not build again.
//!
//! A test that cannot get the source fails; none is skipped.

use std::env;
use std::ffi::{CStr, CString};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::ptr;
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use vtf::build::{self, BuildOptions};
use vtf::ffi::build as cbuild;
use vtf::ffi::vtf_status;
use vtf::ErrorKind;

const REF: &str = "8.1.1";
/// Set in a child process started by this binary: which API it calls.
const CHILD_ENV: &str = "VTF_BUILD_TEST_CHILD";
const CHILD_REPO_ENV: &str = "VTF_BUILD_TEST_REPO";
/// A cold build takes about 3 minutes on 2 cores; this is a hang guard.
const BUILD_DEADLINE: Duration = Duration::from_secs(30 * 60);

/// What the two-process build left for the other tests.
struct Shared {
    repo: PathBuf,
    cache: PathBuf,
    server: PathBuf,
    children: Vec<ChildRun>,
    cache_entries: Vec<String>,
    tmp_leftovers: Vec<String>,
}

struct ChildRun {
    mode: &'static str,
    path: Option<String>,
    stderr: String,
    seconds: f64,
    success: bool,
}

fn target_tmp() -> &'static Path {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
}

/// A directory of this run under target/tmp; earlier runs' ones are removed
/// by [`populate`].
fn run_dir(name: &str) -> PathBuf {
    target_tmp().join(format!("vtf-build-test-{name}-{}", std::process::id()))
}

/// The local Valkey repository; fails the test loudly when it cannot be had.
fn source_repo() -> &'static Path {
    static REPO: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let repo = REPO.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fetch-valkey-source.sh");
        let out = Command::new(&script)
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("running {}: {e}", script.display()))?;
        let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !out.status.success() || path.is_empty() || !Path::new(&path).join(".git").is_dir() {
            return Err(format!(
                "{} could not provide the Valkey source ({}; printed '{path}'): \
                 the build tests need it and are not skipped",
                script.display(),
                out.status
            ));
        }
        // jemalloc's .gitignore hides its generated configure: a repository
        // made with a plain `git add -A` cannot build (make fails after ~25 s
        // with "jemalloc/jemalloc.h: No such file"). Say so up front.
        let tracked = Command::new("git")
            .args(["-C", &path, "cat-file", "-e"])
            .arg(format!("{REF}:deps/jemalloc/configure"))
            .status()
            .map_err(|e| format!("running git: {e}"))?;
        if !tracked.success() {
            return Err(format!(
                "the Valkey repository {path} (from {}) lacks deps/jemalloc/configure at {REF}, \
                 so it cannot build: the repository must be committed with `git add -A -f` \
                 (jemalloc's .gitignore hides configure and VERSION; the upstream repository tracks them)",
                script.display()
            ));
        }
        fs::canonicalize(&path).map_err(|e| format!("{path}: {e}"))
    });
    match repo {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Result<Shared, String>> = OnceLock::new();
    // Errors are kept (not panicked inside) so that a failure is reported by
    // every test instead of making the next one start another build.
    match SHARED.get_or_init(populate) {
        Ok(s) => s,
        Err(e) => panic!("the shared 8.1.1 build failed: {e}"),
    }
}

fn populate() -> Result<Shared, String> {
    let repo = source_repo().to_path_buf();
    let me = format!("-{}", std::process::id());
    if let Ok(entries) = fs::read_dir(target_tmp()) {
        for item in entries.flatten() {
            let name = item.file_name().to_string_lossy().into_owned();
            if name.starts_with("vtf-build-test-") && !name.ends_with(&me) {
                let _ = fs::remove_dir_all(item.path());
            }
        }
    }
    let cache = run_dir("two-process");
    let _ = fs::remove_dir_all(&cache);
    fs::create_dir_all(&cache).map_err(|e| format!("creating {}: {e}", cache.display()))?;

    // Both children start before either can finish; one through the Rust
    // API, one through the C API.
    let started = Instant::now();
    let (tx, rx) = mpsc::channel();
    let mut pids = Vec::new();
    for mode in ["rust", "c"] {
        let child = child_command(mode, &repo, &cache)
            .spawn()
            .map_err(|e| format!("spawning the {mode} child: {e}"))?;
        pids.push(child.id());
        let tx = tx.clone();
        std::thread::spawn(move || {
            let _ = tx.send((mode, child.wait_with_output(), started.elapsed()));
        });
    }
    drop(tx);
    let mut children = Vec::new();
    for _ in 0..2 {
        let left = BUILD_DEADLINE.saturating_sub(started.elapsed());
        let Ok((mode, output, took)) = rx.recv_timeout(left) else {
            for pid in &pids {
                let _ = Command::new("kill").arg(pid.to_string()).status();
            }
            return Err(format!(
                "the build children did not finish within {BUILD_DEADLINE:?}"
            ));
        };
        let output = output.map_err(|e| format!("waiting for the {mode} child: {e}"))?;
        children.push(child_run(mode, &output, took));
    }
    for c in &children {
        eprintln!(
            "--- {} child ({:.1} s, success {}):\n{}",
            c.mode, c.seconds, c.success, c.stderr
        );
    }
    let server = children
        .iter()
        .find_map(|c| c.path.clone())
        .map(PathBuf::from)
        .ok_or_else(|| "neither child returned a binary (stderr above)".to_string())?;
    let cache_entries = list(&cache.join("builds"));
    let tmp_leftovers = list(&cache.join("tmp"));
    seed_shared_cache(&cache);
    Ok(Shared {
        repo,
        cache,
        server,
        children,
        cache_entries,
        tmp_leftovers,
    })
}

fn child_command(mode: &str, repo: &Path, cache: &Path) -> Command {
    let mut cmd = Command::new(env::current_exe().expect("the test binary's path"));
    cmd.args([
        "child_process_entry_point",
        "--exact",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_ENV, mode)
    .env(CHILD_REPO_ENV, repo)
    .env("VTF_CACHE_DIR", cache)
    // The assertions read the progress lines, and a refresh would add fetches.
    .env_remove("VTF_QUIET")
    .env_remove("VTF_REFRESH")
    .env_remove("VTF_VALKEY_REPO")
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    cmd
}

fn child_run(mode: &'static str, output: &Output, took: Duration) -> ChildRun {
    let stdout = String::from_utf8_lossy(&output.stdout);
    ChildRun {
        mode,
        path: stdout
            .lines()
            // libtest may print "test ... " on the same line first.
            .find_map(|l| l.split_once("VTF_CHILD_RESULT ").map(|(_, p)| p.trim()))
            .map(str::to_string),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        seconds: took.as_secs_f64(),
        success: output.status.success(),
    }
}

fn list(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Copies the fresh build into the run's shared cache (if it lacks it), the
/// way the library would have left it: entry renamed into place complete.
fn seed_shared_cache(fresh: &Path) {
    let shared = env::var_os("VTF_CACHE_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| target_tmp().join("../vtf-cache"));
    let result = (|| -> std::io::Result<()> {
        for key in list(&fresh.join("builds")) {
            let dest = shared.join("builds").join(&key);
            if dest.exists() {
                continue;
            }
            let staging = shared
                .join("builds")
                .join(format!(".seed-{}", std::process::id()));
            let _ = fs::remove_dir_all(&staging);
            copy_tree(&fresh.join("builds").join(&key), &staging)?;
            if fs::rename(&staging, &dest).is_err() {
                let _ = fs::remove_dir_all(&staging);
            }
        }
        for repo in list(&fresh.join("refs")) {
            for name in list(&fresh.join("refs").join(&repo)) {
                let dest = shared.join("refs").join(&repo).join(&name);
                if !dest.exists() {
                    fs::create_dir_all(shared.join("refs").join(&repo))?;
                    fs::copy(fresh.join("refs").join(&repo).join(&name), dest)?;
                }
            }
        }
        Ok(())
    })();
    match result {
        Ok(()) => eprintln!("seeded the shared cache {}", shared.display()),
        Err(e) => eprintln!("could not seed the shared cache {}: {e}", shared.display()),
    }
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    for item in fs::read_dir(from)? {
        let item = item?;
        let dest = to.join(item.file_name());
        if item.file_type()?.is_dir() {
            copy_tree(&item.path(), &dest)?;
        } else {
            fs::copy(item.path(), dest)?;
        }
    }
    Ok(())
}

/// Not a test of its own: the entry point of the child processes that
/// [`populate`] and the env test start (does nothing without `CHILD_ENV`).
#[test]
fn child_process_entry_point() {
    let Ok(mode) = env::var(CHILD_ENV) else {
        return;
    };
    let repo = env::var(CHILD_REPO_ENV).expect("the parent passes the repository");
    let path = match mode.as_str() {
        "rust" => build::build(Some(&repo), REF, &BuildOptions::new())
            .map(|b| b.server_path().to_path_buf())
            .unwrap_or_else(|e| panic!("build failed ({:?}): {e}", e.kind())),
        "c" => {
            let repo = CString::new(repo).expect("no NUL in the path");
            let git_ref = CString::new(REF).expect("no NUL");
            let mut out = ptr::null_mut();
            // SAFETY: valid NUL-terminated strings and a writable out-pointer.
            let status =
                unsafe { cbuild::vtf_build_server(repo.as_ptr(), git_ref.as_ptr(), &mut out) };
            assert_eq!(status, vtf_status::VTF_OK, "{}", last_error());
            // SAFETY: on VTF_OK the library wrote a string it owns to `out`.
            let path = unsafe { CStr::from_ptr(out) }
                .to_string_lossy()
                .into_owned();
            // SAFETY: returned by vtf_build_server, freed once.
            unsafe { vtf::ffi::vtf_string_free(out) };
            PathBuf::from(path)
        }
        "version" => build::server_for_version(REF)
            .unwrap_or_else(|e| panic!("server_for_version failed ({:?}): {e}", e.kind())),
        other => panic!("unknown child mode {other}"),
    };
    println!("\nVTF_CHILD_RESULT {}", path.display());
}

fn last_error() -> String {
    // SAFETY: vtf_last_error never returns NULL and the string lives until the
    // next failing call on this thread.
    unsafe { CStr::from_ptr(vtf::ffi::vtf_last_error()) }
        .to_string_lossy()
        .into_owned()
}

fn options_for(cache: &Path) -> BuildOptions {
    BuildOptions::new().cache_dir(cache)
}

#[test]
fn two_processes_on_an_empty_cache_build_once() {
    let s = shared();
    for c in &s.children {
        assert!(c.success, "the {} child failed:\n{}", c.mode, c.stderr);
        assert_eq!(
            c.path.as_deref(),
            Some(s.server.to_str().expect("UTF-8 path")),
            "both processes return the same binary"
        );
    }
    let all: String = s.children.iter().map(|c| c.stderr.as_str()).collect();
    let count = |needle: &str| all.lines().filter(|l| l.contains(needle)).count();
    assert_eq!(count("vtf build: building "), 1, "make ran once:\n{all}");
    assert_eq!(
        count("vtf build: cloning "),
        1,
        "the mirror was cloned once:\n{all}"
    );
    assert_eq!(
        count("another process built"),
        1,
        "one process waited for the other:\n{all}"
    );
    assert_eq!(
        s.cache_entries.len(),
        1,
        "one cache entry: {:?}",
        s.cache_entries
    );
    assert!(
        s.tmp_leftovers.is_empty(),
        "tmp/ left: {:?}",
        s.tmp_leftovers
    );
    let slowest = s.children.iter().map(|c| c.seconds).fold(0.0, f64::max);
    println!("cold build of {REF} by two concurrent processes took {slowest:.1} s");
}

#[test]
fn built_server_is_valkey_8_1_1() {
    let s = shared();
    let out = Command::new(&s.server)
        .arg("--version")
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("v=8.1.1"), "{text}");
    let cli = s.server.with_file_name("valkey-cli");
    let out = Command::new(&cli)
        .arg("--version")
        .output()
        .expect("valkey-cli runs");
    assert!(String::from_utf8_lossy(&out.stdout).contains("8.1.1"));
}

#[test]
fn built_server_has_tls() {
    let s = shared();
    let ldd = Command::new("ldd")
        .arg(&s.server)
        .output()
        .expect("ldd runs");
    let libs = String::from_utf8_lossy(&ldd.stdout);
    assert!(
        libs.contains("libssl"),
        "not linked against libssl:\n{libs}"
    );

    // A build without TLS says "Failed finding TLS support" for --tls-port;
    // this one gets further and fails on the missing certificate instead.
    let dir = run_dir("tls-probe");
    fs::create_dir_all(&dir).expect("probe dir");
    let child = Command::new(&s.server)
        .args(["--port", "0", "--tls-port", "1", "--save", "", "--dir"])
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("valkey-server starts");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(out) => out.expect("waited"),
        Err(_) => {
            let _ = Command::new("kill").arg(pid.to_string()).status();
            panic!("valkey-server with --tls-port and no certificate did not exit");
        }
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("Failed finding TLS support"), "{text}");
    assert!(text.contains("Failed to configure TLS"), "{text}");
}

#[test]
fn cached_call_is_fast() {
    let s = shared();
    let started = Instant::now();
    let built = build::build(
        Some(s.repo.to_str().expect("UTF-8")),
        REF,
        &options_for(&s.cache),
    )
    .expect("cached build");
    let rust_took = started.elapsed();
    assert_eq!(built.server_path(), s.server);

    // The same through the C options variant.
    let repo = CString::new(s.repo.to_str().expect("UTF-8")).expect("no NUL");
    let git_ref = CString::new(REF).expect("no NUL");
    let cache = CString::new(s.cache.to_str().expect("UTF-8")).expect("no NUL");
    let options = cbuild::vtf_build_options_new();
    assert!(!options.is_null());
    let mut out = ptr::null_mut();
    let started = Instant::now();
    // SAFETY: live options handle, valid strings, writable out-pointer; the
    // options and the returned string are freed once below.
    let (status, path) = unsafe {
        assert_eq!(
            cbuild::vtf_build_options_set_cache_dir(options, cache.as_ptr()),
            vtf_status::VTF_OK
        );
        let status =
            cbuild::vtf_build_server_with(repo.as_ptr(), git_ref.as_ptr(), options, &mut out);
        cbuild::vtf_build_options_free(options);
        let path = (!out.is_null()).then(|| CStr::from_ptr(out).to_string_lossy().into_owned());
        vtf::ffi::vtf_string_free(out);
        (status, path)
    };
    let c_took = started.elapsed();
    assert_eq!(status, vtf_status::VTF_OK, "{}", last_error());
    assert_eq!(path.as_deref(), s.server.to_str());
    println!(
        "cached build call: Rust API {:.1} ms, C API {:.1} ms",
        rust_took.as_secs_f64() * 1e3,
        c_took.as_secs_f64() * 1e3
    );
    assert!(
        rust_took < Duration::from_secs(2),
        "cached call took {rust_took:?}"
    );
    assert!(
        c_took < Duration::from_secs(2),
        "cached C call took {c_took:?}"
    );
}

#[test]
fn module_include_dir_holds_the_module_api_header() {
    let s = shared();
    let built = build::build(
        Some(s.repo.to_str().expect("UTF-8")),
        REF,
        &options_for(&s.cache),
    )
    .expect("cached build");
    let dir = built.module_include_dir();
    let header = fs::read_to_string(dir.join("valkeymodule.h")).expect("valkeymodule.h is cached");
    assert!(header.contains("ValkeyModule_Init"));
    assert_eq!(build::module_include_dir(&s.server).expect("found"), dir);
    assert_eq!(built.commit().len(), 40);

    let binary = CString::new(s.server.to_str().expect("UTF-8")).expect("no NUL");
    let mut out = ptr::null_mut();
    // SAFETY: valid string, writable out-pointer; the result is freed once.
    let got = unsafe {
        let status = cbuild::vtf_build_module_include_dir(binary.as_ptr(), &mut out);
        assert_eq!(status, vtf_status::VTF_OK, "{}", last_error());
        let got = CStr::from_ptr(out).to_string_lossy().into_owned();
        vtf::ffi::vtf_string_free(out);
        got
    };
    assert_eq!(Path::new(&got), dir);
}

#[test]
fn server_for_version_uses_the_repo_from_the_environment() {
    let s = shared();
    // In a child: the environment is process-wide. VTF_REFRESH=1 makes it
    // fetch and resolve the ref again, which must land on the same build.
    let out = child_command("version", &s.repo, &s.cache)
        .env_remove(CHILD_REPO_ENV)
        .env(CHILD_REPO_ENV, "unused")
        .env("VTF_VALKEY_REPO", &s.repo)
        .env("VTF_REFRESH", "1")
        .output()
        .expect("child runs");
    let run = child_run("version", &out, Duration::ZERO);
    assert!(
        run.success,
        "{}\n{}",
        run.stderr,
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(run.path.as_deref(), s.server.to_str());
    assert!(run.stderr.contains("vtf build: fetching"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("vtf build: building "),
        "{}",
        run.stderr
    );
}

#[test]
fn nonexistent_ref_fails_with_a_build_error_naming_it() {
    let repo = source_repo().to_str().expect("UTF-8");
    let cache = run_dir("errors");
    let err = build::build(
        Some(repo),
        "no-such-ref-4711",
        &options_for(&cache).quiet(true),
    )
    .expect_err("the ref does not exist");
    eprintln!("nonexistent ref: {err}");
    assert_eq!(err.kind(), ErrorKind::Build, "{err}");
    assert!(err.message().contains("no-such-ref-4711"), "{err}");
    assert!(list(&cache.join("builds")).is_empty());

    // C: the same failure, and NULL where the ref is required.
    let c_repo = CString::new(repo).expect("no NUL");
    let bad_ref = CString::new("no-such-ref-4711").expect("no NUL");
    let options = cbuild::vtf_build_options_new();
    let c_cache = CString::new(cache.to_str().expect("UTF-8")).expect("no NUL");
    let sentinel = ptr::dangling_mut::<std::ffi::c_char>();
    let mut out = sentinel;
    // SAFETY: live options handle and valid strings; `out` must stay untouched
    // on failure (it is never dereferenced).
    unsafe {
        cbuild::vtf_build_options_set_cache_dir(options, c_cache.as_ptr());
        cbuild::vtf_build_options_set_quiet(options, true);
        let status =
            cbuild::vtf_build_server_with(c_repo.as_ptr(), bad_ref.as_ptr(), options, &mut out);
        assert_eq!(status, vtf_status::VTF_ERR_BUILD);
        assert!(
            last_error().contains("no-such-ref-4711"),
            "{}",
            last_error()
        );
        let status = cbuild::vtf_build_server(c_repo.as_ptr(), ptr::null(), &mut out);
        assert_eq!(status, vtf_status::VTF_ERR_NULL_ARGUMENT);
        assert!(last_error().contains("git_ref"), "{}", last_error());
        let status = cbuild::vtf_build_server(c_repo.as_ptr(), bad_ref.as_ptr(), ptr::null_mut());
        assert_eq!(status, vtf_status::VTF_ERR_NULL_ARGUMENT);
        assert_eq!(
            cbuild::vtf_build_options_set_sanitizer(
                options,
                cbuild::vtf_sanitizer::VTF_SANITIZER_NONE as cbuild::RawSanitizer
            ),
            vtf_status::VTF_OK
        );
        // Any int can arrive from C: an undeclared one is refused, not trusted.
        assert_eq!(
            cbuild::vtf_build_options_set_sanitizer(options, 42),
            vtf_status::VTF_ERR_INVALID_ARGUMENT
        );
        assert!(last_error().contains("42"), "{}", last_error());
        cbuild::vtf_build_options_free(options);
    }
    assert_eq!(out, sentinel, "out-parameter written on failure");
}

#[test]
fn missing_repo_path_fails_clearly() {
    let cache = run_dir("errors");
    let err = build::build(
        Some("/nonexistent/valkey-checkout"),
        REF,
        &options_for(&cache).quiet(true),
    )
    .expect_err("no such repository");
    eprintln!("missing repository: {err}");
    assert_eq!(err.kind(), ErrorKind::Build, "{err}");
    assert!(
        err.message().contains("/nonexistent/valkey-checkout"),
        "{err}"
    );
    assert!(
        err.message()
            .contains("neither an existing local path nor a git URL"),
        "{err}"
    );
}

#[test]
fn failed_build_leaves_no_entry_and_quotes_the_output() {
    let repo = source_repo().to_str().expect("UTF-8");
    let cache = run_dir("errors");
    // Fails at once after the checkout: make cannot read its makefile.
    let options = options_for(&cache)
        .quiet(true)
        .make_arg("-f")
        .make_arg("no-such-makefile.mk");
    let err = build::build(Some(repo), REF, &options).expect_err("make fails");
    eprintln!("failed build: {err}");
    assert_eq!(err.kind(), ErrorKind::Build, "{err}");
    let msg = err.message();
    assert!(msg.contains("`make -j"), "names the command: {msg}");
    assert!(msg.contains("'8.1.1'"), "names the ref: {msg}");
    assert!(
        msg.contains("No such file or directory"),
        "quotes the output: {msg}"
    );
    assert!(
        list(&cache.join("builds")).is_empty(),
        "no half-built entry"
    );
    assert!(list(&cache.join("tmp")).is_empty(), "no leftovers in tmp/");
    assert_eq!(list(&cache.join("logs")).len(), 1, "the log is kept");
}

#[test]
fn missing_git_names_the_tool_and_how_to_install_it() {
    // In a child whose PATH has no git (the environment is process-wide).
    let cache = run_dir("no-git");
    let out = child_command("rust", source_repo(), &cache)
        .env("PATH", run_dir("empty-path"))
        .output()
        .expect("child runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("needs `git`"), "{stderr}");
    assert!(
        stderr.contains("apt-get install git make gcc pkg-config libssl-dev"),
        "{stderr}"
    );
}
