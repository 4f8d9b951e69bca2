-- Browser sessions of the web UI and the one-time sign-in links of single-user mode. Only the
-- SHA-256 of a session id or a link token is stored: a copy of the database signs nobody in.

-- A signed-in browser. csrf_token is the session's CSRF token, random, sent back in forms.
-- Times are integer milliseconds since the Unix epoch; last_seen_at is updated at most once a
-- minute, for the idle expiry.
CREATE TABLE web_sessions (
    id_hash BLOB PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
);
CREATE INDEX web_sessions_by_user ON web_sessions (user_id);

-- A one-time sign-in link: valid until expires_at, once (used_at is set when redeemed).
CREATE TABLE sign_in_links (
    token_hash BLOB PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);
CREATE INDEX sign_in_links_by_user ON sign_in_links (user_id);
