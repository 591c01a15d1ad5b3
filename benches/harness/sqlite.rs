//! SQLite databases: a fresh file per measurement, with the pragmas of each workload.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel::sqlite::SqliteConnection;

use super::{install_and_seed, ACCOUNTS_DDL};
use crate::model::Account;

pub const WAL_NORMAL: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;";
pub const WAL_FULL: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;";
/// Building a big journal: no durability, a big cache (the database is reopened afterwards).
pub const BULK: &str =
    "PRAGMA journal_mode = MEMORY; PRAGMA synchronous = OFF; PRAGMA cache_size = -262144;";

/// A SQLite file in the temp folder, removed (with its WAL) when dropped.
pub struct SqliteDb {
    pub conn: SqliteConnection,
    path: PathBuf,
}

static NEXT_FILE: AtomicUsize = AtomicUsize::new(0);

pub fn open_sqlite(path: &Path, pragmas: &str) -> SqliteConnection {
    let mut conn = SqliteConnection::establish(&path.to_string_lossy())
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    conn.batch_execute(pragmas).expect("pragmas");
    conn
}

impl SqliteDb {
    /// A new file with the accounts table (1,000 rows) and the journal tables installed, the
    /// WAL checkpointed, and `pragmas` set.
    pub fn create(pragmas: &str) -> Self {
        let n = NEXT_FILE.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("recover-bench-{}-{n}.db", std::process::id()));
        remove_sqlite_files(&path);
        let mut conn = open_sqlite(&path, pragmas);
        conn.batch_execute(ACCOUNTS_DDL).expect("create accounts");
        install_and_seed!(&mut conn);
        conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE);")
            .expect("checkpoint");
        SqliteDb { conn, path }
    }

    /// [`SqliteDb::create`], with the accounts table in capture mode.
    pub fn create_captured(pragmas: &str) -> Self {
        let mut db = SqliteDb::create(pragmas);
        recover::capture::<Account>(&mut db.conn).expect("capture");
        db.conn
            .batch_execute("PRAGMA wal_checkpoint(TRUNCATE);")
            .expect("checkpoint");
        db
    }

    /// Closes the connection and opens a new one with `pragmas` (a cold SQLite page cache).
    pub fn reopen(&mut self, pragmas: &str) {
        self.conn = open_sqlite(&self.path, pragmas);
    }
}

pub fn remove_sqlite_files(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

impl Drop for SqliteDb {
    fn drop(&mut self) {
        remove_sqlite_files(&self.path);
    }
}

pub fn sqlite_version() -> String {
    let mut conn = SqliteConnection::establish(":memory:").expect("in-memory SQLite");
    diesel::select(diesel::dsl::sql::<Text>("sqlite_version()"))
        .get_result(&mut conn)
        .expect("sqlite_version()")
}
