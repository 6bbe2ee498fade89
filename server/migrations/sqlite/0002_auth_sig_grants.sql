-- lit-session-server store, schema version 2 (SQLite): one AuthSig per signer, session key and
-- grant set. `grants` is the hex digest of what the AuthSig grants (its ReCap), or empty for the
-- one entry that serves every request it covers. Version 1 builds kept a grant set's entry
-- under `<session key>-<digest>` in `session_key`; those rows are split into the two columns,
-- every other row keeps an empty `grants`. (SQLite cannot change a primary key in place: the
-- table is copied.)
CREATE TABLE auth_sigs_v2 (
    signer      TEXT NOT NULL,
    session_key TEXT NOT NULL,
    grants      TEXT NOT NULL,
    auth_sig    TEXT NOT NULL,
    expires_at  INTEGER,
    version     INTEGER NOT NULL,
    written_by  TEXT NOT NULL,
    written_at  INTEGER NOT NULL,
    PRIMARY KEY (signer, session_key, grants)
);
INSERT INTO auth_sigs_v2 (signer, session_key, grants, auth_sig, expires_at, version, written_by, written_at)
    SELECT signer,
           CASE WHEN instr(session_key, '-') > 0 THEN substr(session_key, 1, instr(session_key, '-') - 1)
                ELSE session_key END,
           CASE WHEN instr(session_key, '-') > 0 THEN substr(session_key, instr(session_key, '-') + 1)
                ELSE '' END,
           auth_sig, expires_at, version, written_by, written_at
    FROM auth_sigs;
DROP TABLE auth_sigs;
ALTER TABLE auth_sigs_v2 RENAME TO auth_sigs;
