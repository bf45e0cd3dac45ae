//! `vtf run ... -- CMD`: CMD runs with the topology described in its
//! environment, and its exit status becomes vtf's.

use std::ffi::OsString;
use std::io::ErrorKind as IoErrorKind;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use vtf::topology::Topology;

use crate::running::Running;

/// vtf's own failure, as distinct from CMD's statuses (after timeout(1)).
pub const EXIT_VTF_FAILED: u8 = 125;
/// CMD exists but could not be executed.
pub const EXIT_CANNOT_EXECUTE: u8 = 126;
/// CMD was not found.
pub const EXIT_NOT_FOUND: u8 = 127;

/// Log lines per node shown when CMD fails.
const TAIL_LINES: usize = 20;

/// The variables CMD gets. Each is set or removed, so that values inherited
/// from an outer `vtf run` never describe the wrong servers.
pub fn environment(topology: &Topology) -> Vec<(&'static str, Option<String>)> {
    let first = &topology.nodes[0];
    let nodes: Vec<String> = topology
        .nodes
        .iter()
        .map(|n| format!("{}:{}", n.host, n.port))
        .collect();
    let path = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string());
    let tls = topology.tls.as_ref();
    vec![
        ("VTF_EXTERNAL", Some(topology.to_json())),
        ("VALKEY_HOST", Some(first.host.clone())),
        ("VALKEY_PORT", Some(first.port.to_string())),
        ("VALKEY_NODES", Some(nodes.join(","))),
        (
            "VALKEY_TLS",
            Some(match tls.map(|t| t.mode) {
                None => "off".to_string(),
                Some(vtf::topology::TlsModeName::On) => "on".to_string(),
                Some(vtf::topology::TlsModeName::Mutual) => "mutual".to_string(),
            }),
        ),
        (
            "VALKEY_TLS_CA_CERT",
            tls.map(|t| t.ca_cert.display().to_string()),
        ),
        (
            "VALKEY_TLS_CLIENT_CERT",
            tls.and_then(|t| path(&t.client_cert)),
        ),
        (
            "VALKEY_TLS_CLIENT_KEY",
            tls.and_then(|t| path(&t.client_key)),
        ),
        ("VALKEY_PASSWORD", topology.password.clone()),
        // valkey-cli reads its password from here without printing a warning.
        ("VALKEYCLI_AUTH", topology.password.clone()),
    ]
}

/// Runs `command` and returns the exit code vtf passes on.
pub fn run(running: &Running, command: &[OsString]) -> u8 {
    let topology = running.topology();
    let Some((program, args)) = command.split_first() else {
        eprintln!("vtf: error: no command given after --");
        return EXIT_VTF_FAILED;
    };
    // Before the spawn: a SIGTERM for vtf must reach CMD, and vtf must
    // outlive CMD to tear down. Ctrl-C reaches CMD from the terminal itself
    // (same process group), so SIGINT is only kept from killing vtf.
    let mut signals = match Signals::new([SIGINT, SIGTERM, SIGHUP]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("vtf: error: cannot install the signal handlers: {e}");
            return EXIT_VTF_FAILED;
        }
    };
    let mut cmd = Command::new(program);
    cmd.args(args);
    for (name, value) in environment(&topology) {
        match value {
            Some(v) => cmd.env(name, v),
            None => cmd.env_remove(name),
        };
    }
    let shown = program.to_string_lossy();
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            eprintln!("vtf: error: cannot run {shown}: {e}");
            return match e.kind() {
                IoErrorKind::NotFound => EXIT_NOT_FOUND,
                _ => EXIT_CANNOT_EXECUTE,
            };
        }
    };
    let pid = child.id();
    let handle = signals.handle();
    let forwarder = std::thread::spawn(move || {
        for signal in signals.forever() {
            if signal != SIGINT {
                // CMD is not reaped before this thread has ended (below),
                // so the pid cannot belong to another process yet.
                let _ = vtf::process::signal(pid, signal);
            }
        }
    });
    let exited = wait_unreaped(pid);
    handle.close();
    let _ = forwarder.join();
    let status = exited.and_then(|()| child.wait());
    let code = match status {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => u8::try_from(code).unwrap_or(1),
            (None, Some(signal)) => {
                eprintln!("vtf: {shown} was killed by signal {signal}");
                128u8.saturating_add(u8::try_from(signal).unwrap_or(0))
            }
            (None, None) => 1,
        },
        Err(e) => {
            eprintln!("vtf: error: waiting for {shown}: {e}");
            EXIT_VTF_FAILED
        }
    };
    if code != 0 {
        eprintln!(
            "vtf: {shown} exited with status {code}; the servers' logs:\n{}",
            running.log_tails(TAIL_LINES)
        );
    }
    code
}

/// Waits until process `pid` (our child) has exited, leaving it a zombie so
/// that its pid is not reused while signals may still be forwarded to it.
fn wait_unreaped(pid: u32) -> std::io::Result<()> {
    // SAFETY: siginfo_t is plain data; all zeroes is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: waitid writes only into `info`, which lives across the call.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != IoErrorKind::Interrupted {
            return Err(err);
        }
    }
}
