-- Operations: what runs on a deployment (apply, destroy, stop, start, rollback), one at a time.
-- A running operation is held by a lease: the holder (an opaque id: a server instance, or the
-- SHA-256 of the lease token a CLI holds, never the token) and when the lease expires. Only
-- the holder renews it or records steps; once it has expired another holder may take it over
-- (resumes counts how often). lines counts the progress lines, so each step's lines get the
-- next sequence numbers under the row's lock.
CREATE TABLE operations (
    id TEXT PRIMARY KEY NOT NULL,
    deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('apply', 'destroy', 'stop', 'start', 'rollback')),
    executor TEXT NOT NULL CHECK (executor IN ('server', 'local')),
    started_by TEXT NOT NULL REFERENCES users (id),
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    state TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed', 'cancelled')),
    message TEXT,
    holder TEXT,
    lease_expires_at BIGINT,
    continuation TEXT,
    resumes BIGINT NOT NULL DEFAULT 0,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    lines BIGINT NOT NULL DEFAULT 0
);

-- At most one running operation per deployment, whichever server or CLI starts it.
CREATE UNIQUE INDEX operations__running ON operations (deployment_id) WHERE state = 'running';
CREATE INDEX operations_by_deployment ON operations (deployment_id, id);
CREATE INDEX operations_by_expiry ON operations (lease_expires_at) WHERE state = 'running';

-- An operation's progress lines, numbered from 1 with no gap.
CREATE TABLE operation_lines (
    operation_id TEXT NOT NULL REFERENCES operations (id) ON DELETE CASCADE,
    sequence BIGINT NOT NULL,
    text TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (operation_id, sequence)
);

-- How long each step of an operation took, in the order recorded.
CREATE TABLE operation_steps (
    operation_id TEXT NOT NULL REFERENCES operations (id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    name TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT NOT NULL,
    PRIMARY KEY (operation_id, position)
);
