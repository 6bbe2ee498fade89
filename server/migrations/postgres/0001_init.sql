-- lit-session-server store, schema version 1 (PostgreSQL). The same tables as the SQLite store,
-- plus the audit chain head; mint locks are advisory locks, not rows.
CREATE TABLE schema_version (
    version     INTEGER NOT NULL,
    applied_at  TEXT NOT NULL
);

-- One AuthSig per (signer, session key). `version` grows with every write, so a writer that
-- read version n can replace it only if it is still n (no lost updates between replicas).
CREATE TABLE auth_sigs (
    signer      TEXT NOT NULL,
    session_key TEXT NOT NULL,
    auth_sig    TEXT NOT NULL,
    expires_at  BIGINT,
    version     BIGINT NOT NULL,
    written_by  TEXT NOT NULL,
    written_at  BIGINT NOT NULL,
    PRIMARY KEY (signer, session_key)
);

-- Append-only, hash-chained: hash = sha256(domain || prev_hash || record), record is the row's
-- JSON as written. Changing, removing or reordering a row breaks every later hash.
CREATE TABLE audit (
    seq         BIGINT PRIMARY KEY,
    at          TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    client      TEXT NOT NULL,
    endpoint    TEXT NOT NULL,
    decision    TEXT NOT NULL,
    rule        TEXT,
    record      TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_request ON audit (request_id);
CREATE INDEX audit_client_at ON audit (client, at);

-- The chain's head, one row. An append locks it (SELECT … FOR UPDATE) in its transaction, so
-- appends from every replica extend the chain one after another.
CREATE TABLE audit_head (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    seq         BIGINT NOT NULL,
    hash        TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
    VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Fixed-window rate-limit counters.
CREATE TABLE quota (
    client       TEXT NOT NULL,
    rule         TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    used         BIGINT NOT NULL,
    PRIMARY KEY (client, rule, window_start)
);

CREATE TABLE revocations (
    session_key TEXT PRIMARY KEY,
    revoked_at  TEXT NOT NULL,
    reason      TEXT
);
