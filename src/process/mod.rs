//! Server processes: spawned so that they cannot outlive the test process,
//! signalled by pid, and watched ([`ProcessState`]) by the server and by the
//! clients connected to it.
//!
//! Linux's `PR_SET_PDEATHSIG` kills a child when the *thread* that created it
//! exits, and test harnesses run each test on a thread of its own. So every
//! server is started from one long-lived spawner thread that never exits: the
//! signal then fires only when the whole test process dies, SIGKILL included.
//! How it is started without a fork's cost is [`spawn`]'s business.

mod spawn;

use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

pub use spawn::{Launch, Spawned};

type Request = (Launch, Sender<io::Result<Spawned>>);

/// Starts `launch` from the spawner thread, with the death signal set.
pub fn spawn(launch: Launch) -> io::Result<Spawned> {
    static SPAWNER: OnceLock<Mutex<Sender<Request>>> = OnceLock::new();
    let sender = SPAWNER.get_or_init(|| {
        let (tx, rx) = channel::<Request>();
        let started = std::thread::Builder::new()
            .name("vtf-spawner".into())
            .spawn(move || {
                for (launch, reply) in rx {
                    let _ = reply.send(spawn::spawn(launch));
                }
            });
        if let Err(e) = started {
            // Without the thread every spawn fails below, with this reason.
            eprintln!("vtf: cannot start the spawner thread: {e}");
        }
        Mutex::new(tx)
    });
    let (tx, rx) = channel();
    sender
        .lock()
        .map_err(|_| io::Error::other("the vtf spawner lock is poisoned"))?
        .send((launch, tx))
        .map_err(|_| io::Error::other("the vtf spawner thread is gone"))?;
    rx.recv()
        .map_err(|_| io::Error::other("the vtf spawner thread did not answer"))?
}

/// Sends `signal` to the process `pid` (one we started; never by name).
pub fn signal(pid: u32, signal: libc::c_int) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::other("pid out of range"))?;
    // SAFETY: kill(2) takes plain integers and has no memory effects.
    let rc = unsafe { libc::kill(pid, signal) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Polls `condition` until it is true or `timeout` passes. The pause between
/// attempts is a tenth of the time waited so far (at least 200 µs, at most
/// `max_interval`), so a condition that turns true is seen at most ~10% late;
/// growing x1.5 per attempt instead let it be seen up to 50% late.
/// Returns whether the condition became true.
pub fn poll_until(
    timeout: Duration,
    max_interval: Duration,
    mut condition: impl FnMut() -> bool,
) -> bool {
    let start = Instant::now();
    let deadline = start + timeout;
    let min_interval = Duration::from_micros(200);
    loop {
        if condition() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        let interval = ((now - start) / 10).clamp(min_interval, max_interval.max(min_interval));
        std::thread::sleep(interval.min(deadline - now));
    }
}

/// [`poll_until`] for a check that says why it is not done yet: `Ok` once
/// `check` is, else the last reason it gave (for the timeout's message).
pub(crate) fn poll_for(
    timeout: Duration,
    max_interval: Duration,
    mut check: impl FnMut() -> std::result::Result<(), String>,
) -> std::result::Result<(), String> {
    let mut why = String::new();
    let done = poll_until(timeout, max_interval, || match check() {
        Ok(()) => true,
        Err(reason) => {
            why = reason;
            false
        }
    });
    if done {
        Ok(())
    } else {
        Err(why)
    }
}

/// The state of a server's process, shared by the server and the clients
/// connected to it, so that a client whose connection breaks can tell a
/// crash from a hiccup.
#[derive(Debug)]
pub(crate) struct ProcessState {
    child: Mutex<Option<Spawned>>,
    exit: Mutex<Option<ExitStatus>>,
    /// The pid of the last process, kept after it exited for messages.
    last_pid: Mutex<Option<u32>>,
    /// Length of the log when the last process was spawned: what it wrote
    /// starts there, so a crash of an earlier run is not blamed on it.
    log_start: Mutex<u64>,
    /// "127.0.0.1:PORT", for messages.
    address: String,
    dir: PathBuf,
    log_path: PathBuf,
}

impl ProcessState {
    /// The state of a server at `address` that runs in `dir` and logs to
    /// `log_path`, before its first process is spawned.
    pub(crate) fn new(address: String, dir: PathBuf, log_path: PathBuf) -> ProcessState {
        ProcessState {
            child: Mutex::new(None),
            exit: Mutex::new(None),
            last_pid: Mutex::new(None),
            log_start: Mutex::new(0),
            address,
            dir,
            log_path,
        }
    }

    /// The pid while the process runs.
    pub fn pid(&self) -> Option<u32> {
        self.poll();
        lock(&self.child).as_ref().map(Spawned::id)
    }

    /// Reaps the process if it exited; returns whether it still runs.
    pub fn poll(&self) -> bool {
        let mut child = lock(&self.child);
        let Some(running) = child.as_mut() else {
            return false;
        };
        match running.try_wait() {
            Ok(None) => true,
            Ok(Some(status)) => {
                *lock(&self.exit) = Some(status);
                *child = None;
                false
            }
            // Not our child any more (cannot happen for one we spawned); treat as gone.
            Err(_) => {
                *child = None;
                false
            }
        }
    }

    pub fn exit_status(&self) -> Option<ExitStatus> {
        *lock(&self.exit)
    }

    /// Waits up to `timeout` for the process to exit; returns whether it did.
    pub fn wait_exit(&self, timeout: Duration) -> bool {
        poll_until(timeout, Duration::from_millis(5), || !self.poll())
    }

    /// Kills the process at once (SIGKILL) and reaps it.
    pub(crate) fn kill_now(&self) {
        let mut child = lock(&self.child);
        if let Some(running) = child.as_mut() {
            let _ = running.kill();
            if let Ok(status) = running.wait() {
                *lock(&self.exit) = Some(status);
            }
            *child = None;
        }
    }

    /// "server 127.0.0.1:PORT (pid N, dir D)", for messages.
    pub fn describe(&self) -> String {
        let pid = match self.pid() {
            Some(pid) => format!("pid {pid}"),
            None => match (self.exit_status(), *lock(&self.last_pid)) {
                (Some(status), Some(pid)) => format!("pid {pid} {}", describe_exit(status)),
                (Some(status), None) => format!("exited: {}", describe_exit(status)),
                _ => "not running".to_string(),
            },
        };
        format!(
            "server {} ({pid}, dir {})",
            self.address,
            self.dir.display()
        )
    }

    /// What the process is doing, from the kernel (`/proc/PID/stat`): for
    /// messages about a server that does not answer.
    pub fn activity(&self) -> Activity {
        let Some(pid) = self.pid() else {
            return match self.exit_status() {
                Some(status) => Activity::Exited(status),
                None => Activity::NotRunning,
            };
        };
        match proc_state(pid) {
            Some('R') => Activity::Running,
            Some('S') | Some('I') => Activity::Sleeping,
            Some('D') => Activity::DiskSleep,
            Some('T') | Some('t') => Activity::Stopped,
            Some(other) => Activity::Other(other),
            // Gone between the pid and the read: reap it for the status.
            None => match self.poll() {
                false => self
                    .exit_status()
                    .map_or(Activity::NotRunning, Activity::Exited),
                true => Activity::Other('?'),
            },
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Where in the log the current (or last) process started writing.
    pub fn log_start(&self) -> u64 {
        *lock(&self.log_start)
    }

    /// Records a freshly spawned process that logs from offset `log_start` on.
    pub(crate) fn set_child(&self, child: Spawned, log_start: u64) {
        *lock(&self.exit) = None;
        *lock(&self.log_start) = log_start;
        *lock(&self.last_pid) = Some(child.id());
        *lock(&self.child) = Some(child);
    }
}

/// What a server's process is doing, as the kernel reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    /// On a CPU or ready for one (busy: a long command, a loop).
    Running,
    /// Waiting for an event (an idle server sleeps in epoll).
    Sleeping,
    /// In uninterruptible sleep (disk or kernel wait).
    DiskSleep,
    /// Stopped by a signal (SIGSTOP, SIGTSTP) or a debugger: it answers nothing.
    Stopped,
    Exited(ExitStatus),
    NotRunning,
    /// Another state letter of /proc/PID/stat.
    Other(char),
}

impl std::fmt::Display for Activity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Activity::Running => write!(f, "running (busy on a CPU: state R)"),
            Activity::Sleeping => write!(f, "sleeping (waiting for an event: state S)"),
            Activity::DiskSleep => write!(f, "in uninterruptible sleep (state D)"),
            Activity::Stopped => write!(f, "stopped (by SIGSTOP, SIGTSTP or a debugger: state T)"),
            Activity::Exited(status) => write!(f, "gone: it {}", describe_exit(*status)),
            Activity::NotRunning => write!(f, "not running"),
            Activity::Other(c) => write!(f, "in process state {c}"),
        }
    }
}

/// The state letter of `/proc/PID/stat` (after the command name, which may
/// itself hold spaces and parentheses).
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.trim_start().chars().next()
}

/// "exited with status N" / "killed by signal N".
pub fn describe_exit(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => format!("{status}"),
    }
}

/// Locks a mutex, ignoring poisoning: the state it guards stays consistent
/// (a panicking test thread must not wedge every later cleanup).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
