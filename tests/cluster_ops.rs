//! Changing running clusters of real valkey-server processes: slots moving
//! with their keys (an -ASK seen by a plain connection mid-move, a module data
//! type carried by MIGRATE), shards added and removed under a writer thread,
//! node indices kept.

#[path = "common/other_engine.rs"]
mod other_engine;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use vtf::{Client, Cluster, Config, Reply, Server};

#[path = "common/datatype.rs"]
mod datatype;
use datatype::datatype_module;

fn start(config: &Config, shards: usize, replicas: usize) -> Cluster {
    Cluster::start(config, shards, replicas)
        .unwrap_or_else(|e| panic!("{shards}x{replicas} cluster failed to start: {e}"))
}

fn cmd(client: &mut Client, args: &[&str]) -> Reply {
    client
        .cmd(args)
        .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

fn node_cmd(node: &Server, args: &[&str]) -> Reply {
    let mut client = node
        .connect()
        .unwrap_or_else(|e| panic!("connecting to {}: {e}", node.describe()));
    cmd(&mut client, args)
}

fn keyslot(client: &mut Client, key: &str) -> u16 {
    let slot = cmd(client, &["CLUSTER", "KEYSLOT", key])
        .as_int()
        .expect("CLUSTER KEYSLOT integer");
    u16::try_from(slot).expect("a slot number")
}

/// The node id (of the `myself` line) that owns `slot` as `node` sees it.
fn owner_port(node: &Server, slot: u16) -> u16 {
    let slots = node_cmd(node, &["CLUSTER", "SLOTS"]);
    for range in slots.elements() {
        let e = range.elements();
        let (first, last) = (e[0].as_int().unwrap(), e[1].as_int().unwrap());
        if (first..=last).contains(&i64::from(slot)) {
            return e[2].elements()[1].as_int().unwrap() as u16;
        }
    }
    panic!(
        "no owner of slot {slot} in CLUSTER SLOTS of {}",
        node.describe()
    );
}

fn set_keys(client: &mut Client, prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let key = format!("{prefix}:{i}");
            assert_eq!(
                cmd(client, &["SET", &key, &format!("value-{i}")]),
                Reply::Status("OK".into())
            );
            key
        })
        .collect()
}

fn assert_keys(client: &mut Client, keys: &[String]) {
    for key in keys {
        let i = key.rsplit(':').next().unwrap();
        assert_eq!(
            cmd(client, &["GET", key]),
            Reply::String(format!("value-{i}").into_bytes()),
            "key {key}"
        );
    }
}

/// Keys per node, over all running nodes' DBSIZE, primaries only.
fn total_keys(cluster: &Cluster) -> i64 {
    cluster
        .nodes()
        .filter(|n| n.info_field("replication", "role").unwrap().as_deref() == Some("master"))
        .map(|n| node_cmd(n, &["DBSIZE"]).as_int().unwrap())
        .sum()
}

#[test]
fn keys_move_with_their_slots_and_every_node_agrees() {
    let cluster = start(&Config::new(), 3, 0);
    assert_eq!(cluster.shard_count(), 3);
    let mut client = cluster.connect().unwrap();
    let keys = set_keys(&mut client, "moved", 300);
    let in_shard0: Vec<&String> = keys
        .iter()
        .filter(|k| keyslot(&mut client, k) <= 5460)
        .collect();
    assert!(!in_shard0.is_empty());
    let before = node_cmd(cluster.node(0).unwrap(), &["DBSIZE"])
        .as_int()
        .unwrap();
    let started = Instant::now();
    cluster.move_slots(0, 5460, 1).unwrap();
    eprintln!(
        "moved 5461 slots with {before} keys in {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    assert_eq!(
        node_cmd(cluster.node(0).unwrap(), &["DBSIZE"]),
        Reply::Integer(0)
    );
    let port1 = cluster.node(1).unwrap().port();
    for node in cluster.nodes() {
        assert_eq!(owner_port(node, 0), port1, "on {}", node.describe());
        assert_eq!(owner_port(node, 5460), port1, "on {}", node.describe());
    }
    assert_keys(&mut client, &keys);
    assert_eq!(total_keys(&cluster), 300);
    // Node 0 stays a primary (an empty one) and its shard stays a shard.
    assert_eq!(
        cluster
            .node(0)
            .unwrap()
            .info_field("replication", "role")
            .unwrap()
            .as_deref(),
        Some("master")
    );
    assert_eq!(cluster.shard_count(), 3);
    // And back, part of it: a range that is now split across no one else.
    cluster.move_slots(100, 199, 0).unwrap();
    let port0 = cluster.node(0).unwrap().port();
    assert_eq!(owner_port(cluster.node(2).unwrap(), 150), port0);
    assert_keys(&mut cluster.connect().unwrap(), &keys);
}

/// The config epoch of node `id` in every node's CLUSTER NODES.
fn epochs_seen(cluster: &Cluster, id: &str) -> Vec<String> {
    cluster
        .nodes()
        .map(|node| {
            let text = node_cmd(node, &["CLUSTER", "NODES"]);
            let text = text.as_str().expect("CLUSTER NODES text").to_string();
            let line = text
                .lines()
                .find(|l| l.starts_with(id))
                .unwrap_or_else(|| panic!("{} does not know node {id}:\n{text}", node.describe()));
            line.split_whitespace()
                .nth(6)
                .expect("a config epoch field")
                .to_string()
        })
        .collect()
}

// A view holding an older config epoch for a primary than the others takes a
// later UPDATE about it at face value, slots included, so a migration must
// not start from such a cluster. BUMPEPOCH changes an epoch and nothing
// else: the slot map agrees at once, the epochs ~50 ms later (gossip).
#[test]
fn wait_ok_waits_until_every_node_holds_each_primarys_config_epoch() {
    let cluster = start(&Config::new(), 3, 0);
    let bumped = cluster
        .nodes()
        .find(|node| {
            let reply = node_cmd(node, &["CLUSTER", "BUMPEPOCH"]);
            reply.as_str().is_some_and(|r| r.starts_with("BUMPED"))
        })
        .expect("a node whose epoch was not the greatest, so BUMPEPOCH bumped it");
    let id = node_id(bumped);
    cluster
        .wait_ok(std::time::Duration::from_secs(10))
        .expect("the cluster converges after BUMPEPOCH");
    let seen = epochs_seen(&cluster, &id);
    assert!(
        seen.windows(2).all(|w| w[0] == w[1]),
        "wait_ok returned while the nodes held different epochs for {id}: {seen:?}"
    );
}

#[test]
fn bad_moves_are_refused_with_what_was_wrong() {
    let cluster = start(&Config::new(), 2, 0);
    let err = cluster.move_slots(10, 5, 1).unwrap_err();
    assert!(err.to_string().contains("10..=5"), "{err}");
    let err = cluster.move_slots(0, 16384, 1).unwrap_err();
    assert!(err.to_string().contains("16384"), "{err}");
    let err = cluster.move_slots(0, 10, 7).unwrap_err();
    assert!(err.to_string().contains("shard 7"), "{err}");
    // Slots the target already owns: nothing to do, still fine.
    cluster.move_slots(0, 10, 0).unwrap();
    // A cluster vtf attached to: slots move, but its nodes are not ours to
    // start or stop.
    let node = cluster.node(0).unwrap();
    let credential = Config::new().password(node.password().expect("auth is on by default"));
    let mut attached = Cluster::attach(&credential, "127.0.0.1", node.port()).unwrap();
    attached.move_slots(0, 10, 1).unwrap();
    assert_eq!(
        owner_port(cluster.node(0).unwrap(), 5),
        cluster.node(1).unwrap().port()
    );
    let err = attached.add_shard(0).unwrap_err();
    assert_eq!(err.kind(), vtf::ErrorKind::Unsupported, "{err}");
    let err = attached.remove_shard(1).unwrap_err();
    assert_eq!(err.kind(), vtf::ErrorKind::Unsupported, "{err}");
    assert_eq!(attached.shard_count(), 2);
}

fn node_id(node: &Server) -> String {
    node_cmd(node, &["CLUSTER", "MYID"])
        .as_str()
        .expect("CLUSTER MYID text")
        .to_string()
}

#[test]
fn a_raw_client_sees_ask_mid_move_and_move_slots_finishes_it() {
    let cluster = start(&Config::new(), 3, 0);
    let mut routed = cluster.connect().unwrap();
    // Keys sharing one hash tag share one slot.
    let slot = keyslot(&mut routed, "{ask}");
    let shard = usize::from(slot) * 3 / 16384;
    let to = (shard + 1) % 3;
    let (source, target) = (cluster.node(shard).unwrap(), cluster.node(to).unwrap());
    assert_eq!(
        cmd(&mut routed, &["SET", "{ask}old", "1"]),
        Reply::Status("OK".into())
    );
    // Half a move, by hand, the way Valkey's own tests do it.
    let slot_arg = slot.to_string();
    let (source_id, target_id) = (node_id(source), node_id(target));
    let importing = ["CLUSTER", "SETSLOT", &slot_arg, "IMPORTING", &source_id];
    assert_eq!(node_cmd(target, &importing), Reply::Status("OK".into()));
    let migrating = ["CLUSTER", "SETSLOT", &slot_arg, "MIGRATING", &target_id];
    assert_eq!(node_cmd(source, &migrating), Reply::Status("OK".into()));
    let mut raw = source.connect().unwrap();
    // The source still serves the keys it has, and sends the others on.
    assert_eq!(
        cmd(&mut raw, &["GET", "{ask}old"]),
        Reply::String(b"1".to_vec())
    );
    let ask = cmd(&mut raw, &["SET", "{ask}new", "2"]);
    let expected = format!("ASK {slot} 127.0.0.1:{}", target.port());
    assert_eq!(ask.error(), Some(expected.as_str()), "{ask:?}");
    // The target takes it only when asked (ASKING), else it points back.
    let mut raw_target = target.connect().unwrap();
    let moved = cmd(&mut raw_target, &["GET", "{ask}new"]);
    assert!(
        moved.error().is_some_and(|e| e.starts_with("MOVED")),
        "{moved:?}"
    );
    // A cluster client follows the -ASK by itself.
    assert_eq!(
        cmd(&mut routed, &["SET", "{ask}new", "2"]),
        Reply::Status("OK".into())
    );
    assert_eq!(cmd(&mut raw_target, &["DBSIZE"]), Reply::Integer(1));
    // move_slots adopts the open migration and completes it.
    cluster.move_slots(slot, slot, to).unwrap();
    assert_eq!(cmd(&mut raw_target, &["DBSIZE"]), Reply::Integer(2));
    assert_eq!(cmd(&mut raw, &["DBSIZE"]), Reply::Integer(0));
    let moved = cmd(&mut raw, &["GET", "{ask}old"]);
    let expected = format!("MOVED {slot} 127.0.0.1:{}", target.port());
    assert_eq!(moved.error(), Some(expected.as_str()), "{moved:?}");
    assert_eq!(
        cmd(&mut routed, &["GET", "{ask}old"]),
        Reply::String(b"1".to_vec())
    );
    assert_eq!(
        cmd(&mut routed, &["GET", "{ask}new"]),
        Reply::String(b"2".to_vec())
    );
    for node in cluster.nodes() {
        let nodes = node_cmd(node, &["CLUSTER", "NODES"]);
        assert!(
            !nodes.as_str().unwrap().contains('['),
            "a migration is still open on {}:\n{nodes}",
            node.describe()
        );
    }
}

#[test]
fn a_module_data_type_moves_with_its_slot() {
    let config = Config::new().module(datatype_module(), Vec::<String>::new());
    let cluster = start(&config, 2, 0);
    let mut client = cluster.connect().unwrap();
    let slot = keyslot(&mut client, "typed");
    let from = usize::from(slot) * 2 / 16384;
    assert_eq!(
        cmd(&mut client, &["DATATYPE.SET", "typed", "7", "seven"]),
        Reply::Status("OK".into())
    );
    cluster.move_slots(slot, slot, 1 - from).unwrap();
    let target = cluster.node(1 - from).unwrap();
    // MIGRATE carried it as the module's own type (its rdb_save / rdb_load).
    assert_eq!(
        node_cmd(target, &["TYPE", "typed"]),
        Reply::Status("test___dt".into())
    );
    assert_eq!(
        node_cmd(cluster.node(from).unwrap(), &["DBSIZE"]),
        Reply::Integer(0)
    );
    assert_eq!(
        cmd(&mut client, &["DATATYPE.GET", "typed"]),
        Reply::Array(vec![Reply::Integer(7), Reply::String(b"seven".to_vec())])
    );
}

/// Writes `w:0`, `w:1`, ... through its own cluster client until told to
/// stop; returns how many were acknowledged and the errors it saw (each
/// failed write is retried, so the acknowledged keys have no gaps).
fn writer(cluster: &Cluster, stop: Arc<AtomicBool>) -> JoinHandle<(usize, Vec<String>)> {
    let mut client = cluster.connect().unwrap();
    std::thread::spawn(move || {
        let (mut written, mut errors) = (0, Vec::new());
        while !stop.load(Ordering::Relaxed) && errors.len() < 100 {
            let key = format!("w:{written}");
            match client.cmd(["SET", key.as_str(), &written.to_string()]) {
                Ok(Reply::Status(s)) if s == "OK" => written += 1,
                Ok(other) => errors.push(format!("SET {key}: {other:?}")),
                Err(e) => errors.push(format!("SET {key}: {e}")),
            }
        }
        (written, errors)
    })
}

fn assert_written(cluster: &Cluster, written: usize) {
    let mut client = cluster.connect().unwrap();
    for i in 0..written {
        let key = format!("w:{i}");
        assert_eq!(
            cmd(&mut client, &["GET", &key]),
            Reply::String(i.to_string().into_bytes()),
            "key {key} of {written} written"
        );
    }
}

/// A new shard's primary takes its shard over from a helper node (join.rs);
/// afterwards no node may know the helper, and the new primary serves at once.
#[test]
fn added_shards_without_replicas_leave_no_helper_behind() {
    let mut cluster = start(&Config::new(), 1, 0);
    for expected_shard in 1..=2 {
        let shard = cluster.add_shard(0).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(shard, expected_shard);
        let ports: Vec<u16> = cluster.nodes().map(Server::port).collect();
        for node in cluster.nodes() {
            let nodes = node_cmd(node, &["CLUSTER", "NODES"]);
            let text = nodes.as_str().unwrap();
            assert_eq!(
                text.lines().count(),
                ports.len(),
                "on {}:\n{text}",
                node.describe()
            );
            for line in text.lines() {
                let port: u16 = line
                    .split(' ')
                    .nth(1)
                    .unwrap()
                    .split(':')
                    .nth(1)
                    .unwrap()
                    .split(['@', ','])
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(
                    ports.contains(&port),
                    "on {}: a node not of the cluster:\n{text}",
                    node.describe()
                );
            }
        }
        let primary = cluster.primary(shard).unwrap();
        assert_eq!(
            primary
                .info_field("replication", "role")
                .unwrap()
                .as_deref(),
            Some("master")
        );
        assert_eq!(
            primary
                .info_field("replication", "connected_slaves")
                .unwrap()
                .as_deref(),
            Some("0")
        );
        assert_eq!(
            primary
                .info_field("cluster", "cluster_enabled")
                .unwrap()
                .as_deref(),
            Some("1")
        );
    }
    // Slots moved to the last one are served there.
    cluster
        .move_slots(0, 100, 2)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut client = cluster.connect().unwrap();
    let key = (0..)
        .map(|i| format!("k{i}"))
        .find(|k| keyslot(&mut client, k) <= 100)
        .unwrap();
    assert_eq!(
        cmd(&mut client, &["SET", &key, "v"]),
        Reply::Status("OK".into())
    );
    assert_eq!(
        owner_port(cluster.node(0).unwrap(), keyslot(&mut client, &key)),
        cluster.primary(2).unwrap().port()
    );
}

#[test]
fn a_shard_added_then_removed_under_writes_loses_nothing() {
    let mut cluster = start(&Config::new(), 3, 0);
    let ports: Vec<u16> = cluster.nodes().map(Server::port).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let writes = writer(&cluster, stop.clone());

    let started = Instant::now();
    let shard = cluster.add_shard(1).unwrap();
    eprintln!(
        "add_shard(1) took {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    assert_eq!(shard, 3);
    assert_eq!(cluster.shard_count(), 4);
    assert_eq!(cluster.node_count(), 5);
    let (primary, replica) = (cluster.primary(3).unwrap(), cluster.replica(3, 0).unwrap());
    assert_eq!(cluster.shard_of(3), Some(3));
    assert_eq!(cluster.shard_of(4), Some(3));
    assert_eq!(primary.port(), cluster.node(3).unwrap().port());
    assert_eq!(
        replica
            .info_field("replication", "role")
            .unwrap()
            .as_deref(),
        Some("slave")
    );
    assert_eq!(
        replica.info_field("replication", "master_port").unwrap(),
        Some(primary.port().to_string())
    );
    // Empty until slots move to it.
    assert_eq!(node_cmd(primary, &["DBSIZE"]), Reply::Integer(0));
    for node in cluster.nodes() {
        let nodes = node_cmd(node, &["CLUSTER", "NODES"]);
        assert_eq!(
            nodes.as_str().unwrap().lines().count(),
            5,
            "on {}",
            node.describe()
        );
    }

    // A key of the range, and a client that will have learned it lives on
    // the added shard when that shard goes.
    let mut stale = cluster.connect().unwrap();
    let key = (0..)
        .map(|i| format!("stale:{i}"))
        .find(|k| (5000..=6000).contains(&keyslot(&mut stale, k)))
        .unwrap();
    assert_eq!(
        cmd(&mut stale, &["SET", &key, "1"]),
        Reply::Status("OK".into())
    );
    let started = Instant::now();
    cluster.move_slots(5000, 6000, 3).unwrap();
    eprintln!(
        "moving 1001 slots under writes took {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    assert!(
        node_cmd(cluster.node(3).unwrap(), &["DBSIZE"])
            .as_int()
            .unwrap()
            > 0
    );

    assert_eq!(
        cmd(&mut stale, &["GET", &key]),
        Reply::String(b"1".to_vec())
    );
    let removed_pids: Vec<u32> = [3, 4]
        .iter()
        .map(|&i| cluster.node(i).unwrap().pid().unwrap())
        .collect();
    let started = Instant::now();
    cluster.remove_shard(3).unwrap();
    eprintln!(
        "remove_shard took {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    stop.store(true, Ordering::Relaxed);
    let (written, errors) = writes.join().unwrap();
    eprintln!(
        "{written} writes acknowledged during the changes, {} errors",
        errors.len()
    );
    assert!(errors.is_empty(), "the writer saw errors: {errors:#?}");
    assert!(written > 0);

    assert_eq!(cluster.shard_count(), 3);
    assert_eq!(cluster.shard_numbers(), [0, 1, 2]);
    assert_eq!(cluster.node_count(), 5, "indices are never reused");
    assert!(cluster.node(3).is_none() && cluster.node(4).is_none());
    assert!(cluster.primary(3).is_none());
    assert_eq!(cluster.nodes().map(Server::port).collect::<Vec<_>>(), ports);
    for pid in removed_pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "pid {pid} still runs"
        );
    }
    for node in cluster.nodes() {
        let nodes = node_cmd(node, &["CLUSTER", "NODES"]);
        assert_eq!(
            nodes.as_str().unwrap().lines().count(),
            3,
            "on {}:\n{nodes:?}",
            node.describe()
        );
        assert!(node_cmd(node, &["DBSIZE"]).as_int().unwrap() > 0);
    }
    // Its slot map still names a stopped node: the first command after the
    // removal must still get through.
    assert_eq!(
        cmd(&mut stale, &["GET", &key]),
        Reply::String(b"1".to_vec())
    );
    assert_written(&cluster, written);
    assert_eq!(total_keys(&cluster), written as i64 + 1);
    // The shard number is not reused either.
    assert!(cluster
        .remove_shard(3)
        .unwrap_err()
        .to_string()
        .contains("removed"));
}

#[test]
fn removing_a_middle_shard_keeps_every_other_index() {
    let mut cluster = start(&Config::new(), 3, 1);
    let mut client = cluster.connect().unwrap();
    let keys = set_keys(&mut client, "kept", 200);
    let before: Vec<(usize, u16)> = cluster
        .node_indices()
        .into_iter()
        .map(|i| (i, cluster.node(i).unwrap().port()))
        .collect();
    cluster.remove_shard(1).unwrap();
    assert_eq!(cluster.shard_numbers(), [0, 2]);
    assert_eq!(cluster.node_indices(), [0, 2, 3, 5]);
    for (i, port) in before.into_iter().filter(|(i, _)| ![1, 4].contains(i)) {
        assert_eq!(cluster.node(i).unwrap().port(), port, "node {i}");
    }
    assert_eq!(
        cluster.replica(2, 0).unwrap().port(),
        cluster.node(5).unwrap().port()
    );
    assert_keys(&mut cluster.connect().unwrap(), &keys);
    // The remaining shards still fail over as before.
    cluster.failover(2).unwrap();
    assert_eq!(
        cluster
            .node(5)
            .unwrap()
            .info_field("replication", "role")
            .unwrap()
            .as_deref(),
        Some("master")
    );
    // Slots now go to the shard's current primary (node 5).
    cluster.move_slots(0, 99, 2).unwrap();
    assert_eq!(
        owner_port(cluster.node(0).unwrap(), 50),
        cluster.node(5).unwrap().port()
    );
    assert_keys(&mut cluster.connect().unwrap(), &keys);
    let err = cluster.remove_shard(7).unwrap_err();
    assert!(err.to_string().contains("out of range"), "{err}");
}

/// Redis 7 has no SETSLOT TIMEOUT and does not replicate SETSLOT: the same
/// moves work there. Runs where `redis-server` is installed.
#[test]
fn slots_move_and_shards_change_on_redis_7_too() {
    let Some(redis) = other_engine::redis_server("slots_move_and_shards_change_on_redis_7_too")
    else {
        return;
    };
    let mut cluster = start(&Config::new().binary(&redis), 2, 1);
    assert!(!cluster.node(0).unwrap().engine().is_valkey());
    let mut client = cluster.connect().unwrap();
    let keys = set_keys(&mut client, "redis", 100);
    cluster.move_slots(0, 3000, 1).unwrap();
    assert_keys(&mut client, &keys);
    let shard = cluster.add_shard(0).unwrap();
    cluster.move_slots(8192, 9000, shard).unwrap();
    cluster.remove_shard(shard).unwrap();
    assert_eq!(cluster.shard_count(), 2);
    assert_keys(&mut cluster.connect().unwrap(), &keys);
}
