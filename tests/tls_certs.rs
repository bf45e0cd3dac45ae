//! The generated certificates against a real valkey-server: TLS on, mutual
//! TLS, and replication and the cluster bus under mutual TLS.
//!
//! Servers are spawned directly with std::process::Command (not through the
//! library's server code) so this test checks only the TLS material and the
//! options from `vtf::tls::server_args`.

use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use vtf::tls::{self, Certificates, TlsFiles};

const DEADLINE: Duration = Duration::from_secs(15);

fn server_binary() -> PathBuf {
    std::env::var_os("VTF_SERVER_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/valkey-server"))
}

/// valkey-cli next to the server binary, else the Debian one.
fn cli_binary() -> PathBuf {
    let next_to = server_binary().with_file_name("valkey-cli");
    if next_to.exists() {
        next_to
    } else {
        PathBuf::from("/usr/bin/valkey-cli")
    }
}

/// The first call in this process generates; time it once.
fn certs() -> &'static Certificates {
    static TIMED: Once = Once::new();
    TIMED.call_once(|| {
        let start = Instant::now();
        tls::certificates().expect("generating certificates");
        eprintln!("tls::certificates() first call took {:?}", start.elapsed());
    });
    tls::certificates().expect("certificates")
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "vtf-tls-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .expect("local addr")
        .port()
}

/// A server process, killed by its pid when dropped (even on a failed assert).
struct Server {
    child: Child,
    port: u16,
    files: TlsFiles,
    dir: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(tag: &str, mutual: bool, extra: &[(&str, String)]) -> Server {
        let dir = TempDir::new(tag);
        let files = tls::write_files(&dir.0.join("tls")).expect("write_files");
        let port = free_port();
        let mut cmd = Command::new(server_binary());
        cmd.args(["--bind", "127.0.0.1", "--save", ""])
            .arg("--dir")
            .arg(&dir.0)
            .arg("--logfile")
            .arg(dir.0.join("server.log"));
        for (name, value) in tls::server_args(&files, mutual, port) {
            cmd.arg(format!("--{name}")).arg(value);
        }
        for (name, value) in extra {
            cmd.arg(format!("--{name}")).arg(value);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().expect("spawn valkey-server");
        let mut server = Server {
            child,
            port,
            files,
            dir,
        };
        server.wait_listening();
        server
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("server.log")).unwrap_or_default()
    }

    fn wait_listening(&mut self) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("valkey-server exited ({status}); log:\n{}", self.log());
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "valkey-server not listening on {} after {DEADLINE:?}; log:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// valkey-cli over TLS; with our client certificate when `with_cert`.
    fn cli_tls(&self, with_cert: bool, args: &[&str]) -> Output {
        let mut cmd = Command::new(cli_binary());
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "--tls"])
            .arg("--cacert")
            .arg(&self.files.ca_cert);
        if with_cert {
            cmd.arg("--cert")
                .arg(&self.files.client_cert)
                .arg("--key")
                .arg(&self.files.client_key);
        }
        cmd.args(args).output().expect("run valkey-cli")
    }

    /// A command that must succeed, over mutual-capable TLS.
    fn cmd(&self, args: &[&str]) -> String {
        let out = self.cli_tls(true, args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success() && !stdout.starts_with("ERR") && !stdout.starts_with("(error)"),
            "valkey-cli {args:?} failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    fn redis_ping(&self, mutual: bool) -> redis::RedisResult<String> {
        tls::install_crypto_provider();
        let certs = tls::client_certificates(mutual).expect("client_certificates");
        let client =
            redis::Client::build_with_tls(format!("rediss://127.0.0.1:{}", self.port), certs)?;
        let mut conn = client.get_connection_with_timeout(Duration::from_secs(5))?;
        redis::cmd("PING").query(&mut conn)
    }

    /// Waits until the server log contains `needle` (logging lags the client).
    fn wait_log(&self, needle: &str) {
        let start = Instant::now();
        while !self.log().contains(needle) {
            assert!(
                start.elapsed() < DEADLINE,
                "log never contained {needle:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn wait_for(&self, args: &[&str], what: &str, ok: impl Fn(&str) -> bool) {
        let start = Instant::now();
        loop {
            let out = self.cmd(args);
            if ok(&out) {
                return;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "{what} not reached after {DEADLINE:?}; last {args:?}:\n{out}\nlog:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

#[test]
fn files_are_written_with_private_keys() {
    let certs = certs();
    assert!(certs.server_key_pem.contains("BEGIN PRIVATE KEY"));
    let dir = TempDir::new("files");
    let target = dir.0.join("nested").join("tls");
    let files = tls::write_files(&target).expect("write_files");
    assert_eq!(mode(&files.server_key), 0o600);
    assert_eq!(mode(&files.client_key), 0o600);
    assert_eq!(mode(&files.ca_cert), 0o644);
    assert_eq!(mode(&files.server_cert), 0o644);
    assert_eq!(mode(&files.client_cert), 0o644);
    assert_eq!(
        std::fs::read_to_string(&files.ca_cert).expect("read"),
        certs.ca_cert_pem
    );

    // Rewriting into the same directory tightens a key that was loosened.
    std::fs::set_permissions(&files.server_key, std::fs::Permissions::from_mode(0o644))
        .expect("chmod");
    let again = tls::write_files(&target).expect("write_files again");
    assert_eq!(again, files);
    assert_eq!(mode(&files.server_key), 0o600);
}

#[test]
fn write_failure_is_io_error_naming_the_path() {
    let dir = TempDir::new("blocked");
    let file = dir.0.join("not-a-dir");
    std::fs::write(&file, "x").expect("write");
    let err = tls::write_files(&file.join("tls")).expect_err("must fail");
    assert_eq!(err.kind(), vtf::ErrorKind::Io);
    assert!(err.message().contains("not-a-dir"), "{}", err.message());
}

#[test]
fn tls_on_accepts_verified_clients_without_certificates() {
    certs();
    let server = Server::start("on", false, &[]);
    assert_eq!(stdout(&server.cli_tls(false, &["PING"])), "PONG");

    let plain = Command::new(cli_binary())
        .args(["-h", "127.0.0.1", "-p", &server.port.to_string(), "PING"])
        .output()
        .expect("run valkey-cli");
    assert_ne!(stdout(&plain), "PONG", "plaintext must not be served");
    server.wait_log("wrong version number");

    assert_eq!(server.redis_ping(false).expect("redis crate PING"), "PONG");
}

#[test]
fn tls_mutual_requires_the_client_certificate() {
    certs();
    let server = Server::start("mutual", true, &[]);
    let refused = server.cli_tls(false, &["PING"]);
    assert_ne!(stdout(&refused), "PONG", "a client without cert got in");
    server.wait_log("peer did not return a certificate");
    assert_eq!(stdout(&server.cli_tls(true, &["PING"])), "PONG");

    assert_eq!(server.redis_ping(true).expect("redis crate PING"), "PONG");
    assert!(
        server.redis_ping(false).is_err(),
        "redis crate without client cert got in"
    );
}

#[test]
fn replication_works_under_mutual_tls() {
    certs();
    let primary = Server::start("primary", true, &[("repl-diskless-sync-delay", "0".into())]);
    let replica = Server::start("replica", true, &[]);
    primary.cmd(&["SET", "k", "v"]);
    replica.cmd(&["REPLICAOF", "127.0.0.1", &primary.port.to_string()]);
    replica.wait_for(&["INFO", "replication"], "master_link_status:up", |s| {
        s.contains("master_link_status:up")
    });
    assert_eq!(replica.cmd(&["GET", "k"]).trim(), "v");
}

#[test]
fn cluster_bus_works_under_mutual_tls() {
    certs();
    let start = |tag: &str| {
        let bus = free_port();
        let server = Server::start(
            tag,
            true,
            &[
                ("cluster-enabled", "yes".into()),
                ("cluster-port", bus.to_string()),
            ],
        );
        (server, bus)
    };
    let (a, _) = start("node-a");
    let (b, b_bus) = start("node-b");
    a.cmd(&[
        "CLUSTER",
        "MEET",
        "127.0.0.1",
        &b.port.to_string(),
        &b_bus.to_string(),
    ]);
    for node in [&a, &b] {
        node.wait_for(&["CLUSTER", "NODES"], "both nodes connected", |s| {
            let lines: Vec<&str> = s.lines().filter(|l| !l.is_empty()).collect();
            lines.len() == 2
                && lines
                    .iter()
                    .all(|l| l.contains(" connected") && !l.contains("handshake"))
        });
    }
}
