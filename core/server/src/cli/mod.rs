//! The command-line client of the `komander` binary: `komander project list`, `komander service
//! create …` and the rest, each a thin adapter that speaks `/api/v1` through the
//! `komander_domain::api` types and prints the answer ([`output`]).
//!
//! Where settings come from, first found wins:
//! - the server: `--server`, `KOMANDER_SERVER`, the folder's link ([`address`]; only when it
//!   names the server of the config file), `server` in the [`config`] file, then
//!   `http://127.0.0.1:8080`;
//! - the API token: `KOMANDER_TOKEN`, then `token` in the config file, used only with the server
//!   stored beside it, so that a stored token never goes to another server. There is no token
//!   flag: flags show in `ps`.
//!
//! [`exit_code_for`] turns an error into an exit code scripts can rely on.

pub mod address;
pub mod client;
pub mod config;
pub mod deployments;
pub mod environments;
pub mod follow;
pub mod local;
pub mod output;
pub mod plugin_check;
pub mod plugin_new;
pub mod plugin_run;
pub mod plugins;
pub mod projects;
pub mod run;
pub mod scope;
pub mod services;
pub mod targets;
pub mod users;
pub mod view;

use std::{
    io::{self, IsTerminal as _},
    path::PathBuf,
    process::{Command, ExitCode},
};

use anyhow::Context as _;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use reqwest::StatusCode;

pub use client::{ApiClient, ApiError};
pub use output::OutputFormat;

/// The server used when neither a flag, the environment nor the config file names one.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// The environment variable holding the API token.
pub const TOKEN_ENV: &str = "KOMANDER_TOKEN";

/// Settings every client command shares. The API token is not among them: it comes from
/// `KOMANDER_TOKEN` or the config file.
#[derive(clap::Args, Debug)]
pub struct ClientArgs {
    /// The Komander server's URL [default: `server` in the config file, else
    /// `http://127.0.0.1:8080`].
    #[arg(long, env = "KOMANDER_SERVER", value_name = "URL", global = true)]
    pub server: Option<String>,
    /// How to print results: tables for people, or the server's JSON for scripts.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table, global = true)]
    pub output: OutputFormat,
}

/// The client's commands.
#[derive(clap::Subcommand, Debug)]
pub enum ClientCommand {
    /// Checks an API token against the server, then stores both in the config file (mode 0600).
    ///
    /// The token comes from KOMANDER_TOKEN, else from standard input (a prompt on a terminal).
    Login {
        /// Read the token from standard input even when KOMANDER_TOKEN is set.
        #[arg(long)]
        token_stdin: bool,
    },
    /// Shows who the API token belongs to.
    Me,
    /// Applies a deployment where its environment runs it and follows it live: on the
    /// server, or on this machine for a `local` environment (its Docker engine, DOCKER_HOST).
    /// Exit 0 done, 5 busy, 7 failed.
    Up {
        /// The deployment.
        #[command(flatten)]
        address: address::DeploymentAddress,
        /// How to run it.
        #[command(flatten)]
        options: run::OperateOptions,
    },
    /// Removes what a deployment runs (containers, networks; named volumes only with
    /// --volumes), where it runs.
    Down {
        /// The deployment.
        #[command(flatten)]
        address: address::DeploymentAddress,
        /// Remove the named volumes and their data too.
        #[arg(long)]
        volumes: bool,
        /// How to run it.
        #[command(flatten)]
        options: run::OperateOptions,
    },
    /// Stops a deployment's services, keeping them for `start`.
    Stop {
        /// The deployment.
        #[command(flatten)]
        address: address::DeploymentAddress,
        /// How to run it.
        #[command(flatten)]
        options: run::OperateOptions,
    },
    /// Starts again what `stop` stopped and waits for the services to run.
    Start {
        /// The deployment.
        #[command(flatten)]
        address: address::DeploymentAddress,
        /// How to run it.
        #[command(flatten)]
        options: run::OperateOptions,
    },
    /// Shows what applying a deployment now would change. Changes nothing.
    Plan {
        /// The deployment.
        #[command(flatten)]
        address: address::DeploymentAddress,
    },
    /// Shows each service as it runs now, and the drift from the spec.
    Status {
        /// The deployment.
        #[command(flatten)]
        address: address::DeploymentAddress,
    },
    /// Prints a service's last log lines; with -f, then the lines it writes.
    Logs {
        /// The deployment's flags (or PROJECT/ENV/DEPLOYMENT before the service).
        #[command(flatten)]
        address: address::DeploymentFlags,
        /// [PROJECT/ENV/DEPLOYMENT] SERVICE
        #[arg(value_name = "SERVICE", num_args = 1..=2, required = true)]
        words: Vec<String>,
        /// How many of the last lines to print first (1 to 1000).
        #[arg(long, default_value_t = 100)]
        tail: u32,
        /// Keep printing the lines the service writes.
        #[arg(short, long)]
        follow: bool,
    },
    /// Lists a deployment's operations, newest first, local and server ones alike.
    History {
        /// The deployment.
        #[command(flatten)]
        address: address::DeploymentAddress,
    },
    /// Brings back an earlier apply's services and plain variables and applies them.
    Rollback {
        /// The deployment's flags (or PROJECT/ENV/DEPLOYMENT before the operation).
        #[command(flatten)]
        address: address::DeploymentFlags,
        /// [PROJECT/ENV/DEPLOYMENT] APPLY: the earlier apply's operation id (`history`).
        #[arg(value_name = "APPLY", num_args = 1..=2, required = true)]
        words: Vec<String>,
        /// How to run it.
        #[command(flatten)]
        options: run::OperateOptions,
    },
    /// Writes a deployment as files to run without Komander (compose.yaml, .env.example).
    Export {
        /// The deployment.
        #[command(flatten)]
        address: address::DeploymentAddress,
        /// The folder to write the files under [default: ./<deployment>].
        #[arg(short = 'o', long = "dir", value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Overwrite files that exist already.
        #[arg(long)]
        force: bool,
    },
    /// Links the current folder to a deployment (`.komander.toml`: the server and the
    /// deployment, no token), so that commands run inside it need not name it.
    Link {
        /// The deployment, as PROJECT/ENV/DEPLOYMENT.
        #[arg(value_name = "PROJECT/ENV/DEPLOYMENT")]
        at: address::DeploymentAt,
    },
    /// Projects you are a member of.
    #[command(subcommand)]
    Project(projects::ProjectCommand),
    /// A project's members and their roles.
    #[command(subcommand)]
    Member(projects::MemberCommand),
    /// Invitation links to a project.
    #[command(subcommand)]
    Invitation(projects::InvitationCommand),
    /// A project's environments (DEV, STAGING, PROD…).
    #[command(subcommand)]
    Environment(environments::EnvironmentCommand),
    /// Deployments in an environment: private to their owner until shared.
    #[command(subcommand)]
    Deployment(deployments::DeploymentCommand),
    /// A deployment's services: one container each.
    #[command(subcommand)]
    Service(services::ServiceCommand),
    /// A service's environment variables; secret values are write-only.
    #[command(subcommand)]
    Variable(services::VariableCommand),
    /// The instance's users (instance admins).
    #[command(subcommand)]
    User(users::UserCommand),
    /// A user's API tokens.
    #[command(subcommand)]
    Token(users::TokenCommand),
    /// Installed plugins: git providers and runtimes (instance admins write).
    #[command(subcommand)]
    Plugin(plugins::PluginCommand),
    /// Docker Engines server deployments run on (instance admins write; a project's members
    /// list the targets granted to it).
    #[command(subcommand)]
    Target(targets::TargetCommand),
}

/// Runs one client command against the server and prints the answer on standard output (notes
/// for people go to standard error).
///
/// # Errors
/// When the config file cannot be read, the server cannot be reached or answers non-2xx (an
/// [`ApiError`] in the chain), or the output cannot be written; [`exit_code_for`] maps them.
pub async fn run(args: ClientArgs, command: ClientCommand) -> anyhow::Result<ExitCode> {
    let config_path = config::path();
    let file = match &config_path {
        Some(path) => config::load(path)?,
        None => config::FileConfig::default(),
    };
    let link = run::current_link()?;
    let server = match (args.server, &link) {
        (Some(server), _) => server,
        (None, Some(link)) => linked_server(link, file.server.as_deref())?,
        (None, None) => file
            .server
            .clone()
            .unwrap_or_else(|| DEFAULT_SERVER.to_owned()),
    };
    let stored_token = file.token.filter(|_| {
        file.server
            .as_deref()
            .is_none_or(|stored| same_server(stored, &server))
    });
    let api = ApiClient::new(&server, env_token().or(stored_token))?;
    let out = args.output;
    let anonymous = !api.has_token() && !matches!(command, ClientCommand::Login { .. });
    let result = match command {
        ClientCommand::Login { token_stdin } => login(&api, config_path, token_stdin, out).await,
        ClientCommand::Me => users::me(&api, out).await,
        ClientCommand::Up { address, options } => {
            let at = address.resolve(link.as_ref())?;
            run::operate(&api, out, &at, run::Action::Up, options).await
        }
        ClientCommand::Down {
            address,
            volumes,
            options,
        } => {
            let at = address.resolve(link.as_ref())?;
            run::operate(&api, out, &at, run::Action::Down { volumes }, options).await
        }
        ClientCommand::Stop { address, options } => {
            let at = address.resolve(link.as_ref())?;
            run::operate(&api, out, &at, run::Action::Stop, options).await
        }
        ClientCommand::Start { address, options } => {
            let at = address.resolve(link.as_ref())?;
            run::operate(&api, out, &at, run::Action::Start, options).await
        }
        ClientCommand::Plan { address } => {
            run::plan(&api, out, &address.resolve(link.as_ref())?).await
        }
        ClientCommand::Status { address } => {
            run::status(&api, out, &address.resolve(link.as_ref())?).await
        }
        ClientCommand::Logs {
            address,
            words,
            tail,
            follow,
        } => {
            let (at, service) = run::split_words(address, &words, link.as_ref())?;
            let service = service
                .parse()
                .map_err(|e| anyhow::anyhow!("service {service:?}: {e}"))?;
            run::logs(&api, out, &at, &service, tail, follow).await
        }
        ClientCommand::History { address } => {
            run::history(&api, out, &address.resolve(link.as_ref())?).await
        }
        ClientCommand::Rollback {
            address,
            words,
            options,
        } => {
            let (at, apply) = run::split_words(address, &words, link.as_ref())?;
            let apply = apply.parse().map_err(|_| {
                anyhow::anyhow!("{apply:?} is not an operation id (`komander history` lists them)")
            })?;
            run::operate(&api, out, &at, run::Action::Rollback(apply), options).await
        }
        ClientCommand::Export {
            address,
            dir,
            force,
        } => run::export(&api, &address.resolve(link.as_ref())?, dir, force).await,
        ClientCommand::Link { at } => run::link(&api, &at).await,
        ClientCommand::Project(command) => command.run(&api, out).await,
        ClientCommand::Member(command) => command.run(&api, out).await,
        ClientCommand::Invitation(command) => command.run(&api, out).await,
        ClientCommand::Environment(command) => command.run(&api, out).await,
        ClientCommand::Deployment(command) => command.run(&api, out).await,
        ClientCommand::Service(command) => command.run(&api, out).await,
        ClientCommand::Variable(command) => command.run(&api, out).await,
        ClientCommand::User(command) => command.run(&api, out).await,
        ClientCommand::Token(command) => command.run(&api, out).await,
        ClientCommand::Plugin(command) => command.run(&api, out).await,
        ClientCommand::Target(command) => command.run(&api, out).await,
    };
    match result {
        Err(err)
            if anonymous
                && api_error(&err).is_some_and(|e| e.status == StatusCode::UNAUTHORIZED) =>
        {
            Err(err.context(format!(
                "no API token: set {TOKEN_ENV} or run `komander login`"
            )))
        }
        other => other.map(|()| ExitCode::SUCCESS),
    }
}

/// The exit code for an error of [`run`], which scripts can rely on:
///
/// | code | meaning |
/// |------|---------|
/// | 0 | success |
/// | 1 | failure: the server is unreachable, answered 5xx, or anything else |
/// | 2 | usage error (clap's own, before anything runs) |
/// | 3 | not found (404) |
/// | 4 | unauthenticated or forbidden (401, 403) |
/// | 5 | conflict or busy (409), too many requests (429) |
/// | 6 | invalid input (400, 413, 415, 422) |
/// | 7 | the operation followed failed or was cancelled ([`follow::OperationFailed`]) |
///
/// The status is taken from the first [`ApiError`] in the error's chain.
pub fn exit_code_for(err: &anyhow::Error) -> ExitCode {
    ExitCode::from(exit_status(err))
}

/// Whether `err` comes from writing to a pipe whose reader went away (`komander … | head`):
/// then the command ends quietly, as the reader asked for no more.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    let broken = Some(std::io::ErrorKind::BrokenPipe);
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind)
            == broken
            || cause
                .downcast_ref::<serde_json::Error>()
                .and_then(serde_json::Error::io_error_kind)
                == broken
    })
}

fn exit_status(err: &anyhow::Error) -> u8 {
    if err
        .chain()
        .any(|cause| cause.is::<follow::OperationFailed>())
    {
        return 7;
    }
    match api_error(err).map(|e| e.status.as_u16()) {
        Some(404) => 3,
        Some(401 | 403) => 4,
        Some(409 | 429) => 5,
        Some(400 | 413 | 415 | 422) => 6,
        _ => 1,
    }
}

fn api_error(err: &anyhow::Error) -> Option<&ApiError> {
    err.chain()
        .find_map(|cause| cause.downcast_ref::<ApiError>())
}

/// The server of a folder's `link`, when it is the one the user logged in to (`logged_in`):
/// a `.komander.toml` comes with a repository, and must not send the user's token to a server
/// they did not choose.
///
/// # Errors
/// When the link names another server, saying how to confirm it.
fn linked_server(link: &address::Link, logged_in: Option<&str>) -> anyhow::Result<String> {
    if logged_in.is_some_and(|stored| same_server(stored, &link.server)) {
        return Ok(link.server.clone());
    }
    anyhow::bail!(
        "{} links this folder to the server {}, which is not the one you logged in to ({}): \
         refusing to send your token there; pass --server {} (or set KOMANDER_SERVER) to use it",
        link.file.display(),
        link.server,
        logged_in.unwrap_or("none"),
        link.server
    )
}

/// `KOMANDER_TOKEN`, when set and not blank.
fn env_token() -> Option<String> {
    std::env::var(TOKEN_ENV)
        .ok()
        .map(|token| token.trim().to_owned())
        .filter(|token| !token.is_empty())
}

fn same_server(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// `komander login`: checks the token with `GET /api/v1/me`, then stores the server and the
/// token in the config file.
async fn login(
    api: &ApiClient,
    config_path: Option<PathBuf>,
    token_stdin: bool,
    out: OutputFormat,
) -> anyhow::Result<()> {
    let path = config_path
        .context("neither XDG_CONFIG_HOME nor HOME is set: there is nowhere to store the token")?;
    let token = match env_token() {
        Some(token) if !token_stdin => token,
        _ => read_stdin("API token")?.trim().to_owned(),
    };
    anyhow::ensure!(!token.is_empty(), "the API token is empty");
    let server = api.server();
    let me = users::whoami(&ApiClient::new(server, Some(token.clone()))?)
        .await
        .with_context(|| format!("checking the API token with {server}"))?;
    config::save(&path, server, &token)?;
    eprintln!(
        "logged in to {server} as {}; saved in {}",
        me.handle,
        path.display()
    );
    output::print_item(out, &me)
}

/// Reads a value from standard input: all of it, or one line after a prompt naming `what` when
/// it is a terminal (echo off while typing, through `stty`). One trailing newline is dropped.
fn read_stdin(what: &str) -> anyhow::Result<String> {
    let stdin = io::stdin();
    let read = if stdin.is_terminal() {
        eprint!("{what}: ");
        let echo_off = Command::new("stty")
            .arg("-echo")
            .status()
            .is_ok_and(|status| status.success());
        let mut line = String::new();
        let read = stdin.read_line(&mut line).map(|_| line);
        if echo_off {
            let _ = Command::new("stty").arg("echo").status();
            eprintln!();
        }
        read
    } else {
        io::read_to_string(stdin.lock())
    };
    let text = read.with_context(|| format!("reading the {what} from standard input"))?;
    let text = text.strip_suffix('\n').unwrap_or(text.as_str());
    Ok(text.strip_suffix('\r').unwrap_or(text).to_owned())
}

/// A parser of one of a closed set of values (roles, runtimes, executors) spelled as on the
/// wire by `name`; `--help` lists them.
fn one_of<T: Copy + Send + Sync + 'static>(
    values: &'static [T],
    name: fn(T) -> &'static str,
) -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(values.iter().map(|value| name(*value))).try_map(
        move |chosen: String| {
            values
                .iter()
                .copied()
                .find(|value| name(*value) == chosen)
                .ok_or("not one of the possible values")
        },
    )
}

#[cfg(test)]
mod tests {
    use komander_domain::api::ErrorCode;

    use super::*;

    fn answered(status: StatusCode) -> anyhow::Error {
        anyhow::Error::new(ApiError {
            status,
            code: ErrorCode::Internal,
            message: "m".to_owned(),
            field: None,
        })
        .context("showing project shop")
    }

    #[test]
    fn exit_codes_follow_the_status() {
        assert_eq!(exit_status(&answered(StatusCode::NOT_FOUND)), 3);
        assert_eq!(exit_status(&answered(StatusCode::FORBIDDEN)), 4);
        assert_eq!(exit_status(&answered(StatusCode::CONFLICT)), 5);
        assert_eq!(exit_status(&answered(StatusCode::TOO_MANY_REQUESTS)), 5);
        let failed = anyhow::Error::new(follow::OperationFailed {
            operation: komander_domain::OperationId::new(),
            state: komander_domain::api::OperationState::Cancelled,
            message: None,
        })
        .context("following the apply");
        assert_eq!(exit_status(&failed), 7);
        assert_eq!(exit_status(&answered(StatusCode::UNPROCESSABLE_ENTITY)), 6);
        assert_eq!(exit_status(&answered(StatusCode::BAD_GATEWAY)), 1);
        assert_eq!(exit_status(&anyhow::anyhow!("connection refused")), 1);
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::{CommandFactory as _, Parser};

        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: ClientArgs,
            #[command(subcommand)]
            command: ClientCommand,
        }
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "komander",
            "service",
            "create",
            "--project",
            "shop",
            "--environment",
            "dev",
            "--deployment",
            "mine",
            "web",
            "--image",
            "nginx:1",
            "--port",
            "80:8081",
            "--output",
            "json",
        ])
        .unwrap();
        assert_eq!(cli.args.output, OutputFormat::Json);
        assert!(matches!(cli.command, ClientCommand::Service(_)));
        assert!(
            Cli::try_parse_from([
                "komander", "member", "add", "-p", "shop", "bob", "--role", "boss"
            ])
            .is_err()
        );
    }
}
