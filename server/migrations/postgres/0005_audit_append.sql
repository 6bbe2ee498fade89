-- lit-session-server store (PostgreSQL): the audit append sealed in the database, so a batch
-- of rows takes the chain head's lock, is chained onto it and releases it (at COMMIT) within one
-- round trip of its replica: the lock is never held across the network.
--
-- The server hands over each row unsealed: its record's text without the sequence number
-- (`p_record_tail`, what follows `p_record_head` and the number), the same for the rate-limit
-- denial the row becomes if its charge finds the limit used up (`p_refused_*`; null when the
-- row has no charge), and the hash's domain. The row's record is head || seq || tail and its
-- hash is hex(sha256(domain || prev_hash || '\n' || record)): server/src/store/seal.rs builds
-- both the same way (and hands over the head and the domain), and `audit verify` recomputes
-- every hash.
--
-- Called as a statement of its own (its own transaction), it commits asynchronously
-- (`synchronous_commit` off for that transaction): the replica makes the batch durable with a
-- flush sent right after it. `p_lock_timeout_ms` bounds each lock wait (quota rows, the head).
--
-- `p_not_after_us` (microseconds since the Unix epoch, by the replica's clock) is when the
-- replica stops waiting for this batch's answer, plus a margin within which it still looks
-- the outcome up: a batch sealed later is refused, so a database that stalled and resumed
-- does not commit rows whose requests were already answered with an error.
--
-- Each charge counts one unit of its window unless the limit is used up, and drops the
-- client's older windows, in the rows' order, before the head is locked (quota rows, then the
-- head: one lock order for every replica). Returns each row's sequence number, hash and
-- whether it was charged (false: written as the denial).
CREATE FUNCTION audit_append(
    p_domain bytea,
    p_record_head text,
    p_record_tail text[],
    p_refused_tail text[],
    p_at text[],
    p_request_id text[],
    p_client text[],
    p_endpoint text[],
    p_decision text[],
    p_refused_decision text[],
    p_rule text[],
    p_refused_rule text[],
    p_quota_client text[],
    p_quota_rule text[],
    p_quota_window bigint[],
    p_quota_limit bigint[],
    p_not_after_us bigint,
    p_lock_timeout_ms integer
) RETURNS TABLE (appended_seq bigint, appended_hash text, appended_charged boolean)
LANGUAGE plpgsql AS $$
DECLARE
    n integer := coalesce(array_length(p_record_tail, 1), 0);
    counted boolean[] := '{}';
    ok boolean;
    head_seq bigint;
    head_hash text;
    rec text;
    h text;
BEGIN
    -- For this transaction (the statement's own, when called alone): the head's lock goes with
    -- the commit record, before the WAL flush; and a lock wait ends in time for a clear
    -- refusal (55P03).
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM set_config('lock_timeout', greatest(p_lock_timeout_ms, 1)::text, true);

    FOR i IN 1..n LOOP
        IF p_quota_limit[i] IS NULL THEN
            ok := true;
        ELSIF p_quota_limit[i] <= 0 THEN
            ok := false;
        ELSE
            WITH counted_now AS (
                INSERT INTO quota AS q (client, rule, window_start, used)
                VALUES (p_quota_client[i], p_quota_rule[i], p_quota_window[i], 1)
                ON CONFLICT (client, rule, window_start) DO UPDATE SET used = q.used + 1
                WHERE q.used < p_quota_limit[i]
                RETURNING q.used),
            older AS (
                DELETE FROM quota AS o
                WHERE o.client = p_quota_client[i] AND o.rule = p_quota_rule[i] AND o.window_start < p_quota_window[i]
                AND EXISTS (SELECT 1 FROM counted_now))
            SELECT count(*) > 0 INTO ok FROM counted_now;
        END IF;
        counted[i] := ok;
    END LOOP;

    SELECT ah.seq, ah.hash INTO head_seq, head_hash FROM audit_head AS ah WHERE ah.id = 1 FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the audit chain has no head row';
    END IF;

    FOR i IN 1..n LOOP
        head_seq := head_seq + 1;
        IF counted[i] THEN
            rec := p_record_head || head_seq::text || p_record_tail[i];
        ELSE
            rec := p_record_head || head_seq::text || p_refused_tail[i];
        END IF;
        h := encode(sha256(p_domain || convert_to(head_hash || E'\n' || rec, 'UTF8')), 'hex');
        INSERT INTO audit AS a (seq, at, request_id, client, endpoint, decision, rule, record, prev_hash, hash)
        VALUES (head_seq, p_at[i], p_request_id[i], p_client[i], p_endpoint[i],
                CASE WHEN counted[i] THEN p_decision[i] ELSE p_refused_decision[i] END,
                CASE WHEN counted[i] THEN p_rule[i] ELSE p_refused_rule[i] END,
                rec, head_hash, h);
        head_hash := h;
        appended_seq := head_seq;
        appended_hash := h;
        appended_charged := counted[i];
        RETURN NEXT;
    END LOOP;

    -- A batch that got here too late (its server stalled, its lock waits outlasted the server's
    -- patience) is refused, so that it cannot commit long after its replica stopped waiting.
    IF (extract(epoch FROM clock_timestamp()) * 1000000)::bigint > p_not_after_us THEN
        RAISE EXCEPTION USING ERRCODE = '57014',
            MESSAGE = 'the audit batch was sealed after its deadline; the rows are not written',
            HINT = 'if this repeats on an idle database, this database host''s clock is ahead of the replica''s';
    END IF;

    IF n > 0 THEN
        UPDATE audit_head AS ah SET seq = head_seq, hash = head_hash WHERE ah.id = 1;
    END IF;
END
$$;
