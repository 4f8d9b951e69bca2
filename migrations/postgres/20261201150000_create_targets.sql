-- Targets: the Docker Engines an instance admin registered, where `server` deployments run.
-- An engine is a unix socket (address: its absolute path) or TCP with TLS (address:
-- tcp://host:port), whose three PEMs are sealed for this row's id and never shown again. The
-- policy columns map one to one onto what a Docker scope takes. At most one target is the
-- default, which environments that name none use.
CREATE TABLE targets (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL CONSTRAINT targets__name UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('unix', 'tcp')),
    address TEXT NOT NULL,
    tls_ca BYTEA,
    tls_cert BYTEA,
    tls_key BYTEA,
    bind_root TEXT,
    publish_addresses TEXT NOT NULL,
    max_memory_bytes BIGINT,
    max_nano_cpus BIGINT,
    is_default BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE UNIQUE INDEX targets__default ON targets (is_default) WHERE is_default;

-- Which projects may run on which target; deleting either side deletes the grant.
CREATE TABLE target_grants (
    target_id TEXT NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (target_id, project_id)
);

-- The target an environment names (granted to its project); NULL uses the default target.
ALTER TABLE environments ADD COLUMN target_id TEXT REFERENCES targets (id);
