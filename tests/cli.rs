//! The `vtf` command line as a person uses it: started as a process, its
//! output read, its servers reached with valkey-cli, stopped with signals.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::channel;
use std::time::Duration;

use serde_json::Value;

/// Long enough for a 6-node TLS cluster on a busy 2-core machine.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
const EXIT_TIMEOUT: Duration = Duration::from_secs(60);

fn vtf() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vtf"));
    // The caller's shell must not change what the tests expect.
    for var in [
        "VTF_EXTERNAL",
        "VTF_KEEP_DATA",
        "VTF_TLS",
        "VTF_SERVER_WRAPPER",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// A foreground `vtf` and the stderr it printed so far (read by a thread so
/// that the pipe never fills).
struct Foreground {
    child: Child,
    stderr: std::thread::JoinHandle<String>,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Foreground {
    fn spawn(args: &[&str]) -> Foreground {
        let mut child = vtf()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning vtf");
        let mut err = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            text
        });
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Foreground {
            child,
            stderr,
            stdout,
        }
    }

    /// Reads stdout lines until `done` says the description is complete.
    fn read_until(mut self, done: impl Fn(&str) -> bool + Send + 'static) -> (Self, String) {
        let (tx, rx) = channel();
        let mut stdout = self.stdout;
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            loop {
                let mut line = String::new();
                match stdout.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        text.push_str(&line);
                        if done(&line) {
                            break;
                        }
                    }
                }
            }
            let _ = tx.send(text);
            stdout
        });
        let text = match rx.recv_timeout(READY_TIMEOUT) {
            Ok(text) => text,
            Err(_) => {
                let _ = self.child.kill();
                panic!(
                    "vtf printed no description in {READY_TIMEOUT:?}; stderr:\n{}",
                    self.stderr.join().unwrap_or_default()
                );
            }
        };
        self.stdout = reader.join().unwrap();
        if text.is_empty() {
            let status = self.child.wait().unwrap();
            panic!(
                "vtf exited ({status}) before describing the servers; stderr:\n{}",
                self.stderr.join().unwrap_or_default()
            );
        }
        (self, text)
    }

    fn json(self) -> (Self, Value) {
        let (me, line) = self.read_until(|_| true);
        let value = serde_json::from_str(line.trim())
            .unwrap_or_else(|e| panic!("vtf --json printed {line:?}: {e}"));
        (me, value)
    }

    fn signal(&self, signal: libc::c_int) {
        vtf::process::signal(self.child.id(), signal).expect("signalling vtf");
    }

    /// Waits (bounded) for vtf to exit; returns its status and stderr.
    fn wait(mut self) -> (ExitStatus, String) {
        let mut status = None;
        let exited = vtf::process::poll_until(EXIT_TIMEOUT, Duration::from_millis(50), || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        if !exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
            panic!(
                "vtf did not exit within {EXIT_TIMEOUT:?}; stderr:\n{}",
                self.stderr.join().unwrap_or_default()
            );
        }
        (status.unwrap(), self.stderr.join().unwrap_or_default())
    }
}

/// The process is gone (or a zombie nobody has reaped yet: it runs no more).
fn gone(pid: u64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

fn wait_gone(pids: &[u64]) {
    let all_gone = vtf::process::poll_until(EXIT_TIMEOUT, Duration::from_millis(50), || {
        pids.iter().all(|&p| gone(p))
    });
    let left: Vec<_> = pids.iter().filter(|&&p| !gone(p)).collect();
    assert!(all_gone, "server processes still running: {left:?}");
}

/// valkey-cli with the credential vtf printed (none while auth is off).
fn valkey_cli(args: &[&str], password: Option<&str>) -> String {
    let mut cli = Command::new("valkey-cli");
    cli.args(args).env_remove("VALKEYCLI_AUTH");
    if let Some(password) = password {
        cli.env("VALKEYCLI_AUTH", password);
    }
    let out = cli
        .output()
        .expect("running valkey-cli (valkey-tools must be installed)");
    assert!(out.status.success(), "valkey-cli {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn pids(description: &Value) -> Vec<u64> {
    description["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["pid"].as_u64().expect("every node has a pid"))
        .collect()
}

fn dirs(description: &Value) -> Vec<PathBuf> {
    description["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| PathBuf::from(n["dir"].as_str().unwrap()))
        .collect()
}

#[test]
fn a_tls_cluster_from_the_command_line_is_reached_with_valkey_cli_and_gone_after_sigint() {
    let vtf = Foreground::spawn(&[
        "cluster",
        "--shards",
        "3",
        "--replicas",
        "1",
        "--tls",
        "on",
        "--json",
    ]);
    let (vtf, d) = vtf.json();
    assert_eq!(d["kind"], "cluster", "{d}");
    assert!(d["password"].is_null() || d["password"].is_string(), "{d}");
    let pw = d["password"].as_str();
    let tls = &d["tls"];
    assert_eq!(tls["mode"], "on", "{d}");
    let ca = tls["ca_cert"].as_str().unwrap().to_string();
    assert!(Path::new(&ca).is_file(), "{ca}");
    for file in ["client_cert", "client_key"] {
        assert!(Path::new(tls[file].as_str().unwrap()).is_file(), "{d}");
    }
    let nodes = d["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 6, "{d}");
    let mut primaries_per_shard = [0; 3];
    let mut replicas_per_shard = [0; 3];
    for node in nodes {
        assert_eq!(node["host"], "127.0.0.1");
        assert!(Path::new(node["log"].as_str().unwrap()).is_file(), "{node}");
        let port = node["port"].as_u64().unwrap().to_string();
        let shard = node["shard"].as_u64().unwrap() as usize;
        let role = valkey_cli(&["-p", &port, "--tls", "--cacert", &ca, "ROLE"], pw);
        match node["role"].as_str().unwrap() {
            "primary" => {
                primaries_per_shard[shard] += 1;
                assert!(role.starts_with("master"), "{port}: ROLE {role}");
            }
            "replica" => {
                replicas_per_shard[shard] += 1;
                assert!(role.starts_with("slave"), "{port}: ROLE {role}");
            }
            other => panic!("role {other:?}"),
        }
        let info = valkey_cli(
            &["-p", &port, "--tls", "--cacert", &ca, "CLUSTER", "INFO"],
            pw,
        );
        assert!(info.contains("cluster_state:ok"), "{port}: {info}");
    }
    assert_eq!(primaries_per_shard, [1, 1, 1]);
    assert_eq!(replicas_per_shard, [1, 1, 1]);
    // A write routed by valkey-cli -c lands and reads back from another node.
    let first = nodes[0]["port"].as_u64().unwrap().to_string();
    let last = nodes[5]["port"].as_u64().unwrap().to_string();
    let tls_args = ["--tls", "--cacert", ca.as_str()];
    let set = [
        &["-c", "-p", first.as_str()][..],
        &tls_args,
        &["SET", "cli-key", "v1"],
    ]
    .concat();
    assert_eq!(valkey_cli(&set, pw).trim(), "OK");
    let get = [
        &["-c", "-p", last.as_str()][..],
        &tls_args,
        &["GET", "cli-key"],
    ]
    .concat();
    assert_eq!(valkey_cli(&get, pw).trim(), "v1");

    let (pids, dirs) = (pids(&d), dirs(&d));
    vtf.signal(libc::SIGINT);
    let (status, stderr) = vtf.wait();
    assert_eq!(status.code(), Some(0), "stderr:\n{stderr}");
    assert!(stderr.contains("SIGINT"), "{stderr}");
    wait_gone(&pids);
    for dir in dirs {
        assert!(!dir.exists(), "{} was not removed", dir.display());
    }
}

#[test]
fn a_server_table_names_its_port_and_sigterm_stops_it() {
    let vtf = Foreground::spawn(&["server", "--arg", "maxmemory", "3mb"]);
    let (vtf, table) = vtf.read_until(|line| line.starts_with("valkey-cli:"));
    let row = table
        .lines()
        .find(|l| l.starts_with("primary"))
        .unwrap_or_else(|| panic!("no primary row in:\n{table}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    // ROLE HOST PORT PID DIR LOG (no SHARD column outside clusters).
    assert_eq!(cells.len(), 6, "{row}");
    assert!(table.contains("TLS:          off"), "{table}");
    let (port, pid) = (cells[2], cells[3].parse::<u64>().unwrap());
    let password = table
        .lines()
        .find_map(|l| l.strip_prefix("password:"))
        .map(str::trim)
        .filter(|p| !p.starts_with("none"));
    let maxmemory = valkey_cli(&["-p", port, "CONFIG", "GET", "maxmemory"], password);
    assert_eq!(maxmemory.lines().nth(1), Some("3145728"), "{maxmemory}");
    vtf.signal(libc::SIGTERM);
    let (status, stderr) = vtf.wait();
    assert_eq!(status.code(), Some(0), "{stderr}");
    wait_gone(&[pid]);
}

#[test]
fn sigkill_of_vtf_leaves_no_server() {
    let vtf = Foreground::spawn(&["replication", "--replicas", "2", "--json"]);
    let (vtf, d) = vtf.json();
    assert_eq!(d["kind"], "replication");
    let roles: Vec<&str> = d["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["primary", "replica", "replica"]);
    assert!(
        d["nodes"][0].get("shard").is_none(),
        "shard is absent outside clusters: {d}"
    );
    let pids = pids(&d);
    assert!(pids.iter().all(|&p| !gone(p)));
    vtf.signal(libc::SIGKILL);
    let (status, _) = vtf.wait();
    assert_eq!(status.code(), None, "killed by a signal");
    wait_gone(&pids);
}

fn run(args: &[&str]) -> Output {
    vtf().args(args).output().expect("running vtf run")
}

#[test]
fn vtf_run_passes_the_exit_status_and_the_servers_in_the_environment() {
    // CMD reaches the server from the variables and prints the description.
    let out = run(&[
        "run",
        "--replicas",
        "1",
        "--",
        "sh",
        "-c",
        r#"test "$(valkey-cli -h "$VALKEY_HOST" -p "$VALKEY_PORT" PING)" = PONG || exit 9
           test "$VALKEY_TLS" = off || exit 10
           printf '%s\n%s\n' "$VALKEY_NODES" "$VTF_EXTERNAL""#,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout {stdout}\nstderr {stderr}"
    );
    let (nodes, json) = stdout.split_once('\n').unwrap();
    let d: Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(d["kind"], "replication");
    let listed: Vec<String> = d["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| format!("127.0.0.1:{}", n["port"]))
        .collect();
    assert_eq!(nodes, listed.join(","));
    // Torn down when CMD returned.
    wait_gone(&pids(&d));

    let out = run(&["run", "--", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    // A failing CMD gets the servers' log tails on stderr.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("exited with status 7"), "{stderr}");
    assert!(stderr.contains("Ready to accept connections"), "{stderr}");

    // An inherited VTF_EXTERNAL (an outer `vtf run`) does not make vtf attach:
    // it starts its own server and hands CMD that one.
    let out = vtf()
        .env("VTF_EXTERNAL", "127.0.0.1:1")
        .args([
            "run",
            "--",
            "sh",
            "-c",
            r#"test "$VTF_EXTERNAL" != 127.0.0.1:1"#,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    let out = run(&["run", "--", "/nonexistent/vtf-test-command"]);
    assert_eq!(out.status.code(), Some(127), "{out:?}");
    let out = run(&["run", "--", "sh", "-c", "kill -TERM $$"]);
    assert_eq!(out.status.code(), Some(128 + libc::SIGTERM), "{out:?}");
}

#[test]
fn a_cluster_run_describes_every_node_and_a_sigterm_reaches_cmd() {
    let mut child = vtf()
        .args([
            "run",
            "--shards",
            "2",
            "--",
            "sh",
            "-c",
            // Says it is ready, then waits; the trap's status shows the SIGTERM arrived.
            r#"trap 'exit 42' TERM; echo "$VALKEY_NODES"; while :; do sleep 1; done"#,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim().split(',').count(), 2, "{line}");
    vtf::process::signal(child.id(), libc::SIGTERM).unwrap();
    let mut status = None;
    assert!(vtf::process::poll_until(
        EXIT_TIMEOUT,
        Duration::from_millis(50),
        || {
            status = child.try_wait().unwrap();
            status.is_some()
        }
    ));
    assert_eq!(status.unwrap().code(), Some(42));
}

fn fails(args: &[&str], code: i32, message: &str) {
    let out = vtf().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "vtf {args:?}: {stderr}");
    assert!(
        stderr.contains(message),
        "vtf {args:?}: expected {message:?} in:\n{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "nothing described on stdout: {out:?}"
    );
}

#[test]
fn bad_input_gets_vtf_errors_and_documented_exit_codes() {
    fails(&["server", "--arg", "port", "7000"], 1, "set by vtf");
    fails(
        &["server", "--module-arg", "x", "--module", "/nonexistent.so"],
        1,
        "comes before any --module",
    );
    fails(
        &["server", "--module", "/nonexistent.so"],
        1,
        "/nonexistent.so",
    );
    fails(
        &["server", "--binary", "/nonexistent/valkey-server"],
        1,
        "/nonexistent/valkey-server",
    );
    fails(&["cluster", "--shards", "0"], 1, "at least one shard");
    // The server's own words: an unknown option kills it at startup.
    fails(
        &["server", "--arg", "no-such-option", "1"],
        1,
        "no-such-option",
    );
    fails(&["server", "--tls", "sometimes"], 2, "possible values");
    fails(&["run"], 2, "CMD");
    // vtf run's own failure is 125, never confused with CMD's statuses.
    fails(
        &["run", "--arg", "port", "1", "--", "true"],
        125,
        "set by vtf",
    );
}

#[test]
fn module_arguments_follow_their_module_one_argv_item_each() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let module = dir.join("cluster_module.so");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cluster_module.c");
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&module)
        .arg(&source)
        .output()
        .expect("running cc (a C compiler is needed to build the test module)");
    assert!(built.status.success(), "{built:?}");
    let out = run(&[
        "run",
        "--module",
        module.to_str().unwrap(),
        "--module-arg",
        "a b",
        "--module-arg",
        "-x",
        "--",
        "sh",
        "-c",
        r#"valkey-cli -p "$VALKEY_PORT" MODULE LIST"#,
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let lines: Vec<&str> = stdout.lines().collect();
    let args_at = lines.iter().position(|l| *l == "args").unwrap_or_else(|| {
        panic!("MODULE LIST has no args (this valkey-server is too old?):\n{stdout}")
    });
    assert_eq!(&lines[args_at + 1..args_at + 3], ["a b", "-x"], "{stdout}");
}

#[test]
fn every_subcommand_has_help_and_vtf_has_a_version() {
    for sub in ["server", "replication", "cluster", "run", "build"] {
        let out = vtf().args([sub, "--help"]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "vtf {sub} --help: {out:?}");
        assert!(text.contains("Usage: vtf"), "{text}");
        assert!(text.contains("Exit status"), "vtf {sub} --help:\n{text}");
    }
    let out = vtf().arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("vtf {}", env!("CARGO_PKG_VERSION"))
    );
}
