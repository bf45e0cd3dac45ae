//! Starting a server process without fork(2).
//!
//! The death signal has to be set in the child, between clone and exec, and
//! std's `Command` runs such code (`pre_exec`) only after a full fork: the
//! test process's page tables are copied and its threads then take a
//! copy-on-write fault for every page they touch until the child execs.
//! Measured from a Python test process (29 MB resident): 17 ms from spawn
//! to ready, 3-4 ms of it system time, against 12-15 ms without the fork.
//! So this does what posix_spawn does inside glibc: `clone(CLONE_VM |
//! CLONE_VFORK)` on a stack of its own, where the child sets the death
//! signal, its stdio and directory, and execs; the parent resumes once the
//! exec has happened (or failed, which the child writes into memory they
//! share). The child touches nothing but its own stack and that record.

use std::ffi::{CString, OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::ptr;

/// What to start: argv (its first item a path, or a name looked up on PATH),
/// the directory it runs in, and the file its stdout and stderr both go to
/// (a server's log). Stdin is /dev/null; the environment is this process's.
pub struct Launch {
    pub argv: Vec<OsString>,
    pub dir: PathBuf,
    pub output: File,
}

impl fmt::Display for Launch {
    /// `cd "DIR" && "PROGRAM" "ARG"...`, as std's `Command` shows itself.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cd {:?} &&", self.dir)?;
        for arg in &self.argv {
            write!(f, " {arg:?}")?;
        }
        Ok(())
    }
}

/// A process started by [`Launch`], ours to wait for and signal by pid.
#[derive(Debug)]
pub struct Spawned {
    pid: libc::pid_t,
    /// Set once reaped: the pid may belong to someone else from then on.
    status: Option<ExitStatus>,
}

impl Spawned {
    pub fn id(&self) -> u32 {
        self.pid as u32
    }

    /// The exit status if the process has exited (reaping it), else None.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.reap(libc::WNOHANG)
    }

    /// Waits for the process to exit.
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        loop {
            if let Some(status) = self.reap(0)? {
                return Ok(status);
            }
        }
    }

    /// SIGKILL, unless it is already reaped (its pid could be reused).
    pub fn kill(&mut self) -> io::Result<()> {
        match self.status {
            Some(_) => Ok(()),
            None => super::signal(self.id(), libc::SIGKILL),
        }
    }

    fn reap(&mut self, flags: libc::c_int) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        let mut raw = 0;
        loop {
            // SAFETY: waitpid(2) writes only the status int we pass.
            let rc = unsafe { libc::waitpid(self.pid, &mut raw, flags) };
            if rc == self.pid {
                let status = ExitStatus::from_raw(raw);
                self.status = Some(status);
                return Ok(Some(status));
            }
            if rc == 0 {
                return Ok(None);
            }
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::Interrupted {
                return Err(error);
            }
        }
    }
}

/// Starts `launch` with the death signal set (see the module's comment).
/// Call it from the spawner thread: the signal fires when that thread ends.
pub fn spawn(launch: Launch) -> io::Result<Spawned> {
    let Some(program) = launch.argv.first() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty argv"));
    };
    let path = c_string(resolve(program)?.as_os_str())?;
    let argv = launch
        .argv
        .iter()
        .map(|a| c_string(a))
        .collect::<io::Result<Vec<_>>>()?;
    let envp = std::env::vars_os()
        .map(|(key, value)| {
            let mut pair = key;
            pair.push("=");
            pair.push(value);
            c_string(&pair)
        })
        .collect::<io::Result<Vec<_>>>()?;
    let dir = c_string(launch.dir.as_os_str())?;
    let stdio = [
        high(&File::open("/dev/null")?)?,
        high(&launch.output)?,
        high(&launch.output)?,
    ];
    let argv_ptrs = null_terminated(&argv);
    let envp_ptrs = null_terminated(&envp);
    let mut record = Child {
        path: path.as_ptr(),
        argv: argv_ptrs.as_ptr(),
        envp: envp_ptrs.as_ptr(),
        dir: dir.as_ptr(),
        stdio: [
            stdio[0].as_raw_fd(),
            stdio[1].as_raw_fd(),
            stdio[2].as_raw_fd(),
        ],
        parent: std::process::id() as libc::pid_t,
        errno: 0,
        failed: None,
    };
    let record_ptr: *mut Child = &mut record;
    // u128 keeps the stack 16-byte aligned, as the x86-64 and aarch64 ABIs want.
    let mut stack = vec![0u128; CHILD_STACK / 16];
    let stack_top = stack.as_mut_ptr_range().end.cast::<libc::c_void>();
    // SAFETY: sigset_t is plain data; sigfillset and pthread_sigmask only
    // write the sets we pass. All signals stay blocked in this thread until
    // clone returns, so no handler runs in the child, on shared memory,
    // before it has reset them.
    let blocked = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        old
    };
    // SAFETY: the child runs `child_main` on `stack` (alive until clone
    // returns, which CLONE_VFORK delays until the child has exec'd or
    // exited) and reads and writes only `record`, which outlives the call;
    // everything `record` points to (the C strings and pointer arrays above)
    // lives until this function returns.
    let pid = unsafe {
        libc::clone(
            child_main,
            stack_top,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            record_ptr.cast(),
        )
    };
    let clone_error = io::Error::last_os_error();
    // SAFETY: restores the mask saved above; writes nothing else.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &blocked, ptr::null_mut()) };
    drop(stack);
    if pid < 0 {
        return Err(io::Error::new(
            clone_error.kind(),
            format!("clone: {clone_error}"),
        ));
    }
    // SAFETY: the child has exec'd or exited (CLONE_VFORK), so nothing
    // writes the record any more; volatile because it was written behind
    // the compiler's back.
    let (errno, failed) = unsafe {
        (
            ptr::read_volatile(&(*record_ptr).errno),
            ptr::read_volatile(&(*record_ptr).failed),
        )
    };
    let mut spawned = Spawned { pid, status: None };
    if let Some(step) = failed {
        let _ = spawned.wait(); // it has exited (127); reap it
        return Err(step.error(errno));
    }
    Ok(spawned)
}

const CHILD_STACK: usize = 64 * 1024;

/// What parent and child share: the child's inputs, and where it failed.
struct Child {
    path: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    dir: *const libc::c_char,
    stdio: [RawFd; 3],
    parent: libc::pid_t,
    errno: libc::c_int,
    /// The step that failed; None once exec succeeded.
    failed: Option<Step>,
}

/// The child's steps that can fail before exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    DeathSignal,
    ParentGone,
    Stdio,
    Chdir,
    Exec,
}

impl Step {
    /// What the parent reports for a child that stopped here with `errno`.
    fn error(self, errno: libc::c_int) -> io::Error {
        let os = io::Error::from_raw_os_error(errno);
        let what = match self {
            Step::ParentGone => return io::Error::other("the test process exited during spawn"),
            Step::Exec => return os,
            Step::DeathSignal => "prctl(PR_SET_PDEATHSIG)",
            Step::Stdio => "dup2 of stdin, stdout or stderr",
            Step::Chdir => "chdir to the server's directory",
        };
        io::Error::new(os.kind(), format!("{what} in the child: {os}"))
    }
}

/// The child, between clone and exec: all signals blocked, memory shared
/// with the (suspended) spawner thread. Only async-signal-safe calls.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    let record = arg.cast::<Child>();
    // SAFETY: `arg` is the parent's `record`, valid until the parent resumes,
    // which is after this function has exec'd or exited. Every call is a
    // plain system call wrapper that allocates and locks nothing.
    unsafe {
        let fail = |step: Step| -> ! {
            ptr::write_volatile(&mut (*record).errno, *libc::__errno_location());
            ptr::write_volatile(&mut (*record).failed, Some(step));
            libc::_exit(127)
        };
        // Handlers run on memory we share with the parent: back to default.
        // SIGPIPE too, which Rust and Python ignore (as std's Command does).
        for signal in 1..libc::SIGRTMAX() {
            let mut action: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(signal, ptr::null(), &mut action) != 0 {
                continue; // glibc's own signals
            }
            let handled =
                action.sa_sigaction != libc::SIG_IGN && action.sa_sigaction != libc::SIG_DFL;
            if handled || signal == libc::SIGPIPE {
                action.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(signal, &action, ptr::null_mut());
            }
        }
        if libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        ) != 0
        {
            fail(Step::DeathSignal);
        }
        // The test process may have died between clone and prctl.
        if libc::getppid() != (*record).parent {
            fail(Step::ParentGone);
        }
        // The sources are all above 2 (see `high`), so no dup2 overwrites another's source.
        for (target, fd) in (*record).stdio.iter().enumerate() {
            if libc::dup2(*fd, target as RawFd) < 0 {
                fail(Step::Stdio);
            }
        }
        if libc::chdir((*record).dir) != 0 {
            fail(Step::Chdir);
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, ptr::null_mut());
        libc::execve((*record).path, (*record).argv, (*record).envp);
        fail(Step::Exec)
    }
}

/// `program` as exec will find it, made absolute against our directory
/// (the child changes its own): a path with a slash as it is, a bare name
/// looked up on PATH, like execvp.
fn resolve(program: &OsStr) -> io::Result<PathBuf> {
    let path = Path::new(program);
    if program.as_bytes().contains(&b'/') {
        return std::path::absolute(path);
    }
    let search = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&search)
        .map(|dir| dir.join(path))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{} is not on PATH ({})",
                    path.display(),
                    search.to_string_lossy()
                ),
            )
        })
        // A relative PATH entry ("" or ".") means our directory, not the child's.
        .and_then(std::path::absolute)
}

/// A close-on-exec duplicate of `file` numbered 3 or above: a test process
/// with stdio closed can hold a log file as fd 1, which the child's dup2 onto
/// 0 would otherwise close before copying it.
fn high(file: &File) -> io::Result<OwnedFd> {
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) makes a new descriptor and touches no memory.
    let fd = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just made and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn c_string(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{s:?} holds a NUL byte, which exec cannot pass"),
        )
    })
}

fn null_terminated(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(ptr::null()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(argv: &[&str], dir: &Path, out: &Path) -> Launch {
        let output = File::create(out).expect("creating the output file");
        Launch {
            argv: argv.iter().map(OsString::from).collect(),
            dir: dir.to_path_buf(),
            output,
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vtf-spawn-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("making a scratch directory");
        dir
    }

    #[test]
    fn the_child_gets_its_directory_stdio_and_environment() {
        let dir = scratch("stdio");
        let out = dir.join("out");
        std::env::set_var("VTF_SPAWN_TEST", "seen");
        let script =
            "pwd; echo \"$VTF_SPAWN_TEST\"; echo to-stderr >&2; read -r line || echo stdin-empty";
        let mut child = spawn(launch(&["sh", "-c", script], &dir, &out)).expect("spawning sh");
        let status = child.wait().expect("waiting for sh");
        assert!(status.success(), "sh failed: {status}");
        let text = std::fs::read_to_string(&out).expect("reading the output");
        let dir = dir.canonicalize().expect("canonical dir");
        assert_eq!(
            text,
            format!("{}\nseen\nto-stderr\nstdin-empty\n", dir.display()),
            "what sh printed"
        );
        let _ = std::fs::remove_dir_all(&dir);
        child
            .kill()
            .expect("kill after reaping is a no-op, not a signal to a reused pid");
    }

    #[test]
    fn the_child_starts_with_no_signal_blocked_and_sigpipe_default() {
        let dir = scratch("signals");
        let mut child =
            spawn(launch(&["sleep", "30"], &dir, &dir.join("out"))).expect("spawning sleep");
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
            .expect("reading its status");
        child.kill().expect("killing sleep");
        child.wait().expect("reaping sleep");
        let mask = |name: &str| {
            let line = status
                .lines()
                .find(|l| l.starts_with(name))
                .expect("a mask line");
            u64::from_str_radix(line[name.len()..].trim(), 16).expect("a hex mask")
        };
        assert_eq!(
            mask("SigBlk:"),
            0,
            "blocked signals in the child:\n{status}"
        );
        let sigpipe = 1u64 << (libc::SIGPIPE - 1);
        assert_eq!(
            mask("SigIgn:") & sigpipe,
            0,
            "SIGPIPE ignored in the child:\n{status}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn failures_before_exec_name_what_failed_and_leave_no_child() {
        let dir = scratch("failures");
        let out = dir.join("out");
        let missing =
            spawn(launch(&["vtf-no-such-program"], &dir, &out)).expect_err("a missing program");
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        assert!(
            missing
                .to_string()
                .contains("vtf-no-such-program is not on PATH"),
            "{missing}"
        );

        let not_executable = dir.join("plain-file");
        std::fs::write(&not_executable, "not a program").expect("writing a plain file");
        let path = not_executable.to_string_lossy().into_owned();
        let denied =
            spawn(launch(&[&path], &dir, &out)).expect_err("a file without exec permission");
        assert_eq!(denied.kind(), io::ErrorKind::PermissionDenied, "{denied}");

        let gone = dir.join("no-such-dir");
        let chdir = spawn(launch(&["true"], &gone, &out)).expect_err("a missing directory");
        assert!(
            chdir
                .to_string()
                .contains("chdir to the server's directory"),
            "{chdir}"
        );

        let nul = spawn(launch(&["true", "a\0b"], &dir, &out)).expect_err("an argument with NUL");
        assert_eq!(nul.kind(), io::ErrorKind::InvalidInput);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
