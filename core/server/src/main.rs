//! `komander`: `komander serve` runs the server; every other command is the API client.

use std::process::ExitCode;

use clap::Parser;
use komander_server::{
    cli::{self, ClientArgs, ClientCommand},
    config::ServeArgs,
    serve,
};

/// Komander: a self-hosted developer platform. `komander serve` runs the server; the other
/// commands talk to one through its REST API.
#[derive(Parser, Debug)]
#[command(name = "komander", version, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Runs the Komander server (SQLite in ./komander-data unless configured otherwise).
    Serve(ServeArgs),
    #[command(flatten)]
    Client(ClientCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let serving = matches!(cli.command, Command::Serve(_));
    init_tracing(serving);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("komander: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await.map(|()| ExitCode::SUCCESS),
            Command::Client(command) => cli::run(cli.client, command).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) if cli::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("komander: {e:#}");
            cli::exit_code_for(&e)
        }
    }
}

/// Logs go to standard error, filtered by `RUST_LOG` (default: info for the server, warnings
/// for the client).
fn init_tracing(serving: bool) {
    let default = if serving { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
