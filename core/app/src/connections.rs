//! Plugin connections: the HTTP endpoints an instance admin lets a plugin install reach, with
//! the credential the host adds. The credential is sealed for its row and never shown again;
//! calls get [`Connection`]s built once per install, so their rate limit spans calls.

use std::sync::Arc;

use komander_domain::{
    api::{PluginConnection, PluginConnectionWrite},
    names::ConnectionName,
    timestamps,
};
use komander_plugin_host::capabilities::{Connection, ConnectionGrant};
use komander_secrets::Aad;
use komander_store::ConnectionRecord;
use reqwest::{Url, header::HeaderValue};
use tracing::instrument;

use crate::{App, AppError, Caller, Result};

const MAX_PREFIXES: usize = 20;
/// The longest base URL, in characters (the document's `maxLength`).
const MAX_URL_CHARS: usize = 2048;
/// The longest allowed path prefix, in characters (the document's `maxLength`).
const MAX_PREFIX_CHARS: usize = 1024;
const MAX_CREDENTIAL_BYTES: usize = 4096;
const MAX_REQUESTS_PER_MINUTE: u32 = 100_000;

fn credential_aad(row: &str) -> Aad<'_> {
    Aad {
        table: "plugin_connections",
        row,
        field: "credential",
    }
}

fn connection_view(c: ConnectionRecord) -> PluginConnection {
    PluginConnection {
        name: c.name,
        base_url: c.base_url,
        has_credential: c.credential.is_some(),
        allow_private: c.allow_private,
        path_prefixes: c.path_prefixes,
        requests_per_minute: c.requests_per_minute.and_then(|r| u32::try_from(r).ok()),
        updated_at: timestamps::from_millis(c.updated_at),
    }
}

fn check_write(write: &PluginConnectionWrite) -> Result<Url> {
    if write.base_url.chars().count() > MAX_URL_CHARS {
        return Err(AppError::invalid(
            "base_url",
            format!("the base URL is longer than {MAX_URL_CHARS} characters"),
        ));
    }
    let url = Url::parse(&write.base_url).map_err(|e| {
        AppError::invalid("base_url", format!("invalid URL {:?}: {e}", write.base_url))
    })?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none()
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(AppError::invalid(
            "base_url",
            "the base URL is an absolute http(s) URL without query, fragment or credentials",
        ));
    }
    if write.path_prefixes.len() > MAX_PREFIXES
        || write
            .path_prefixes
            .iter()
            .any(|p| !p.starts_with('/') || p.chars().count() > MAX_PREFIX_CHARS)
    {
        return Err(AppError::invalid(
            "path_prefixes",
            format!(
                "at most {MAX_PREFIXES} path prefixes, each starting with '/' and at most \
                 {MAX_PREFIX_CHARS} characters"
            ),
        ));
    }
    if write
        .requests_per_minute
        .is_some_and(|r| !(1..=MAX_REQUESTS_PER_MINUTE).contains(&r))
    {
        return Err(AppError::invalid(
            "requests_per_minute",
            format!("requests_per_minute is between 1 and {MAX_REQUESTS_PER_MINUTE}"),
        ));
    }
    if let Some(credential) = &write.credential
        && (credential.len() > MAX_CREDENTIAL_BYTES
            || !credential
                .bytes()
                .all(|b| b == b'\t' || (0x20..=0x7e).contains(&b)))
    {
        return Err(AppError::invalid(
            "credential",
            "the credential is an HTTP header value of at most 4 KiB: printable ASCII and tabs",
        ));
    }
    check_host(&write.base_url, &url)?;
    Ok(url)
}

/// A base URL's host is called as written: a name of ASCII labels (letters, digits and
/// hyphens, not at either end; an international name in its `xn--` form) whose last label
/// starts with a letter (a top-level domain or a single name such as `localhost`), an IPv4
/// address in dotted decimal, or an IPv6 address in brackets. A URL parser reads a last label
/// that is a number as part of an IPv4 address (`a.b.9` is refused, `0x7f.1` is 127.0.0.1),
/// and takes characters such as `*` in a name: never what a person typing a name meant.
fn check_host(written: &str, url: &Url) -> Result<()> {
    let host = url.host_str().unwrap_or_default();
    if host.starts_with('[') {
        return Ok(());
    }
    let authority = written.split_once("://").map_or("", |(_, rest)| rest);
    let as_written = authority.split(['/', ':']).next().unwrap_or_default();
    if let Ok(address) = host.parse::<std::net::Ipv4Addr>() {
        if as_written != host {
            return Err(AppError::invalid(
                "base_url",
                format!(
                    "the host {as_written:?} reads as the IPv4 address {address}: write a name, \
                     or the address in dotted decimal"
                ),
            ));
        }
        return Ok(());
    }
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if !as_written.split('.').all(label_ok) {
        return Err(AppError::invalid(
            "base_url",
            format!(
                "the host {as_written:?} is not a host name: labels of ASCII letters, digits and \
                 hyphens (an international name in its xn-- form)"
            ),
        ));
    }
    let last = as_written.rsplit('.').next().unwrap_or_default();
    if !last.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(AppError::invalid(
            "base_url",
            format!(
                "the host {as_written:?} ends in the label {last:?}: a host name's last label \
                 starts with a letter"
            ),
        ));
    }
    Ok(())
}

impl App {
    /// The plugin `plugin`, which must ask for the `connections` capability (and, when its
    /// manifest lists connection names, for `name`).
    async fn connections_plugin(&self, plugin: &str, name: Option<&ConnectionName>) -> Result<()> {
        let record = self
            .store
            .plugin(plugin)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("plugin {plugin:?}")))?;
        if !record.requested.iter().any(|c| c == "connections") {
            return Err(AppError::invalid(
                "name",
                format!("plugin {plugin:?} does not ask for the connections capability"),
            ));
        }
        let manifest = komander_plugin_host::manifest::Manifest::parse(&record.manifest)
            .map_err(|e| AppError::internal(format!("the stored manifest of {plugin}"), e))?;
        let names = manifest.requested_names("connections");
        if let Some(name) = name
            && !names.is_empty()
            && !names.contains(&name.as_str())
        {
            return Err(AppError::invalid(
                "name",
                format!(
                    "plugin {plugin:?} asks for the connections {}, not {:?}",
                    names.join(", "),
                    name.as_str()
                ),
            ));
        }
        Ok(())
    }

    /// `GET /api/v1/plugins/{plugin}/connections` (instance admins): never the credentials.
    ///
    /// # Errors
    /// Forbidden, not found.
    pub async fn list_plugin_connections(
        &self,
        caller: &Caller,
        plugin: &str,
    ) -> Result<Vec<PluginConnection>> {
        Self::may_manage_plugins(caller)?;
        self.connections_plugin(plugin, None).await?;
        Ok(self
            .store
            .plugin_connections(plugin)
            .await?
            .into_iter()
            .map(connection_view)
            .collect())
    }

    /// `PUT /api/v1/plugins/{plugin}/connections/{name}` (instance admins): sets a
    /// connection. The credential is sealed for the row; without one the previous is kept
    /// while the base URL stays the same, and dropped (in the same write) when it changes.
    ///
    /// # Errors
    /// Forbidden, not found, invalid input.
    #[instrument(skip_all, fields(actor = %caller.user.handle, plugin = plugin, connection = name))]
    pub async fn put_plugin_connection(
        &self,
        caller: &Caller,
        plugin: &str,
        name: &str,
        write: PluginConnectionWrite,
    ) -> Result<PluginConnection> {
        Self::may_manage_plugins(caller)?;
        let name: ConnectionName = name.parse().map_err(|e| AppError::name("name", e))?;
        let url = check_write(&write)?;
        self.connections_plugin(plugin, Some(&name)).await?;
        let existing = self
            .store
            .plugin_connections(plugin)
            .await?
            .into_iter()
            .find(|c| name == c.name.as_str());
        let id = existing
            .as_ref()
            .map_or_else(|| uuid::Uuid::now_v7().to_string(), |c| c.id.clone());
        // A credential stays only with the base URL it was set for: sent to another address,
        // it would go to whoever answers there.
        let same_url = existing
            .as_ref()
            .is_some_and(|c| c.base_url == url.as_str());
        let credential = match write.credential.as_deref() {
            None if same_url => existing.and_then(|c| c.credential),
            None | Some("") => None,
            Some(value) => Some(self.keyring.seal(value.as_bytes(), &credential_aad(&id))),
        };
        let record = ConnectionRecord {
            id,
            plugin_id: plugin.to_owned(),
            name: name.to_string(),
            base_url: url.to_string(),
            credential,
            allow_private: write.allow_private,
            path_prefixes: write.path_prefixes,
            requests_per_minute: write.requests_per_minute.map(i64::from),
            updated_at: timestamps::to_millis(timestamps::now()),
        };
        let audit = self.audit(
            caller,
            None,
            "plugin.connection.set",
            format!("plugin/{plugin}/connection/{name}"),
            &[
                "base_url",
                "credential",
                "allow_private",
                "path_prefixes",
                "requests_per_minute",
            ],
        );
        self.store.put_plugin_connection(&record, &audit).await?;
        self.forget_connections(plugin);
        Ok(connection_view(record))
    }

    /// `DELETE /api/v1/plugins/{plugin}/connections/{name}` (instance admins).
    ///
    /// # Errors
    /// Forbidden, not found.
    #[instrument(skip_all, fields(actor = %caller.user.handle, plugin = plugin, connection = name))]
    pub async fn delete_plugin_connection(
        &self,
        caller: &Caller,
        plugin: &str,
        name: &str,
    ) -> Result<()> {
        Self::may_manage_plugins(caller)?;
        let audit = self.audit(
            caller,
            None,
            "plugin.connection.delete",
            format!("plugin/{plugin}/connection/{name}"),
            &[],
        );
        self.store
            .delete_plugin_connection(plugin, name, &audit)
            .await
            .map_err(|e| AppError::from_store(e, "connection"))?;
        self.forget_connections(plugin);
        Ok(())
    }

    /// The connections a call of `plugin` gets, credentials opened, built once per install
    /// and kept until they change (so each one's rate limit spans calls).
    ///
    /// # Errors
    /// When the store fails or a credential does not open.
    pub async fn plugin_call_connections(&self, plugin: &str) -> Result<Vec<Arc<Connection>>> {
        let plugins = self.plugins()?;
        let ticket = match plugins.connections.get(plugin) {
            Ok(cached) => return Ok(cached),
            Err(ticket) => ticket,
        };
        let mut built = Vec::new();
        for record in self.store.plugin_connections(plugin).await? {
            let authorization = match &record.credential {
                Some(sealed) => {
                    let value = self.keyring.open(sealed, &credential_aad(&record.id))?;
                    Some(HeaderValue::from_str(value.expose()).map_err(|_| {
                        AppError::fault("a stored credential is not a header value")
                    })?)
                }
                None => None,
            };
            let base_url = Url::parse(&record.base_url)
                .map_err(|e| AppError::internal("a stored base URL", e))?;
            let mut authorization = authorization;
            if let Some(value) = authorization.as_mut() {
                value.set_sensitive(true);
            }
            built.push(Arc::new(Connection::new(
                record.name,
                base_url,
                authorization,
                ConnectionGrant {
                    allow_private: record.allow_private,
                    path_prefixes: record.path_prefixes,
                    requests_per_minute: record
                        .requests_per_minute
                        .and_then(|r| u32::try_from(r).ok()),
                },
            )));
        }
        // Kept only when no change forgot this install's connections since the ticket: what
        // was read before a change must not outlive it.
        plugins.connections.insert(plugin, ticket, built.clone());
        Ok(built)
    }

    /// Forgets the connections built for `plugin`: call it after changing them in the store.
    fn forget_connections(&self, plugin: &str) {
        if let Ok(plugins) = self.plugins() {
            plugins.connections.forget(plugin);
        }
    }
}
