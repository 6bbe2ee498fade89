-- lit-session-server store (SQLite): signed audit checkpoints, the archive's record of exported
-- segments, and the leases of the audit jobs.

-- Signed checkpoints over the audit chain (server/src/audit/checkpoint.rs has the signed text).
-- `rows` holds the 32-byte hash of every row in first_seq..last_seq, in order. Checkpoints chain:
-- each starts after the previous one and names its hash, so there is one line of them.
CREATE TABLE audit_checkpoints (
    first_seq                INTEGER PRIMARY KEY,
    last_seq                 INTEGER NOT NULL UNIQUE,
    head_hash                TEXT NOT NULL,
    previous_checkpoint_hash TEXT NOT NULL UNIQUE,
    row_hashes               TEXT NOT NULL,
    at                       TEXT NOT NULL,
    hash                     TEXT NOT NULL UNIQUE,
    key                      TEXT NOT NULL,
    signature                TEXT NOT NULL,
    rows                     BLOB NOT NULL
);

-- Segments (checkpoint to checkpoint) written to the archive; only these may be pruned.
CREATE TABLE audit_exports (
    first_seq       INTEGER PRIMARY KEY,
    last_seq        INTEGER NOT NULL UNIQUE,
    checkpoint_hash TEXT NOT NULL,
    file            TEXT NOT NULL,
    exported_at     TEXT NOT NULL
);

-- One holder at a time per audit job (checkpoint writer, exporter), across processes: a lease
-- that its holder renews and that runs out if the holder dies. Writes of a job check it.
CREATE TABLE audit_jobs (
    job         TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
);
