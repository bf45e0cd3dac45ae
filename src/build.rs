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
    if let Some(dir) = env_nonempty("VTF_CACHE_DIR") {
        return Ok(PathBuf::from(dir));
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
        None => env_nonempty("VTF_VALKEY_REPO").unwrap_or_else(|| DEFAULT_REPO.to_string()),
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
        quiet: options.quiet.unwrap_or_else(|| env_flag("VTF_QUIET")),
        refresh: options.refresh.unwrap_or_else(|| env_flag("VTF_REFRESH")),
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

    fn mirror(&self) -> PathBuf {
        self.cache
            .join("repos")
            .join(format!("{}.git", self.source.hash()))
    }

    fn ref_file(&self) -> PathBuf {
        self.cache
            .join("refs")
            .join(self.source.hash())
            .join(encode_ref(&self.git_ref))
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

    /// The commit of the ref: given as a full hash, cached from an earlier
    /// call, or resolved in the mirror (fetched first when needed).
    fn resolve(&self) -> Result<String> {
        if is_full_hash(&self.git_ref) {
            return Ok(self.git_ref.to_ascii_lowercase());
        }
        if !self.refresh {
            if let Some(commit) = self.cached_ref() {
                return Ok(commit);
            }
        }
        let _lock = self.lock(
            &format!("repo-{}", self.source.hash()),
            &format!("fetching {}", self.source.location),
        )?;
        // Another process may have resolved it while this one waited.
        if !self.refresh {
            if let Some(commit) = self.cached_ref() {
                return Ok(commit);
            }
        }
        self.update_mirror()?;
        let commit = self.rev_parse(&self.git_ref)?.ok_or_else(|| {
            Error::new(
                ErrorKind::Build,
                format!(
                    "ref '{}' was not found in {} (looked for a tag, branch or commit)",
                    self.git_ref, self.source.location
                ),
            )
        })?;
        self.progress(&format!("resolved '{}' to {commit}", self.git_ref));
        write_atomically(&self.ref_file(), format!("{commit}\n").as_bytes())?;
        Ok(commit)
    }

    fn cached_ref(&self) -> Option<String> {
        let text = fs::read_to_string(self.ref_file()).ok()?;
        let commit = text.trim();
        is_full_hash(commit).then(|| commit.to_string())
    }

    /// Clones the mirror on first use (into a temporary name, renamed when
    /// complete) or fetches into it. Called with the repository lock held.
    fn update_mirror(&self) -> Result<()> {
        require_tool("git", &["--version"])?;
        let mirror = self.mirror();
        if mirror.join("HEAD").is_file() {
            self.progress(&format!("fetching {}", self.source.location));
            return run_logged(
                Command::new("git")
                    .arg("-C")
                    .arg(&mirror)
                    .args(["fetch", "--quiet", "--prune", "--tags", "origin"]),
                &self.context("fetching"),
                None,
            );
        }
        let repos = self.cache.join("repos");
        create_dir_all(&repos)?;
        let tmp = repos.join(format!("{}.git.tmp-{}", self.source.hash(), unique()));
        remove_stale(&repos, &format!("{}.git.tmp-", self.source.hash()));
        self.progress(&format!("cloning {}", self.source.location));
        let cloned = run_logged(
            Command::new("git")
                .args(["clone", "--quiet", "--mirror", "--"])
                .arg(&self.source.location)
                .arg(&tmp),
            &self.context("cloning"),
            None,
        );
        if let Err(e) = cloned {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
        fs::rename(&tmp, &mirror).map_err(|e| {
            let _ = fs::remove_dir_all(&tmp);
            Error::io(format!("moving the mirror into {}", mirror.display()), e)
        })
    }

    fn rev_parse(&self, rev: &str) -> Result<Option<String>> {
        let out = Command::new("git")
            .arg("-C")
            .arg(self.mirror())
            .args(["rev-parse", "--verify", "--quiet"])
            .arg(format!("{rev}^{{commit}}"))
            .stderr(Stdio::null())
            .output()
            .map_err(|e| tool_error("git", e))?;
        let commit = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Ok((out.status.success() && is_full_hash(&commit)).then_some(commit))
    }

    /// Checks out and builds `commit` in `tmp/`, then renames the result to
    /// `entry`. Called with the build lock held; on any failure nothing is
    /// left in `builds/`.
    fn build_entry(
        &self,
        commit: &str,
        key: &str,
        entry: &Path,
        options: &BuildOptions,
    ) -> Result<()> {
        require_tool("git", &["--version"])?;
        require_tool("make", &["--version"])?;
        let cc = env_nonempty("CC").unwrap_or_else(|| "cc".to_string());
        require_tool(&cc, &["--version"]).map_err(|e| {
            if cc == "cc" {
                Error::new(
                    ErrorKind::Build,
                    format!(
                        "building valkey-server needs a C compiler, but `cc` was not found \
                         on PATH; install one with `{INSTALL_HINT}`"
                    ),
                )
            } else {
                e
            }
        })?;

        let tmp_root = self.cache.join("tmp");
        create_dir_all(&tmp_root)?;
        // Leftovers of interrupted builds of this key: nobody else builds it
        // while this process holds the lock.
        remove_stale(&tmp_root, &format!("{key}."));
        let work = tmp_root.join(format!("{key}.{}", unique()));
        create_dir_all(&work)?;
        let result = self.build_in(commit, &work, entry, options);
        if let Err(err) = &result {
            // Keep the log of a failure for the user; drop the half-built tree.
            let log = work.join("build.log");
            if log.is_file() {
                let logs = self.cache.join("logs");
                if fs::create_dir_all(&logs).is_ok() {
                    let kept = logs.join(format!("{key}.{}.log", unique()));
                    if fs::rename(&log, &kept).is_ok() {
                        let _ = fs::remove_dir_all(&work);
                        return Err(Error::new(
                            err.kind(),
                            err.message()
                                .replace(&log.display().to_string(), &kept.display().to_string()),
                        ));
                    }
                }
            }
        }
        let _ = fs::remove_dir_all(&work);
        result
    }

    fn build_in(
        &self,
        commit: &str,
        work: &Path,
        entry: &Path,
        options: &BuildOptions,
    ) -> Result<()> {
        let log = work.join("build.log");
        let src = work.join("src");
        let mirror = self.mirror();
        {
            // The mirror may lack a commit given by hash: fetch once, then clone.
            let _lock = self.lock(
                &format!("repo-{}", self.source.hash()),
                &format!("fetching {}", self.source.location),
            )?;
            if !mirror.join("HEAD").is_file() || self.rev_parse(commit)?.is_none() {
                self.update_mirror()?;
                if self.rev_parse(commit)?.is_none() {
                    return Err(Error::new(
                        ErrorKind::Build,
                        format!(
                            "ref '{}' (commit {commit}) was not found in {}",
                            self.git_ref, self.source.location
                        ),
                    ));
                }
            }
            self.progress(&format!("checking out {commit} ('{}')", self.git_ref));
            run_logged(
                Command::new("git")
                    .args(["clone", "--quiet", "--no-checkout", "--"])
                    .arg(&mirror)
                    .arg(&src),
                &self.context("cloning the mirror of"),
                Some(&log),
            )?;
        }
        run_logged(
            Command::new("git")
                .arg("-C")
                .arg(&src)
                .args(["checkout", "--quiet", "--detach", commit]),
            &self.context("checking out"),
            Some(&log),
        )?;

        let jobs = options.resolved_jobs();
        let mut make = Command::new("make");
        make.current_dir(&src)
            .arg(format!("-j{jobs}"))
            .args(options.make_vars())
            // A make above us (cargo's jobserver, a calling Makefile) must not
            // change what is built: the cache key does not know about it.
            .env_remove("MAKEFLAGS")
            .env_remove("MFLAGS")
            .env_remove("MAKELEVEL");
        self.progress(&format!(
            "building {commit} with `make -j{jobs} {}` (log: {})",
            options.make_vars().join(" "),
            log.display()
        ));
        let context = format!(
            "building valkey-server from {} at ref '{}' (commit {commit})",
            self.source.location, self.git_ref
        );
        run_logged(&mut make, &context, Some(&log)).map_err(|e| {
            // The usual cause of a TLS build failure: headers not installed.
            if diagnostics::log_tail(&log, TAIL_LINES * 4)
                .unwrap_or_default()
                .contains("openssl/")
            {
                e.context(format!(
                    "OpenSSL headers look missing; install them with `{INSTALL_HINT}`"
                ))
            } else {
                e
            }
        })?;

        let staged = work.join("out");
        self.stage(&src, &staged, commit, options)?;
        if let Some(parent) = entry.parent() {
            create_dir_all(parent)?;
        }
        fs::rename(&staged, entry)
            .map_err(|e| Error::io(format!("moving the build into {}", entry.display()), e))?;
        self.progress(&format!("built {}", entry.join("valkey-server").display()));
        Ok(())
    }

    /// Copies what users need out of the built tree into `staged`.
    fn stage(&self, src: &Path, staged: &Path, commit: &str, options: &BuildOptions) -> Result<()> {
        let bin_dir = src.join("src");
        create_dir_all(&staged.join("include"))?;
        for required in ["valkey-server", "valkey-cli"] {
            let from = bin_dir.join(required);
            if !from.is_file() {
                return Err(Error::new(
                    ErrorKind::Build,
                    format!(
                        "make succeeded for ref '{}' but left no src/{required} in {}",
                        self.git_ref,
                        src.display()
                    ),
                ));
            }
            copy(&from, &staged.join(required))?;
        }
        let entries = fs::read_dir(&bin_dir)
            .map_err(|e| Error::io(format!("listing {}", bin_dir.display()), e))?;
        for item in entries.flatten() {
            let name = item.file_name().to_string_lossy().into_owned();
            // Shared libraries next to the binaries (valkey-tls.so with BUILD_TLS=module).
            if name.ends_with(".so") || name == "valkey-benchmark" {
                copy(&item.path(), &staged.join(&name))?;
            }
        }
        for header in ["valkeymodule.h", "redismodule.h"] {
            let from = bin_dir.join(header);
            if from.is_file() {
                copy(&from, &staged.join("include").join(header))?;
            }
        }
        let version = Command::new(staged.join("valkey-server"))
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let info = format!(
            "repo: {}\nref: {}\ncommit: {commit}\nmake: {}\nversion: {version}\nbuilt-at-unix: {}\nbuild-seconds: {:.1}\n",
            self.source.location,
            self.git_ref,
            options.make_vars().join(" "),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            self.started.elapsed().as_secs_f64(),
        );
        fs::write(staged.join("build-info.txt"), info)
            .map_err(|e| Error::io("writing build-info.txt", e))
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

/// A ref as a file name: safe characters kept, the rest as %XX.
fn encode_ref(git_ref: &str) -> String {
    let mut out = String::new();
    for b in git_ref.bytes() {
        if b.is_ascii_alphanumeric() || b"._-".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    // "." and ".." are not usable as file names.
    if out.chars().all(|c| c == '.') {
        out = out.replace('.', "%2E");
    }
    out
}

fn is_full_hash(text: &str) -> bool {
    (text.len() == 40 || text.len() == 64) && text.bytes().all(|b| b.is_ascii_hexdigit())
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

fn env_flag(name: &str) -> bool {
    env_nonempty(name).is_some_and(|v| !matches!(v.trim(), "0" | "false" | "no" | "off"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_become_safe_file_names() {
        assert_eq!(encode_ref("8.1.1"), "8.1.1");
        assert_eq!(encode_ref("origin/unstable"), "origin%2Funstable");
        assert_eq!(encode_ref(".."), "%2E%2E");
    }

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
