//! The main job in one run: real servers, a module that fails to load,
//! replication with promotion, a TLS cluster with failover, commands, and what
//! each step cost. Run with `scripts/demo.sh` (or `cargo run --release --example demo`).
//!
//! Every step talks to real `valkey-server` processes that this program started
//! and that are gone when it exits.

use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use vtf::{Cluster, Config, Replication, Reply, Server, TlsMode};

type R<T> = Result<T, Box<dyn std::error::Error>>;

/// Timings gathered along the way, printed as a table at the end.
struct Timings(Vec<(String, Duration)>);

impl Timings {
    fn measure<T, E: Into<Box<dyn std::error::Error>>>(
        &mut self,
        what: &str,
        f: impl FnOnce() -> Result<T, E>,
    ) -> R<T> {
        let started = Instant::now();
        let value = f().map_err(Into::into)?;
        let took = started.elapsed();
        println!("   {what}: {}", ms(took));
        self.0.push((what.to_string(), took));
        Ok(value)
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn section(title: &str) {
    println!("\n== {title}");
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\ndemo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> R<()> {
    let mut t = Timings(Vec::new());
    let binary = Config::new().resolve_binary()?;
    println!("valkey-test-framework {} demo", env!("CARGO_PKG_VERSION"));
    println!("server binary: {}", binary.display());

    standalone(&mut t)?;
    failing_module(&mut t)?;
    replication(&mut t)?;
    tls_cluster(&mut t)?;
    parallel(&mut t)?;

    section("timings");
    let width = t.0.iter().map(|(w, _)| w.len()).max().unwrap_or(0);
    for (what, took) in &t.0 {
        println!("   {what:<width$}  {:>10}", ms(*took));
    }
    println!("\nevery server above was started by vtf and stopped by it, by pid, when its handle was dropped.");
    Ok(())
}

fn standalone(t: &mut Timings) -> R<()> {
    section("a server with custom arguments");
    let config = Config::new()
        .arg("maxmemory", "64mb")
        .arg("maxmemory-policy", "allkeys-lru");
    let mut server = t.measure("start to first PONG", || Server::start(&config))?;
    println!(
        "   {} ({} {}.{}.{})",
        server.describe(),
        server.engine().name,
        server.engine().version.0,
        server.engine().version.1,
        server.engine().version.2
    );
    let mut client = server.connect()?;
    client.cmd(["SET", "greeting", "hello world"])?;
    client.cmd(["RPUSH", "list", "a", "b", "c"])?;
    println!("   GET greeting -> {}", client.cmd_str("GET greeting")?);
    println!(
        "   LRANGE list 0 -1 -> {}",
        client.cmd_str("LRANGE list 0 -1")?
    );
    println!(
        "   CONFIG GET maxmemory-policy -> {}",
        client.cmd_str("CONFIG GET maxmemory-policy")?
    );
    let rounds = 2000;
    let started = Instant::now();
    for _ in 0..rounds {
        client.cmd(["PING"])?;
    }
    let per = started.elapsed() / rounds;
    println!(
        "   {rounds} PINGs: {:.1} µs per round trip",
        per.as_secs_f64() * 1e6
    );
    drop(client);

    t.measure("restart keeping data (SAVE, stop, start)", || {
        server.restart(true)
    })?;
    let mut client = server.connect()?;
    println!(
        "   after restart: GET greeting -> {}",
        client.cmd_str("GET greeting")?
    );
    t.measure("restart dropping data", || server.restart(false))?;
    let mut client2 = server.connect()?;
    println!("   after restart: DBSIZE -> {}", client2.cmd(["DBSIZE"])?);
    drop((client, client2));
    t.measure("stop", || server.stop())?;
    Ok(())
}

fn failing_module(t: &mut Timings) -> R<()> {
    section("a module that fails to load is reported at once, with the server's log");
    let dir = std::env::temp_dir().join(format!("vtf-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let module = dir.join("broken.so");
    std::fs::write(&module, b"this is not a shared object")?;
    let started = Instant::now();
    let result = Server::start(&Config::new().module(&module, ["answer", "42"]));
    let took = started.elapsed();
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok(_) => {
            return Err("the server started with a broken module: this should not happen".into())
        }
        Err(e) => {
            println!("   error kind {:?} after {}:", e.kind(), ms(took));
            for line in e.message().lines().take(12) {
                println!("   | {line}");
            }
        }
    }
    t.0.push(("module load failure reported".into(), took));
    Ok(())
}

fn replication(t: &mut Timings) -> R<()> {
    section("a primary and 2 replicas, synced by replication offset");
    let config = Config::new();
    let mut group = t.measure("primary + 2 synced replicas", || {
        Replication::create(&config, 2)
    })?;
    let mut primary = group.primary().connect()?;
    for i in 0..100 {
        primary.cmd(["SET", &format!("key:{i}"), &format!("value {i}")])?;
    }
    t.measure("wait_sync after 100 writes", || {
        group.wait_sync(Duration::from_secs(10))
    })?;
    for replica in group.replicas() {
        let mut c = replica.connect()?;
        println!(
            "   replica port {}: DBSIZE {}, GET key:42 -> {}, a write -> {}",
            replica.port(),
            c.cmd(["DBSIZE"])?,
            c.cmd(["GET", "key:42"])?,
            c.cmd(["SET", "x", "y"])?
        );
    }
    drop(primary);
    t.measure("promote replica 1 and resync", || group.promote(1))?;
    println!("   new primary: port {}", group.primary().port());
    group
        .primary()
        .connect()?
        .cmd(["SET", "after-promotion", "yes"])?;
    group.wait_sync(Duration::from_secs(10))?;
    for replica in group.replicas() {
        let got = replica.connect()?.cmd(["GET", "after-promotion"])?;
        println!("   port {} sees after-promotion = {got}", replica.port());
    }
    Ok(())
}

fn tls_cluster(t: &mut Timings) -> R<()> {
    section("a 3x1 cluster over TLS (certificates generated in-process)");
    let config = Config::new().tls(TlsMode::On);
    let cluster = t.measure("3 shards x 1 replica, TLS, ready", || {
        Cluster::start(&config, 3, 1)
    })?;
    if let Some(files) = cluster.node(0).and_then(|n| n.tls_files()) {
        println!("   CA for other clients: {}", files.ca_cert.display());
    }
    let mut client = cluster.connect()?;
    t.measure("300 SETs + 300 GETs routed by slot", || {
        for i in 0..300 {
            client.cmd(["SET", &format!("user:{i}"), &i.to_string()])?;
        }
        for i in 0..300 {
            let got = client.cmd(["GET", &format!("user:{i}")])?;
            if got != Reply::String(i.to_string().into_bytes()) {
                return Err(format!("user:{i} read back as {got}").into());
            }
        }
        R::Ok(())
    })?;
    for (shard, node) in cluster.nodes().take(3).enumerate() {
        let keys = node.connect()?.cmd(["DBSIZE"])?.as_int().unwrap_or(-1);
        println!("   shard {shard} (port {}): {keys} keys", node.port());
    }
    let mut node0 = cluster
        .node(0)
        .ok_or("the cluster has no node 0")?
        .connect()?;
    let cluster_info = node0.cmd(["CLUSTER", "INFO"])?;
    let text = cluster_info.as_str().unwrap_or_default();
    let wanted = ["cluster_state", "cluster_known_nodes", "cluster_size"];
    let shown: Vec<&str> = text
        .lines()
        .filter(|l| wanted.iter().any(|w| l.starts_with(w)))
        .collect();
    println!("   CLUSTER INFO: {}", shown.join(", "));
    t.measure("failover of shard 0", || cluster.failover(0))?;
    if let Some(promoted) = cluster.replica(0, 0) {
        println!(
            "   node on port {} is now {}",
            promoted.port(),
            promoted
                .info_field("replication", "role")?
                .unwrap_or_default()
        );
    }
    client.cmd(["SET", "user:0", "written after failover"])?;
    println!(
        "   GET user:0 after failover -> {}",
        client.cmd(["GET", "user:0"])?
    );
    Ok(())
}

fn parallel(t: &mut Timings) -> R<()> {
    section("8 threads, each starting its own server on its own ports");
    t.measure("8 servers started and stopped in parallel", || {
        let results: Vec<Option<vtf::Result<u16>>> = thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    scope.spawn(|| {
                        let server = Server::start(&Config::new())?;
                        server.connect()?.cmd(["PING"])?;
                        Ok(server.port())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().ok()).collect()
        });
        let mut ports = Vec::new();
        for r in results {
            ports.push(r.ok_or("a thread panicked")??);
        }
        println!("   ports: {ports:?}");
        R::Ok(())
    })
}
