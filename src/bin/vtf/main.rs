//! `vtf`: the framework's servers from the command line. Starts a server,
//! replication group or cluster and keeps it in the foreground until Ctrl-C
//! or SIGTERM, runs a command against one (`vtf run`), or builds a server
//! from source (`vtf build`). A thin front end: everything it does is the
//! library's, and so are its error messages.

mod options;
mod report;
mod run;
mod running;

use std::ffi::OsString;
use std::io::Write as _;
use std::process::ExitCode;
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::time::Duration;

use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use options::ServerOptions;
use running::{Running, Shape};

/// Success: the topology ran and was torn down, or the build finished.
const EXIT_OK: u8 = 0;
/// vtf failed: a server did not start, a build failed, bad option values.
const EXIT_FAILED: u8 = 1;
// 2: a usage error, reported by clap.
/// A server exited on its own while vtf was keeping the topology up.
const EXIT_SERVER_DIED: u8 = 3;

/// How often the foreground commands look for servers that exited.
const WATCH_INTERVAL: Duration = Duration::from_millis(500);
/// Log lines shown for a server that exited.
const DIED_TAIL_LINES: usize = 30;

const EXIT_CODES: &str = "\
Exit status:
  0    the servers ran and were torn down after SIGINT/SIGTERM (vtf build: built)
  1    vtf failed: a server did not start, a build failed, a bad value
  2    usage error (unknown option, missing value)
  3    a server exited on its own while vtf was running (its log went to stderr)
  vtf run: CMD's exit status; 125 vtf failed, 126 CMD cannot be executed,
  127 CMD not found, 128+N CMD was killed by signal N

Killing vtf with SIGKILL leaves no server: every server dies with it.";

#[derive(Debug, Parser)]
#[command(name = "vtf", version, about = "Valkey servers for tests, from the command line",
          long_about = None, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Debug, Subcommand)]
enum Commands {
    /// Start one server, print it, wait for Ctrl-C or SIGTERM, tear down
    #[command(after_help = EXIT_CODES)]
    Server {
        #[command(flatten)]
        server: ServerOptions,
        #[command(flatten)]
        output: Output,
    },
    /// Start a primary with replicas (in sync), print them, wait, tear down
    #[command(after_help = EXIT_CODES)]
    Replication {
        /// Replicas of the primary
        #[arg(long, default_value_t = 1, value_name = "N")]
        replicas: usize,
        #[command(flatten)]
        server: ServerOptions,
        #[command(flatten)]
        output: Output,
    },
    /// Start a cluster (formed, state ok), print its nodes, wait, tear down
    #[command(after_help = EXIT_CODES)]
    Cluster {
        /// Shards (primaries), the slots split evenly between them
        #[arg(long, default_value_t = 3, value_name = "S")]
        shards: usize,
        /// Replicas of each shard's primary
        #[arg(long, default_value_t = 0, value_name = "R")]
        replicas: usize,
        #[command(flatten)]
        server: ServerOptions,
        #[command(flatten)]
        output: Output,
    },
    /// Start a topology, run CMD with it in the environment, tear down, exit
    /// with CMD's status
    #[command(after_help = RUN_HELP)]
    Run {
        /// A cluster of S shards (with --replicas R each)
        #[arg(long, value_name = "S")]
        shards: Option<usize>,
        /// Replicas: of the primary, or of each shard with --shards
        #[arg(long, value_name = "N")]
        replicas: Option<usize>,
        #[command(flatten)]
        server: ServerOptions,
        /// The command and its arguments, after `--`
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<OsString>,
    },
    /// Build valkey-server from a git ref (cached) and print its path
    #[command(after_help = EXIT_CODES)]
    Build {
        /// A tag, branch or commit
        #[arg(value_name = "REF")]
        git_ref: String,
        /// A git URL or local repository [default: env VTF_VALKEY_REPO, else Valkey's]
        #[arg(long, value_name = "URL")]
        repo: Option<String>,
        /// Build without TLS (BUILD_TLS=yes is the default)
        #[arg(long)]
        no_tls: bool,
        /// Build with a sanitizer
        #[arg(long, value_enum, value_name = "KIND")]
        sanitizer: Option<SanitizerName>,
        /// Parallel make jobs [default: one per core]
        #[arg(long, value_name = "N")]
        jobs: Option<usize>,
    },
}

const RUN_HELP: &str = "\
Without --shards or --replicas: one server; --replicas N: a primary with N
replicas; --shards S [--replicas R]: a cluster.

CMD's environment describes the servers:
  VTF_EXTERNAL            the JSON that --json prints (vtf's libraries attach to it)
  VALKEY_HOST, VALKEY_PORT  the first node (the primary; a cluster's shard 0)
  VALKEY_NODES            every node, host:port,host:port,...
  VALKEY_TLS              off, on or mutual
  VALKEY_TLS_CA_CERT, VALKEY_TLS_CLIENT_CERT, VALKEY_TLS_CLIENT_KEY
  VALKEY_PASSWORD, VALKEYCLI_AUTH  the credential (unset when auth is off)
When CMD fails, the last lines of every server's log go to stderr.
SIGTERM and SIGHUP are passed on to CMD; Ctrl-C reaches it from the terminal.

Exit status: CMD's; 125 vtf failed (a server did not start), 126 CMD cannot
be executed, 127 CMD not found, 128+N CMD was killed by signal N, 2 usage.";

#[derive(Debug, Clone, clap::Args)]
struct Output {
    /// Print the topology as one line of JSON on stdout instead of a table
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SanitizerName {
    Address,
    Undefined,
}

fn main() -> ExitCode {
    // vtf starts servers: an inherited VTF_EXTERNAL (from an outer `vtf
    // run`) must not turn its starts into attaches. Still one thread here.
    std::env::remove_var(vtf::external::ENV);
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // Options of the subcommand, for the order of --module and --module-arg.
    let sub = matches
        .subcommand()
        .map(|(_, m)| m.clone())
        .unwrap_or_default();
    ExitCode::from(dispatch(cli.command, &sub))
}

fn dispatch(command: Commands, matches: &ArgMatches) -> u8 {
    match command {
        Commands::Server { server, output } => foreground(Shape::Server, &server, &output, matches),
        Commands::Replication {
            replicas,
            server,
            output,
        } => foreground(Shape::Replication { replicas }, &server, &output, matches),
        Commands::Cluster {
            shards,
            replicas,
            server,
            output,
        } => foreground(
            Shape::Cluster { shards, replicas },
            &server,
            &output,
            matches,
        ),
        Commands::Run {
            shards,
            replicas,
            server,
            command,
        } => {
            let shape = match (shards, replicas) {
                (Some(shards), r) => Shape::Cluster {
                    shards,
                    replicas: r.unwrap_or(0),
                },
                (None, Some(replicas)) => Shape::Replication { replicas },
                (None, None) => Shape::Server,
            };
            let running = match start(shape, &server, matches) {
                Ok(r) => r,
                Err(()) => return run::EXIT_VTF_FAILED,
            };
            let code = run::run(&running, &command);
            drop(running);
            code
        }
        Commands::Build {
            git_ref,
            repo,
            no_tls,
            sanitizer,
            jobs,
        } => {
            let options = vtf::build::BuildOptions::new()
                .tls(!no_tls)
                .sanitizer(sanitizer.map(|s| match s {
                    SanitizerName::Address => vtf::build::Sanitizer::Address,
                    SanitizerName::Undefined => vtf::build::Sanitizer::Undefined,
                }))
                .jobs(jobs.unwrap_or(0));
            match vtf::build::build(repo.as_deref(), &git_ref, &options) {
                Ok(built) => {
                    println!("{}", built.server_path().display());
                    EXIT_OK
                }
                Err(e) => {
                    eprintln!("vtf: error: {e}");
                    EXIT_FAILED
                }
            }
        }
    }
}

/// The config from the options, then the topology; errors go to stderr.
fn start(shape: Shape, server: &ServerOptions, matches: &ArgMatches) -> Result<Running, ()> {
    let config = server.config(matches).map_err(|e| {
        eprintln!("vtf: error: {e}");
    })?;
    Running::start(shape, &config).map_err(|e| {
        eprintln!("vtf: error: {e}");
    })
}

/// Start, print, wait for SIGINT/SIGTERM, tear down (by dropping).
fn foreground(shape: Shape, server: &ServerOptions, output: &Output, matches: &ArgMatches) -> u8 {
    let running = match start(shape, server, matches) {
        Ok(r) => r,
        Err(()) => return EXIT_FAILED,
    };
    // Installed before printing: whoever reads the description may signal
    // at once, and the signal must find vtf ready to tear down.
    let mut signals = match Signals::new([SIGINT, SIGTERM]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("vtf: error: cannot install the signal handlers: {e}");
            return EXIT_FAILED;
        }
    };
    let topology = running.topology();
    let printed = {
        let mut stdout = std::io::stdout().lock();
        let text = if output.json {
            format!("{}\n", topology.to_json())
        } else {
            report::table(&topology)
        };
        stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
    };
    if let Err(e) = printed {
        eprintln!("vtf: error: writing the description to stdout: {e}; stopping");
        return EXIT_FAILED;
    }
    eprintln!(
        "vtf: running; Ctrl-C or `kill {}` stops {} and removes {}",
        std::process::id(),
        running::plural(topology.nodes.len(), "server"),
        if server.keep_data {
            "nothing (--keep-data)"
        } else {
            "their directories"
        }
    );

    let died = std::thread::scope(|scope| {
        let (stop, stopped) = channel::<()>();
        let watcher = scope.spawn(|| watch(&running, stopped));
        let signal = signals.forever().next();
        drop(stop);
        let name = match signal {
            Some(SIGINT) => "SIGINT",
            Some(SIGTERM) => "SIGTERM",
            _ => "a signal",
        };
        eprintln!("vtf: {name}: stopping the servers");
        watcher.join().unwrap_or(false)
    });
    drop(running);
    eprintln!("vtf: stopped");
    if died {
        EXIT_SERVER_DIED
    } else {
        EXIT_OK
    }
}

/// Reports each server that exits on its own, until `stopped` fires.
/// Returns whether any did.
fn watch(running: &Running, stopped: std::sync::mpsc::Receiver<()>) -> bool {
    let nodes = running.nodes();
    let mut reported = vec![false; nodes.len()];
    loop {
        match stopped.recv_timeout(WATCH_INTERVAL) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return reported.contains(&true),
        }
        for (i, node) in nodes.iter().enumerate() {
            if !reported[i] && !node.is_running() {
                reported[i] = true;
                eprintln!(
                    "vtf: node {i} ({}) exited on its own ({})\nlast lines of {}:\n{}",
                    node.address(),
                    node.exit_status()
                        .map_or_else(|| "status unknown".to_string(), |s| s.to_string()),
                    node.log_path().display(),
                    node.log_tail(DIED_TAIL_LINES).unwrap_or_default()
                );
            }
        }
    }
}
