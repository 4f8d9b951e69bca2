-- A plugin may be `incompatible`: built for an interface version this Komander does not run
-- (a runtime of komander:runtime@0.1), found so at start; it runs again once upgraded.
--
-- SQLite cannot change a CHECK constraint: the table is rebuilt (create, copy, drop, rename).
-- Migrations run in a transaction, where foreign keys cannot be turned off, so dropping the old
-- table deletes the rows of plugin_kv and plugin_connections (ON DELETE CASCADE): they are kept
-- aside first and put back once the new table has the old one's name.
CREATE TABLE plugins_new (
    id TEXT PRIMARY KEY NOT NULL,
    version TEXT NOT NULL,
    kind TEXT NOT NULL,
    world TEXT,
    digest TEXT NOT NULL,
    manifest TEXT NOT NULL,
    requested TEXT NOT NULL,
    granted TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending-grant', 'enabled', 'disabled', 'incompatible')),
    installed_by TEXT NOT NULL,
    installed_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    config TEXT NOT NULL DEFAULT '{}',
    artifact_sha256 TEXT
);
INSERT INTO plugins_new (id, version, kind, world, digest, manifest, requested, granted, status,
    installed_by, installed_at, updated_at, config, artifact_sha256)
SELECT id, version, kind, world, digest, manifest, requested, granted, status, installed_by,
    installed_at, updated_at, config, artifact_sha256
FROM plugins;
CREATE TEMP TABLE plugin_kv_kept AS SELECT * FROM plugin_kv;
CREATE TEMP TABLE plugin_connections_kept AS SELECT * FROM plugin_connections;
DROP TABLE plugins;
ALTER TABLE plugins_new RENAME TO plugins;
INSERT INTO plugin_kv SELECT * FROM plugin_kv_kept;
INSERT INTO plugin_connections SELECT * FROM plugin_connections_kept;
DROP TABLE plugin_kv_kept;
DROP TABLE plugin_connections_kept;
