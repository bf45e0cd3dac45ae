//! Attached servers (servers vtf did not start): real servers, started here
//! by vtf and then attached to as a suite elsewhere would, over plain TCP,
//! TLS, mutual TLS and with a password.

use std::time::Duration;

use vtf::{Cluster, Config, ErrorKind, Reply, Server, TlsMode};

fn set(server: &Server, key: &str, value: &str) {
    let reply = server.connect().unwrap().cmd(["SET", key, value]).unwrap();
    assert_eq!(
        reply,
        Reply::Status("OK".into()),
        "SET on {}",
        server.describe()
    );
}

fn get(server: &Server, key: &str) -> Option<String> {
    let reply = server.connect().unwrap().cmd(["GET", key]).unwrap();
    reply.as_str().map(str::to_string)
}

fn assert_unsupported<T: std::fmt::Debug>(what: &str, result: vtf::Result<T>) {
    let err = result.expect_err(what);
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{what}: {err}");
    assert!(err.message().contains("external server"), "{what}: {err}");
}

#[test]
fn an_attached_server_serves_commands_refuses_process_operations_and_is_left_running() {
    let real = Server::spawn(&Config::new()).unwrap();
    let mut attached = Server::attach(&Config::new(), "127.0.0.1", real.port()).unwrap();
    assert!(attached.is_external());
    assert!(!real.is_external());
    assert_eq!(attached.port(), real.port());
    assert_eq!(attached.host(), "127.0.0.1");
    assert_eq!(attached.pid(), None);
    assert!(
        attached.is_running(),
        "an attached server counts as running"
    );
    assert!(attached.engine().is_valkey() || attached.engine().name == "redis");
    assert_eq!(attached.engine(), real.engine(), "engine from INFO server");
    set(&attached, "written-through-attach", "1");
    assert_eq!(
        attached
            .info_field("server", "tcp_port")
            .unwrap()
            .as_deref(),
        Some(real.port().to_string().as_str())
    );

    assert_unsupported("stop", attached.stop());
    assert_unsupported("shutdown", attached.shutdown(true));
    assert_unsupported("restart", attached.restart(true));
    assert_unsupported("restart", attached.restart(false));
    assert_unsupported("log_tail", attached.log_tail(10));
    assert_unsupported("log_contains", attached.log_contains("Ready"));
    assert_unsupported(
        "wait_for_log",
        attached.wait_for_log("Ready", Duration::from_secs(1)),
    );
    assert_unsupported("check_clean", attached.check_clean());
    attached.kill_now(); // no process of ours: nothing happens
    drop(attached);

    assert!(
        real.is_running(),
        "dropping the attached handle stopped nothing"
    );
    assert_eq!(get(&real, "written-through-attach").as_deref(), Some("1"));
}

#[test]
fn flush_on_attach_is_an_opt_in() {
    let real = Server::spawn(&Config::new()).unwrap();
    set(&real, "kept", "1");
    let kept = Server::attach(
        &Config::new().flush_on_attach(false),
        "127.0.0.1",
        real.port(),
    )
    .unwrap();
    assert_eq!(get(&kept, "kept").as_deref(), Some("1"));
    let flushed = Server::attach(
        &Config::new().flush_on_attach(true),
        "127.0.0.1",
        real.port(),
    )
    .unwrap();
    assert_eq!(get(&flushed, "kept"), None);
}

#[test]
fn attach_to_tls_servers_with_their_ca_and_client_certificate() {
    for mode in [TlsMode::On, TlsMode::Mutual] {
        let real = Server::spawn(&Config::new().tls(mode)).unwrap();
        let files = real.tls_files().unwrap().clone();
        let client = (mode == TlsMode::Mutual).then_some((files.client_cert, files.client_key));
        let config = Config::new().tls_files(
            &files.ca_cert,
            client.as_ref().map(|c| c.0.clone()),
            client.as_ref().map(|c| c.1.clone()),
        );
        let attached = Server::attach(&config, "127.0.0.1", real.port()).unwrap();
        assert_eq!(attached.tls_mode(), mode);
        set(&attached, "tls-key", "v");
        assert_eq!(get(&real, "tls-key").as_deref(), Some("v"));

        // Plain TCP to a TLS-only port fails with a message, not a hang.
        let err = Server::attach(&Config::new(), "127.0.0.1", real.port()).unwrap_err();
        assert!(
            err.message().contains("attaching to the external server"),
            "{err}"
        );
    }
    // Mutual TLS without the client certificate is refused by the server.
    let real = Server::spawn(&Config::new().tls(TlsMode::Mutual)).unwrap();
    let files = real.tls_files().unwrap();
    let err = Server::attach(
        &Config::new().tls_files(&files.ca_cert, None, None),
        "127.0.0.1",
        real.port(),
    )
    .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Tls | ErrorKind::Connection),
        "{err}"
    );
    // Half a client identity is refused before connecting.
    let err = Server::attach(
        &Config::new().tls_files(&files.ca_cert, Some(files.client_cert.clone()), None),
        "127.0.0.1",
        real.port(),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
}

#[test]
fn attach_to_a_password_protected_server() {
    let real = Server::spawn(&Config::new().arg("requirepass", "s3cret pw")).unwrap();
    let err = Server::attach(&Config::new(), "127.0.0.1", real.port()).unwrap_err();
    assert!(
        err.message().contains("NOAUTH") || err.message().contains("uthentication"),
        "{err}"
    );
    let config = Config::new().password("s3cret pw");
    let attached = Server::attach(&config, "127.0.0.1", real.port()).unwrap();
    set(&attached, "with-auth", "1");
    let wrong = Server::attach(&Config::new().password("wrong"), "127.0.0.1", real.port());
    assert!(wrong.is_err());
    // The spawned server's own SHUTDOWN has no password: stop it through
    // the attached handle so its teardown does not wait for a refusal.
    let _ = attached.connect().unwrap().cmd(["SHUTDOWN", "NOSAVE"]);
    assert!(vtf::process::poll_until(
        Duration::from_secs(10),
        Duration::from_millis(10),
        || !real.is_running()
    ));
}

#[test]
fn spawned_servers_refuse_attach_only_settings() {
    let err = Server::spawn(&Config::new().password("x")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    let err = Server::attach(&Config::new(), "127.0.0.1", 0).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
}

#[test]
fn an_attached_cluster_is_discovered_from_a_replica_routes_and_is_left_running() {
    let real = Cluster::start(&Config::new(), 3, 1).unwrap();
    // Seed from a replica: the whole cluster is found from any node.
    let seed = real.replica(1, 0).unwrap().port();
    let attached = Cluster::attach(&Config::new(), "127.0.0.1", seed).unwrap();
    assert!(attached.is_external() && !real.is_external());
    assert_eq!(attached.node_count(), 6);
    assert_eq!(attached.shards(), 3);
    assert_eq!(attached.replicas_per_shard(), 1);
    for shard in 0..3 {
        // Shards in slot order, as vtf made them.
        assert_eq!(
            attached.primary(shard).unwrap().port(),
            real.primary(shard).unwrap().port(),
            "primary of shard {shard}"
        );
        assert_eq!(
            attached.replica(shard, 0).unwrap().port(),
            real.replica(shard, 0).unwrap().port(),
            "replica of shard {shard}"
        );
    }
    let mut client = attached.connect().unwrap();
    for i in 0..100 {
        let key = format!("attached-{i}");
        assert_eq!(
            client.cmd(["SET", key.as_str(), "v"]).unwrap(),
            Reply::Status("OK".into())
        );
    }
    drop(client);
    let mut node = Cluster::attach(&Config::new(), "127.0.0.1", seed).unwrap();
    assert_unsupported("restart", node.node_mut(0).unwrap().restart(true));
    drop(node);
    drop(attached);

    let mut client = real.connect().unwrap();
    for i in 0..100 {
        let key = format!("attached-{i}");
        assert_eq!(
            client.cmd(["GET", key.as_str()]).unwrap().as_str(),
            Some("v")
        );
    }
    assert!(real.nodes().all(Server::is_running));
    // Not a cluster node: said so.
    let single = Server::spawn(&Config::new()).unwrap();
    let err = Cluster::attach(&Config::new(), "127.0.0.1", single.port()).unwrap_err();
    assert!(err.message().contains("cluster"), "{err}");
}
