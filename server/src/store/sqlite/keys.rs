//! The fleet's session-key rows in the SQLite file (one row per generation of a key family,
//! compare-and-set changes) and the family's maintenance lock (a lease row).

use std::time::Duration;

use rusqlite::params;

use super::{unavailable, SqliteStore};
use crate::store::keys::{lock_name, KeyChange, KeyRow, KeyState, COLUMNS, LOCK_HOLD};
use crate::store::{MintGuard, StoreError};

/// The latest expiry of the AuthSigs stored for `session_key`.
pub(super) async fn expire_by(store: &SqliteStore, session_key: &str) -> Result<Option<i64>, StoreError> {
    let key = session_key.to_string();
    store
        .run(move |conn| {
            conn.query_row("SELECT max(expires_at) FROM auth_sigs WHERE session_key = ?1", params![key], |r| r.get(0))
                .map_err(unavailable("auth sig expiry"))
        })
        .await
}

/// A family's rows, oldest generation first.
pub(super) async fn rows(store: &SqliteStore, family: &str) -> Result<Vec<KeyRow>, StoreError> {
    let family = family.to_string();
    store
        .run(move |conn| {
            let sql = format!("SELECT {} FROM session_keys WHERE family = ?1 ORDER BY generation", COLUMNS);
            let mut stmt = conn.prepare(&sql).map_err(unavailable("session keys"))?;
            let rows = stmt.query_map(params![family], key_row).map_err(unavailable("session keys"))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(unavailable("session keys"))
        })
        .await
}

/// Inserts a generation once.
pub(super) async fn insert(store: &SqliteStore, row: &KeyRow) -> Result<bool, StoreError> {
    let r = row.clone();
    let writer = store.inner.writer.clone();
    store
        .run(move |conn| {
            let sql = format!(
                "INSERT INTO session_keys ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
                 ON CONFLICT (family, generation) DO NOTHING",
                COLUMNS
            );
            conn.execute(
                &sql,
                params![
                    r.family,
                    r.generation,
                    r.label,
                    r.key_id,
                    r.public_key,
                    r.state.as_str(),
                    r.created_at,
                    r.activates_at,
                    r.retired_at,
                    r.destroy_after,
                    r.destroyed_at,
                    r.rotate_requested_at,
                    r.revoked,
                    writer
                ],
            )
            .map(|n| n == 1)
            .map_err(unavailable("session key insert"))
        })
        .await
}

/// Changes a row still in state `from`.
pub(super) async fn update(
    store: &SqliteStore,
    family: &str,
    generation: i64,
    from: KeyState,
    change: &KeyChange,
) -> Result<bool, StoreError> {
    let (family, c) = (family.to_string(), change.clone());
    let writer = store.inner.writer.clone();
    store
        .run(move |conn| {
            conn.execute(
                "UPDATE session_keys SET state = coalesce(?1, state), activates_at = coalesce(?2, activates_at),
                   retired_at = coalesce(?3, retired_at), destroy_after = coalesce(?4, destroy_after),
                   destroyed_at = coalesce(?5, destroyed_at), rotate_requested_at = coalesce(?6, rotate_requested_at),
                   revoked = coalesce(?7, revoked), written_by = ?8
                 WHERE family = ?9 AND generation = ?10 AND state = ?11",
                params![
                    c.state.map(KeyState::as_str),
                    c.activates_at,
                    c.retired_at,
                    c.destroy_after,
                    c.destroyed_at,
                    c.rotate_requested_at,
                    c.revoked,
                    writer,
                    family,
                    generation,
                    from.as_str()
                ],
            )
            .map(|n| n == 1)
            .map_err(unavailable("session key update"))
        })
        .await
}

/// Takes a family's maintenance lock (a lease).
pub(super) async fn lock(
    store: &SqliteStore,
    family: &str,
    wait: Option<Duration>,
) -> Result<Option<MintGuard>, StoreError> {
    let lease = store.take_lease("session key lock", lock_name(family), LOCK_HOLD, wait).await?;
    Ok(lease.map(|l| Box::new(l) as MintGuard))
}

fn key_row(r: &rusqlite::Row<'_>) -> Result<KeyRow, rusqlite::Error> {
    let state: String = r.get(5)?;
    let state = KeyState::parse(&state).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(5, rusqlite::types::Type::Text, format!("key state {state:?}").into())
    })?;
    Ok(KeyRow {
        family: r.get(0)?,
        generation: r.get(1)?,
        label: r.get(2)?,
        key_id: r.get(3)?,
        public_key: r.get(4)?,
        state,
        created_at: r.get(6)?,
        activates_at: r.get(7)?,
        retired_at: r.get(8)?,
        destroy_after: r.get(9)?,
        destroyed_at: r.get(10)?,
        rotate_requested_at: r.get(11)?,
        revoked: r.get(12)?,
        written_by: r.get(13)?,
    })
}
