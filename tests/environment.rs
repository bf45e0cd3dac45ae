//! The environment (`vtf::env`): one flag rule for every `VTF_*` flag, an
//! unknown value refused loudly, and one slow-down under a wrapper whether
//! the config or env `VTF_SERVER_WRAPPER` sets it.
//!
//! The environment is process-wide, so each case runs in a child process
//! (this test binary again, one ignored test, with the variables set).

use std::process::{Command, Output};
use std::time::Duration;

use vtf::config::WRAPPER_SLOWDOWN;
use vtf::{cluster, env, Config, ErrorKind, Server};

/// Runs the ignored test `test` of this binary with `vars` set (and the flags
/// this file is about removed first, so the caller's environment cannot leak in).
fn run_child(test: &str, vars: &[(&str, &str)]) -> Output {
    let exe = std::env::current_exe().expect("current test binary");
    let mut command = Command::new(exe);
    command.args([
        test,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for name in [
        env::KEEP_DATA,
        env::REFRESH,
        env::QUIET,
        env::TLS,
        env::SERVER_WRAPPER,
    ] {
        command.env_remove(name);
    }
    command.envs(vars.iter().copied());
    let out = command
        .output()
        .expect("running the test binary as a child");
    assert!(
        out.status.success(),
        "child {test} with {vars:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The text after `prefix` on its line.
fn line_after<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.split_once(prefix).map(|(_, rest)| rest.trim()))
}

#[test]
#[ignore = "run in a child process by keep_data_and_refresh_follow_one_flag_rule"]
fn flags_child() {
    let expected: bool = std::env::var("EXPECT_ON")
        .expect("EXPECT_ON")
        .parse()
        .expect("true or false");
    assert_eq!(env::keep_data().expect("VTF_KEEP_DATA"), expected);
    assert_eq!(env::refresh().expect("VTF_REFRESH"), expected);
    assert_eq!(env::quiet().expect("VTF_QUIET"), expected);
    // And what the flag does: the directory outlives the server, or not.
    let server = Server::start(&Config::new()).expect("start");
    let dir = server.dir().to_path_buf();
    drop(server);
    let kept = dir.join("server.log").is_file();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        kept,
        expected,
        "VTF_KEEP_DATA kept {}: {kept}",
        dir.display()
    );
}

/// `VTF_KEEP_DATA=TRUE` used to be off while `VTF_REFRESH=TRUE` was on.
#[test]
fn keep_data_and_refresh_follow_one_flag_rule() {
    for (value, on) in [
        ("TRUE", true),
        ("true", true),
        (" Yes ", true),
        ("ON", true),
        ("1", true),
        ("FALSE", false),
        ("off", false),
        ("No", false),
        ("0", false),
        ("", false),
    ] {
        let expect = on.to_string();
        run_child(
            "flags_child",
            &[
                (env::KEEP_DATA, value),
                (env::REFRESH, value),
                (env::QUIET, value),
                ("EXPECT_ON", &expect),
            ],
        );
    }
}

#[test]
#[ignore = "run in a child process by an_unknown_flag_value_is_refused_by_name"]
fn unknown_flag_child() {
    let err = Server::start(&Config::new()).expect_err("VTF_KEEP_DATA=maybe must be refused");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.message().contains("VTF_KEEP_DATA"), "{err}");
    assert!(err.message().contains("maybe"), "{err}");
    let err = env::refresh().expect_err("VTF_REFRESH=sometimes must be refused");
    assert!(err.message().contains("VTF_REFRESH=\"sometimes\""), "{err}");
}

#[test]
fn an_unknown_flag_value_is_refused_by_name() {
    run_child(
        "unknown_flag_child",
        &[(env::KEEP_DATA, "maybe"), (env::REFRESH, "sometimes")],
    );
}

/// The timeouts of a config with no wrapper of its own, one per line.
fn timeouts(config: &Config) -> String {
    format!(
        "startup {:?}\ncluster ready {:?}\nscaled 1s {:?}",
        config.effective_startup_timeout(),
        cluster::ready_timeout(config),
        config.scaled(Duration::from_secs(1))
    )
}

#[test]
#[ignore = "run in a child process by a_wrapper_set_either_way_scales_cluster_timeouts_once"]
fn env_wrapper_child() {
    // No wrapper in the config: env VTF_SERVER_WRAPPER applies.
    for line in timeouts(&Config::new()).lines() {
        println!("TIMEOUT {line}");
    }
}

/// A wrapper in env `VTF_SERVER_WRAPPER` used to scale cluster timeouts
/// twice (x100) while `Config::wrapper` scaled them once.
#[test]
fn a_wrapper_set_either_way_scales_cluster_timeouts_once() {
    let plain = Config::new().wrapper(Vec::<String>::new());
    let wrapped = Config::new().wrapper(["env"]);
    assert_eq!(
        cluster::ready_timeout(&wrapped),
        cluster::ready_timeout(&plain) * WRAPPER_SLOWDOWN
    );
    assert_eq!(
        wrapped.effective_startup_timeout(),
        plain.effective_startup_timeout() * WRAPPER_SLOWDOWN
    );
    let out = run_child("env_wrapper_child", &[(env::SERVER_WRAPPER, "env")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let from_env: Vec<&str> = stdout
        .lines()
        .filter_map(|l| line_after(l, "TIMEOUT "))
        .collect();
    let from_config: Vec<String> = timeouts(&wrapped).lines().map(str::to_string).collect();
    assert_eq!(from_env, from_config, "child stdout: {stdout}");
}
