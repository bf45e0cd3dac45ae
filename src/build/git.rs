//! Source builds: where the source comes from (a URL or a local
//! repository), its bare mirror in the cache, and resolving a tag, branch or
//! commit to a commit id (cached per ref, re-resolved with `VTF_REFRESH`).

use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::{
    create_dir_all, remove_stale, require_tool, run_logged, tool_error, unique, write_atomically,
    Ctx,
};
use crate::error::{Error, ErrorKind, Result};

impl Ctx {
    pub(super) fn mirror(&self) -> PathBuf {
        self.cache
            .join("repos")
            .join(format!("{}.git", self.source.hash()))
    }

    pub(super) fn ref_file(&self) -> PathBuf {
        self.cache
            .join("refs")
            .join(self.source.hash())
            .join(encode_ref(&self.git_ref))
    }

    /// The commit of the ref: given as a full hash, cached from an earlier
    /// call, or resolved in the mirror (fetched first when needed).
    pub(super) fn resolve(&self) -> Result<String> {
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

    pub(super) fn cached_ref(&self) -> Option<String> {
        let text = fs::read_to_string(self.ref_file()).ok()?;
        let commit = text.trim();
        is_full_hash(commit).then(|| commit.to_string())
    }

    /// Clones the mirror on first use (into a temporary name, renamed when
    /// complete) or fetches into it. Called with the repository lock held.
    pub(super) fn update_mirror(&self) -> Result<()> {
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

    pub(super) fn rev_parse(&self, rev: &str) -> Result<Option<String>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_become_safe_file_names() {
        assert_eq!(encode_ref("8.1.1"), "8.1.1");
        assert_eq!(encode_ref("origin/unstable"), "origin%2Funstable");
        assert_eq!(encode_ref(".."), "%2E%2E");
    }
}
