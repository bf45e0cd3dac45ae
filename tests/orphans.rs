//! Orphans: a test process killed with SIGKILL takes every server it started
//! with it (PR_SET_PDEATHSIG from the spawner thread, src/process.rs): a
//! standalone server, a replication group (primary + 2 replicas) and a 3x1
//! cluster, 10 processes.
//!
//! The holder is this test binary re-run with `--exact orphan_holder --ignored`
//! and env `VTF_ORPHAN_HOLDER=1`: it prints `PID <n>` per server process and
//! `READY`, then blocks on stdin until it is killed.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use vtf::{Cluster, Config, Replication, Server};

const TRIALS: usize = 3;
const GONE_WITHIN: Duration = Duration::from_secs(2);
/// 3 standalone + 3 in the replication group + 6 in the cluster.
const SERVER_PROCESSES: usize = 12;

/// The state letter of /proc/<pid>/stat ("R", "S", "Z" ...), if the process exists.
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ...": comm may hold spaces and parentheses; the state follows the last ')'.
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

/// A server process still alive: exists and is neither a zombie nor dead.
fn running(pid: u32) -> bool {
    matches!(proc_state(pid), Some(s) if s != 'Z' && s != 'X')
}

#[test]
#[ignore = "the holder process of killed_test_process_leaves_no_servers"]
fn orphan_holder() {
    let config = Config::new();
    let standalone: Vec<Server> = (0..3)
        .map(|_| Server::start(&config).expect("start"))
        .collect();
    let group = Replication::create(&config, 2).expect("replication group");
    let cluster = Cluster::start(&config, 3, 1).expect("cluster");
    let servers = standalone
        .iter()
        .chain(std::iter::once(group.primary()))
        .chain(group.replicas())
        .chain(cluster.nodes());
    for server in servers {
        println!("PID {}", server.pid().expect("running"));
    }
    println!("READY");
    if std::env::var_os("VTF_ORPHAN_HOLDER").is_some() {
        // Blocks until the parent kills us (or closes stdin).
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
    }
}

/// One trial: returns (server pids, survivors, time until all were gone).
fn trial(n: usize) -> (usize, Vec<u32>, Duration) {
    let exe = std::env::current_exe().expect("current test binary");
    let mut child = Command::new(exe)
        .args([
            "orphan_holder",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("VTF_ORPHAN_HOLDER", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawning the holder");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut pids = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("READY") => break,
            Ok(line) => {
                if let Some(pid) = line.find("PID ").map(|i| &line[i + 4..]) {
                    pids.push(pid.trim().parse::<u32>().expect("numeric pid"));
                }
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("trial {n}: the holder did not get READY: {e}");
            }
        }
    }
    assert_eq!(pids.len(), SERVER_PROCESSES, "trial {n}: pids {pids:?}");
    for &pid in &pids {
        assert!(running(pid), "trial {n}: server {pid} is not running");
        assert!(
            cmdline(pid).contains("valkey-server"),
            "trial {n}: {pid} is not a valkey-server: {}",
            cmdline(pid)
        );
    }

    // SIGKILL, by pid: no chance for the holder to clean up.
    child.kill().expect("SIGKILL the holder");
    let killed_at = Instant::now();
    let status = child.wait().expect("reaping the holder");
    assert!(!status.success(), "trial {n}: holder exited {status}");

    let mut survivors = pids.clone();
    let gone = vtf::process::poll_until(GONE_WITHIN, Duration::from_millis(5), || {
        survivors.retain(|&pid| running(pid));
        survivors.is_empty()
    });
    let took = killed_at.elapsed();
    if !gone {
        for &pid in &survivors {
            eprintln!(
                "trial {n}: survivor {pid} state {:?} cmdline {}",
                proc_state(pid),
                cmdline(pid)
            );
        }
    }
    (pids.len(), survivors, took)
}

#[test]
fn killed_test_process_leaves_no_servers() {
    let mut total_survivors = Vec::new();
    for n in 0..TRIALS {
        let (servers, survivors, took) = trial(n);
        println!(
            "orphans: trial {n}: {servers} server processes, {} survivors, all gone {:.0} ms after SIGKILL",
            survivors.len(),
            took.as_secs_f64() * 1000.0
        );
        total_survivors.extend(survivors);
    }
    // Do not leave survivors behind a failing run (by pid, never by name).
    for pid in &total_survivors {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    assert!(
        total_survivors.is_empty(),
        "server processes outlived their SIGKILLed test process: {total_survivors:?}"
    );
}
