//! Access (issue 15 part 5) against real servers: by default only the tests
//! that started a server get in. Another local user (`nobody`) gets NOAUTH
//! while vtf's clients and valkey-cli with the server's password get in; the
//! password file is 0600 in a 0700 directory and never on the command line;
//! replication, clusters and TLS work with the credential; a chosen password
//! works; auth off (config or env `VTF_AUTH=0`) is as open as before.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use vtf::{auth, env, Cluster, Config, Replication, Reply, Server, TlsMode};

const SYNC: Duration = Duration::from_secs(20);

fn start(config: &Config) -> Server {
    Server::start(config).unwrap_or_else(|e| panic!("start failed: {e}"))
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
    .trim()
    .to_string()
}

/// valkey-cli PING as the local user `nobody`, with no password: what any
/// other user of the machine can do. (We run as root in CI; runuser drops to
/// nobody without a password.)
fn ping_as_nobody(server: &Server) -> String {
    let cli = server.cli_path().expect("the server's CLI");
    let out = Command::new("runuser")
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .args(["-u", "nobody", "--"])
        .arg(&cli)
        .args([
            "-h",
            server.host(),
            "-p",
            &server.port().to_string(),
            "PING",
        ])
        .output()
        .expect("running runuser (util-linux) to act as user nobody");
    text(&out)
}

/// valkey-cli as ourselves, with `password` through env REDISCLI_AUTH.
fn cli(server: &Server, password: Option<&str>, args: &[&str]) -> String {
    let mut command = Command::new(server.cli_path().expect("the server's CLI"));
    command.env_remove("REDISCLI_AUTH");
    if let Some(password) = password {
        command.env("REDISCLI_AUTH", password);
    }
    command.args(["-h", server.host(), "-p", &server.port().to_string()]);
    if let Some(files) = server.tls_files() {
        command.arg("--tls").arg("--cacert").arg(&files.ca_cert);
        if server.tls_mode() == TlsMode::Mutual {
            command
                .arg("--cert")
                .arg(&files.client_cert)
                .arg("--key")
                .arg(&files.client_key);
        }
    }
    text(&command.args(args).output().expect("running valkey-cli"))
}

#[test]
fn other_local_users_get_noauth_while_the_tests_get_in() {
    let server = start(&Config::new());
    let password = server.password().expect("auth is on by default");
    assert!(password.len() >= 16, "password {password:?} is short");
    assert_eq!(
        Some(password),
        auth::process_password().ok(),
        "one credential per test process"
    );

    // Another user of the machine: locked out.
    let nobody = ping_as_nobody(&server);
    assert!(nobody.starts_with("NOAUTH"), "nobody got: {nobody:?}");
    // valkey-cli without the password, as ourselves: locked out too.
    let anonymous = cli(&server, None, &["PING"]);
    assert!(anonymous.starts_with("NOAUTH"), "got: {anonymous:?}");
    // With it: in, by env and by -a.
    assert_eq!(cli(&server, Some(password), &["PING"]), "PONG");
    assert_eq!(
        cli(
            &server,
            None,
            &["-a", password, "--no-auth-warning", "PING"]
        ),
        "PONG"
    );
    // A wrong password is refused.
    let wrong = cli(&server, Some("not-the-password"), &["PING"]);
    assert!(
        wrong.contains("WRONGPASS") || wrong.contains("NOAUTH"),
        "got: {wrong:?}"
    );
    // vtf's own clients need no telling.
    let mut client = server.connect().unwrap();
    assert_eq!(client.cmd(["PING"]).unwrap(), Reply::Status("PONG".into()));
    assert_eq!(
        server.info_field("server", "tcp_port").unwrap(),
        Some(server.port().to_string())
    );

    // The credential's files: 0600 in a 0700 directory, the password alone
    // in one of them, and none of it on the command line others can read.
    assert_eq!(mode(server.dir()), 0o700, "{}", server.dir().display());
    let file = server.dir().join(auth::PASSWORD_FILE);
    assert_eq!(mode(&file), 0o600, "{}", file.display());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), password);
    assert_eq!(mode(&server.dir().join(auth::CONFIG_FILE)), 0o600);
    let pid = server.pid().expect("running");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(
        !String::from_utf8_lossy(&cmdline).contains(password),
        "the password is on the command line"
    );

    // The line a failure report prints to reach the server by hand works.
    let by_hand = Command::new("sh")
        .arg("-c")
        .arg(format!("{} PING", server.cli_command()))
        .env_remove("REDISCLI_AUTH")
        .output()
        .unwrap();
    assert_eq!(text(&by_hand), "PONG", "{}", server.cli_command());
    assert!(!server.cli_command().contains(password));
}

#[test]
fn restarts_keep_the_credential() {
    let mut server = start(&Config::new());
    let password = server.password().unwrap().to_string();
    server.connect().unwrap().cmd(["SET", "k", "v"]).unwrap();
    server.restart(true).unwrap();
    assert_eq!(server.password(), Some(password.as_str()));
    let mut client = server.connect().unwrap();
    assert_eq!(
        client.cmd(["GET", "k"]).unwrap(),
        Reply::String(b"v".to_vec())
    );
    server.restart(false).unwrap();
    assert!(ping_as_nobody(&server).starts_with("NOAUTH"));
    assert_eq!(cli(&server, Some(&password), &["DBSIZE"]), "0");
    server.stop().unwrap();
    assert!(!server.is_running());
}

#[test]
fn auth_off_is_as_open_as_before() {
    let server = start(&Config::new().auth(false));
    assert_eq!(server.password(), None);
    assert_eq!(ping_as_nobody(&server), "PONG");
    assert_eq!(cli(&server, None, &["PING"]), "PONG");
    assert!(!server.dir().join(auth::PASSWORD_FILE).exists());
    assert!(!server.cli_command().contains("REDISCLI_AUTH"));
    let mut client = server.connect().unwrap();
    assert_eq!(client.cmd(["PING"]).unwrap(), Reply::Status("PONG".into()));
}

#[test]
fn a_chosen_password_is_the_one_required() {
    // Spaces, quotes and a backslash: it reaches the server through its
    // config file and the probe's AUTH intact.
    let chosen = r#"my "chosen" pass\word"#;
    let server = start(&Config::new().password(chosen));
    assert_eq!(server.password(), Some(chosen));
    assert_eq!(cli(&server, Some(chosen), &["PING"]), "PONG");
    assert!(cli(&server, Some(auth::process_password().unwrap()), &["PING"]).contains("WRONGPASS"));
    assert!(ping_as_nobody(&server).starts_with("NOAUTH"));
    let mut client = server.connect().unwrap();
    assert_eq!(client.cmd(["PING"]).unwrap(), Reply::Status("PONG".into()));

    // A requirepass argument is the password too; auth(false) wins over a
    // chosen one.
    let by_arg = start(&Config::new().arg("requirepass", "from-the-arg"));
    assert_eq!(by_arg.password(), Some("from-the-arg"));
    assert_eq!(cli(&by_arg, Some("from-the-arg"), &["PING"]), "PONG");
    let open = start(&Config::new().password("unused").auth(false));
    assert_eq!(open.password(), None);
    assert_eq!(ping_as_nobody(&open), "PONG");

    // An empty password is a mistake, not an open server.
    let err = Server::start(&Config::new().password("")).unwrap_err();
    assert_eq!(err.kind(), vtf::ErrorKind::InvalidArgument, "{err}");
}

#[test]
fn a_config_file_of_the_test_still_applies() {
    let dir = std::env::temp_dir().join(format!("vtf-auth-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("my.conf");
    // Its own requirepass is overridden by the credential; its other lines apply.
    std::fs::write(&file, "maxmemory 3mb\nrequirepass from-the-file\n").unwrap();
    let server = start(&Config::new().config_file(&file));
    assert_eq!(
        server
            .connect()
            .unwrap()
            .cmd(["CONFIG", "GET", "maxmemory"])
            .unwrap(),
        Reply::Array(vec![
            Reply::String(b"maxmemory".to_vec()),
            Reply::String(b"3145728".to_vec())
        ])
    );
    assert!(cli(&server, Some("from-the-file"), &["PING"]).contains("WRONGPASS"));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

fn replication_with_the_credential(config: &Config) {
    let group = Replication::create(config, 2).unwrap_or_else(|e| panic!("create: {e}"));
    let primary = group.primary();
    if !primary.tls_mode().is_on() {
        assert!(ping_as_nobody(primary).starts_with("NOAUTH"));
    }
    primary.connect().unwrap().cmd(["SET", "k", "v"]).unwrap();
    group.wait_sync(SYNC).unwrap();
    for replica in group.replicas() {
        assert_eq!(replica.password(), primary.password());
        assert_eq!(
            replica
                .info_field("replication", "master_link_status")
                .unwrap()
                .as_deref(),
            Some("up")
        );
        let got = replica.connect().unwrap().cmd(["GET", "k"]).unwrap();
        assert_eq!(got, Reply::String(b"v".to_vec()));
        if !replica.tls_mode().is_on() {
            assert!(ping_as_nobody(replica).starts_with("NOAUTH"));
        }
    }
}

/// Each node authenticates to its primary with its own password, so a group
/// whose configs differ in it is refused at once, with nothing started.
#[test]
fn a_group_of_two_credentials_is_refused_before_it_starts() {
    let cases = [
        (
            Config::new().password("primary-secret-1"),
            Config::new().password("replica-secret-2"),
            "different passwords",
        ),
        (
            Config::new().password("primary-secret-1"),
            Config::new().auth(false),
            "a password and no password",
        ),
    ];
    for (primary, replica, detail) in cases {
        let err = match Replication::create_with(&primary, &replica, 1) {
            Ok(_) => panic!("a group with {detail} formed"),
            Err(e) => e,
        };
        assert_eq!(err.kind(), vtf::ErrorKind::InvalidArgument, "{err}");
        assert!(err.message().contains(detail), "{err}");
        // InvalidArgument, not the Timeout of a sync that could never happen.
        assert!(
            !err.message().contains("secret"),
            "the message shows a password: {err}"
        );
    }
    // The same chosen password on both sides forms.
    let same = Config::new().password("shared-secret-3");
    let group = Replication::create_with(&same, &same.clone().arg("maxmemory", "64mb"), 1)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        group.replica(0).unwrap().password(),
        Some("shared-secret-3")
    );
}

#[test]
fn replicas_sync_with_the_credential() {
    replication_with_the_credential(&Config::new());
}

#[test]
fn replicas_sync_with_the_credential_over_mutual_tls() {
    replication_with_the_credential(&Config::new().tls(TlsMode::Mutual));
}

fn cluster_with_the_credential(config: &Config) {
    let cluster = Cluster::start(config, 3, 1).unwrap_or_else(|e| panic!("start: {e}"));
    let mut client = cluster.connect().unwrap();
    for i in 0..50 {
        let key = format!("key{i}");
        client.cmd(["SET", key.as_str(), "v"]).unwrap();
    }
    for node in cluster.nodes() {
        assert!(node.password().is_some());
        if !node.tls_mode().is_on() {
            assert!(ping_as_nobody(node).starts_with("NOAUTH"));
        }
    }
    // valkey-cli -c follows redirects with the password.
    let node0 = cluster.node(0).unwrap();
    let password = node0.password().unwrap().to_string();
    for i in 0..5 {
        let key = format!("key{i}");
        assert_eq!(cli(node0, Some(&password), &["-c", "GET", &key]), "v");
    }
    // Slots move with their keys (MIGRATE ... AUTH) and a failover completes.
    cluster.move_slots(0, 99, 1).unwrap();
    cluster.failover(0).unwrap();
    cluster.wait_ok(SYNC).unwrap();
    let mut client = cluster.connect().unwrap();
    for i in 0..50 {
        let key = format!("key{i}");
        let got = client.cmd(["GET", key.as_str()]).unwrap();
        assert_eq!(got, Reply::String(b"v".to_vec()), "{key}");
    }
}

#[test]
fn clusters_form_move_and_fail_over_with_the_credential() {
    cluster_with_the_credential(&Config::new());
}

#[test]
fn clusters_work_with_the_credential_over_tls() {
    cluster_with_the_credential(&Config::new().tls(TlsMode::On));
}

/// Runs the ignored test `test` of this binary again with `vars` set: the
/// environment is process-wide.
fn run_child(test: &str, vars: &[(&str, &str)]) -> Output {
    let exe = std::env::current_exe().expect("current test binary");
    let out = Command::new(exe)
        .args([test, "--exact", "--ignored", "--nocapture"])
        .env_remove(env::AUTH)
        .envs(vars.iter().copied())
        .output()
        .expect("running the test binary as a child");
    assert!(
        out.status.success(),
        "child {test} with {vars:?} failed:\n{}",
        text(&out)
    );
    out
}

#[test]
#[ignore = "run in a child process by env_vtf_auth_turns_auth_off_for_a_run"]
fn env_child() {
    let expected: bool = std::env::var("EXPECT_AUTH").unwrap().parse().unwrap();
    let server = start(&Config::new());
    assert_eq!(server.password().is_some(), expected);
    let nobody = ping_as_nobody(&server);
    if expected {
        assert!(nobody.starts_with("NOAUTH"), "{nobody}");
    } else {
        assert_eq!(nobody, "PONG");
    }
    // The config's choice wins over the environment.
    let chosen = start(&Config::new().auth(true));
    assert!(chosen.password().is_some());
    println!("child ok");
}

#[test]
fn env_vtf_auth_turns_auth_off_for_a_run() {
    for (value, expected) in [
        ("0", "false"),
        ("off", "false"),
        ("1", "true"),
        ("", "true"),
    ] {
        let out = run_child(
            "env_child",
            &[(env::AUTH, value), ("EXPECT_AUTH", expected)],
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("child ok"));
    }
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args(["env_child", "--exact", "--ignored"])
        .env(env::AUTH, "perhaps")
        .env("EXPECT_AUTH", "true")
        .output()
        .unwrap();
    assert!(!out.status.success(), "VTF_AUTH=perhaps was accepted");
    assert!(text(&out).contains("VTF_AUTH"), "{}", text(&out));
}
