//! vtf against bare baselines, on the same valkey-server in the same run.
//! Run it with `scripts/bench.sh` (builds the C round-trip program too), or
//! `cargo run --release --example bench -- [--rounds N] [--roundtrip PATH]`.
//! Ours and the baseline alternate round by round (ABAB) so drift hits both.
//! Any failure exits non-zero; ratios are reported, never asserted.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vtf::ports::{self, PortReservation};
use vtf::{Cluster, Config, Replication, Server};

const HOST: &str = "127.0.0.1";
/// The bare readiness loop's pause. Shorter is slower on 2 cores: a 50 µs
/// connect loop steals CPU from the server it waits for.
const BARE_POLL: Duration = Duration::from_micros(200);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--worker") {
        let n: usize = args[2].parse().expect("--worker takes a count");
        worker(n);
        return;
    }
    let opts = Options::parse(&args[1..]);
    let binary = Config::new()
        .resolve_binary()
        .expect("finding valkey-server");
    let binary = std::path::absolute(&binary).expect("absolute binary path");
    let scratch = std::env::temp_dir().join(format!("vtf-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("creating the scratch directory");
    let bench = Bench {
        binary,
        scratch: scratch.clone(),
        counter: std::cell::Cell::new(0),
    };
    eprintln!(
        "binary {} ({}), {} cores, {} rounds",
        bench.binary.display(),
        version(&bench.binary),
        cores(),
        opts.rounds
    );

    let mut rows = Vec::new();
    if opts.run("start") {
        rows.extend(bench.start_stop(opts.rounds));
    }
    if opts.run("replication") {
        rows.extend(bench.replication(opts.group_rounds));
    }
    if opts.run("cluster") {
        rows.extend(bench.cluster(opts.group_rounds));
    }
    if let (true, Some(program)) = (opts.run("roundtrip"), &opts.roundtrip) {
        rows.extend(roundtrip(program, opts.rt_rounds, opts.rt_ops));
    }
    if opts.run("parallel") {
        rows.push(bench.parallel(opts.par_rounds, opts.par_procs, opts.par_starts));
    }
    // Not in the default run: 2 x 50 clusters take a minute or more.
    if opts.only.iter().any(|s| s == "worst") {
        bench.worst(opts.worst_rounds);
    }

    let _ = std::fs::remove_dir_all(&scratch);
    if !rows.is_empty() {
        print_table(&rows);
    }
}

struct Options {
    rounds: usize,
    group_rounds: usize,
    rt_rounds: usize,
    rt_ops: usize,
    par_rounds: usize,
    par_procs: usize,
    par_starts: usize,
    roundtrip: Option<PathBuf>,
    /// Consecutive clusters per shape in the `worst` section.
    worst_rounds: usize,
    /// Sections to run (start, replication, cluster, roundtrip, parallel,
    /// and `worst`, which runs only when named); empty: all but `worst`.
    only: Vec<String>,
}

impl Options {
    fn run(&self, section: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == section)
    }

    fn parse(args: &[String]) -> Options {
        let mut o = Options {
            rounds: 20,
            group_rounds: 5,
            rt_rounds: 21,
            rt_ops: 5000,
            par_rounds: 3,
            par_procs: 8,
            par_starts: 25,
            roundtrip: None,
            worst_rounds: 50,
            only: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
            match flag.as_str() {
                "--rounds" => o.rounds = value().parse().expect("--rounds N"),
                "--group-rounds" => o.group_rounds = value().parse().expect("--group-rounds N"),
                "--rt-rounds" => o.rt_rounds = value().parse().expect("--rt-rounds N"),
                "--rt-ops" => o.rt_ops = value().parse().expect("--rt-ops N"),
                "--par-rounds" => o.par_rounds = value().parse().expect("--par-rounds N"),
                "--worst-rounds" => o.worst_rounds = value().parse().expect("--worst-rounds N"),
                "--roundtrip" => o.roundtrip = Some(PathBuf::from(value())),
                "--only" => o.only = value().split(',').map(str::to_string).collect(),
                other => panic!("unknown option {other}"),
            }
        }
        o
    }
}

/// One line of the table. `higher_is_better` rows are rates.
struct Row {
    name: String,
    ours: Vec<f64>,
    base: Vec<f64>,
    unit: &'static str,
    higher_is_better: bool,
    target: &'static str,
    baseline: String,
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

fn fmt_stats(v: &[f64], unit: &str) -> String {
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let f = |x: f64| {
        if x >= 100.0 {
            format!("{x:.0}")
        } else if x >= 10.0 {
            format!("{x:.1}")
        } else {
            format!("{x:.2}")
        }
    };
    format!("{} {unit} ({}–{})", f(median(v)), f(min), f(max))
}

fn print_table(rows: &[Row]) {
    println!("| benchmark | vtf: median (min–max) | baseline: median (min–max) | ratio vtf/baseline | target | n |");
    println!("|---|---|---|---|---|---|");
    for r in rows {
        let ratio = median(&r.ours) / median(&r.base);
        let note = if r.higher_is_better { " (rate)" } else { "" };
        println!(
            "| {} | {} | {}: {} | {ratio:.2}x{note} | {} | {}+{} |",
            r.name,
            fmt_stats(&r.ours, r.unit),
            r.baseline,
            fmt_stats(&r.base, r.unit),
            r.target,
            r.ours.len(),
            r.base.len()
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn version(binary: &Path) -> String {
    let out = Command::new(binary)
        .arg("--version")
        .output()
        .expect("running valkey-server --version");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

struct Bench {
    binary: PathBuf,
    scratch: PathBuf,
    counter: std::cell::Cell<u64>,
}

/// A server started by hand: spawn, poll connect+PING.
struct Bare {
    child: Child,
    reservation: PortReservation,
}

impl Bench {
    fn fresh_dir(&self) -> PathBuf {
        let n = self.counter.get();
        self.counter.set(n + 1);
        let dir = self.scratch.join(format!("bare-{n}"));
        std::fs::create_dir_all(&dir).expect("creating a bare server directory");
        dir
    }

    /// Spawns valkey-server on an already reserved port; does not wait.
    fn bare_spawn(&self, reservation: PortReservation, dir: &Path, extra: &[&str]) -> Bare {
        let port = reservation.port().to_string();
        let child = Command::new(&self.binary)
            .args([
                "--port",
                &port,
                "--bind",
                HOST,
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning a bare valkey-server");
        Bare { child, reservation }
    }

    fn bare_start(&self, reservation: PortReservation, dir: &Path, extra: &[&str]) -> Bare {
        let mut bare = self.bare_spawn(reservation, dir, extra);
        bare.wait_ready();
        bare
    }

    fn start_stop(&self, rounds: usize) -> Vec<Row> {
        let config = Config::new();
        let dir = self.fresh_dir();
        // Warm-up: engine detection, lock dir, page cache.
        drop(Server::start(&config).expect("warm-up start"));
        let mut bare = self.bare_start(ports::reserve().expect("port"), &dir, &[]);
        bare.stop();

        let (mut start_ours, mut start_base, mut stop_ours, mut stop_base) =
            (vec![], vec![], vec![], vec![]);
        for _ in 0..rounds {
            let t = Instant::now();
            let mut server = Server::start(&config).expect("Server::start");
            start_ours.push(ms(t.elapsed()));
            let t = Instant::now();
            server.stop().expect("Server::stop");
            stop_ours.push(ms(t.elapsed()));
            drop(server);

            let reservation = ports::reserve().expect("reserving a port");
            let t = Instant::now();
            let mut bare = self.bare_start(reservation, &dir, &[]);
            start_base.push(ms(t.elapsed()));
            let t = Instant::now();
            bare.stop();
            stop_base.push(ms(t.elapsed()));
        }
        vec![
            Row {
                name: "start to ready (Server::start)".into(),
                ours: start_ours,
                base: start_base,
                unit: "ms",
                higher_is_better: false,
                target: "≤ 1.10x",
                baseline: "spawn + connect/PING loop".into(),
            },
            Row {
                name: "stop (Server::stop)".into(),
                ours: stop_ours,
                base: stop_base,
                unit: "ms",
                higher_is_better: false,
                target: "–",
                baseline: "SHUTDOWN NOSAVE + waitpid".into(),
            },
        ]
    }

    /// A primary and 2 replicas, synced when `create` returns, vs 3 sequential bare starts.
    fn replication(&self, rounds: usize) -> Vec<Row> {
        let config = Config::new();
        drop(Replication::create(&config, 2).expect("warm-up replication"));
        let (mut ours, mut base) = (vec![], vec![]);
        for _ in 0..rounds {
            let t = Instant::now();
            let group = Replication::create(&config, 2).expect("Replication::create");
            ours.push(ms(t.elapsed()));
            drop(group);

            let reservations: Vec<_> = (0..3).map(|_| ports::reserve().expect("port")).collect();
            let dirs: Vec<_> = (0..3).map(|_| self.fresh_dir()).collect();
            let t = Instant::now();
            let bares: Vec<Bare> = reservations
                .into_iter()
                .zip(&dirs)
                .map(|(r, d)| self.bare_start(r, d, &[]))
                .collect();
            base.push(ms(t.elapsed()));
            for mut b in bares {
                b.stop();
            }
        }
        vec![Row {
            name: "primary + 2 synced replicas (Replication::create)".into(),
            ours,
            base,
            unit: "ms",
            higher_is_better: false,
            target: "–",
            baseline: "3 sequential bare starts".into(),
        }]
    }

    /// Clusters of each shape ready, against bare cluster-enabled servers
    /// joined by `valkey-cli --cluster create` (by the same commands by hand
    /// where valkey-cli refuses the shape: it wants 3 primaries) and polled
    /// for cluster_state:ok.
    fn cluster(&self, rounds: usize) -> Vec<Row> {
        let config = Config::new();
        let warm_up = Cluster::start(&config, 1, 0).expect("warm-up cluster");
        let cli = warm_up
            .node(0)
            .expect("node 0")
            .cli_path()
            .expect("the server's CLI");
        drop(warm_up);
        let mut rows = Vec::new();
        for (shards, replicas) in [(3, 0), (3, 1), (2, 2), (1, 0)] {
            let nodes = shards * (1 + replicas);
            let by_cli = shards >= 3;
            let (mut ours, mut base) = (vec![], vec![]);
            for _ in 0..rounds {
                let t = Instant::now();
                let cluster = Cluster::start(&config, shards, replicas).expect("Cluster::start");
                ours.push(ms(t.elapsed()));
                drop(cluster);
                base.push(self.bare_cluster(&cli, shards, replicas, by_cli));
            }
            let how = if by_cli {
                format!("valkey-cli --cluster create --cluster-replicas {replicas}")
            } else {
                "by hand (valkey-cli refuses < 3 primaries): SET-CONFIG-EPOCH, ADDSLOTSRANGE, \
                 MEET, REPLICATE"
                    .to_string()
            };
            rows.push(Row {
                name: format!("{shards}x{replicas} cluster ready (Cluster::start)"),
                ours,
                base,
                unit: "ms",
                higher_is_better: false,
                target: "≤ 0.30x",
                baseline: format!("{nodes} bare starts + {how} + cluster_state:ok"),
            });
        }
        rows
    }

    /// One baseline cluster: bare starts, joined, polled until every node
    /// says cluster_state:ok; the time in ms.
    fn bare_cluster(&self, cli: &Path, shards: usize, replicas: usize, by_cli: bool) -> f64 {
        let nodes = shards * (1 + replicas);
        let reservations: Vec<_> = (0..nodes)
            .map(|_| ports::reserve().expect("port"))
            .collect();
        let dirs: Vec<_> = (0..nodes).map(|_| self.fresh_dir()).collect();
        let extra = [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
        ];
        let t = Instant::now();
        let mut bares: Vec<Bare> = reservations
            .into_iter()
            .zip(&dirs)
            .map(|(r, d)| self.bare_spawn(r, d, &extra))
            .collect();
        for b in &mut bares {
            b.wait_ready();
        }
        let ports: Vec<u16> = bares.iter().map(Bare::port).collect();
        if by_cli {
            let addrs: Vec<String> = ports.iter().map(|p| format!("{HOST}:{p}")).collect();
            let out = Command::new(cli)
                .args(["--cluster", "create"])
                .args(&addrs)
                .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
                .stdin(Stdio::null())
                .output()
                .expect("running valkey-cli --cluster create");
            assert!(
                out.status.success(),
                "valkey-cli --cluster create failed: {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout)
            );
        } else {
            join_by_hand(&ports, shards, replicas);
        }
        for &port in &ports {
            let deadline = Instant::now() + Duration::from_secs(30);
            while !String::from_utf8_lossy(&resp(port, &["CLUSTER", "INFO"]))
                .contains("cluster_state:ok")
            {
                assert!(Instant::now() < deadline, "bare cluster not ok on {port}");
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let elapsed = ms(t.elapsed());
        for mut b in bares {
            b.stop();
        }
        elapsed
    }

    /// Consecutive clusters of 3x0 and 3x1 (no baseline): the median and
    /// the worst, with the load average seen before and after.
    fn worst(&self, rounds: usize) {
        let config = Config::new();
        for (shards, replicas) in [(3, 0), (3, 1)] {
            let before = load_average();
            let mut times = Vec::with_capacity(rounds);
            for _ in 0..rounds {
                let t = Instant::now();
                let cluster = Cluster::start(&config, shards, replicas).expect("Cluster::start");
                times.push(ms(t.elapsed()));
                drop(cluster);
            }
            let worst = times.iter().copied().fold(0.0, f64::max);
            let over = times.iter().filter(|&&t| t >= 1000.0).count();
            println!(
                "{rounds} consecutive {shards}x{replicas} clusters: median {:.0} ms, worst {worst:.0} ms, \
                 {over} of {rounds} at 1 s or more (load average before: {before}, after: {})",
                median(&times),
                load_average()
            );
        }
    }

    /// `procs` processes x `starts` start+stop each, vs one process doing it
    /// all, divided by the number of cores.
    fn parallel(&self, rounds: usize, procs: usize, starts: usize) -> Row {
        let me = std::env::current_exe().expect("current_exe");
        let run = |procs: usize, each: usize| {
            let t = Instant::now();
            let children: Vec<Child> = (0..procs)
                .map(|_| {
                    Command::new(&me)
                        .args(["--worker", &each.to_string()])
                        .spawn()
                        .expect("spawning a worker")
                })
                .collect();
            for mut c in children {
                let status = c.wait().expect("waiting for a worker");
                assert!(status.success(), "a worker failed: {status}");
            }
            t.elapsed()
        };
        let (mut ours, mut base) = (vec![], vec![]);
        for _ in 0..rounds {
            ours.push(ms(run(procs, starts)));
            base.push(ms(run(1, procs * starts)) / cores() as f64);
        }
        Row {
            name: format!("{procs} processes x {starts} starts (wall)"),
            ours,
            base,
            unit: "ms",
            higher_is_better: false,
            target: "–",
            baseline: format!("1 process x {}, / {} cores", procs * starts, cores()),
        }
    }
}

fn worker(n: usize) {
    let config = Config::new();
    for _ in 0..n {
        let mut server = Server::start(&config).expect("worker: Server::start");
        server.stop().expect("worker: Server::stop");
    }
}

impl Drop for Bare {
    /// A failed run must not leave servers behind: kill our own child by pid.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Bare {
    fn port(&self) -> u16 {
        self.reservation.port()
    }

    /// Connect + PING until PONG, pausing BARE_POLL between attempts.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut s) = TcpStream::connect((HOST, self.port())) {
                let _ = s.set_nodelay(true);
                if s.write_all(b"PING\r\n").is_ok() {
                    let mut buf = [0u8; 64];
                    if let Ok(n) = s.read(&mut buf) {
                        if buf[..n].starts_with(b"+PONG") {
                            return;
                        }
                    }
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("bare server on {} exited: {status}", self.port());
            }
            assert!(
                Instant::now() < deadline,
                "bare server on {} not ready",
                self.port()
            );
            std::thread::sleep(BARE_POLL);
        }
    }

    /// SHUTDOWN NOSAVE and a blocking wait for the exit.
    fn stop(&mut self) {
        let mut s = TcpStream::connect((HOST, self.port())).expect("connecting to shut down");
        s.write_all(b"SHUTDOWN NOSAVE\r\n")
            .expect("sending SHUTDOWN");
        let mut buf = [0u8; 64];
        let _ = s.read(&mut buf);
        let status = self.child.wait().expect("waiting for a bare server");
        assert!(status.success(), "bare server exited with {status}");
    }
}

/// One RESP command over a fresh connection; returns the raw reply.
/// What valkey-cli's create does, for shapes it refuses: a distinct epoch
/// and the slots on each primary, every node meets the first, each replica
/// follows its primary once it knows it.
fn join_by_hand(ports: &[u16], shards: usize, replicas: usize) {
    let ids: Vec<String> = ports
        .iter()
        .map(|&p| String::from_utf8_lossy(&resp(p, &["CLUSTER", "MYID"])).into_owned())
        .collect();
    for (shard, &port) in ports[..shards].iter().enumerate() {
        let (first, last) = vtf::cluster::slot_range(shard, shards);
        let epoch = (shard + 1).to_string();
        resp(port, &["CLUSTER", "SET-CONFIG-EPOCH", &epoch]);
        let (first, last) = (first.to_string(), last.to_string());
        let reply = resp(port, &["CLUSTER", "ADDSLOTSRANGE", &first, &last]);
        assert!(reply.starts_with(b"+OK"), "ADDSLOTSRANGE on {port}");
    }
    let first = ports[0].to_string();
    for &port in &ports[1..] {
        let reply = resp(port, &["CLUSTER", "MEET", HOST, &first]);
        assert!(reply.starts_with(b"+OK"), "MEET from {port}");
    }
    for (i, &port) in ports.iter().enumerate().skip(shards) {
        let primary = &ids[(i - shards) / replicas];
        let deadline = Instant::now() + Duration::from_secs(30);
        while !resp(port, &["CLUSTER", "REPLICATE", primary]).starts_with(b"+OK") {
            assert!(Instant::now() < deadline, "REPLICATE on {port}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The 1, 5 and 15 minute load averages, as /proc/loadavg shows them.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn resp(port: u16, args: &[&str]) -> Vec<u8> {
    let mut s = TcpStream::connect((HOST, port)).expect("connecting");
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(req.as_bytes()).expect("writing a command");
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    // Enough for simple and bulk replies: read until the announced length.
    loop {
        let n = s.read(&mut buf).expect("reading a reply");
        assert!(n > 0, "connection closed");
        out.extend_from_slice(&buf[..n]);
        if let Some(end) = out.windows(2).position(|w| w == b"\r\n") {
            if out[0] != b'$' {
                return out;
            }
            let len: usize = std::str::from_utf8(&out[1..end])
                .expect("bulk length")
                .parse()
                .expect("bulk length");
            if out.len() >= end + 2 + len + 2 {
                return out[end + 2..end + 2 + len].to_vec();
            }
        }
    }
}

/// Runs the C program (vtf_client_command vs redisCommandArgv) and reads its
/// "sample <name> <vtf|hiredis> <ops/s>" lines.
fn roundtrip(program: &Path, rounds: usize, ops: usize) -> Vec<Row> {
    let out = Command::new(program)
        .args([rounds.to_string(), ops.to_string()])
        .stderr(Stdio::inherit())
        .output()
        .expect("running the round-trip program");
    assert!(
        out.status.success(),
        "{} failed: {}",
        program.display(),
        out.status
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut rows: Vec<Row> = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 4 || f[0] != "sample" {
            continue;
        }
        let value: f64 = f[3].parse().expect("a sample value");
        let name = format!("{} round trips (vtf_client_command)", f[1]);
        let row = match rows.iter_mut().position(|r| r.name == name) {
            Some(i) => &mut rows[i],
            None => {
                rows.push(Row {
                    name,
                    ours: vec![],
                    base: vec![],
                    unit: "k/s",
                    higher_is_better: true,
                    target: "≥ 0.80x",
                    baseline: "hiredis redisCommandArgv".into(),
                });
                rows.last_mut().expect("just pushed")
            }
        };
        match f[2] {
            "vtf" => row.ours.push(value / 1e3),
            "hiredis" => row.base.push(value / 1e3),
            other => panic!("unknown side {other}"),
        }
    }
    assert!(
        !rows.is_empty(),
        "the round-trip program printed no samples"
    );
    rows
}
