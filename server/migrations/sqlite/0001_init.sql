-- lit-session-server store, schema version 1 (SQLite).
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
    expires_at  INTEGER,
    version     INTEGER NOT NULL,
    written_by  TEXT NOT NULL,
    written_at  INTEGER NOT NULL,
    PRIMARY KEY (signer, session_key)
);

-- Append-only, hash-chained: hash = sha256(domain || prev_hash || record), record is the row's
-- JSON as written. Changing, removing or reordering a row breaks every later hash.
CREATE TABLE audit (
    seq         INTEGER PRIMARY KEY,
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

-- Fixed-window rate-limit counters.
CREATE TABLE quota (
    client       TEXT NOT NULL,
    rule         TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    used         INTEGER NOT NULL,
    PRIMARY KEY (client, rule, window_start)
);

-- Leases that serialise AuthSig minting per (signer, session key) across processes.
CREATE TABLE mint_locks (
    key         TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
);

CREATE TABLE revocations (
    session_key TEXT PRIMARY KEY,
    revoked_at  TEXT NOT NULL,
    reason      TEXT
);
