//! Stress: 8 processes at once, each starting and stopping 25 servers (every
//! fifth a replication group of a primary and a replica), must all succeed. Ports are locked machine-wide, so separate processes (cargo
//! test binaries, ctest -j, GoogleTest shards) never collide.
//!
//! The workers are this test binary run again with `--exact stress_worker
//! --ignored` and env `VTF_STRESS_WORKER` set, so no extra build target is needed.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vtf::{Config, Replication, Server};

const PROCESSES: usize = 8;
const SERVERS_PER_PROCESS: usize = 25;

fn gone(pids: &[u32]) -> Result<(), String> {
    match pids
        .iter()
        .find(|pid| Path::new(&format!("/proc/{pid}")).exists())
    {
        Some(pid) => Err(format!("server process {pid} survived its drop")),
        None => Ok(()),
    }
}

/// A primary and a replica: a write on the primary is read on the replica.
fn one_group(i: usize) -> Result<(), String> {
    let group = Replication::create(&Config::new(), 1).map_err(|e| format!("create: {e}"))?;
    let replica = group.replica(0).map_err(|e| e.to_string())?;
    let pids: Vec<u32> = [group.primary(), replica]
        .iter()
        .filter_map(|s| s.pid())
        .collect();
    if pids.len() != 2 {
        return Err(format!("a group of 2 has {} running processes", pids.len()));
    }
    let value = format!("value-{i}");
    let mut primary = group
        .primary()
        .connect()
        .map_err(|e| format!("connect: {e}"))?;
    primary
        .cmd(["SET", "k", &value])
        .map_err(|e| format!("SET: {e}"))?;
    group
        .wait_sync(Duration::from_secs(10))
        .map_err(|e| format!("wait_sync: {e}"))?;
    let got = replica
        .connect()
        .and_then(|mut c| c.cmd(["GET", "k"]))
        .map_err(|e| format!("GET on the replica: {e}"))?;
    if got.as_bytes() != Some(value.as_bytes()) {
        return Err(format!("the replica has k = {got:?}, expected {value}"));
    }
    drop(primary);
    drop(group);
    gone(&pids)
}

/// Starts a server (every fifth: a replication group), writes and reads a
/// key, stops it; checks the processes are gone.
fn one_server(i: usize) -> Result<(), String> {
    if i % 5 == 4 {
        return one_group(i);
    }
    let server = Server::start(&Config::new()).map_err(|e| format!("start: {e}"))?;
    let pid = server.pid().ok_or("no pid after start")?;
    let mut client = server.connect().map_err(|e| format!("connect: {e}"))?;
    let value = format!("value-{i}");
    client
        .cmd(["SET", "k", &value])
        .map_err(|e| format!("SET: {e}"))?;
    let got = client.cmd(["GET", "k"]).map_err(|e| format!("GET: {e}"))?;
    if got.as_bytes() != Some(value.as_bytes()) {
        return Err(format!("GET k returned {got:?}, expected {value}"));
    }
    drop(client);
    drop(server);
    gone(&[pid])
}

/// One worker's share (20 servers, 5 groups); prints a `STRESS-RESULT ok failures ms` line.
/// Run directly (without the env var) it is a small stress test of its own.
#[test]
#[ignore = "a worker process of stress_8_processes_x_25_servers"]
fn stress_worker() {
    let id = std::env::var("VTF_STRESS_WORKER").unwrap_or_else(|_| "solo".into());
    let started = Instant::now();
    let mut failures = Vec::new();
    for i in 0..SERVERS_PER_PROCESS {
        if let Err(e) = one_server(i) {
            eprintln!("worker {id}: server {i} failed: {e}");
            failures.push(e);
        }
    }
    println!(
        "STRESS-RESULT {} {} {}",
        SERVERS_PER_PROCESS - failures.len(),
        failures.len(),
        started.elapsed().as_millis()
    );
    assert!(failures.is_empty(), "worker {id}: {failures:?}");
}

#[test]
fn stress_8_processes_x_25_servers() {
    let exe = std::env::current_exe().expect("current test binary");
    let started = Instant::now();
    let children: Vec<_> = (0..PROCESSES)
        .map(|n| {
            Command::new(&exe)
                .args([
                    "stress_worker",
                    "--exact",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("VTF_STRESS_WORKER", n.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawning a worker")
        })
        .collect();
    let mut ok = 0;
    let mut failures = 0;
    let mut problems = Vec::new();
    let mut slowest = Duration::ZERO;
    for (n, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().expect("waiting for a worker");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let result = stdout.lines().find_map(|l| {
            let rest = &l[l.find("STRESS-RESULT ")? + "STRESS-RESULT ".len()..];
            let v: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect();
            (v.len() == 3).then(|| (v[0], v[1], v[2]))
        });
        match result {
            Some((o, f, ms)) => {
                ok += o;
                failures += f;
                slowest = slowest.max(Duration::from_millis(ms));
            }
            None => failures += SERVERS_PER_PROCESS as u64,
        }
        if !out.status.success() || result.is_none() {
            problems.push(format!(
                "worker {n} ({}): {stdout}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    let wall = started.elapsed();
    println!(
        "stress: {PROCESSES} processes x {SERVERS_PER_PROCESS} servers (every fifth a replication group): {ok} ok, {failures} failed, \
         wall {:.1} s (slowest worker {:.1} s)",
        wall.as_secs_f64(),
        slowest.as_secs_f64()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n---\n"));
    assert_eq!(failures, 0);
    assert_eq!(ok, (PROCESSES * SERVERS_PER_PROCESS) as u64);
}
