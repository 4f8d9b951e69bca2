//! `komander serve`: opens the store and the keyring, makes sure someone can sign in (the local
//! admin, the bootstrap token), then serves the API until SIGTERM or Ctrl-C.

use std::{sync::Arc, time::Instant};

use anyhow::Context as _;
use komander_app::targets::DockerGate;
use komander_app::{App, plugins::Plugins, runner::RunnerSettings, targets::LocalTarget};
use komander_secrets::Keyring;
use tracing::info;

use crate::{
    config::{Config, ServeArgs},
    http::{self, AppState, listener, router},
};

/// Runs the server until a shutdown signal.
///
/// # Errors
/// Bad configuration, a data directory or database that cannot be opened, a port in use.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let config = Config::load(&args)?;
    crate::data_dir::prepare(&config.data_dir)?;
    let keyring = match &config.secret_keys {
        Some(keys) => Keyring::parse(keys).context("secret_keys")?,
        None => Keyring::load_or_create(&config.data_dir.join("secret-keys"))?,
    };
    let store = komander_store::connect(
        config.database_url.as_ref().map(|u| u.expose()),
        &config.data_dir,
    )
    .await
    .context("opening the database")?;
    let plugins =
        Plugins::new(config.data_dir.join("plugins")).context("starting the plugin host")?;
    let gate = DockerGate::new(config.docker_operations);
    let app = App::new(store.clone(), Arc::new(keyring))
        .with_plugins(Arc::new(plugins))
        .with_docker(gate, &config.data_dir)
        .with_runner(
            &crate::data_dir::server_id(&config.data_dir)?,
            RunnerSettings {
                health_timeout: std::time::Duration::from_secs(config.apply_health_timeout_secs),
            },
        )
        .with_stream_limits(config.stream_limits()?);
    if let Some(token) = &config.bootstrap_token {
        app.ensure_bootstrap_token(token)
            .await
            .context("bootstrap_token")?;
    }
    let local_admin = app.ensure_local_admin(&config.data_dir).await?;
    if let Some(path) = &local_admin {
        println!("Local admin API token: {}", path.display());
    }
    let docker_host = config.docker_host();
    match app
        .register_local_target(&docker_host)
        .await
        .context("registering the local Docker Engine")?
    {
        LocalTarget::Registered => {
            info!(docker_host, "registered the Docker Engine as target local")
        }
        LocalTarget::Kept => {}
        LocalTarget::NoAnswer(reason) => {
            info!(docker_host, %reason, "no Docker Engine answers: no target local registered")
        }
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let address = listener.local_addr()?;
    info!(
        %address,
        database = store.backend(),
        ready_ms = started.elapsed().as_millis() as u64,
        "komander is ready"
    );
    println!("Komander listening on http://{address}");
    if local_admin.is_some()
        && let Some(token) = app
            .create_sign_in_link()
            .await
            .context("creating the sign-in link")?
    {
        let base = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{address}"));
        println!(
            "Sign in to the web UI (once, within 10 minutes): {}{}",
            base.trim_end_matches('/'),
            http::web::sign_in_link_path(&token)
        );
    }
    // Installed plugins load in the background (from their precompiled artifacts), then the
    // first-party plugins shipped in this binary install or upgrade: readiness never waits on
    // a compile. The reaper starts after them.
    let loader = app.clone();
    tokio::spawn(async move {
        if let Err(e) = loader.load_installed_plugins().await {
            tracing::error!(error = %e.report(), "loading installed plugins failed");
        }
        let embedded: Vec<&[u8]> = komander_first_party::PLUGINS
            .iter()
            .map(|p| p.bytes)
            .collect();
        if let Err(e) = loader.install_first_party_plugins(&embedded).await {
            tracing::error!(error = %e.report(), "installing the first-party plugins failed");
        }
        // Then the operations this server held before it stopped, and those whose holder
        // died: resuming them calls their runtimes, now loaded.
        loader.run_reaper().await;
    });
    let limits = config.http_limits()?;
    let state = AppState::new(app)
        .with_request_timeout(limits.request_timeout)
        .with_public_url(config.public_url.as_deref());
    let closing = state.app.clone();
    let shutdown = async move {
        shutdown_signal().await;
        // Event streams would hold the graceful shutdown for up to their lifetime: they end
        // now, telling their clients to resume (on another server, or this one restarted).
        closing.close_feeds();
    };
    listener::serve(listener, router(state), limits, shutdown)
        .await
        .context("serving the API")?;
    info!("komander stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = interrupt => {}
        _ = terminate.recv() => {}
    }
    info!("shutting down: finishing requests in flight");
}
