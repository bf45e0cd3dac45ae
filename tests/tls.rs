//! TLS against real servers: the generated certificates and key files,
//! valkey-cli (OpenSSL) and our client (rustls) on TLS and mutual-TLS servers,
//! and plaintext refused on a TLS port. Replication and cluster over TLS are
//! in tests/replication.rs and tests/cluster.rs (and the whole core suite runs
//! again under `VTF_TLS=1` and `VTF_TLS=mutual`).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use vtf::diagnostics::wait_until;
use vtf::tls;
use vtf::{Config, Reply, Server, TlsMode};

/// `valkey-cli -p PORT [--tls --cacert CA] [--cert --key] args...`, with the
/// server's password in env `REDISCLI_AUTH` (TLS comes on top of it).
fn cli(server: &Server, tls: bool, with_cert: bool, args: &[&str]) -> Output {
    let mut command = Command::new(server.cli_path().expect("the server's CLI"));
    if let Some(password) = server.password() {
        command.env("REDISCLI_AUTH", password);
    }
    command.args(["-h", server.host(), "-p", &server.port().to_string()]);
    let files = server.tls_files().expect("a TLS server has TLS files");
    if tls {
        command.arg("--tls").arg("--cacert").arg(&files.ca_cert);
    }
    if with_cert {
        command
            .arg("--cert")
            .arg(&files.client_cert)
            .arg("--key")
            .arg(&files.client_key);
    }
    command.args(args).output().expect("running valkey-cli")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

/// A scratch directory under target/tmp, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("vtf-tls-{tag}-{}", std::process::id()));
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

fn certs() -> &'static tls::Certificates {
    tls::certificates().expect("generating certificates")
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
fn tls_server_serves_verified_tls_only() {
    let server = Server::start(&Config::new().tls(TlsMode::On)).expect("TLS server");
    let files = server.tls_files().expect("TLS files").clone();
    assert!(files.ca_cert.starts_with(server.dir()));
    assert_eq!(mode(&files.server_key), 0o600);
    assert_eq!(mode(&files.client_key), 0o600);

    // valkey-cli (OpenSSL) verifying our CA.
    assert_eq!(stdout(&cli(&server, true, false, &["PING"])), "PONG");
    // Plaintext on the same port gets no PONG, and the server says why.
    assert_ne!(stdout(&cli(&server, false, false, &["PING"])), "PONG");
    wait_until(
        "the server logs the plaintext attempt",
        Duration::from_secs(10),
        || server.log_contains("wrong version number").unwrap_or(false),
    )
    .unwrap_or_else(|e| panic!("{e}; log:\n{}", server.log_tail(20).unwrap_or_default()));
    // Our client (rustls) verifying the same CA, no system trust store.
    let mut client = server.connect().expect("TLS client");
    assert_eq!(client.cmd(["PING"]).unwrap(), Reply::Status("PONG".into()));
}

#[test]
fn mutual_tls_requires_our_client_certificate() {
    let server = Server::start(&Config::new().tls(TlsMode::Mutual)).expect("mutual TLS server");
    let refused = cli(&server, true, false, &["PING"]);
    assert_ne!(
        stdout(&refused),
        "PONG",
        "valkey-cli without a certificate got in"
    );
    wait_until(
        "the server logs the missing certificate",
        Duration::from_secs(10),
        || {
            server
                .log_contains("peer did not return a certificate")
                .unwrap_or(false)
        },
    )
    .unwrap_or_else(|e| panic!("{e}; log:\n{}", server.log_tail(20).unwrap_or_default()));
    assert_eq!(stdout(&cli(&server, true, true, &["PING"])), "PONG");

    let mut client = server.connect().expect("mutual TLS client");
    assert_eq!(client.cmd(["PING"]).unwrap(), Reply::Status("PONG".into()));

    // The redis crate with our CA but without the client certificate is refused.
    tls::install_crypto_provider();
    let anonymous = redis::Client::build_with_tls(
        format!("rediss://{}:{}", server.host(), server.port()),
        tls::client_certificates(false).expect("CA only"),
    )
    .expect("client");
    let attempt = anonymous
        .get_connection_with_timeout(Duration::from_secs(5))
        .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
    assert!(
        attempt.is_err(),
        "a client without a certificate got {attempt:?}"
    );
}
