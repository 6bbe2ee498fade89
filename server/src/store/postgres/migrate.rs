//! The PostgreSQL schema's migrations, applied when a store opens.

use super::failure::db_error;
use super::{PgStore, MIGRATIONS, MIGRATION_LOCK, SCHEMA_VERSION};
use crate::signing;
use crate::store::{pending_migrations, pg_message, StoreError};

impl PgStore {
    /// Brings the schema to [`SCHEMA_VERSION`], one replica at a time (an advisory lock held for
    /// the transaction). Refuses a schema newer than this build, or one holding other tables.
    pub(super) async fn migrate(&self, location: &str) -> Result<(), StoreError> {
        let mut conn = self.inner.pool.get().await?;
        let tx = conn.client().transaction().await.map_err(db_error("migrate"))?;
        // Replicas starting together: one migrates, the others then see its result.
        tx.execute("SET LOCAL statement_timeout = 0", &[]).await.map_err(db_error("migrate"))?;
        tx.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", &[&MIGRATION_LOCK])
            .await
            .map_err(db_error("migrate"))?;
        let has_version: bool = tx
            .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
            .await
            .map_err(db_error("migrate"))?
            .get(0);
        let applied: Vec<i64> = if has_version {
            tx.query("SELECT version::bigint FROM schema_version", &[])
                .await
                .map_err(db_error("migrate"))?
                .iter()
                .map(|r| r.get(0))
                .collect()
        } else {
            let tables: i64 = tx
                .query_one("SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()", &[])
                .await
                .map_err(db_error("migrate"))?
                .get(0);
            if tables > 0 {
                return Err(StoreError::Schema(format!(
                    "{location}: the schema holds {tables} tables but no schema_version: it is not a \
                     lit-session-server store; use an empty database (or schema) for it"
                )));
            }
            Vec::new()
        };
        let current = applied.iter().copied().max().unwrap_or(0);
        if current > SCHEMA_VERSION {
            return Err(StoreError::Schema(format!(
                "{location} has schema version {current}, newer than this build knows ({SCHEMA_VERSION}); \
                 run a lit-session-server at least as new as the one that wrote it"
            )));
        }
        for (version, sql) in pending_migrations(MIGRATIONS, &applied) {
            let version = version as i32;
            tx.batch_execute(sql).await.map_err(|e| {
                StoreError::Schema(format!("{location}: migration {version} failed: {}", pg_message(&e)))
            })?;
            tx.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)",
                &[&version, &signing::Timestamp::now().to_string()],
            )
            .await
            .map_err(db_error("migrate"))?;
        }
        tx.commit().await.map_err(db_error("migrate"))?;
        conn.keep();
        Ok(())
    }
}
