-- The kv capability's data: per plugin install and project ('' outside any project). size is
-- the bytes of key and value, summed for the quota. Uninstalling a plugin deletes its data.
CREATE TABLE plugin_kv (
    plugin_id TEXT NOT NULL REFERENCES plugins (id) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (plugin_id, project_id, key)
);
