-- Installed plugins. The component itself is a file <digest>.wasm in the data directory's
-- plugins folder; its precompiled artifact is cached beside it.
CREATE TABLE plugins (
    id TEXT PRIMARY KEY NOT NULL,
    version TEXT NOT NULL,
    kind TEXT NOT NULL,
    world TEXT,
    digest TEXT NOT NULL,
    manifest TEXT NOT NULL,
    requested TEXT NOT NULL,
    granted TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending-grant', 'enabled', 'disabled')),
    installed_by TEXT NOT NULL,
    installed_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
