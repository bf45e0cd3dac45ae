//! Servers: start, arguments, restart, stop, crash and module failures, against real valkey-server.

use std::time::{Duration, Instant};

use vtf::{Config, ErrorKind, Reply, Server};

fn start(config: &Config) -> Server {
    Server::start(config).unwrap_or_else(|e| panic!("start failed: {e}"))
}

#[test]
fn starts_answers_and_cleans_up() {
    let server = start(&Config::new());
    assert_eq!(server.host(), "127.0.0.1");
    let pid = server.pid().expect("running server has a pid");
    let dir = server.dir().to_path_buf();
    assert!(dir.is_dir());
    let mut client = server.connect().unwrap();
    assert_eq!(client.cmd(["PING"]).unwrap(), Reply::Status("PONG".into()));
    assert_eq!(
        client.cmd(["SET", "k", "v"]).unwrap(),
        Reply::Status("OK".into())
    );
    assert_eq!(
        client.cmd_str("GET k").unwrap(),
        Reply::String(b"v".to_vec())
    );
    drop(client);
    drop(server);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "process {pid} survived"
    );
    assert!(!dir.exists(), "directory {} survived", dir.display());
}

#[test]
fn arguments_reach_the_server_in_order() {
    let server = start(
        &Config::new()
            .arg("maxmemory", "1mb")
            .arg("save", "3600 1 300 100")
            .arg("maxmemory", "2mb"),
    );
    let mut c = server.connect().unwrap();
    let mm = c.cmd(["CONFIG", "GET", "maxmemory"]).unwrap();
    assert_eq!(mm.get("maxmemory").and_then(Reply::as_str), Some("2097152"));
    let save = c.cmd(["CONFIG", "GET", "save"]).unwrap();
    assert_eq!(
        save.get("save").and_then(Reply::as_str),
        Some("3600 1 300 100")
    );

    let server = start(&Config::new().arg("save", ""));
    let mut c = server.connect().unwrap();
    let save = c.cmd(["CONFIG", "GET", "save"]).unwrap();
    assert_eq!(save.get("save").and_then(Reply::as_str), Some(""));
}

#[test]
fn binary_safe_values_and_error_replies() {
    let server = start(&Config::new());
    let mut c = server.connect().unwrap();
    let value: &[u8] = b"a\0b\r\n\xffc";
    c.cmd([&b"SET"[..], b"bin", value]).unwrap();
    assert_eq!(
        c.cmd(["GET", "bin"]).unwrap(),
        Reply::String(value.to_vec())
    );
    let err = c.cmd(["NOSUCHCOMMAND", "x"]).unwrap();
    assert!(
        err.error()
            .is_some_and(|e| e.starts_with("ERR unknown command")),
        "{err:?}"
    );
    c.cmd(["SET", "s", "x"]).unwrap();
    let wrong = c.cmd(["LPUSH", "s", "x"]).unwrap();
    assert!(
        wrong.error().is_some_and(|e| e.starts_with("WRONGTYPE")),
        "{wrong:?}"
    );
    assert_eq!(c.cmd(["GET", "missing"]).unwrap(), Reply::Nil);
    assert_eq!(c.cmd(["INCR", "n"]).unwrap(), Reply::Integer(1));
}

#[test]
fn resp3_types() {
    let server = start(&Config::new());
    let mut c = server.connect().unwrap();
    assert!(matches!(c.cmd(["HELLO", "3"]).unwrap(), Reply::Map(_)));
    c.cmd(["HSET", "h", "f", "v"]).unwrap();
    assert_eq!(
        c.cmd(["HGETALL", "h"]).unwrap(),
        Reply::Map(vec![(
            Reply::String(b"f".to_vec()),
            Reply::String(b"v".to_vec())
        )])
    );
    c.cmd(["ZADD", "z", "1.5", "m"]).unwrap();
    assert_eq!(c.cmd(["ZSCORE", "z", "m"]).unwrap(), Reply::Double(1.5));
    c.cmd(["SADD", "s", "a"]).unwrap();
    assert_eq!(
        c.cmd(["SMEMBERS", "s"]).unwrap(),
        Reply::Set(vec![Reply::String(b"a".to_vec())])
    );
}

#[test]
fn restart_keeps_or_drops_data_on_the_same_port() {
    let mut server = start(&Config::new());
    let port = server.port();
    let mut c = server.connect().unwrap();
    c.cmd(["SET", "k", "v"]).unwrap();
    server.restart(true).unwrap();
    assert_eq!(server.port(), port);
    // The same client reconnects on its next command.
    let after = c.cmd(["GET", "k"]);
    let after = match after {
        Ok(r) => r,
        Err(_) => c.cmd(["GET", "k"]).unwrap(),
    };
    assert_eq!(after, Reply::String(b"v".to_vec()));
    server.restart(false).unwrap();
    let mut c = server.connect().unwrap();
    assert_eq!(c.cmd(["GET", "k"]).unwrap(), Reply::Nil);
}

#[test]
fn a_crash_is_reported_with_the_crash_report() {
    let server = start(&Config::new());
    let mut c = server.connect().unwrap();
    let err = c.cmd(["DEBUG", "SEGFAULT"]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ServerExited, "{err}");
    assert!(err.message().contains("crashed by signal"), "{err}");
    assert!(!server.is_running());
}

#[test]
fn an_old_crash_in_the_log_is_not_blamed_on_the_restarted_server() {
    let mut server = start(&Config::new());
    let mut c = server.connect().unwrap();
    assert!(c.cmd(["DEBUG", "SEGFAULT"]).is_err());
    server.restart(false).unwrap();
    assert!(server.log_contains("crashed by signal").unwrap());

    // A connection closed by the running server is a connection error, not
    // "the server crashed" read from the previous run's report.
    let mut killer = server.connect().unwrap();
    let mut victim = server.connect().unwrap();
    let id = victim.cmd(["CLIENT", "ID"]).unwrap();
    let id = id.as_int().expect("CLIENT ID is an integer").to_string();
    assert_eq!(
        killer.cmd(["CLIENT", "KILL", "ID", &id]).unwrap(),
        Reply::Integer(1)
    );
    let err = victim.cmd(["PING"]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
    assert!(!err.message().contains("crashed by signal"), "{err}");
    assert!(server.is_running());
    // The next command reconnects.
    assert_eq!(victim.cmd(["PING"]).unwrap(), Reply::Status("PONG".into()));
}

#[test]
fn a_bad_module_fails_fast_with_the_log_line() {
    let dir = std::env::temp_dir().join(format!("vtf-test-badmod-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let module = dir.join("bad.so");
    std::fs::write(&module, "not a shared object").unwrap();
    let started = Instant::now();
    let err = Server::start(&Config::new().module(&module, ["a", "b"])).unwrap_err();
    let elapsed = started.elapsed();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(err.kind(), ErrorKind::ServerExited, "{err}");
    assert!(err.message().contains("failed to load"), "{err}");
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
}

#[test]
fn missing_binary_names_the_path() {
    let err = Server::start(&Config::new().binary("/nonexistent/valkey-server")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BinaryNotFound);
    assert!(
        err.message().contains("/nonexistent/valkey-server"),
        "{err}"
    );
}

#[test]
fn stop_is_idempotent_and_logs_are_searchable() {
    let mut server = start(&Config::new());
    assert!(server.log_contains("Ready to accept connections").unwrap());
    server
        .wait_for_log("Ready to accept", Duration::from_secs(5))
        .unwrap();
    server.stop().unwrap();
    server.stop().unwrap();
    assert_eq!(server.pid(), None);
    assert!(!server.is_running());
    let err = server
        .wait_for_log("never written", Duration::from_secs(5))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ServerExited, "{err}");
    server.check_clean().unwrap();
}

#[test]
fn tls_servers_serve_tls_only() {
    use vtf::TlsMode;
    for mode in [TlsMode::On, TlsMode::Mutual] {
        let server = start(&Config::new().tls(mode));
        let files = server.tls_files().expect("TLS files");
        assert!(files.ca_cert.is_file());
        let mut c = server.connect().unwrap();
        assert_eq!(c.cmd(["PING"]).unwrap(), Reply::Status("PONG".into()));
        // Plaintext on the TLS port gets no PONG.
        use std::io::{Read, Write};
        let mut plain = std::net::TcpStream::connect((server.host(), server.port())).unwrap();
        plain
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        plain.write_all(b"PING\r\n").unwrap();
        let mut buf = [0u8; 16];
        let n = plain.read(&mut buf).unwrap_or(0);
        assert!(
            !buf[..n].starts_with(b"+PONG"),
            "plaintext answered on a TLS port"
        );
    }
}

/// Follows whatever `VTF_TLS` the runner set: scripts/test.sh runs this file
/// without it, with `VTF_TLS=1` and with `VTF_TLS=mutual`.
#[test]
fn env_vtf_tls_applies_to_configs_that_did_not_choose() {
    use vtf::TlsMode;
    let expected = match std::env::var("VTF_TLS").unwrap_or_default().trim() {
        "" | "0" | "no" => TlsMode::Off,
        "mutual" => TlsMode::Mutual,
        _ => TlsMode::On,
    };
    let server = start(&Config::new());
    assert_eq!(server.tls_mode(), expected);
    assert_eq!(server.tls_files().is_some(), expected != TlsMode::Off);
    let mut c = server.connect().unwrap();
    assert_eq!(c.cmd(["PING"]).unwrap(), Reply::Status("PONG".into()));
    if expected == TlsMode::Mutual {
        let auth = c.cmd(["CONFIG", "GET", "tls-auth-clients"]).unwrap();
        assert_eq!(auth.elements()[1].as_str(), Some("yes"));
    }
    // A config that chose keeps its choice.
    let plain = start(&Config::new().tls(TlsMode::Off));
    assert_eq!(plain.tls_mode(), TlsMode::Off);
    assert!(plain.tls_files().is_none());
}

#[test]
fn relative_paths_mean_the_test_directory() {
    // A config file given relative to the test's working directory, while the
    // server itself runs in its own directory.
    let name = format!("target/vtf-test-{}.conf", std::process::id());
    std::fs::write(&name, "maxmemory 3mb\n").unwrap();
    let server = Server::start(&Config::new().config_file(&name));
    std::fs::remove_file(&name).unwrap();
    let server = server.unwrap();
    let mut c = server.connect().unwrap();
    let mm = c.cmd(["CONFIG", "GET", "maxmemory"]).unwrap();
    assert_eq!(mm.get("maxmemory").and_then(Reply::as_str), Some("3145728"));
}

#[test]
fn arguments_vtf_owns_are_refused_before_spawning() {
    for name in [
        "port",
        "bind",
        "daemonize",
        "cluster-port",
        "--maxmemory",
        "",
        "max memory",
    ] {
        let err = Server::start(&Config::new().arg(name, "x")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{name}: {err}");
    }
}
