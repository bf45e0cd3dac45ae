//! Env `VTF_EXTERNAL` turns `Server::start` and a cluster's start into
//! attaches. One test in its own binary: it changes the process environment.

use vtf::topology::Topology;
use vtf::{Cluster, Config, ErrorKind, Replication, Server};

#[test]
fn vtf_external_turns_starts_into_attaches() {
    let real = Server::spawn(&Config::new()).unwrap();
    let cluster = Cluster::start(&Config::new(), 2, 1).unwrap();

    std::env::set_var("VTF_EXTERNAL", format!("127.0.0.1:{}", real.port()));
    let attached = Server::start(&Config::new()).unwrap();
    assert!(attached.is_external());
    assert_eq!(attached.port(), real.port());
    // Groups vtf builds itself still start their own servers.
    let group = Replication::create(&Config::new(), 1).unwrap();
    assert!(!group.primary().is_external());
    assert_ne!(group.primary().port(), real.port());
    drop(group);
    // Not a cluster: a cluster's start spawns one as usual.
    let spawned = Cluster::start(&Config::new(), 1, 0).unwrap();
    assert!(!spawned.is_external());
    drop(spawned);

    // The JSON `vtf cluster --json` prints.
    std::env::set_var("VTF_EXTERNAL", Topology::of_cluster(&cluster).to_json());
    let attached_cluster = Cluster::start(&Config::new(), 2, 1).unwrap();
    assert!(attached_cluster.is_external());
    assert_eq!(attached_cluster.node_count(), 4);
    let first = Server::start(&Config::new()).unwrap();
    assert!(first.is_external());
    assert_eq!(first.port(), cluster.node(0).unwrap().port());

    // A plain address of a cluster node is asked whether it is one.
    let replica = cluster.replica(0, 0).unwrap().port();
    std::env::set_var("VTF_EXTERNAL", format!("127.0.0.1:{replica}"));
    let attached_cluster = Cluster::start(&Config::new(), 2, 1).unwrap();
    assert!(attached_cluster.is_external());
    assert_eq!(attached_cluster.shards(), 2);

    std::env::set_var("VTF_EXTERNAL", "not-an-address");
    let err = Server::start(&Config::new()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.message().contains("VTF_EXTERNAL"), "{err}");
    std::env::remove_var("VTF_EXTERNAL");
    assert!(real.is_running() && cluster.nodes().all(Server::is_running));
}
