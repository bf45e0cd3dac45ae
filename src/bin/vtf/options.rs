//! The options every topology command shares (a mirror of `vtf::Config`),
//! and how they become a Config.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, ArgMatches, Args, ValueEnum};
use vtf::{Config, TlsMode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Tls {
    /// Plain TCP.
    Off,
    /// TLS only; clients verify the generated CA (printed).
    On,
    /// Like on, and clients must present the generated client certificate.
    Mutual,
}

/// Config's options. Their ids ("modules", "module_args") are read back from
/// the ArgMatches to pair each --module-arg with the --module before it.
#[derive(Debug, Clone, Args)]
pub struct ServerOptions {
    /// The valkey-server binary [default: env VTF_SERVER_BINARY, else
    /// valkey-server on PATH, else a source build of env VTF_VALKEY_VERSION]
    #[arg(long, value_name = "PATH", help_heading = "Server")]
    pub binary: Option<PathBuf>,

    /// Build this Valkey git ref (tag, branch, commit) from source and run it;
    /// the build is cached, its progress goes to stderr
    #[arg(
        long,
        value_name = "REF",
        conflicts_with = "binary",
        help_heading = "Server"
    )]
    pub version_ref: Option<String>,

    /// Pass `--NAME VALUE` to every server; VALUE is one argv item even with
    /// spaces, "" is an empty value (repeatable, kept in order)
    #[arg(long = "arg", num_args = 2, value_names = ["NAME", "VALUE"],
          allow_hyphen_values = true, action = ArgAction::Append, help_heading = "Server")]
    pub args: Vec<String>,

    /// Load a module at startup (repeatable)
    #[arg(long = "module", value_name = "PATH", action = ArgAction::Append, help_heading = "Server")]
    pub modules: Vec<PathBuf>,

    /// An argument of the --module before it (repeatable)
    #[arg(long = "module-arg", value_name = "ARG", allow_hyphen_values = true,
          action = ArgAction::Append, help_heading = "Server")]
    pub module_args: Vec<String>,

    /// A config file given to every server first; vtf's own settings and
    /// --arg override it
    #[arg(long, value_name = "PATH", help_heading = "Server")]
    pub config_file: Option<PathBuf>,

    /// TLS mode [default: off, or env VTF_TLS=1 / VTF_TLS=mutual]
    #[arg(long, value_enum, value_name = "MODE", help_heading = "Server")]
    pub tls: Option<Tls>,

    /// Keep the servers' directories (data, logs, certificates) after exit
    #[arg(long, help_heading = "Server")]
    pub keep_data: bool,

    /// Run every server under this command, split on white space (e.g.
    /// "valgrind --error-exitcode=99"); "" for none [default: env VTF_SERVER_WRAPPER]
    #[arg(
        long,
        value_name = "CMD",
        allow_hyphen_values = true,
        help_heading = "Server"
    )]
    pub wrapper: Option<String>,

    /// Start the servers without a password. vtf sets no password yet, so
    /// this is the current behaviour with or without the flag
    #[arg(long, help_heading = "Server")]
    pub no_auth: bool,

    /// How long each server may take to answer PING [default: 20000, x10
    /// under a wrapper]
    #[arg(long, value_name = "MS", help_heading = "Server")]
    pub startup_timeout_ms: Option<u64>,
}

impl ServerOptions {
    /// The Config these options describe. `matches` are the subcommand's,
    /// for the positions of --module and --module-arg.
    pub fn config(&self, matches: &ArgMatches) -> Result<Config, String> {
        let mut config = Config::new();
        if let Some(binary) = &self.binary {
            config = config.binary(binary);
        }
        if let Some(git_ref) = &self.version_ref {
            config = config.version(git_ref);
        }
        for pair in self.args.chunks(2) {
            if let [name, value] = pair {
                config = config.arg(name, value);
            }
        }
        for (path, args) in self.modules_with_args(matches)? {
            config = config.module(path, args);
        }
        if let Some(file) = &self.config_file {
            config = config.config_file(file);
        }
        if let Some(tls) = self.tls {
            config = config.tls(match tls {
                Tls::Off => TlsMode::Off,
                Tls::On => TlsMode::On,
                Tls::Mutual => TlsMode::Mutual,
            });
        }
        if self.keep_data {
            config = config.keep_data(true);
        }
        if let Some(wrapper) = &self.wrapper {
            config = config.wrapper(wrapper.split_whitespace());
        }
        if let Some(ms) = self.startup_timeout_ms {
            config = config.startup_timeout(Duration::from_millis(ms));
        }
        // --no-auth: nothing to turn off until Config has auth (issue 15).
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }

    /// Each --module with the --module-arg values that follow it on the
    /// command line (before the next --module).
    fn modules_with_args(
        &self,
        matches: &ArgMatches,
    ) -> Result<Vec<(PathBuf, Vec<String>)>, String> {
        let module_at: Vec<usize> = matches
            .indices_of("modules")
            .map(Iterator::collect)
            .unwrap_or_default();
        let arg_at: Vec<usize> = matches
            .indices_of("module_args")
            .map(Iterator::collect)
            .unwrap_or_default();
        let mut modules: Vec<(PathBuf, Vec<String>)> = self
            .modules
            .iter()
            .map(|p| (p.clone(), Vec::new()))
            .collect();
        for (arg, at) in self.module_args.iter().zip(arg_at) {
            let owner = module_at.iter().rposition(|&m| m < at).ok_or_else(|| {
                format!("--module-arg {arg:?} comes before any --module: give it after the module it is for")
            })?;
            modules[owner].1.push(arg.clone());
        }
        Ok(modules)
    }
}
