//! Replication groups against real valkey-server processes: sync by offsets,
//! restarts, promotion, added replicas, diskless and disk-based full sync,
//! a module-loading group, and the wait_sync timeout message.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use vtf::{Config, ErrorKind, Replication, Reply, Server};

#[path = "common/datatype.rs"]
mod datatype;
use datatype::datatype_module;

const SYNC: Duration = Duration::from_secs(10);

fn create(config: &Config, replicas: usize) -> Replication {
    Replication::create(config, replicas).unwrap_or_else(|e| panic!("create failed: {e}"))
}

fn cmd(server: &Server, args: &[&str]) -> Reply {
    server
        .connect()
        .and_then(|mut c| c.cmd(args))
        .unwrap_or_else(|e| panic!("{args:?} on {} failed: {e}", server.describe()))
}

fn get(server: &Server, key: &str) -> Option<String> {
    match cmd(server, &["GET", key]) {
        Reply::Nil => None,
        reply => Some(reply.as_str().expect("GET gives a string").to_string()),
    }
}

fn set(server: &Server, key: &str, value: &str) {
    assert_eq!(
        cmd(server, &["SET", key, value]),
        Reply::Status("OK".into())
    );
}

fn role(server: &Server) -> String {
    server
        .info_field("replication", "role")
        .unwrap()
        .expect("INFO replication has a role")
}

fn sync(group: &Replication) {
    group
        .wait_sync(SYNC)
        .unwrap_or_else(|e| panic!("wait_sync failed: {e}"));
}

#[test]
fn two_replicas_replicate_writes_and_refuse_their_own() {
    let started = Instant::now();
    let group = create(&Config::new(), 2);
    let ready = started.elapsed();
    // Valkey 8.0 may start streaming to a diskless-synced replica only at its
    // next once-a-second REPLCONF ACK, so the first write can take longer.
    set(group.primary(), "first", "1");
    sync(&group);
    println!(
        "primary + 2 replicas: ready in {:.0} ms, first write on every replica after {:.0} ms",
        ready.as_secs_f64() * 1000.0,
        started.elapsed().as_secs_f64() * 1000.0
    );
    for replica in group.replicas() {
        assert_eq!(get(replica, "first").as_deref(), Some("1"));
    }
    assert_eq!(group.replica_count(), 2);
    assert_eq!(role(group.primary()), "master");
    let primary_port = group.primary().port().to_string();
    for replica in group.replicas() {
        assert_eq!(role(replica), "slave");
        assert_eq!(
            replica.info_field("replication", "master_port").unwrap(),
            Some(primary_port.clone())
        );
    }
    let err = group.replica(2).expect_err("there is no replica 2");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.message().contains("2 replica"), "{err}");

    // Default full sync (8.0): diskless, started without the 5 s delay.
    assert!(group
        .primary()
        .log_contains("Starting BGSAVE for SYNC with target: replicas sockets")
        .unwrap());

    let mut client = group.primary().connect().unwrap();
    for i in 0..100 {
        let reply = client.cmd(["SET".to_string(), format!("key:{i}"), format!("value {i}")]);
        assert_eq!(reply.unwrap(), Reply::Status("OK".into()));
    }
    sync(&group);
    for replica in group.replicas() {
        assert_eq!(get(replica, "key:0").as_deref(), Some("value 0"));
        assert_eq!(get(replica, "key:99").as_deref(), Some("value 99"));
        let refused = cmd(replica, &["SET", "mine", "x"]);
        let message = refused.error().expect("a write on a replica is refused");
        assert!(message.starts_with("READONLY"), "{message}");
    }
}

#[test]
fn restarted_replicas_catch_up_with_and_without_data() {
    let mut group = create(&Config::new(), 2);
    set(group.primary(), "before", "1");
    sync(&group);

    group.replica_mut(0).unwrap().stop().unwrap();
    set(group.primary(), "while-stopped", "2");
    // A stopped replica is skipped, the running one is waited for.
    sync(&group);
    assert_eq!(
        get(group.replica(1).unwrap(), "while-stopped").as_deref(),
        Some("2")
    );

    group.replica_mut(0).unwrap().restart(true).unwrap();
    sync(&group);
    let replica = group.replica(0).unwrap();
    assert_eq!(role(replica), "slave");
    assert_eq!(get(replica, "before").as_deref(), Some("1"));
    assert_eq!(get(replica, "while-stopped").as_deref(), Some("2"));
    // With its data kept it resumed where it was instead of a full copy.
    assert!(replica
        .log_contains("Successful partial resynchronization")
        .unwrap());

    group.replica_mut(1).unwrap().restart(false).unwrap();
    set(group.primary(), "after", "3");
    sync(&group);
    for replica in group.replicas() {
        assert_eq!(get(replica, "before").as_deref(), Some("1"));
        assert_eq!(get(replica, "after").as_deref(), Some("3"));
    }

    // An emptied primary starts a new history: in sync means the replicas
    // copied it (and dropped the old keys), whatever their old offsets were.
    group.primary_mut().restart(false).unwrap();
    set(group.primary(), "new-history", "4");
    sync(&group);
    for replica in group.replicas() {
        assert_eq!(get(replica, "new-history").as_deref(), Some("4"));
        assert_eq!(get(replica, "before"), None);
    }
}

fn hz(server: &Server) -> String {
    let reply = cmd(server, &["CONFIG", "GET", "hz"]);
    let value = reply.get("hz").and_then(Reply::as_str);
    value.expect("CONFIG GET hz gives hz").to_string()
}

/// The group raises the primary's hz while it forms (a faster cron tick);
/// the primary must end with its own: the default, or the user's, also
/// after a restart, which must not bring the raise back.
#[test]
fn the_primary_keeps_its_own_hz() {
    let mut group = create(&Config::new(), 2);
    assert_eq!(hz(group.primary()), "10");
    group.primary_mut().restart(true).unwrap();
    assert_eq!(hz(group.primary()), "10");
    sync(&group);

    let group = create(&Config::new().arg("hz", "25"), 1);
    assert_eq!(hz(group.primary()), "25");
    assert_eq!(hz(group.replica(0).unwrap()), "25");
}

#[test]
fn dropping_the_group_stops_every_process_and_removes_dirs() {
    let group = create(&Config::new(), 2);
    let nodes: Vec<(u32, PathBuf)> = std::iter::once(group.primary())
        .chain(group.replicas())
        .map(|s| (s.pid().expect("running"), s.dir().to_path_buf()))
        .collect();
    for (pid, dir) in &nodes {
        assert!(Path::new(&format!("/proc/{pid}")).exists());
        assert!(dir.is_dir());
    }
    drop(group);
    for (pid, dir) in &nodes {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} survived"
        );
        assert!(!dir.exists(), "directory {} survived", dir.display());
    }
}

#[test]
fn promotion_moves_the_primary_role_and_restarts_follow_it() {
    let mut group = create(&Config::new(), 2);
    set(group.primary(), "from-old", "1");
    let old_primary_port = group.primary().port();
    let promoted_port = group.replica(1).unwrap().port();
    let other_port = group.replica(0).unwrap().port();

    group
        .promote(1)
        .unwrap_or_else(|e| panic!("promote failed: {e}"));
    // The promoted replica and the old primary swap places.
    assert_eq!(group.primary().port(), promoted_port);
    assert_eq!(group.replica(1).unwrap().port(), old_primary_port);
    assert_eq!(group.replica(0).unwrap().port(), other_port);
    assert_eq!(role(group.primary()), "master");

    set(group.primary(), "from-new", "2");
    sync(&group);
    for replica in group.replicas() {
        assert_eq!(role(replica), "slave");
        assert_eq!(get(replica, "from-old").as_deref(), Some("1"));
        assert_eq!(get(replica, "from-new").as_deref(), Some("2"));
    }

    // A restart (empty) comes back as a replica of the new primary.
    group.replica_mut(1).unwrap().restart(false).unwrap();
    sync(&group);
    let old = group.replica(1).unwrap();
    assert_eq!(
        old.info_field("replication", "master_port").unwrap(),
        Some(promoted_port.to_string())
    );
    assert_eq!(get(old, "from-new").as_deref(), Some("2"));
}

#[test]
fn promoting_with_the_primary_stopped_makes_it_rejoin_as_a_replica() {
    let mut group = create(&Config::new(), 1);
    set(group.primary(), "kept", "1");
    sync(&group);
    group.primary_mut().stop().unwrap();
    let new_port = group.replica(0).unwrap().port();
    group.promote(0).unwrap();
    assert_eq!(group.primary().port(), new_port);
    set(group.primary(), "while-down", "2");

    group.replica_mut(0).unwrap().restart(true).unwrap();
    sync(&group);
    let old = group.replica(0).unwrap();
    assert_eq!(role(old), "slave");
    assert_eq!(
        old.info_field("replication", "master_port").unwrap(),
        Some(new_port.to_string())
    );
    assert_eq!(get(old, "kept").as_deref(), Some("1"));
    assert_eq!(get(old, "while-down").as_deref(), Some("2"));
}

#[test]
fn create_with_and_add_replica_use_the_replica_config() {
    let mut group = Replication::create_with(
        &Config::new().arg("hz", "11"),
        &Config::new().arg("hz", "12"),
        1,
    )
    .unwrap_or_else(|e| panic!("create_with failed: {e}"));
    let hz = |s: &Server| cmd(s, &["CONFIG", "GET", "hz"]).get("hz").cloned();
    assert_eq!(hz(group.primary()), Some(Reply::String(b"11".to_vec())));
    assert_eq!(
        hz(group.replica(0).unwrap()),
        Some(Reply::String(b"12".to_vec()))
    );

    set(group.primary(), "early", "1");
    let index = group.add_replica().unwrap();
    assert_eq!(index, 1);
    assert_eq!(group.replica_count(), 2);
    let added = group.replica(1).unwrap();
    assert_eq!(hz(added), Some(Reply::String(b"12".to_vec())));
    // In sync on return: the full sync carried what was written before.
    assert_eq!(get(added, "early").as_deref(), Some("1"));
}

#[test]
fn disk_based_full_sync() {
    let config = Config::new().arg("repl-diskless-sync", "no");
    let mut group = create(&config, 1);
    let mut client = group.primary().connect().unwrap();
    for i in 0..1000 {
        let reply = client.cmd(["SET".to_string(), format!("k{i}"), "v".to_string()]);
        assert_eq!(reply.unwrap(), Reply::Status("OK".into()));
    }
    group.add_replica().unwrap();
    let added = group.replica(1).unwrap();
    assert_eq!(
        cmd(added, &["DBSIZE"]),
        Reply::Integer(1000),
        "the full sync through an RDB file carried every key"
    );
    assert!(group
        .primary()
        .log_contains("Starting BGSAVE for SYNC with target: disk")
        .unwrap());
}

#[test]
fn a_group_loading_a_module_carries_its_data_type_in_full_syncs() {
    let config = Config::new().module(datatype_module(), Vec::<String>::new());
    let mut group = create(&config, 1);
    for server in std::iter::once(group.primary()).chain(group.replicas()) {
        let modules = cmd(server, &["MODULE", "LIST"]);
        let names: Vec<_> = modules
            .elements()
            .iter()
            .filter_map(|m| m.get("name").and_then(Reply::as_str))
            .collect();
        assert_eq!(names, ["datatype"], "on {}", server.describe());
    }
    // DATATYPE.SET does not replicate itself, so its values reach replicas
    // only through the RDB of a full sync (the module's rdb_save / rdb_load).
    assert_eq!(
        cmd(group.primary(), &["DATATYPE.SET", "typed", "7", "seven"]),
        Reply::Status("OK".into())
    );
    group.add_replica().unwrap();
    group.replica_mut(0).unwrap().restart(false).unwrap();
    sync(&group);
    for replica in group.replicas() {
        assert_eq!(
            cmd(replica, &["DATATYPE.GET", "typed"]),
            Reply::Array(vec![Reply::Integer(7), Reply::String(b"seven".to_vec())]),
            "on {}",
            replica.describe()
        );
        assert_eq!(
            cmd(replica, &["TYPE", "typed"]),
            Reply::Status("test___dt".into())
        );
    }
}

#[test]
fn wait_sync_timeout_names_the_replica_offsets_and_log() {
    let group = create(&Config::new(), 1);
    let replica = group.replica(0).unwrap();
    // Detach the replica to a port nothing listens on (reserved, so no
    // server of ours takes it): it keeps its offset and never catches up.
    let nowhere = vtf::ports::reserve().unwrap();
    assert_eq!(
        cmd(
            replica,
            &["REPLICAOF", "127.0.0.1", &nowhere.port().to_string()]
        ),
        Reply::Status("OK".into())
    );
    set(group.primary(), "unseen", "1");
    let target = group
        .primary()
        .info_field("replication", "master_repl_offset")
        .unwrap()
        .unwrap();
    let started = Instant::now();
    let err = group
        .wait_sync(Duration::from_millis(300))
        .expect_err("a detached replica cannot be in sync");
    let waited = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    let message = err.message();
    assert!(waited < Duration::from_secs(3), "waited {waited:?}");
    assert!(message.contains("replica 0"), "{message}");
    assert!(message.contains(&replica.address()), "{message}");
    assert!(
        message.contains(&format!("primary master_repl_offset {target}")),
        "{message}"
    );
    assert!(message.contains("replica slave_repl_offset "), "{message}");
    assert!(
        message.contains(&format!("master_port {}", nowhere.port())),
        "{message}"
    );
    assert!(message.contains("last lines of its log"), "{message}");
    assert!(
        message.contains(&replica.log_path().display().to_string()),
        "{message}"
    );
}

#[test]
fn a_mutual_tls_group_replicates_over_tls() {
    let mut group = create(&Config::new().tls(vtf::TlsMode::Mutual), 1);
    set(group.primary(), "secret", "1");
    group.add_replica().unwrap();
    sync(&group);
    for replica in group.replicas() {
        assert_eq!(get(replica, "secret").as_deref(), Some("1"));
        let tls_replication = cmd(replica, &["CONFIG", "GET", "tls-replication"]);
        assert_eq!(
            tls_replication
                .get("tls-replication")
                .and_then(Reply::as_str),
            Some("yes")
        );
    }
}

#[test]
fn a_replica_that_cannot_start_fails_the_group_with_its_log() {
    let err =
        Replication::create_with(&Config::new(), &Config::new().arg("no-such-option", "1"), 2)
            .expect_err("replicas with an unknown option cannot start");
    assert_eq!(err.kind(), ErrorKind::ServerExited, "{err}");
    let message = err.message();
    assert!(message.contains("starting replica "), "{message}");
    assert!(message.contains("no-such-option"), "{message}");
}
