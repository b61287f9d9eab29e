//! Direct reads of the embedded SQLite catalogue, on the calling thread.
//!
//! sqlx runs every SQLite connection on a thread of its own: a query is a message to that
//! thread and a wake-up back, and on two cores those thread switches cost more than the query
//! (a metadata request spent about half its time switching). The hot lookups (API key, object,
//! listing page, upload session) instead run here, synchronously, on short-lived read
//! statements over their own connections to the same file. They read the same SQL text and map
//! rows with the same functions as the sqlx path, which PostgreSQL keeps using.
//!
//! In WAL mode a read never waits for a writer, so a lookup costs microseconds of the runtime
//! thread; each statement is its own read transaction and sees every commit made before it, by
//! this process or another one (`fedml admin`, a second server on the same file).

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};

use super::Result;
use super::records::Columns;

/// Idle connections kept for reuse; more are opened while more lookups run at once.
const MAX_IDLE: usize = 16;

pub(super) enum Bind<'a> {
    Text(&'a str),
    Int(i64),
}

pub(super) struct SqliteReader {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl SqliteReader {
    /// A reader of the database file at `path`, checked by opening one connection.
    pub(super) fn open(path: PathBuf) -> Result<SqliteReader> {
        let reader = SqliteReader { path, idle: Mutex::new(Vec::new()) };
        let first = reader.connect()?;
        reader.put_back(first);
        Ok(reader)
    }

    fn connect(&self) -> Result<Connection> {
        // Read-write flags with `query_only`: a read-only open of a WAL database fails when no
        // other connection holds its shared-memory file.
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "query_only", true)?;
        conn.set_prepared_statement_cache_capacity(32);
        Ok(conn)
    }

    fn put_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }

    /// Runs `sql` (parameters `$1`, `$2`, … in order of appearance) and maps every row.
    pub(super) fn query<T>(&self, sql: &str, binds: &[Bind<'_>], map: fn(&dyn Columns) -> Result<T>) -> Result<Vec<T>> {
        let taken = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).pop();
        let conn = match taken {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let out = run(&conn, sql, binds, map);
        self.put_back(conn);
        out
    }
}

impl SqliteReader {
    /// Runs `work` in one write transaction on a connection of its own (a bulk write that
    /// sqlx would take seconds over). The caller holds the catalogue's write gate, so no other
    /// writer of this process waits on it; another process's waits out the busy timeout.
    pub(super) fn write<T>(&self, work: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let out = work(&tx)?;
        tx.commit()?;
        Ok(out)
    }
}

fn run<T>(conn: &Connection, sql: &str, binds: &[Bind<'_>], map: fn(&dyn Columns) -> Result<T>) -> Result<Vec<T>> {
    let mut statement = conn.prepare_cached(sql)?;
    let params = binds.iter().map(|b| match b {
        Bind::Text(s) => Value::Text((*s).to_string()),
        Bind::Int(i) => Value::Integer(*i),
    });
    let mut rows = statement.query(rusqlite::params_from_iter(params))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(map(row)?);
    }
    Ok(out)
}
