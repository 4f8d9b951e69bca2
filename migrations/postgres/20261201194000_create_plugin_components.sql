-- Every installed plugin's component, by its SHA-256 (hex), so that each server sharing the
-- database loads any plugin another server installed or upgraded (each keeps a copy on its own
-- disk as a cache). Components no plugin uses any more are pruned.
CREATE TABLE plugin_components (
    sha256 TEXT PRIMARY KEY NOT NULL,
    bytes BYTEA NOT NULL
);
