//! Every record of the ports in one SQLite file: the institution's
//! configuration, students, certificates, credits (with the ledger), the
//! audit trail, idempotency records, and jobs with their queue. Each write
//! runs all-or-nothing in its own savepoint of an immediate transaction that
//! the writes arriving meanwhile share (one fsync for the group, see
//! [`writer`]): the same guarantees as the DynamoDB transactions. One file per port, and the schema in [`schema`].

mod audit;
mod certificates;
mod credits;
mod idempotency;
mod institution;
mod jobs;
mod schema;
mod students;
mod writer;

pub use jobs::TakenChunk;

use certifica_core::ports::{StoreError, StoreResult};
use rusqlite::Connection;
use schema::SCHEMA;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The embedded records store. Cheap to clone; writes are serialised on one
/// connection (its own thread, committing concurrent writes together), reads
/// go through another.
#[derive(Clone)]
pub struct LocalRecords {
    writer: writer::Writer,
    reader: Arc<Mutex<Connection>>,
    /// Told when chunks are queued, so idle workers start at once.
    queued: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for LocalRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalRecords")
    }
}

pub(super) fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

pub(super) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

/// Statements run again and again are parsed once per connection (the
/// writer runs a dozen per certificate): `execute` and `query_row` through
/// the connection's statement cache.
pub(super) trait Cached {
    fn run(&self, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize>;
    fn one<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        row: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T>;
}

impl Cached for Connection {
    fn run(&self, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn one<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        row: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.prepare_cached(sql)?.query_row(params, row)
    }
}

/// Distinct statements each connection keeps parsed: more than the store has.
const STATEMENT_CACHE: usize = 96;

/// Rows of `(body)` JSON, parsed.
pub(super) fn bodies<T: serde::de::DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> StoreResult<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(unavailable)?;
    let rows = stmt.query_map(params, |r| r.get::<_, String>(0)).map_err(unavailable)?;
    let mut out = Vec::new();
    for body in rows {
        out.push(serde_json::from_str(&body.map_err(unavailable)?).map_err(unavailable)?);
    }
    Ok(out)
}

impl LocalRecords {
    /// Opens (creating if needed) the database file: one connection for
    /// writes, one for reads. In WAL mode readers never wait for a writer, so
    /// reads do not queue behind a commit's fsync.
    pub fn open(path: &Path) -> StoreResult<Self> {
        // The file is made 0600 before SQLite opens it (its -wal and -shm take the same mode).
        match crate::private::create_new(path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(unavailable(e)),
        }
        let open = || {
            let conn = Connection::open(path).map_err(unavailable)?;
            // Several processes (server, CLI) may open the file: wait for a writer instead of failing.
            conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(unavailable)?;
            conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
            Ok::<_, StoreError>(conn)
        };
        let writer = open()?;
        writer.pragma_update(None, "journal_mode", "WAL").map_err(unavailable)?;
        writer.execute_batch(SCHEMA).map_err(unavailable)?;
        let reader = open()?;
        Ok(LocalRecords {
            writer: writer::Writer::start(writer)?,
            reader: Arc::new(Mutex::new(reader)),
            queued: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// Runs `f` in an immediate (write-locking) transaction, possibly shared
    /// with other writes (group commit: see [`writer`]); `f` sees the
    /// transaction through the connection.
    pub(super) async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        self.writer.write(f).await
    }

    pub(super) async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let conn = self.reader.clone();
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().map_err(|_| unavailable("conexión envenenada"))?;
            f(&conn)
        })
        .await
        .map_err(unavailable)?
    }
}
