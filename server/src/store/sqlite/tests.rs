use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeps_the_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    let settings = crate::store::testing::fast_sqlite(dir.path().join("s.sqlite"));
    let crate::store::StoreSettings::Sqlite(options) = &settings else { unreachable!() };
    let store = SqliteStore::open(options).unwrap();
    crate::store::testing::check_service_store(&store, &settings).await;
}

/// A file written by schema version 1 (made here from migration 0001 as it shipped) is
/// upgraded in place when opened, and keeps its rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrades_a_version_1_file_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.sqlite");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(MIGRATIONS[0].1).unwrap();
    conn.execute_batch(crate::store::testing::V1_ROWS_SQL).unwrap();
    drop(conn);
    let store = SqliteStore::open(&SqliteOptions::new(&path)).unwrap();
    crate::store::testing::check_v1_rows_kept(&store).await;
    drop(store);
    let conn = Connection::open(&path).unwrap();
    let version: i64 = conn.query_row("SELECT max(version) FROM schema_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

/// Another process holding the write lock past the busy timeout makes this request wait
/// too long (busy), not the store unusable; once it lets go, the next append succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_write_lock_is_busy_not_down() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    let options = SqliteOptions { busy_timeout: Duration::from_millis(100), ..SqliteOptions::new(&path) };
    let store = SqliteStore::open(&options).unwrap();
    let other = Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let entry = |n: u32| AuditEntry { request_id: format!("busy-{n}"), ..crate::store::testing::audit_entry(1) };
    match store.append_audit(entry(1), None).await {
        Err(StoreError::Busy { op: "audit append", message }) => {
            assert!(message.contains("write lock"), "{message}")
        }
        other => panic!("expected busy, got {other:?}"),
    }
    other.execute_batch("COMMIT").unwrap();
    assert_eq!(store.append_audit(entry(2), None).await.unwrap().seq, 1);
}

#[test]
fn refuses_a_newer_schema_and_a_foreign_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    drop(SqliteStore::open(&SqliteOptions::new(&path)).unwrap());
    // A newer schema is refused with a clear message.
    let conn = Connection::open(&path).unwrap();
    conn.execute("INSERT INTO schema_version (version, applied_at) VALUES (99, 'x')", []).unwrap();
    drop(conn);
    let err = SqliteStore::open(&SqliteOptions::new(&path)).unwrap_err().to_string();
    assert!(err.contains("schema version 99"), "{err}");

    // So is a file of something else.
    let other = dir.path().join("other.sqlite");
    Connection::open(&other).unwrap().execute_batch("CREATE TABLE t (x)").unwrap();
    let err = SqliteStore::open(&SqliteOptions::new(&other)).unwrap_err().to_string();
    assert!(err.contains("not a lit-session-server store"), "{err}");
}
