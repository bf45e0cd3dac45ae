//! Faults that used to hang (issue 15): a server that stops answering (here
//! SIGSTOP, what a deadlocked module looks like from outside) or a listener
//! that never replies. A command then fails with a Timeout that names the
//! command, the server and what its process is doing; stopping a stopped
//! server, replica or cluster node returns and leaves no process behind.
//!
//! The bounds asserted are hang guards (several times what is expected), not
//! speed measurements.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use vtf::process::{signal, Activity};
use vtf::{env, Cluster, Config, Endpoint, ErrorKind, Replication, Server};

/// Far above every bound involved (1 s timeouts, immediate SIGKILL).
const HANG_GUARD: Duration = Duration::from_secs(30);

fn start(config: &Config) -> Server {
    Server::start(config).unwrap_or_else(|e| panic!("start failed: {e}"))
}

fn stop_process(server: &Server) -> u32 {
    let pid = server.pid().expect("a running server has a pid");
    signal(pid, libc::SIGSTOP).expect("SIGSTOP");
    // The kernel stops it asynchronously: wait for /proc to say so.
    vtf::diagnostics::wait_until("the server is stopped", Duration::from_secs(10), || {
        server.activity() == Activity::Stopped
    })
    .expect("stopped");
    pid
}

fn gone(pid: u32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn a_stopped_server_times_out_naming_the_command_and_then_stops() {
    let server = start(&Config::new());
    let address = server.address();
    let mut client = server.connect().expect("connect");
    client.set_timeout(Some(Duration::from_secs(1))).unwrap();
    let pid = stop_process(&server);

    let started = Instant::now();
    let err = client
        .cmd(["SET", "k", "v"])
        .expect_err("a stopped server answers nothing");
    assert!(started.elapsed() < HANG_GUARD, "{:?}", started.elapsed());
    let msg = err.message();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{msg}");
    assert!(msg.contains("`SET k v`"), "{msg}");
    assert!(msg.contains(&address), "{msg}");
    assert!(msg.contains("no reply within 1.0 s"), "{msg}");
    assert!(msg.contains("stopped"), "{msg}");
    assert!(msg.contains(&format!("pid {pid}")), "{msg}");

    let started = Instant::now();
    drop(client);
    drop(server);
    assert!(started.elapsed() < HANG_GUARD, "{:?}", started.elapsed());
    assert!(
        gone(pid),
        "pid {pid} is still there after the server was dropped"
    );
}

#[test]
fn stop_kills_a_stopped_server_and_restart_brings_it_back() {
    let mut server = start(&Config::new());
    let pid = stop_process(&server);
    server.stop().expect("stopping a stopped server");
    assert!(!server.is_running());
    assert!(gone(pid));
    server.restart(false).expect("restart");
    let mut client = server.connect().expect("connect");
    assert_eq!(client.cmd(["PING"]).unwrap().as_str(), Some("PONG"));
}

#[test]
fn a_listener_that_never_answers_times_out() {
    let reservation = vtf::ports::reserve().expect("a port");
    let listener = TcpListener::bind(("127.0.0.1", reservation.port())).expect("bind");
    let endpoint = Endpoint::new("127.0.0.1", reservation.port())
        .command_timeout(Some(Duration::from_millis(500)));
    let mut client = vtf::Client::connect(&endpoint).expect("connect (the kernel accepts)");
    let err = client.cmd(["PING"]).expect_err("nobody answers");
    let msg = err.message();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{msg}");
    assert!(msg.contains("`PING`"), "{msg}");
    assert!(msg.contains("no reply within 0.5 s"), "{msg}");
    assert!(msg.contains("no server process is watched"), "{msg}");
    drop(listener);
}

#[test]
fn a_stopped_replica_is_named_by_wait_sync_and_the_group_still_stops() {
    let group = Replication::create(&Config::new(), 1).expect("replication");
    let primary = group.primary().pid().expect("primary pid");
    let replica = stop_process(group.replica(0).unwrap());
    group
        .primary()
        .connect()
        .unwrap()
        .cmd(["SET", "k", "v"])
        .unwrap();
    let err = group
        .wait_sync(Duration::from_secs(2))
        .expect_err("a stopped replica cannot sync");
    let msg = err.message();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{msg}");
    assert!(msg.contains("replica 0"), "{msg}");
    assert!(msg.contains("stopped"), "{msg}");

    let started = Instant::now();
    drop(group);
    assert!(started.elapsed() < HANG_GUARD, "{:?}", started.elapsed());
    assert!(
        gone(primary) && gone(replica),
        "pids {primary}, {replica} remain"
    );
}

#[test]
fn a_stopped_cluster_node_is_named_by_wait_ok_and_the_cluster_still_stops() {
    let cluster = Cluster::start(&Config::new(), 3, 0).expect("cluster");
    let pids: Vec<u32> = cluster.nodes().filter_map(Server::pid).collect();
    assert_eq!(pids.len(), 3);
    stop_process(cluster.node(1).expect("node 1"));
    let started = Instant::now();
    let err = cluster
        .wait_ok(Duration::from_secs(2))
        .expect_err("a stopped node does not answer");
    assert!(started.elapsed() < HANG_GUARD, "{:?}", started.elapsed());
    let msg = err.message();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{msg}");
    assert!(msg.contains("node 1"), "{msg}");
    assert!(msg.contains("stopped"), "{msg}");
    // Connecting to the stopped node is bounded by the wait's per-read bound
    // (1 s), not the 5 s connect timeout, which held a 2 s wait_ok to 5 s.
    assert!(msg.contains("no reply within 1.0 s"), "{msg}");
    let started = Instant::now();
    drop(cluster);
    assert!(started.elapsed() < HANG_GUARD, "{:?}", started.elapsed());
    for pid in pids {
        assert!(gone(pid), "pid {pid} remains");
    }
}

#[test]
#[ignore = "run in a child process by the_default_command_timeout_comes_from_the_env"]
fn command_timeout_env_child() {
    let expected = match std::env::var("EXPECT_MS").expect("EXPECT_MS").as_str() {
        "forever" => None,
        ms => Some(Duration::from_millis(ms.parse().expect("ms"))),
    };
    let server = start(&Config::new());
    let mut client = server.connect().expect("connect");
    assert_eq!(client.timeout(), expected);
    // A config's own timeout beats the env.
    let config = Config::new().command_timeout(Some(Duration::from_millis(1500)));
    assert_eq!(
        config.effective_command_timeout(),
        Some(Duration::from_millis(1500))
    );
    if expected.is_some_and(|t| t < Duration::from_secs(5)) {
        let pid = stop_process(&server);
        let err = client.cmd(["PING"]).expect_err("stopped");
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
        drop(server);
        assert!(gone(pid));
    }
}

#[test]
fn the_default_command_timeout_comes_from_the_env() {
    let exe = std::env::current_exe().expect("current test binary");
    let default = vtf::config::DEFAULT_COMMAND_TIMEOUT.as_millis().to_string();
    for (value, expect) in [
        (Some("700"), "700"),
        (Some("0"), "forever"),
        (None, default.as_str()),
    ] {
        let mut command = Command::new(&exe);
        command
            .args([
                "command_timeout_env_child",
                "--exact",
                "--ignored",
                "--nocapture",
            ])
            .env_remove(env::COMMAND_TIMEOUT_MS)
            .env_remove(env::SERVER_WRAPPER)
            .env("EXPECT_MS", expect);
        if let Some(value) = value {
            command.env(env::COMMAND_TIMEOUT_MS, value);
        }
        let out = command.output().expect("child");
        assert!(
            out.status.success(),
            "VTF_COMMAND_TIMEOUT_MS={value:?}:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
