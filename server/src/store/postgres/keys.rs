//! The fleet's session-key rows on PostgreSQL (one row per generation of a key family,
//! compare-and-set changes) and the family's maintenance lock (an advisory lock).

use std::time::Duration;

use super::{db_error, PgStore, KEY_LOCK_PREFIX};
use crate::store::keys::{lock_name, KeyChange, KeyRow, KeyState, COLUMNS, LOCK_HOLD};
use crate::store::{MintGuard, StoreError};

/// The latest expiry of the AuthSigs stored for `session_key`.
pub(super) async fn expire_by(store: &PgStore, session_key: &str) -> Result<Option<i64>, StoreError> {
    let key = session_key.to_string();
    store
        .with("auth sig expiry", move |c| {
            Box::pin(async move {
                let row = c
                    .query_one("SELECT max(expires_at) FROM auth_sigs WHERE session_key = $1", &[&key])
                    .await
                    .map_err(db_error("auth sig expiry"))?;
                Ok(row.get(0))
            })
        })
        .await
}

/// A family's rows, oldest generation first.
pub(super) async fn rows(store: &PgStore, family: &str) -> Result<Vec<KeyRow>, StoreError> {
    let family = family.to_string();
    store
        .with("session keys", move |c| {
            Box::pin(async move {
                let sql = format!("SELECT {} FROM session_keys WHERE family = $1 ORDER BY generation", COLUMNS);
                let rows = c.query(&sql, &[&family]).await.map_err(db_error("session keys"))?;
                rows.iter().map(key_row).collect()
            })
        })
        .await
}

/// Inserts a generation once.
pub(super) async fn insert(store: &PgStore, row: &KeyRow) -> Result<bool, StoreError> {
    let r = row.clone();
    let writer = store.inner.writer.clone();
    store
        .with("session key insert", move |c| {
            Box::pin(async move {
                let sql = format!(
                    "INSERT INTO session_keys ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                     ON CONFLICT (family, generation) DO NOTHING",
                    COLUMNS
                );
                let n = c
                    .execute(
                        &sql,
                        &[
                            &r.family,
                            &r.generation,
                            &r.label,
                            &r.key_id,
                            &r.public_key,
                            &r.state.as_str(),
                            &r.created_at,
                            &r.activates_at,
                            &r.retired_at,
                            &r.destroy_after,
                            &r.destroyed_at,
                            &r.rotate_requested_at,
                            &r.revoked,
                            &writer,
                        ],
                    )
                    .await
                    .map_err(db_error("session key insert"))?;
                Ok(n == 1)
            })
        })
        .await
}

/// Changes a row still in state `from`.
pub(super) async fn update(
    store: &PgStore,
    family: &str,
    generation: i64,
    from: KeyState,
    change: &KeyChange,
) -> Result<bool, StoreError> {
    let (family, c2) = (family.to_string(), change.clone());
    let writer = store.inner.writer.clone();
    store
        .with("session key update", move |c| {
            Box::pin(async move {
                let state = c2.state.map(KeyState::as_str);
                let n = c
                    .execute(
                        "UPDATE session_keys SET state = coalesce($1, state), activates_at = coalesce($2, activates_at),
                           retired_at = coalesce($3, retired_at), destroy_after = coalesce($4, destroy_after),
                           destroyed_at = coalesce($5, destroyed_at),
                           rotate_requested_at = coalesce($6, rotate_requested_at),
                           revoked = coalesce($7, revoked), written_by = $8
                         WHERE family = $9 AND generation = $10 AND state = $11",
                        &[
                            &state,
                            &c2.activates_at,
                            &c2.retired_at,
                            &c2.destroy_after,
                            &c2.destroyed_at,
                            &c2.rotate_requested_at,
                            &c2.revoked,
                            &writer,
                            &family,
                            &generation,
                            &from.as_str(),
                        ],
                    )
                    .await
                    .map_err(db_error("session key update"))?;
                Ok(n == 1)
            })
        })
        .await
}

/// Takes a family's maintenance lock.
pub(super) async fn lock(
    store: &PgStore,
    family: &str,
    wait: Option<Duration>,
) -> Result<Option<MintGuard>, StoreError> {
    let key = format!("{KEY_LOCK_PREFIX}{}", lock_name(family));
    let lock = store.advisory_lock("session key lock", key, wait, LOCK_HOLD).await?;
    Ok(lock.map(|l| Box::new(l) as MintGuard))
}

fn key_row(r: &tokio_postgres::Row) -> Result<KeyRow, StoreError> {
    let state: String = r.get(5);
    let state = KeyState::parse(&state)
        .ok_or_else(|| StoreError::Unavailable { op: "session keys", message: format!("key state {state:?}") })?;
    Ok(KeyRow {
        family: r.get(0),
        generation: r.get(1),
        label: r.get(2),
        key_id: r.get(3),
        public_key: r.get(4),
        state,
        created_at: r.get(6),
        activates_at: r.get(7),
        retired_at: r.get(8),
        destroy_after: r.get(9),
        destroyed_at: r.get(10),
        rotate_requested_at: r.get(11),
        revoked: r.get(12),
        written_by: r.get(13),
    })
}
