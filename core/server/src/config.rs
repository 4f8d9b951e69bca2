//! The server's one configuration: a TOML file, then `KOMANDER_*` environment variables, then
//! `komander serve --<key>` flags, merged by one generic layer (figment), with defaults that
//! make `komander serve` work with nothing set. Secrets may come from `<key>_file` paths.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context as _;
use figment::{
    Figment,
    error::{Actual, Kind},
    providers::{Env, Format, Serialized, Toml},
};
use komander_app::{operation_events::StreamLimits, targets::DockerGate};
use komander_secrets::SecretString;
use serde::{Deserialize, Serialize};

use crate::http::listener::HttpLimits;

/// The keys of the configuration, as read from `KOMANDER_<KEY>`.
const KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "database_url",
    "database_url_file",
    "secret_keys",
    "secret_keys_file",
    "bootstrap_token",
    "bootstrap_token_file",
    "header_read_timeout_secs",
    "request_timeout_secs",
    "max_connections",
    "docker_host",
    "docker_operations",
    "apply_health_timeout_secs",
    "event_streams_per_user",
    "event_stream_lifetime_secs",
    "public_url",
];

/// The keys whose values are secrets: an error about one names the key and the problem, never
/// the value.
const SECRET_KEYS: &[&str] = &["database_url", "secret_keys", "bootstrap_token"];

/// The server's configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the API listens (default `127.0.0.1:8080`).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Where Komander keeps its SQLite database, keys and local admin token
    /// (default `./komander-data`).
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// `postgres://…` for PostgreSQL; default: SQLite `komander.db` in `data_dir`.
    #[serde(default)]
    pub database_url: Option<SecretString>,
    /// A file holding `database_url`.
    #[serde(default)]
    pub database_url_file: Option<PathBuf>,
    /// Secret keys `id:base64`, newest first; default: `secret-keys` in `data_dir`, generated
    /// when missing.
    #[serde(default)]
    pub secret_keys: Option<Vec<SecretString>>,
    /// A file holding the secret keys, one a line.
    #[serde(default)]
    pub secret_keys_file: Option<PathBuf>,
    /// An API token that an instance-admin service user `bootstrap` holds, for automation.
    #[serde(default)]
    pub bootstrap_token: Option<SecretString>,
    /// A file holding `bootstrap_token`.
    #[serde(default)]
    pub bootstrap_token_file: Option<PathBuf>,
    /// Seconds a client has to send a request's headers; also how long a kept-alive
    /// connection may stay idle (default 10).
    #[serde(default = "default_header_read_timeout_secs")]
    pub header_read_timeout_secs: u64,
    /// Seconds a request may take until its answer starts (default 60).
    #[serde(default = "default_request_timeout_secs")]
    pub request_timeout_secs: u64,
    /// Connections served at once; more wait to be accepted (default 1,024).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// The Docker Engine registered at start as the default target `local` when it answers
    /// and no target `local` exists: a unix socket path or `unix://` URL. Default: the
    /// `DOCKER_HOST` environment variable, then `/var/run/docker.sock`.
    #[serde(default)]
    pub docker_host: Option<String>,
    /// Docker operations running at once across the whole server (default 32).
    #[serde(default = "default_docker_operations")]
    pub docker_operations: usize,
    /// How long an apply waits for its services to run and pass their health checks before
    /// it fails, naming the service (default 120 s).
    #[serde(default = "default_apply_health_timeout")]
    pub apply_health_timeout_secs: u64,
    /// Operation event streams one user may hold open at once; more answer 429 (default 8).
    #[serde(default = "default_event_streams_per_user")]
    pub event_streams_per_user: usize,
    /// Seconds an operation event stream lives before it ends with a `resume` event
    /// (default 3,600).
    #[serde(default = "default_event_stream_lifetime_secs")]
    pub event_stream_lifetime_secs: u64,
    /// The URL browsers reach Komander at (`https://komander.example.com`): the web UI accepts
    /// forms from its origin only, sets its cookies `Secure` when it is https, and the sign-in
    /// link printed at start uses it. Default: the address Komander listens on, and forms from
    /// the origin each request names in its `Host`.
    #[serde(default)]
    pub public_url: Option<String>,
}

fn default_apply_health_timeout() -> u64 {
    komander_app::runner::DEFAULT_HEALTH_TIMEOUT.as_secs()
}

fn default_event_streams_per_user() -> usize {
    StreamLimits::default().per_user
}

fn default_event_stream_lifetime_secs() -> u64 {
    StreamLimits::default().lifetime.as_secs()
}

fn default_docker_operations() -> usize {
    DockerGate::DEFAULT_SIZE
}

/// Where Docker is looked for when `docker_host` is not set and `DOCKER_HOST` is not either.
pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";

fn default_header_read_timeout_secs() -> u64 {
    HttpLimits::default().header_read_timeout.as_secs()
}

fn default_request_timeout_secs() -> u64 {
    HttpLimits::default().request_timeout.as_secs()
}

fn default_max_connections() -> usize {
    HttpLimits::default().max_connections
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("komander-data")
}

/// `komander serve` flags: each overrides the file and the environment.
#[derive(clap::Args, Debug, Default, Serialize)]
pub struct ServeArgs {
    /// A TOML configuration file.
    #[arg(long, env = "KOMANDER_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Where the API listens [default: 127.0.0.1:8080].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// The data directory [default: ./komander-data].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// A file holding the database URL (a flag would show the password in `ps`).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url_file: Option<PathBuf>,
    /// A file holding the bootstrap token.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootstrap_token_file: Option<PathBuf>,
    /// A file holding the secret keys.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_keys_file: Option<PathBuf>,
}

fn read_secret(path: &Path, key: &str) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading {key}_file {}", path.display()))?;
    Ok(text.trim().to_owned())
}

/// The text of a configuration error, each of its errors on a line; for a
/// [secret key](SECRET_KEYS), the value is left out (the key and its position are named).
fn describe(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|mut error| {
            let secret = error
                .path
                .first()
                .is_some_and(|key| SECRET_KEYS.iter().any(|s| key.eq_ignore_ascii_case(s)));
            if secret {
                error.kind = without_value(error.kind);
            }
            error.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// An error kind that says what is wrong without the value it found.
fn without_value(kind: Kind) -> Kind {
    let hidden = |actual: &Actual| match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) => "an integer",
        Actual::Float(_) => "a float",
        Actual::Char(_) | Actual::Str(_) => "a string",
        Actual::Bytes(_) => "bytes",
        Actual::Seq => "a sequence",
        Actual::Map => "a map",
        _ => "another type",
    };
    match kind {
        Kind::InvalidType(actual, expected) => Kind::Message(format!(
            "invalid type: found {} (not shown: it is secret), expected {expected}",
            hidden(&actual)
        )),
        Kind::InvalidValue(actual, expected) => Kind::Message(format!(
            "invalid value: found {} (not shown: it is secret), expected {expected}",
            hidden(&actual)
        )),
        Kind::Unsupported(actual) | Kind::UnsupportedKey(actual, _) => Kind::Message(format!(
            "unsupported type: found {} (not shown: it is secret)",
            hidden(&actual)
        )),
        Kind::Message(_)
        | Kind::UnknownVariant(..)
        | Kind::ISizeOutOfRange(_)
        | Kind::USizeOutOfRange(_) => {
            Kind::Message("invalid value (not shown: it is secret)".into())
        }
        kept @ (Kind::InvalidLength(..)
        | Kind::UnknownField(..)
        | Kind::MissingField(_)
        | Kind::DuplicateField(_)) => kept,
    }
}

impl Config {
    /// Loads the configuration: the file named by `--config` / `KOMANDER_CONFIG` (if any),
    /// then `KOMANDER_<KEY>` variables, then flags; `<key>_file` values are read.
    ///
    /// # Errors
    /// A message naming the key for a bad value or an unknown key, or the file that failed.
    pub fn load(args: &ServeArgs) -> anyhow::Result<Config> {
        let mut figment = Figment::new();
        if let Some(path) = &args.config {
            anyhow::ensure!(
                path.exists(),
                "configuration file {} not found",
                path.display()
            );
            figment = figment.merge(Toml::file(path));
        }
        let figment = figment
            .merge(Env::prefixed("KOMANDER_").only(KEYS))
            .merge(Serialized::defaults(args));
        let mut config: Config = figment
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {}", describe(e)))?;
        if let Some(path) = &config.database_url_file {
            config.database_url = Some(SecretString::new(read_secret(path, "database_url")?));
        }
        if let Some(path) = &config.bootstrap_token_file {
            config.bootstrap_token = Some(SecretString::new(read_secret(path, "bootstrap_token")?));
        }
        if let Some(path) = &config.secret_keys_file {
            config.secret_keys = Some(
                read_secret(path, "secret_keys")?
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(SecretString::new)
                    .collect(),
            );
        }
        config.http_limits()?;
        config.stream_limits()?;
        if let Some(url) = &config.public_url {
            let rest = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"));
            anyhow::ensure!(
                rest.is_some_and(|r| !r.is_empty() && !r.contains(['?', '#', ' '])),
                "invalid configuration: public_url must be an http:// or https:// URL without \
                 query or fragment, such as https://komander.example.com (got {url:?})"
            );
        }
        anyhow::ensure!(
            config.docker_operations > 0,
            "invalid configuration: docker_operations must be at least 1"
        );
        anyhow::ensure!(
            (1..=3600).contains(&config.apply_health_timeout_secs),
            "invalid configuration: apply_health_timeout_secs must be between 1 and 3600"
        );
        Ok(config)
    }

    /// The Docker Engine to register as `local`: `docker_host`, else the `DOCKER_HOST`
    /// environment variable, else [`DEFAULT_DOCKER_HOST`].
    pub fn docker_host(&self) -> String {
        self.docker_host
            .clone()
            .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()))
            .unwrap_or_else(|| DEFAULT_DOCKER_HOST.to_owned())
    }

    /// The bounds on operations' event streams.
    ///
    /// # Errors
    /// A zero count or lifetime, naming the key.
    pub fn stream_limits(&self) -> anyhow::Result<StreamLimits> {
        for (key, value) in [
            ("event_streams_per_user", self.event_streams_per_user as u64),
            (
                "event_stream_lifetime_secs",
                self.event_stream_lifetime_secs,
            ),
        ] {
            anyhow::ensure!(value > 0, "invalid configuration: {key} must be at least 1");
        }
        Ok(StreamLimits {
            per_user: self.event_streams_per_user,
            lifetime: Duration::from_secs(self.event_stream_lifetime_secs),
        })
    }

    /// The HTTP server's limits.
    ///
    /// # Errors
    /// A zero timeout or connection count, naming the key.
    pub fn http_limits(&self) -> anyhow::Result<HttpLimits> {
        for (key, value) in [
            ("header_read_timeout_secs", self.header_read_timeout_secs),
            ("request_timeout_secs", self.request_timeout_secs),
            ("max_connections", self.max_connections as u64),
        ] {
            anyhow::ensure!(value > 0, "invalid configuration: {key} must be at least 1");
        }
        Ok(HttpLimits {
            header_read_timeout: Duration::from_secs(self.header_read_timeout_secs),
            request_timeout: Duration::from_secs(self.request_timeout_secs),
            max_connections: self.max_connections,
        })
    }
}

#[cfg(test)]
#[allow(
    clippy::result_large_err,
    reason = "figment::Jail's closures return figment::Error, which is large"
)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_nothing_and_flags_win() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            let config = Config::load(&ServeArgs::default()).unwrap();
            assert_eq!(config.listen, default_listen());
            assert_eq!(config.data_dir, PathBuf::from("komander-data"));
            let limits = config.http_limits().unwrap();
            assert_eq!(limits.header_read_timeout, Duration::from_secs(10));
            assert_eq!(limits.request_timeout, Duration::from_secs(60));
            assert_eq!(limits.max_connections, 1024);
            assert_eq!(config.stream_limits().unwrap(), StreamLimits::default());
            jail.set_env("KOMANDER_LISTEN", "127.0.0.1:9000");
            jail.set_env("KOMANDER_DATA_DIR", "/tmp/from-env");
            let args = ServeArgs {
                data_dir: Some("/tmp/from-flag".into()),
                ..Default::default()
            };
            let config = Config::load(&args).unwrap();
            assert_eq!(config.listen.port(), 9000);
            assert_eq!(config.data_dir, PathBuf::from("/tmp/from-flag"));
            Ok(())
        });
    }

    #[test]
    fn docker_host_falls_back_to_docker_host_then_the_usual_socket() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            let config = Config::load(&ServeArgs::default()).unwrap();
            assert_eq!(config.docker_host(), DEFAULT_DOCKER_HOST);
            assert_eq!(config.docker_operations, DockerGate::DEFAULT_SIZE);
            jail.set_env("DOCKER_HOST", "unix:///run/user/1000/docker.sock");
            let config = Config::load(&ServeArgs::default()).unwrap();
            assert_eq!(config.docker_host(), "unix:///run/user/1000/docker.sock");
            jail.set_env("KOMANDER_DOCKER_HOST", "/srv/docker.sock");
            jail.set_env("KOMANDER_DOCKER_OPERATIONS", "4");
            let config = Config::load(&ServeArgs::default()).unwrap();
            assert_eq!(config.docker_host(), "/srv/docker.sock");
            assert_eq!(config.docker_operations, 4);
            jail.set_env("KOMANDER_DOCKER_OPERATIONS", "0");
            let err = Config::load(&ServeArgs::default()).unwrap_err();
            assert!(err.to_string().contains("docker_operations"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn event_stream_limits_come_from_the_environment_and_zero_is_refused() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("KOMANDER_EVENT_STREAMS_PER_USER", "2");
            jail.set_env("KOMANDER_EVENT_STREAM_LIFETIME_SECS", "5");
            let limits = Config::load(&ServeArgs::default())
                .unwrap()
                .stream_limits()
                .unwrap();
            assert_eq!(limits.per_user, 2);
            assert_eq!(limits.lifetime, Duration::from_secs(5));
            jail.set_env("KOMANDER_EVENT_STREAM_LIFETIME_SECS", "0");
            let err = Config::load(&ServeArgs::default()).unwrap_err();
            assert!(
                err.to_string().contains("event_stream_lifetime_secs"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn files_are_read_and_bad_keys_named() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file("token", "a-bootstrap-token-value\n")?;
            jail.create_file(
                "komander.toml",
                "listen = \"127.0.0.1:7000\"\nbootstrap_token_file = \"token\"\n",
            )?;
            let args = ServeArgs {
                config: Some("komander.toml".into()),
                ..Default::default()
            };
            let config = Config::load(&args).unwrap();
            assert_eq!(config.listen.port(), 7000);
            assert_eq!(
                config.bootstrap_token.unwrap().expose(),
                "a-bootstrap-token-value"
            );
            jail.create_file("bad.toml", "lisen = \"x\"\n")?;
            let err = Config::load(&ServeArgs {
                config: Some("bad.toml".into()),
                ..Default::default()
            })
            .unwrap_err();
            assert!(err.to_string().contains("lisen"), "{err}");
            jail.set_env("KOMANDER_HEADER_READ_TIMEOUT_SECS", "3");
            jail.set_env("KOMANDER_MAX_CONNECTIONS", "0");
            let err = Config::load(&ServeArgs::default()).unwrap_err();
            assert!(err.to_string().contains("max_connections"), "{err}");
            jail.set_env("KOMANDER_MAX_CONNECTIONS", "16");
            let limits = Config::load(&ServeArgs::default()).unwrap().http_limits();
            assert_eq!(limits.unwrap().header_read_timeout, Duration::from_secs(3));
            jail.set_env("KOMANDER_LISTEN", "not-an-address");
            let err = Config::load(&ServeArgs::default()).unwrap_err();
            assert!(err.to_string().contains("LISTEN"), "{err}");
            Ok(())
        });
    }

    /// Regression: `KOMANDER_SECRET_KEYS` without its brackets printed the key.
    #[test]
    fn errors_about_secrets_never_echo_their_value() {
        const KEY: &str = "k1:7wVvN3YvQ5lX2m1Qx0bUeXo3b1Jb5l0pV8J7d3sQk2M=";
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("KOMANDER_SECRET_KEYS", KEY);
            let err = format!("{:#}", Config::load(&ServeArgs::default()).unwrap_err());
            assert!(!err.contains("7wVvN3Yv"), "{err}");
            assert!(err.contains("SECRET_KEYS"), "{err}");
            assert!(err.contains("expected a sequence"), "{err}");
            jail.clear_env();
            for (key, value, shown) in [
                (
                    "secret_keys",
                    "[\"k1\", 12345678901234567]",
                    "12345678901234567",
                ),
                ("bootstrap_token", "98765432109876543", "98765432109876543"),
                ("database_url", "[\"postgres://u:hunter2@db/k\"]", "hunter2"),
            ] {
                jail.create_file("komander.toml", &format!("{key} = {value}\n"))?;
                let err = Config::load(&ServeArgs {
                    config: Some("komander.toml".into()),
                    ..Default::default()
                })
                .unwrap_err();
                let err = format!("{err:#}");
                assert!(!err.contains(shown), "{err}");
                assert!(err.contains(key) && err.contains("not shown"), "{err}");
            }
            Ok(())
        });
    }
}
