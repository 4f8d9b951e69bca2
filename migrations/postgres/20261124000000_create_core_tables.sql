-- Komander's core tables (PostgreSQL). Ids are UUIDv7 text, times are integer milliseconds since
-- the Unix epoch. Unique constraints are named <table>__<field> so conflicts name their field.

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    handle TEXT NOT NULL CONSTRAINT users__handle UNIQUE,
    display_name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('human', 'service')),
    instance_admin BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash BYTEA NOT NULL CONSTRAINT api_tokens__token_hash UNIQUE,
    created_at BIGINT NOT NULL
);
CREATE INDEX api_tokens_by_user ON api_tokens (user_id, id);

CREATE TABLE projects (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL CONSTRAINT projects__name UNIQUE,
    display_name TEXT NOT NULL,
    description TEXT NOT NULL,
    created_by TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- project_name repeats the project's immutable slug, so that a user's projects are listed in
-- name order straight from the members_by_user index.
CREATE TABLE members (
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    project_name TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'devops', 'dev')),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX members_by_user ON members (user_id, project_name);

CREATE TABLE invitations (
    id TEXT PRIMARY KEY NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    token_hash BYTEA NOT NULL CONSTRAINT invitations__token_hash UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'devops', 'dev')),
    created_by TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    accepted_by TEXT REFERENCES users (id),
    accepted_at BIGINT
);
CREATE INDEX invitations_by_project ON invitations (project_id, id);

CREATE TABLE environments (
    id TEXT PRIMARY KEY NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    display_name TEXT NOT NULL,
    runtime TEXT NOT NULL,
    executor TEXT NOT NULL CHECK (executor IN ('server', 'local')),
    settings TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT environments__name UNIQUE (project_id, name)
);

CREATE TABLE deployments (
    id TEXT PRIMARY KEY NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    environment_id TEXT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    display_name TEXT NOT NULL,
    owner_id TEXT NOT NULL REFERENCES users (id),
    shared BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT deployments__name UNIQUE (environment_id, name)
);
CREATE INDEX deployments_by_owner ON deployments (project_id, owner_id);

CREATE TABLE services (
    id TEXT PRIMARY KEY NOT NULL,
    deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    image TEXT NOT NULL,
    ports TEXT NOT NULL,
    volumes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT services__name UNIQUE (deployment_id, name)
);

-- A variable's value is plain text (value) or, for secrets, a ciphertext sealed for this row's
-- id (sealed). Never both.
CREATE TABLE variables (
    id TEXT PRIMARY KEY NOT NULL,
    service_id TEXT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    secret BOOLEAN NOT NULL,
    value TEXT,
    sealed BYTEA,
    updated_at BIGINT NOT NULL,
    CONSTRAINT variables__name UNIQUE (service_id, name),
    CHECK (value IS NULL OR sealed IS NULL)
);

-- The audit log outlives what it names: no foreign keys.
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY NOT NULL,
    project_id TEXT,
    actor_id TEXT NOT NULL,
    actor_handle TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    fields TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX audit_log_by_project ON audit_log (project_id, id);
