-- lit-session-server store: session keys rotated across every process sharing the store
-- (SQLite). One row per generation of a key family (a label prefix on a shared token), never
-- deleted: generated -> active -> retired -> destroyed. Times are unix milliseconds.
-- (0002 is the per-grant AuthSig migration; this one follows it.)
CREATE TABLE session_keys (
    family              TEXT NOT NULL,
    generation          INTEGER NOT NULL,
    label               TEXT NOT NULL,
    key_id              TEXT NOT NULL,
    public_key          TEXT NOT NULL,
    state               TEXT NOT NULL CHECK (state IN ('generated', 'active', 'retired', 'destroyed')),
    created_at          INTEGER NOT NULL,
    activates_at        INTEGER NOT NULL,
    retired_at          INTEGER,
    destroy_after       INTEGER,
    destroyed_at        INTEGER,
    rotate_requested_at INTEGER,
    revoked             INTEGER NOT NULL DEFAULT 0,
    written_by          TEXT NOT NULL,
    PRIMARY KEY (family, generation)
);
