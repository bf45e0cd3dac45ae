//! C mirror of [`crate::build`]: `vtf_build_server`, its options variant and
//! the module include directory of a built server.

use std::ffi::c_char;
use std::path::Path;

use super::{
    c_string, check_out, free_box, handle, handle_mut, opt_str_arg, str_arg, vtf_status, write_out,
};
use crate::build::{self, BuildOptions, Sanitizer};
use crate::error::{Error, Result};

c_enum! {
    /// A sanitizer to build the server with.
    pub enum vtf_sanitizer as RawSanitizer, rust Option<Sanitizer> {
        VTF_SANITIZER_NONE = 0 => (None),
        /// `make SANITIZER=address`
        VTF_SANITIZER_ADDRESS => (Some(Sanitizer::Address)),
        /// `make SANITIZER=undefined`
        VTF_SANITIZER_UNDEFINED => (Some(Sanitizer::Undefined)),
    }
}

/// Builds `git_ref` (tag, branch or commit) of `repo` (NULL: env
/// `VTF_VALKEY_REPO`, else the Valkey project's repository; a local path or
/// any git URL) with TLS, and writes the path of the cached `valkey-server`
/// to `*binary_path_out` (free it with `vtf_string_free`).
///
/// # Safety
/// `repo` must be NULL or a NUL-terminated string, `git_ref` a NUL-terminated
/// string, `binary_path_out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn vtf_build_server(
    repo: *const c_char,
    git_ref: *const c_char,
    binary_path_out: *mut *mut c_char,
) -> vtf_status {
    export!({
        // SAFETY: caller's contract (all three pointers).
        unsafe { build_to(repo, git_ref, &BuildOptions::new(), binary_path_out) }
    })
}

/// Like `vtf_build_server`, with options (NULL: the defaults).
///
/// # Safety
/// As `vtf_build_server`; `options` must be NULL or a live `vtf_build_options`.
#[no_mangle]
pub unsafe extern "C" fn vtf_build_server_with(
    repo: *const c_char,
    git_ref: *const c_char,
    options: *const BuildOptions,
    binary_path_out: *mut *mut c_char,
) -> vtf_status {
    export!({
        let defaults = BuildOptions::new();
        let options = if options.is_null() {
            &defaults
        } else {
            // SAFETY: non-NULL, a live handle per the caller's contract.
            unsafe { handle(options, "options") }?
        };
        // SAFETY: caller's contract.
        unsafe { build_to(repo, git_ref, options, binary_path_out) }
    })
}

/// # Safety
/// As `vtf_build_server`.
unsafe fn build_to(
    repo: *const c_char,
    git_ref: *const c_char,
    options: &BuildOptions,
    out: *mut *mut c_char,
) -> Result<()> {
    // SAFETY: caller's contract: NULL or NUL-terminated.
    let repo = unsafe { opt_str_arg(repo, "repo") }?;
    // SAFETY: caller's contract: NULL or NUL-terminated.
    let git_ref = unsafe { str_arg(git_ref, "git_ref") }?;
    check_out(out, "binary_path_out")?;
    let built = build::build(repo, git_ref, options)?;
    let path = path_str(built.server_path())?;
    // SAFETY: checked non-NULL above; writable per the caller's contract.
    unsafe { write_out(out, c_string(path)) };
    Ok(())
}

/// The directory holding `valkeymodule.h` of a server returned by
/// `vtf_build_server(_with)`, for `-I` when building modules against that
/// version (free it with `vtf_string_free`).
///
/// # Safety
/// `binary_path` must be NULL or a NUL-terminated string, `dir_out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn vtf_build_module_include_dir(
    binary_path: *const c_char,
    dir_out: *mut *mut c_char,
) -> vtf_status {
    export!({
        // SAFETY: caller's contract: NULL or NUL-terminated.
        let binary = unsafe { str_arg(binary_path, "binary_path") }?;
        check_out(dir_out, "dir_out")?;
        let dir = build::module_include_dir(Path::new(binary))?;
        let dir = path_str(&dir)?;
        // SAFETY: checked non-NULL above; writable per the caller's contract.
        unsafe { write_out(dir_out, c_string(dir)) };
        Ok(())
    })
}

/// New build options: TLS on, no sanitizer, one job per core, cache directory
/// from the environment. Free with `vtf_build_options_free`.
#[no_mangle]
pub extern "C" fn vtf_build_options_new() -> *mut BuildOptions {
    export!({ Ok(Box::into_raw(Box::new(BuildOptions::new()))) })
}

/// Frees build options; NULL is allowed.
///
/// # Safety
/// `options` must be NULL or a live `vtf_build_options`, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn vtf_build_options_free(options: *mut BuildOptions) {
    // SAFETY: made by Box::into_raw in vtf_build_options_new (caller's contract).
    export!({ unsafe { free_box(options) } })
}

/// Applies a builder step to options passed in by C.
///
/// # Safety
/// `options` must be NULL or a live, unshared `vtf_build_options`.
unsafe fn update(
    options: *mut BuildOptions,
    step: impl FnOnce(BuildOptions) -> BuildOptions,
) -> Result<()> {
    // SAFETY: caller's contract.
    let options = unsafe { handle_mut(options, "options") }?;
    *options = step(std::mem::take(options));
    Ok(())
}

/// Build with TLS (the default) or without.
///
/// # Safety
/// `options` must be NULL or a live `vtf_build_options`.
#[no_mangle]
pub unsafe extern "C" fn vtf_build_options_set_tls(
    options: *mut BuildOptions,
    tls: bool,
) -> vtf_status {
    export!({
        // SAFETY: caller's contract.
        unsafe { update(options, |o| o.tls(tls)) }
    })
}

/// Build with a sanitizer (`VTF_SANITIZER_NONE` by default).
///
/// # Safety
/// `options` must be NULL or a live `vtf_build_options`.
#[no_mangle]
pub unsafe extern "C" fn vtf_build_options_set_sanitizer(
    options: *mut BuildOptions,
    sanitizer: RawSanitizer,
) -> vtf_status {
    export!({
        let sanitizer = vtf_sanitizer::try_from(sanitizer)?.to_rust()?;
        // SAFETY: caller's contract.
        unsafe { update(options, |o| o.sanitizer(sanitizer)) }
    })
}

/// One more argument for `make` (`"MALLOC=libc"`); part of the cache key.
///
/// # Safety
/// `options` must be NULL or a live `vtf_build_options`; `arg` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn vtf_build_options_add_make_arg(
    options: *mut BuildOptions,
    arg: *const c_char,
) -> vtf_status {
    export!({
        // SAFETY: caller's contract: NULL or NUL-terminated.
        let arg = unsafe { str_arg(arg, "arg") }?;
        // SAFETY: caller's contract.
        unsafe { update(options, |o| o.make_arg(arg)) }
    })
}

/// Parallel jobs for `make -j`; 0 means one per core (the default).
///
/// # Safety
/// `options` must be NULL or a live `vtf_build_options`.
#[no_mangle]
pub unsafe extern "C" fn vtf_build_options_set_jobs(
    options: *mut BuildOptions,
    jobs: u32,
) -> vtf_status {
    export!({
        let jobs = usize::try_from(jobs).map_err(|_| Error::invalid("jobs out of range"))?;
        // SAFETY: caller's contract.
        unsafe { update(options, |o| o.jobs(jobs)) }
    })
}

/// The cache directory, instead of env `VTF_CACHE_DIR` or the default.
///
/// # Safety
/// `options` must be NULL or a live `vtf_build_options`; `dir` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn vtf_build_options_set_cache_dir(
    options: *mut BuildOptions,
    dir: *const c_char,
) -> vtf_status {
    export!({
        // SAFETY: caller's contract: NULL or NUL-terminated.
        let dir = unsafe { str_arg(dir, "dir") }?;
        // SAFETY: caller's contract.
        unsafe { update(options, |o| o.cache_dir(dir)) }
    })
}

/// Re-resolve the ref even when a commit is cached for it (default: env `VTF_REFRESH=1`).
///
/// # Safety
/// `options` must be NULL or a live `vtf_build_options`.
#[no_mangle]
pub unsafe extern "C" fn vtf_build_options_set_refresh(
    options: *mut BuildOptions,
    refresh: bool,
) -> vtf_status {
    export!({
        // SAFETY: caller's contract.
        unsafe { update(options, |o| o.refresh(refresh)) }
    })
}

/// Silence the progress lines on stderr (default: env `VTF_QUIET=1`).
///
/// # Safety
/// `options` must be NULL or a live `vtf_build_options`.
#[no_mangle]
pub unsafe extern "C" fn vtf_build_options_set_quiet(
    options: *mut BuildOptions,
    quiet: bool,
) -> vtf_status {
    export!({
        // SAFETY: caller's contract.
        unsafe { update(options, |o| o.quiet(quiet)) }
    })
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str().ok_or_else(|| {
        Error::invalid(format!(
            "the path {} is not valid UTF-8 and cannot be returned to C",
            path.display()
        ))
    })
}
