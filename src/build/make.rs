//! Source builds: checking a commit out into a temporary directory, running
//! `make` with the build options, and staging the binaries, libraries and
//! headers as a complete cache entry (renamed into place, never half there).

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use super::{
    copy, create_dir_all, env_nonempty, remove_stale, require_tool, run_logged, unique,
    BuildOptions, Ctx, INSTALL_HINT, TAIL_LINES,
};
use crate::diagnostics;
use crate::error::{Error, ErrorKind, Result};

impl Ctx {
    /// Checks out and builds `commit` in `tmp/`, then renames the result to
    /// `entry`. Called with the build lock held; on any failure nothing is
    /// left in `builds/`.
    pub(super) fn build_entry(
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

    pub(super) fn build_in(
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
    pub(super) fn stage(
        &self,
        src: &Path,
        staged: &Path,
        commit: &str,
        options: &BuildOptions,
    ) -> Result<()> {
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
