-- lit-session-server store, schema version 2 (PostgreSQL): one AuthSig per signer, session key
-- and grant set. `grants` is the hex digest of what the AuthSig grants (its ReCap), or empty
-- for the one entry that serves every request it covers. Version 1 builds kept a grant set's
-- entry under `<session key>-<digest>` in `session_key`; those rows are split into the two
-- columns (after the old key is dropped: split rows share a session key), every other row
-- keeps an empty `grants`.
ALTER TABLE auth_sigs ADD COLUMN grants TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_sigs ALTER COLUMN grants DROP DEFAULT;
ALTER TABLE auth_sigs DROP CONSTRAINT auth_sigs_pkey;
UPDATE auth_sigs SET grants = split_part(session_key, '-', 2), session_key = split_part(session_key, '-', 1)
    WHERE position('-' IN session_key) > 0;
ALTER TABLE auth_sigs ADD PRIMARY KEY (signer, session_key, grants);
