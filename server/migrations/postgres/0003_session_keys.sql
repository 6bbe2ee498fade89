-- lit-session-server store: session keys rotated across every replica sharing the store
-- (PostgreSQL). One row per generation of a key family (a label prefix on a shared token),
-- never deleted: generated -> active -> retired -> destroyed. Times are unix milliseconds.
-- (0002 is the per-grant AuthSig migration; this one follows it.)
CREATE TABLE session_keys (
    family              TEXT NOT NULL,
    generation          BIGINT NOT NULL,
    label               TEXT NOT NULL,
    key_id              TEXT NOT NULL,
    public_key          TEXT NOT NULL,
    state               TEXT NOT NULL CHECK (state IN ('generated', 'active', 'retired', 'destroyed')),
    created_at          BIGINT NOT NULL,
    activates_at        BIGINT NOT NULL,
    retired_at          BIGINT,
    destroy_after       BIGINT,
    destroyed_at        BIGINT,
    rotate_requested_at BIGINT,
    revoked             BOOLEAN NOT NULL DEFAULT false,
    written_by          TEXT NOT NULL,
    PRIMARY KEY (family, generation)
);
