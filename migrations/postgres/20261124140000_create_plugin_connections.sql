-- The HTTP connections an instance admin configured for a plugin install: the credential is
-- sealed for this row's id (never shown again); uninstalling the plugin deletes them.
CREATE TABLE plugin_connections (
    id TEXT PRIMARY KEY NOT NULL,
    plugin_id TEXT NOT NULL REFERENCES plugins (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    base_url TEXT NOT NULL,
    credential BYTEA,
    allow_private BOOLEAN NOT NULL,
    path_prefixes TEXT NOT NULL,
    requests_per_minute BIGINT,
    updated_at BIGINT NOT NULL,
    CONSTRAINT plugin_connections__name UNIQUE (plugin_id, name)
);
