//! Spawning server processes that cannot outlive the test process.
//!
//! Linux's `PR_SET_PDEATHSIG` kills a child when the *thread* that forked it
//! exits, and test harnesses run each test on a thread of its own. So every
//! server is forked from one long-lived spawner thread that never exits: the
//! signal then fires only when the whole test process dies, SIGKILL included.

use std::io;
use std::process::{Child, Command};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

type Request = (Command, Sender<io::Result<Child>>);

/// Spawns `command` from the spawner thread, with the death signal set.
pub fn spawn(command: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<Sender<Request>>> = OnceLock::new();
    let sender = SPAWNER.get_or_init(|| {
        let (tx, rx) = channel::<Request>();
        let started = std::thread::Builder::new()
            .name("vtf-spawner".into())
            .spawn(move || {
                for (mut command, reply) in rx {
                    let _ = reply.send(spawn_here(&mut command));
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
        .send((command, tx))
        .map_err(|_| io::Error::other("the vtf spawner thread is gone"))?;
    rx.recv()
        .map_err(|_| io::Error::other("the vtf spawner thread did not answer"))?
}

fn spawn_here(command: &mut Command) -> io::Result<Child> {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the forked child before exec and calls only
    // async-signal-safe functions (prctl, getppid); it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl.
            if libc::getppid() != parent {
                return Err(io::Error::other("the test process exited during spawn"));
            }
            Ok(())
        })
    };
    command.spawn()
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
