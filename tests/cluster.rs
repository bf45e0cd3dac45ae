//! Clusters of real valkey-server processes: forming, routing, valkey-cli
//! redirects, failover, restart with data, modules on every node, TLS.
//! Under `VTF_TLS=1` every cluster here runs over TLS (cluster bus included).

#[path = "common/other_engine.rs"]
mod other_engine;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use vtf::{Client, Cluster, Config, ErrorKind, Reply, Server, TlsMode};

fn start(config: &Config, shards: usize, replicas: usize) -> Cluster {
    let started = Instant::now();
    let cluster = Cluster::start(config, shards, replicas)
        .unwrap_or_else(|e| panic!("{shards}x{replicas} cluster failed to start: {e}"));
    eprintln!(
        "{shards}x{replicas} cluster ready in {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    cluster
}

fn cmd(client: &mut Client, args: &[&str]) -> Reply {
    client
        .cmd(args)
        .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

fn info(node: &Server, section: &str, field: &str) -> String {
    node.info_field(section, field)
        .unwrap_or_else(|e| panic!("INFO {section} on {}: {e}", node.describe()))
        .unwrap_or_default()
}

fn cluster_info(node: &Server) -> String {
    let mut c = node.connect().unwrap();
    cmd(&mut c, &["CLUSTER", "INFO"])
        .as_str()
        .expect("CLUSTER INFO text")
        .to_string()
}

fn field<'a>(text: &'a str, name: &str) -> &'a str {
    vtf::server::info_value(text, name).unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

/// `valkey-cli [tls options] -p PORT args...` (stdout, trimmed), with the
/// node's password in env `REDISCLI_AUTH`.
fn run_cli(node: &Server, args: &[&str]) -> String {
    let mut command = Command::new(node.cli_path().expect("the server's CLI"));
    if let Some(password) = node.password() {
        command.env("REDISCLI_AUTH", password);
    }
    command.args(["-h", node.host(), "-p", &node.port().to_string()]);
    if let Some(files) = node.tls_files() {
        command.arg("--tls").arg("--cacert").arg(&files.ca_cert);
        if node.tls_mode() == TlsMode::Mutual {
            command
                .arg("--cert")
                .arg(&files.client_cert)
                .arg("--key")
                .arg(&files.client_key);
        }
    }
    let output = command.args(args).output().expect("running valkey-cli");
    assert!(
        output.status.success(),
        "valkey-cli {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn keyslot(client: &mut Client, key: &str) -> i64 {
    cmd(client, &["CLUSTER", "KEYSLOT", key])
        .as_int()
        .expect("CLUSTER KEYSLOT integer")
}

/// `n` keys whose slots belong to `shard` of `shards`.
fn keys_in_shard(client: &mut Client, shard: usize, shards: usize, n: usize) -> Vec<String> {
    let (first, last) = vtf::cluster::slot_range(shard, shards);
    (0..)
        .map(|i| format!("key:{i}"))
        .filter(|k| (first as i64..=last as i64).contains(&keyslot(client, k)))
        .take(n)
        .collect()
}

fn gone(pid: u32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn three_by_one_cluster_forms_routes_and_cleans_up() {
    let cluster = start(&Config::new(), 3, 1);
    assert_eq!(cluster.node_count(), 6);
    assert_eq!(cluster.shards(), 3);
    assert_eq!(cluster.replicas_per_shard(), 1);
    assert!(cluster.node(6).is_none());

    // Roles follow the documented order: primaries first, then replicas.
    for (index, node) in cluster.nodes().enumerate() {
        let want = if index < 3 { "master" } else { "slave" };
        assert_eq!(info(node, "replication", "role"), want, "node {index}");
        let text = cluster_info(node);
        assert_eq!(field(&text, "cluster_state"), "ok", "node {index}");
        assert_eq!(field(&text, "cluster_known_nodes"), "6", "node {index}");
        assert_eq!(field(&text, "cluster_size"), "3", "node {index}");
    }
    for shard in 0..3 {
        let replica = cluster.replica(shard, 0).unwrap();
        let primary = cluster.primary(shard).unwrap();
        assert_eq!(
            info(replica, "replication", "master_port"),
            primary.port().to_string()
        );
    }

    // CLUSTER SLOTS: the three even ranges, each with its primary and one replica.
    let mut c = cluster.node(0).unwrap().connect().unwrap();
    let slots = cmd(&mut c, &["CLUSTER", "SLOTS"]);
    let mut ranges: Vec<(i64, i64, usize, i64)> = slots
        .elements()
        .iter()
        .map(|r| {
            let e = r.elements();
            let port = e[2].elements()[1].as_int().unwrap();
            (
                e[0].as_int().unwrap(),
                e[1].as_int().unwrap(),
                e.len(),
                port,
            )
        })
        .collect();
    ranges.sort();
    let expected: Vec<(i64, i64, usize, i64)> = (0..3)
        .map(|s| {
            let (first, last) = vtf::cluster::slot_range(s, 3);
            let port = cluster.primary(s).unwrap().port() as i64;
            (first as i64, last as i64, 4, port)
        })
        .collect();
    assert_eq!(ranges, expected, "CLUSTER SLOTS: {slots}");

    // 300 keys through the routing client, spread over every shard.
    let mut client = cluster.connect().unwrap();
    for i in 0..300 {
        let (k, v) = (format!("key:{i}"), format!("value:{i}"));
        assert_eq!(
            cmd(&mut client, &["SET", &k, &v]),
            Reply::Status("OK".into())
        );
    }
    for i in 0..300 {
        let k = format!("key:{i}");
        assert_eq!(
            cmd(&mut client, &["GET", &k]).as_str(),
            Some(format!("value:{i}").as_str()),
            "{k}"
        );
    }
    let mut total = 0;
    for shard in 0..3 {
        let mut direct = cluster.primary(shard).unwrap().connect().unwrap();
        let size = cmd(&mut direct, &["DBSIZE"]).as_int().unwrap();
        assert!(size > 50, "shard {shard} holds only {size} of 300 keys");
        total += size;
    }
    assert_eq!(total, 300);

    // valkey-cli -c follows the MOVED redirect from a node that lacks the key.
    let key = keys_in_shard(&mut c, 2, 3, 1).remove(0);
    let got = run_cli(cluster.node(0).unwrap(), &["-c", "GET", &key]);
    let i: usize = key["key:".len()..].parse().unwrap();
    assert_eq!(got, format!("value:{i}"));

    let pids: Vec<u32> = cluster.nodes().map(|n| n.pid().unwrap()).collect();
    let dirs: Vec<PathBuf> = cluster.nodes().map(|n| n.dir().to_path_buf()).collect();
    assert!(dirs.iter().all(|d| d.join("nodes.conf").is_file()));
    drop(client);
    drop(c);
    drop(cluster);
    for pid in pids {
        assert!(gone(pid), "node process {pid} survived the cluster");
    }
    for dir in dirs {
        assert!(!dir.exists(), "{} survived the cluster", dir.display());
    }
}

#[test]
fn failover_promotes_the_replica_and_writes_follow() {
    let cluster = start(&Config::new(), 3, 1);
    let old_primary = cluster.primary(0).unwrap();
    let old_replica = cluster.replica(0, 0).unwrap();
    let mut client = cluster.connect().unwrap();
    let mut c = old_primary.connect().unwrap();
    let keys = keys_in_shard(&mut c, 0, 3, 20);
    for k in &keys {
        cmd(&mut client, &["SET", k, "before"]);
    }

    cluster.failover(0).unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(info(old_replica, "replication", "role"), "master");
    assert_eq!(info(old_primary, "replication", "role"), "slave");
    let new_id = cluster.node_id(3).unwrap();
    for node in cluster.nodes() {
        let mut n = node.connect().unwrap();
        let nodes = cmd(&mut n, &["CLUSTER", "NODES"]);
        let line = nodes
            .as_str()
            .unwrap()
            .lines()
            .find(|l| l.starts_with(&new_id))
            .unwrap_or_else(|| panic!("{} does not know {new_id}", node.address()));
        assert!(line.contains("master"), "{}: {line}", node.address());
        assert_eq!(field(&cluster_info(node), "cluster_state"), "ok");
    }
    // The data moved with the role, and writes to shard 0 reach the new primary.
    for k in &keys {
        assert_eq!(cmd(&mut client, &["GET", k]).as_str(), Some("before"));
        assert_eq!(
            cmd(&mut client, &["SET", k, "after"]),
            Reply::Status("OK".into())
        );
    }
    let mut direct = old_replica.connect().unwrap();
    for k in &keys {
        assert_eq!(cmd(&mut direct, &["GET", k]).as_str(), Some("after"));
    }
    // Failing back over works the same way (the old primary is now the replica).
    cluster.failover(0).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(info(old_primary, "replication", "role"), "master");
    assert_eq!(cmd(&mut client, &["GET", &keys[0]]).as_str(), Some("after"));
}

fn hz(node: &Server) -> String {
    let mut c = node.connect().unwrap();
    let reply = cmd(&mut c, &["CONFIG", "GET", "hz"]);
    let value = reply.get("hz").and_then(Reply::as_str);
    value.expect("CONFIG GET hz gives hz").to_string()
}

/// Forming raises every node's hz (a faster cron, see group::QuickCron);
/// each must end with its own: the default, or the user's.
#[test]
fn every_node_keeps_its_own_hz() {
    let cluster = start(&Config::new(), 2, 1);
    for node in cluster.nodes() {
        assert_eq!(hz(node), "10", "{}", node.describe());
    }
    let cluster = start(&Config::new().arg("hz", "25"), 1, 1);
    for node in cluster.nodes() {
        assert_eq!(hz(node), "25", "{}", node.describe());
    }
}

#[test]
fn a_primary_restarted_with_its_data_rejoins() {
    let mut cluster = start(&Config::new(), 2, 1);
    let mut client = cluster.connect().unwrap();
    for i in 0..100 {
        cmd(&mut client, &["SET", &format!("k{i}"), &i.to_string()]);
    }
    let id = cluster.node_id(0).unwrap();
    let old_pid = cluster.node(0).unwrap().pid().unwrap();
    cluster
        .node_mut(0)
        .unwrap()
        .restart(true)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(gone(old_pid));
    cluster
        .wait_ok(Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}"));
    // Same identity (nodes.conf was kept), still a primary, keys still served.
    assert_eq!(cluster.node_id(0).unwrap(), id);
    // The cluster formed with a raised hz; a restart must not bring it back.
    assert_eq!(hz(cluster.node(0).unwrap()), "10");
    assert_eq!(
        info(cluster.node(0).unwrap(), "replication", "role"),
        "master"
    );
    for i in 0..100 {
        assert_eq!(
            cmd(&mut client, &["GET", &format!("k{i}")]).as_str(),
            Some(i.to_string().as_str())
        );
    }
}

#[test]
fn a_stopped_primary_is_reported_and_rejoins() {
    let mut cluster = start(&Config::new(), 3, 0);
    // A stopped primary leaves its slots unserved: wait_ok names it.
    cluster.node_mut(1).unwrap().stop().unwrap();
    let port = cluster.node(1).unwrap().port();
    let (first, last) = vtf::cluster::slot_range(1, 3);
    let err = cluster.wait_ok(Duration::from_millis(500)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    let text = err.to_string();
    assert!(text.contains("did not converge"), "{text}");
    assert!(
        text.contains(&format!("slots {first}-{last} are owned by node"))
            && text.contains(&format!("(port {port}), which is not running")),
        "{text}"
    );
    // Back with its data, it rejoins and the cluster is ok again.
    cluster.node_mut(1).unwrap().restart(true).unwrap();
    cluster
        .wait_ok(Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn bad_arguments_are_refused() {
    let err = Cluster::start(&Config::new(), 0, 1).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    let err = Cluster::start(&Config::new(), 20000, 0).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");

    // A node that cannot start fails the whole cluster, saying which and why.
    let err = Cluster::start(&Config::new().arg("cluster-node-timeout", "soon"), 2, 0).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ServerExited, "{err}");
    assert!(err.to_string().contains("starting cluster node"), "{err}");
    assert!(err.to_string().contains("cluster-node-timeout"), "{err}");

    let cluster = start(&Config::new(), 1, 0);
    assert_eq!(cluster.node_count(), 1);
    let err = cluster.failover(0).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("no running replica"), "{err}");
    let err = cluster.failover(1).unwrap_err();
    assert!(err.to_string().contains("out of range"), "{err}");
    assert!(cluster.node_id(1).is_err());
    // One shard owns every slot.
    let mut c = cluster.connect().unwrap();
    assert_eq!(cmd(&mut c, &["SET", "a", "1"]), Reply::Status("OK".into()));
    assert_eq!(
        field(&cluster_info(cluster.node(0).unwrap()), "cluster_slots_ok"),
        "16384"
    );
}

#[test]
fn a_module_runs_on_every_node() {
    let dir = std::env::temp_dir().join(format!("vtf-cluster-module-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let module = dir.join("cluster_module.so");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cluster_module.c");
    let output = Command::new("cc")
        .args(["-shared", "-fPIC", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&module)
        .arg(&source)
        .output()
        .expect("running cc (a C compiler is needed to build the test module)");
    assert!(
        output.status.success(),
        "building {}: {}",
        source.display(),
        String::from_utf8_lossy(&output.stderr)
    );

    let cluster = start(&Config::new().module(&module, ["some", "args"]), 2, 1);
    std::fs::remove_dir_all(&dir).unwrap();
    for node in cluster.nodes() {
        let mut c = node.connect().unwrap();
        let list = cmd(&mut c, &["MODULE", "LIST"]);
        assert!(
            list.to_string().contains("vtfcl"),
            "{}: MODULE LIST {list}",
            node.address()
        );
    }
    // The module's command, routed by its key, answers on each shard's primary.
    let mut client = cluster.connect().unwrap();
    let mut probe = cluster.node(0).unwrap().connect().unwrap();
    for shard in 0..2 {
        for k in keys_in_shard(&mut probe, shard, 2, 3) {
            cmd(&mut client, &["SET", &k, "v"]);
            assert_eq!(
                cmd(&mut client, &["vtfcl.get", &k]).as_str(),
                Some("vtfcl:v")
            );
        }
    }
}

#[test]
fn a_tls_cluster_forms_and_serves() {
    let cluster = start(&Config::new().tls(TlsMode::On), 3, 0);
    for node in cluster.nodes() {
        assert_eq!(node.tls_mode(), TlsMode::On);
        let mut c = node.connect().unwrap();
        let tls_cluster = cmd(&mut c, &["CONFIG", "GET", "tls-cluster"]);
        assert_eq!(
            tls_cluster.get("tls-cluster").and_then(Reply::as_str),
            Some("yes")
        );
    }
    let mut client = cluster.connect().unwrap();
    for i in 0..60 {
        cmd(&mut client, &["SET", &format!("t{i}"), &i.to_string()]);
    }
    for i in 0..60 {
        assert_eq!(
            cmd(&mut client, &["GET", &format!("t{i}")]).as_str(),
            Some(i.to_string().as_str())
        );
    }
    let mut probe = cluster.node(0).unwrap().connect().unwrap();
    let key = keys_in_shard(&mut probe, 1, 3, 1).remove(0);
    cmd(&mut client, &["SET", &key, "over-tls"]);
    assert_eq!(
        run_cli(cluster.node(0).unwrap(), &["-c", "GET", &key]),
        "over-tls"
    );
}

/// Redis 7.0 lacks Valkey's hidden `cluster-ping-interval`: the cluster must
/// still form with options it knows. Runs where `redis-server` is installed.
#[test]
fn a_redis_7_cluster_forms_without_valkey_only_options() {
    let Some(redis) =
        other_engine::redis_server("a_redis_7_cluster_forms_without_valkey_only_options")
    else {
        return;
    };
    let cluster = start(&Config::new().binary(&redis), 2, 1);
    let node = cluster.node(0).unwrap();
    assert!(!node.engine().is_valkey(), "{:?}", node.engine());
    assert_eq!(field(&cluster_info(node), "cluster_state"), "ok");
    let mut client = cluster.connect().unwrap();
    for i in 0..20 {
        cmd(&mut client, &["SET", &format!("r{i}"), "v"]);
    }
    assert_eq!(cmd(&mut client, &["GET", "r7"]).as_str(), Some("v"));
}

/// What every node of a freshly formed cluster must show: the documented
/// roles and indices (node `s` is shard `s`'s primary with its even slot
/// range, replica `j` of shard `s` is node `shards + s * replicas + j`),
/// `cluster_state:ok`, and in CLUSTER NODES exactly the cluster's own nodes
/// (no helper that owned slots while it formed).
fn assert_formed_as_documented(cluster: &Cluster) {
    let (shards, replicas) = (cluster.shards(), cluster.replicas_per_shard());
    let count = shards * (1 + replicas);
    assert_eq!(cluster.node_count(), count);
    let ids: Vec<String> = (0..count).map(|i| cluster.node_id(i).unwrap()).collect();
    for (index, node) in cluster.nodes().enumerate() {
        let shape = format!("{shards}x{replicas}, node {index} ({})", node.address());
        let text = cluster_info(node);
        assert_eq!(field(&text, "cluster_state"), "ok", "{shape}");
        assert_eq!(
            field(&text, "cluster_known_nodes"),
            count.to_string(),
            "{shape}"
        );
        assert_eq!(field(&text, "cluster_size"), shards.to_string(), "{shape}");
        let mut c = node.connect().unwrap();
        let nodes = cmd(&mut c, &["CLUSTER", "NODES"]);
        let lines: Vec<&str> = nodes.as_str().unwrap().lines().collect();
        assert_eq!(lines.len(), count, "{shape}: CLUSTER NODES\n{nodes}");
        for line in &lines {
            let f: Vec<&str> = line.split_whitespace().collect();
            let at = ids
                .iter()
                .position(|id| id == f[0])
                .unwrap_or_else(|| panic!("{shape} knows a node not in the cluster: {line}"));
            let port = cluster.node(at).unwrap().port();
            assert!(f[1].starts_with(&format!("127.0.0.1:{port}@")), "{line}");
            assert!(
                !f[2].contains("fail") && !f[2].contains("handshake"),
                "{shape}: {line}"
            );
            if at < shards {
                let (first, last) = vtf::cluster::slot_range(at, shards);
                let range = if first == last {
                    first.to_string()
                } else {
                    format!("{first}-{last}")
                };
                assert!(f[2].contains("master"), "{shape}: {line}");
                assert_eq!(f[8..].to_vec(), vec![range.as_str()], "{shape}: {line}");
            } else {
                let shard = cluster.shard_of(at).unwrap();
                assert!(f[2].contains("slave"), "{shape}: {line}");
                assert_eq!(f[3], ids[shard], "{shape}: {line}");
            }
        }
        if index < shards {
            assert_eq!(info(node, "replication", "role"), "master", "{shape}");
            assert_eq!(
                info(node, "replication", "connected_slaves"),
                replicas.to_string(),
                "{shape}"
            );
        } else {
            let shard = cluster.shard_of(index).unwrap();
            let primary = cluster.primary(shard).unwrap();
            assert_eq!(info(node, "replication", "role"), "slave", "{shape}");
            assert_eq!(
                info(node, "replication", "master_port"),
                primary.port().to_string(),
                "{shape}"
            );
            assert_eq!(info(node, "replication", "master_link_status"), "up");
        }
    }
    // Every shard serves: a key in each, through the routing client.
    let mut client = cluster.connect().unwrap();
    let mut probe = cluster.node(0).unwrap().connect().unwrap();
    for shard in 0..shards {
        let key = keys_in_shard(&mut probe, shard, shards, 1).remove(0);
        cmd(&mut client, &["SET", &key, "v"]);
        let mut direct = cluster.primary(shard).unwrap().connect().unwrap();
        assert_eq!(cmd(&mut direct, &["GET", &key]).as_str(), Some("v"));
    }
}

#[test]
fn every_shape_forms_with_the_documented_roles_and_no_helper_left() {
    for (shards, replicas) in [(1, 0), (2, 0), (3, 0), (3, 1), (2, 2), (4, 2)] {
        let cluster = start(&Config::new(), shards, replicas);
        assert_formed_as_documented(&cluster);
    }
}

/// The helpers that own the slots while a cluster without replicas forms are
/// forgotten by every node; CLUSTER FORGET bars a forgotten id from being
/// re-learned only for `cluster-blacklist-ttl` (60 s by default). With the bar
/// at 1 s, no node may learn of a helper again once the bar has lapsed: none is
/// left that could mention one. Observed over 4 s, polling every node.
#[test]
fn no_node_learns_of_a_helper_again_after_the_forget_bar_lapses() {
    let probe = Server::start(&Config::new()).unwrap();
    let mut c = probe.connect().unwrap();
    let ttl = cmd(&mut c, &["CONFIG", "GET", "cluster-blacklist-ttl"]);
    if ttl.get("cluster-blacklist-ttl").is_none() {
        eprintln!(
            "SKIPPED: {} has no cluster-blacklist-ttl, so the bar cannot be shortened",
            probe.describe()
        );
        return;
    }
    drop(c);
    drop(probe);
    for shards in [1, 3] {
        let config = Config::new().arg("cluster-blacklist-ttl", "1");
        let cluster = start(&config, shards, 0);
        assert_formed_as_documented(&cluster);
        let until = Instant::now() + Duration::from_secs(4);
        let mut clients: Vec<Client> = cluster.nodes().map(|n| n.connect().unwrap()).collect();
        while Instant::now() < until {
            for (index, c) in clients.iter_mut().enumerate() {
                let nodes = cmd(c, &["CLUSTER", "NODES"]);
                assert_eq!(
                    nodes.as_str().unwrap().lines().count(),
                    shards,
                    "{shards}x0: node {index} learned of another node:\n{nodes}"
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_formed_as_documented(&cluster);
    }
}
