-- no-transaction
-- A plugin may be `incompatible`: built for an interface version this Komander does not run
-- (a runtime of komander:runtime@0.1), found so at start; it runs again once upgraded.
--
-- SQLite cannot change a CHECK constraint: the table is rebuilt by SQLite's own procedure
-- (create, copy, drop, rename), inside a transaction of its own, with foreign keys off so that
-- dropping the old table does not delete the rows of plugin_kv and plugin_connections, which
-- name the table and find the new one under the same name.
PRAGMA foreign_keys = OFF;
BEGIN;
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
DROP TABLE plugins;
ALTER TABLE plugins_new RENAME TO plugins;
COMMIT;
PRAGMA foreign_keys = ON;
