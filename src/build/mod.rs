//! Building `valkey-server` from source, cached per commit and build options.
//!
//! [`build`] clones (or fetches) a repository into a bare mirror, resolves a
//! tag, branch or commit, builds it with `make` in a temporary directory and
//! renames the result into the cache. Later calls find the entry without
//! running git or make. Processes that ask for the same build at the same
//! time build it once: the others wait on a lock file and use the result.
//!
//! Cache layout (under env `VTF_CACHE_DIR`, else
//! `$XDG_CACHE_HOME/valkey-test-framework`, else `~/.cache/valkey-test-framework`):
//!
//! ```text
//! repos/<repo-hash>.git        bare mirror of each repository (fetched with tags)
//! refs/<repo-hash>/<ref>       the commit a ref resolved to (re-resolved with VTF_REFRESH=1)
//! builds/<commit>-<options>/   valkey-server, valkey-cli, shared libraries,
//!                              include/valkeymodule.h, build-info.txt
//! locks/                       lock files (one per repository, one per build)
//! tmp/                         builds in progress (renamed into builds/ when complete)
//! logs/                        build logs of failed builds
//! ```
//!
//! This file holds the options, the cache entry and the entry points; `git`
//! the mirror and ref resolution, `make` building and staging an entry.

mod git;
mod make;

use std::env;
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind as IoErrorKind, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::diagnostics;
use crate::error::{Error, ErrorKind, Result};

/// The Valkey project's repository, used when no repository is named.
pub const DEFAULT_REPO: &str = "https://github.com/valkey-io/valkey.git";

/// What to install when a build tool is missing (Debian/Ubuntu names).
const INSTALL_HINT: &str = "apt-get install git make gcc pkg-config libssl-dev";

/// Lines of a failed command's output quoted in the error.
const TAIL_LINES: usize = 30;

/// A compiler sanitizer to build the server with (`make SANITIZER=...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sanitizer {
    /// AddressSanitizer (`SANITIZER=address`; Valkey then uses libc malloc).
    Address,
    /// UndefinedBehaviorSanitizer (`SANITIZER=undefined`).
    Undefined,
}

impl Sanitizer {
    fn make_value(self) -> &'static str {
        match self {
            Sanitizer::Address => "address",
            Sanitizer::Undefined => "undefined",
        }
    }
}

/// How to build: TLS (on by default), sanitizer, extra `make` arguments and
/// jobs, plus overrides of the cache directory, refresh and quiet settings
/// that otherwise come from the environment.
///
/// ```
/// use vtf::build::{BuildOptions, Sanitizer};
/// let options = BuildOptions::new().sanitizer(Some(Sanitizer::Address)).jobs(4);
/// # let _ = options;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOptions {
    tls: bool,
    sanitizer: Option<Sanitizer>,
    make_args: Vec<String>,
    jobs: Option<usize>,
    cache_dir: Option<PathBuf>,
    refresh: Option<bool>,
    quiet: Option<bool>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            tls: true,
            sanitizer: None,
            make_args: Vec::new(),
            jobs: None,
            cache_dir: None,
            refresh: None,
            quiet: None,
        }
    }
}

impl BuildOptions {
    /// TLS on, no sanitizer, no extra arguments, one job per core.
    pub fn new() -> Self {
        Self::default()
    }

    /// Build with TLS (`BUILD_TLS=yes`, the default) or without.
    pub fn tls(mut self, on: bool) -> Self {
        self.tls = on;
        self
    }

    /// Build with a sanitizer, or none (the default).
    pub fn sanitizer(mut self, sanitizer: Option<Sanitizer>) -> Self {
        self.sanitizer = sanitizer;
        self
    }

    /// One more argument for `make` (`"MALLOC=libc"`, `"OPTIMIZATION=-O0"`);
    /// the arguments are part of the cache key.
    pub fn make_arg(mut self, arg: impl Into<String>) -> Self {
        self.make_args.push(arg.into());
        self
    }

    /// Parallel jobs for `make -j` (default, or 0: the number of cores).
    /// Not part of the cache key: it does not change the result.
    pub fn jobs(mut self, jobs: usize) -> Self {
        self.jobs = (jobs > 0).then_some(jobs);
        self
    }

    /// The cache directory, instead of env `VTF_CACHE_DIR` or the default.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Re-resolve the ref in the repository even when a commit is cached for
    /// it (default: env `VTF_REFRESH=1`).
    pub fn refresh(mut self, refresh: bool) -> Self {
        self.refresh = Some(refresh);
        self
    }

    /// Silence the progress lines on stderr (default: env `VTF_QUIET=1`).
    pub fn quiet(mut self, quiet: bool) -> Self {
        self.quiet = Some(quiet);
        self
    }

    /// The part of the cache key after the commit: readable for the common
    /// options, a hash for extra make arguments.
    fn key_suffix(&self) -> String {
        let mut key = String::from(if self.tls { "tls" } else { "notls" });
        match self.sanitizer {
            Some(Sanitizer::Address) => key.push_str("-asan"),
            Some(Sanitizer::Undefined) => key.push_str("-ubsan"),
            None => {}
        }
        if !self.make_args.is_empty() {
            let joined = self.make_args.join("\0");
            let _ = write!(key, "-a{:016x}", fnv1a(joined.as_bytes()));
        }
        key
    }

    /// The `make` variables that select what is built (without -j).
    fn make_vars(&self) -> Vec<String> {
        let mut args = Vec::new();
        if self.tls {
            args.push("BUILD_TLS=yes".to_string());
        }
        if let Some(s) = self.sanitizer {
            args.push(format!("SANITIZER={}", s.make_value()));
        }
        args.extend(self.make_args.iter().cloned());
        args
    }

    fn resolved_cache_dir(&self) -> Result<PathBuf> {
        match &self.cache_dir {
            Some(dir) => Ok(dir.clone()),
            None => default_cache_dir(),
        }
    }

    fn resolved_jobs(&self) -> usize {
        self.jobs.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
    }
}

/// A cached build: the directory holding `valkey-server`, `valkey-cli`, any
/// shared library built next to them and the module API header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltServer {
    dir: PathBuf,
    server: PathBuf,
    cli: PathBuf,
    include_dir: PathBuf,
    commit: String,
}

impl BuiltServer {
    fn at(dir: PathBuf, commit: &str) -> Self {
        BuiltServer {
            server: dir.join("valkey-server"),
            cli: dir.join("valkey-cli"),
            include_dir: dir.join("include"),
            commit: commit.to_string(),
            dir,
        }
    }

    /// The `valkey-server` binary.
    pub fn server_path(&self) -> &Path {
        &self.server
    }

    /// The `valkey-cli` binary.
    pub fn cli_path(&self) -> &Path {
        &self.cli
    }

    /// The directory with `valkeymodule.h` of this version, for `-I` when
    /// building modules against it.
    pub fn module_include_dir(&self) -> &Path {
        &self.include_dir
    }

    /// The cache entry's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The full commit the ref resolved to.
    pub fn commit(&self) -> &str {
        &self.commit
    }
}

/// The cached `valkey-server` built from the ref `version` of the repository
/// named by env `VTF_VALKEY_REPO` (default: the Valkey project's), building it
/// when it is not cached yet.
pub fn server_for_version(version: &str) -> Result<PathBuf> {
    build(None, version, &BuildOptions::new()).map(|b| b.server)
}

/// Builds `git_ref` of `repo` with the default options and returns the
/// cached `valkey-server` (the Rust twin of `vtf_build_server`).
pub fn build_server(repo: Option<&str>, git_ref: &str) -> Result<PathBuf> {
    build(repo, git_ref, &BuildOptions::new()).map(|b| b.server)
}

/// The include directory (with `valkeymodule.h`) of a server binary returned
/// by [`build`], [`build_server`] or [`server_for_version`].
pub fn module_include_dir(server_binary: &Path) -> Result<PathBuf> {
    let dir = server_binary
        .parent()
        .map(|p| p.join("include"))
        .filter(|d| d.join("valkeymodule.h").is_file())
        .ok_or_else(|| {
            Error::invalid(format!(
                "{} is not a valkey-server built by vtf (no include/valkeymodule.h next to it)",
                server_binary.display()
            ))
        })?;
    Ok(dir)
}

/// The cache directory: env `VTF_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/valkey-test-framework`, else `~/.cache/valkey-test-framework`.
pub fn default_cache_dir() -> Result<PathBuf> {
    if let Some(dir) = crate::env::cache_dir() {
        return Ok(dir);
    }
    if let Some(dir) = env_nonempty("XDG_CACHE_HOME") {
        return Ok(Path::new(&dir).join("valkey-test-framework"));
    }
    if let Some(home) = env_nonempty("HOME") {
        return Ok(Path::new(&home).join(".cache/valkey-test-framework"));
    }
    Err(Error::invalid(
        "no cache directory for source builds: set VTF_CACHE_DIR (or XDG_CACHE_HOME or HOME)",
    ))
}

/// Builds `git_ref` (a tag, branch or commit) of `repo` (a git URL or a local
/// path; `None`: env `VTF_VALKEY_REPO`, else [`DEFAULT_REPO`]) and returns
/// the cache entry, building only when it is not cached yet.
pub fn build(repo: Option<&str>, git_ref: &str, options: &BuildOptions) -> Result<BuiltServer> {
    let started = Instant::now();
    let repo = match repo {
        Some(r) => r.to_string(),
        None => crate::env::valkey_repo().unwrap_or_else(|| DEFAULT_REPO.to_string()),
    };
    let git_ref = git_ref.trim();
    if git_ref.is_empty() || git_ref.starts_with('-') || git_ref.contains(['\n', '\0']) {
        return Err(Error::invalid(format!(
            "'{git_ref}' is not a git ref (expected a tag, branch or commit)"
        )));
    }
    let ctx = Ctx {
        cache: options.resolved_cache_dir()?,
        source: Source::parse(&repo)?,
        git_ref: git_ref.to_string(),
        started,
        quiet: options.quiet.map_or_else(crate::env::quiet, Ok)?,
        refresh: options.refresh.map_or_else(crate::env::refresh, Ok)?,
    };

    let commit = ctx.resolve()?;
    let key = format!("{commit}-{}", options.key_suffix());
    let entry = ctx.cache.join("builds").join(&key);
    // Fast path: an entry exists only once complete (it is renamed into place).
    if entry.join("valkey-server").is_file() {
        return Ok(BuiltServer::at(entry, &commit));
    }

    let _lock = ctx.lock(&format!("build-{key}"), &format!("building {key}"))?;
    if entry.join("valkey-server").is_file() {
        ctx.progress(&format!("another process built {}", entry.display()));
        return Ok(BuiltServer::at(entry, &commit));
    }
    ctx.build_entry(&commit, &key, &entry, options)?;
    Ok(BuiltServer::at(entry, &commit))
}

/// Where the source comes from: a URL as given, or a local path made absolute
/// (so that the same repository gets the same mirror from any directory).
struct Source {
    location: String,
}

impl Source {
    fn parse(repo: &str) -> Result<Source> {
        let repo = repo.trim();
        let looks_like_url = repo.contains("://")
            || (repo.contains('@') && repo.find(':').is_some_and(|c| !repo[..c].contains('/')));
        if looks_like_url {
            return Ok(Source {
                location: repo.trim_end_matches('/').to_string(),
            });
        }
        let path = Path::new(repo);
        if repo.is_empty() || !path.exists() {
            return Err(Error::new(
                ErrorKind::Build,
                format!(
                    "the Valkey repository '{repo}' is neither an existing local path nor a git URL \
                     (set VTF_VALKEY_REPO or pass a path to a git repository)"
                ),
            ));
        }
        let absolute = fs::canonicalize(path)
            .map_err(|e| Error::io(format!("resolving the repository path {repo}"), e))?;
        Ok(Source {
            location: absolute.to_string_lossy().into_owned(),
        })
    }

    fn hash(&self) -> String {
        format!("{:016x}", fnv1a(self.location.as_bytes()))
    }
}

/// One build call's context.
struct Ctx {
    cache: PathBuf,
    source: Source,
    git_ref: String,
    started: Instant,
    quiet: bool,
    refresh: bool,
}

impl Ctx {
    fn progress(&self, step: &str) {
        if !self.quiet {
            eprintln!(
                "vtf build: {step} ({:.1} s)",
                self.started.elapsed().as_secs_f64()
            );
        }
    }

    /// "<step> <repo> at ref '<ref>'", the start of an error message.
    fn context(&self, step: &str) -> String {
        format!("{step} {} at ref '{}'", self.source.location, self.git_ref)
    }

    /// Takes a cross-process lock, telling the user when it has to wait.
    fn lock(&self, name: &str, what: &str) -> Result<File> {
        let dir = self.cache.join("locks");
        create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.lock"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(format!("opening the lock file {}", path.display()), e))?;
        // File::try_lock/lock (std, 1.89): the OS drops the lock if we die.
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(fs::TryLockError::WouldBlock) => {}
            Err(fs::TryLockError::Error(e)) => {
                return Err(Error::io(format!("locking {}", path.display()), e))
            }
        }
        self.progress(&format!(
            "waiting for another process {what} (lock {})",
            path.display()
        ));
        // Blocks until the holder finishes or dies (the OS drops its lock).
        file.lock()
            .map_err(|e| Error::io(format!("locking {}", path.display()), e))?;
        self.progress("lock acquired");
        Ok(file)
    }
}

/// Runs a command to completion, its output going to `log` (or captured),
/// and turns a failure into a Build error naming the command, the ref and
/// the tail of the output.
fn run_logged(cmd: &mut Command, context: &str, log: Option<&Path>) -> Result<()> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let shown = describe(cmd);
    let place = cmd
        .get_current_dir()
        .map(|d| format!(" in {}", d.display()))
        .unwrap_or_default();
    let status;
    let tail;
    match log {
        Some(log) => {
            let mut file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .map_err(|e| Error::io(format!("opening the build log {}", log.display()), e))?;
            let _ = writeln!(file, "$ {shown}");
            let err_file = file
                .try_clone()
                .map_err(|e| Error::io("duplicating the build log handle", e))?;
            status = cmd
                .stdin(Stdio::null())
                .stdout(file)
                .stderr(err_file)
                .status()
                .map_err(|e| tool_error(&program, e))?;
            if status.success() {
                return Ok(());
            }
            tail = format!(
                "full log: {}; last {TAIL_LINES} lines:\n{}",
                log.display(),
                diagnostics::log_tail(log, TAIL_LINES).unwrap_or_default()
            );
        }
        None => {
            let out = cmd
                .stdin(Stdio::null())
                .output()
                .map_err(|e| tool_error(&program, e))?;
            status = out.status;
            if status.success() {
                return Ok(());
            }
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            tail = format!("output:\n{}", diagnostics::last_lines(&text, TAIL_LINES));
        }
    }
    Err(Error::new(
        ErrorKind::Build,
        format!("{context} failed: `{shown}`{place} exited with {status}; {tail}"),
    ))
}

fn describe(cmd: &Command) -> String {
    let mut text = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// Checks that a tool runs at all, for a message that says what to install.
fn require_tool(tool: &str, args: &[&str]) -> Result<()> {
    Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|_| ())
        .map_err(|e| tool_error(tool, e))
}

fn tool_error(tool: &str, err: io::Error) -> Error {
    if err.kind() == IoErrorKind::NotFound {
        Error::new(
            ErrorKind::Build,
            format!(
                "building valkey-server from source needs `{tool}`, which was not found on PATH; \
                 install the build tools with `{INSTALL_HINT}`"
            ),
        )
    } else {
        Error::new(ErrorKind::Build, format!("running `{tool}` failed: {err}"))
    }
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| Error::io(format!("copying {} to {}", from.display(), to.display()), e))
}

fn create_dir_all(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))
}

/// Writes a small file so that readers see either nothing or all of it.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    create_dir_all(dir)?;
    let tmp = dir.join(format!(".tmp-{}", unique()));
    fs::write(&tmp, bytes).map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io(format!("writing {}", path.display()), e)
    })
}

/// Removes entries of `dir` whose names start with `prefix` (left by killed builds).
fn remove_stale(dir: &Path, prefix: &str) {
    if let Ok(entries) = fs::read_dir(dir) {
        for item in entries.flatten() {
            if item.file_name().to_string_lossy().starts_with(prefix) {
                let _ = fs::remove_dir_all(item.path());
            }
        }
    }
}

/// A name part unique across processes and calls.
fn unique() -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}-{nanos}-{n}", std::process::id())
}

/// FNV-1a: a hash that stays the same across Rust versions (unlike std's),
/// so cache keys survive a toolchain upgrade.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

fn env_nonempty(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_key_tracks_what_changes_the_binary() {
        assert_eq!(BuildOptions::new().key_suffix(), "tls");
        assert_eq!(
            BuildOptions::new()
                .tls(false)
                .sanitizer(Some(Sanitizer::Address))
                .key_suffix(),
            "notls-asan"
        );
        assert_eq!(
            BuildOptions::new().jobs(7).key_suffix(),
            BuildOptions::new().key_suffix()
        );
        assert_ne!(
            BuildOptions::new().make_arg("MALLOC=libc").key_suffix(),
            BuildOptions::new().key_suffix()
        );
    }

    #[test]
    fn urls_and_paths_are_told_apart() {
        assert!(Source::parse("https://example.org/valkey.git").is_ok());
        assert!(Source::parse("git@example.org:valkey/valkey.git").is_ok());
        let err = Source::parse("/no/such/valkey/repo").err();
        assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::Build));
    }
}
