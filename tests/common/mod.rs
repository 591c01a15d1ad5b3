//! What every integration test shares: the models, and a fresh database per test on each
//! backend (SQLite in memory and in a WAL file, PostgreSQL and MySQL when their features are on).
#![allow(dead_code)]

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use recover::{JournalConn, Recoverable, RowStore};

diesel::table! {
    accounts (id) {
        id -> Integer,
        owner -> Text,
        balance -> BigInt,
        status -> Text,
        note -> Nullable<Text>,
    }
}

diesel::table! {
    memberships (org, user_id) {
        org -> Text,
        user_id -> Integer,
        role -> Text,
        since -> Nullable<BigInt>,
    }
}

diesel::table! {
    users (id) {
        id -> Integer,
        display_name -> Text,
        password_hash -> Text,
        plan -> Text,
        score -> Double,
        active -> Bool,
    }
}

/// The model of DESIGN.md section 1.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Queryable,
    Selectable,
    Identifiable,
    Insertable,
    AsChangeset,
    Recoverable,
)]
#[diesel(table_name = accounts)]
pub struct Account {
    pub id: i32,
    pub owner: String,
    pub balance: i64,
    pub status: String,
    pub note: Option<String>,
}

impl Account {
    pub fn new(id: i32, owner: &str, balance: i64) -> Self {
        Account {
            id,
            owner: owner.into(),
            balance,
            status: "open".into(),
            note: None,
        }
    }
}

/// A composite key, declared in the other order than the table's.
#[derive(Debug, Clone, PartialEq, Queryable, Recoverable)]
#[diesel(table_name = memberships, primary_key(user_id, org))]
pub struct Membership {
    pub org: String,
    pub user_id: i32,
    pub role: String,
    pub since: Option<i64>,
}

/// Skipped, defaulted and renamed columns, and a field whose name is not its column's.
#[derive(Debug, Clone, PartialEq, Queryable, Recoverable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i32,
    #[diesel(column_name = display_name)]
    #[recover(renamed_from = "name", renamed_from = "full_name")]
    pub name: String,
    #[recover(skip, default = "redacted")]
    pub password_hash: String,
    #[recover(default = "free_plan")]
    pub plan: String,
    pub score: f64,
    pub active: bool,
}

pub fn redacted() -> String {
    "<redacted>".into()
}

pub fn free_plan() -> String {
    "free".into()
}

impl User {
    pub fn new(id: i32, name: &str) -> Self {
        User {
            id,
            name: name.into(),
            password_hash: format!("hash-of-{name}"),
            plan: "pro".into(),
            score: 0.25,
            active: true,
        }
    }
}

/// One journal row, read with plain SQL as a tool would.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct JournalRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub seq: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub changeset_id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub entity: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub entity_key: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub op: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub before_image: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub after_image: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    pub undoes: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub actor: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub reason: Option<String>,
}

impl JournalRow {
    /// An image as JSON.
    pub fn after(&self) -> Option<serde_json::Value> {
        self.after_image
            .as_deref()
            .map(|t| serde_json::from_str(t).unwrap())
    }
    pub fn before(&self) -> Option<serde_json::Value> {
        self.before_image
            .as_deref()
            .map(|t| serde_json::from_str(t).unwrap())
    }
}

/// One `recover_redactions` row.
#[derive(QueryableByName)]
pub struct RedactionRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub entity_key: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub erased_columns: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub actor: Option<String>,
}

/// A test database on one backend: the models' tables exist, the journal is installed.
pub trait TestDb: JournalConn + RowStore<Account> + RowStore<Membership> + RowStore<User> {
    /// Runs raw SQL (an edit outside recover, or a hand edit of the journal).
    fn exec(&mut self, sql: &str);
    fn accounts(&mut self) -> Vec<Account>;
    fn memberships(&mut self) -> Vec<Membership>;
    fn users(&mut self) -> Vec<User>;
    fn journal_rows(&mut self) -> Vec<JournalRow>;
    /// `recover_redactions`: (entity_key, erased_columns, actor), oldest first.
    fn redactions(&mut self) -> Vec<(String, String, Option<String>)>;

    fn account(&mut self, id: i32) -> Option<Account> {
        self.accounts().into_iter().find(|a| a.id == id)
    }
    fn user(&mut self, id: i32) -> Option<User> {
        self.users().into_iter().find(|u| u.id == id)
    }
}

macro_rules! impl_test_db {
    ($conn:ty) => {
        impl TestDb for $conn {
            fn exec(&mut self, sql: &str) {
                diesel::sql_query(sql)
                    .execute(self)
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
            fn accounts(&mut self) -> Vec<Account> {
                accounts::table.order(accounts::id).load(self).unwrap()
            }
            fn memberships(&mut self) -> Vec<Membership> {
                memberships::table
                    .order((memberships::org, memberships::user_id))
                    .load(self)
                    .unwrap()
            }
            fn users(&mut self) -> Vec<User> {
                users::table.order(users::id).load(self).unwrap()
            }
            fn redactions(&mut self) -> Vec<(String, String, Option<String>)> {
                diesel::sql_query(
                    "SELECT entity_key, erased_columns, actor FROM recover_redactions ORDER BY id",
                )
                .load::<RedactionRow>(self)
                .unwrap()
                .into_iter()
                .map(|r| (r.entity_key, r.erased_columns, r.actor))
                .collect()
            }
            fn journal_rows(&mut self) -> Vec<JournalRow> {
                diesel::sql_query(
                    "SELECT seq, changeset_id, entity, entity_key, op, before_image, \
                     after_image, undoes, actor, reason FROM recover_journal ORDER BY seq",
                )
                .load(self)
                .unwrap()
            }
        }
    };
}

impl_test_db!(SqliteConnection);
#[cfg(feature = "postgres")]
impl_test_db!(diesel::pg::PgConnection);
#[cfg(feature = "mysql")]
impl_test_db!(diesel::mysql::MysqlConnection);

const SQLITE_TABLES: &str = "
    CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, balance BIGINT NOT NULL,
        status TEXT NOT NULL, note TEXT);
    CREATE TABLE memberships (org TEXT NOT NULL, user_id INTEGER NOT NULL, role TEXT NOT NULL,
        since BIGINT, PRIMARY KEY (org, user_id));
    CREATE TABLE users (id INTEGER PRIMARY KEY, display_name TEXT NOT NULL,
        password_hash TEXT NOT NULL, plan TEXT NOT NULL, score DOUBLE NOT NULL,
        active BOOLEAN NOT NULL);";

const POSTGRES_TABLES: &str = "
    CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, balance BIGINT NOT NULL,
        status TEXT NOT NULL, note TEXT);
    CREATE TABLE memberships (org TEXT NOT NULL, user_id INTEGER NOT NULL, role TEXT NOT NULL,
        since BIGINT, PRIMARY KEY (org, user_id));
    CREATE TABLE users (id INTEGER PRIMARY KEY, display_name TEXT NOT NULL,
        password_hash TEXT NOT NULL, plan TEXT NOT NULL, score DOUBLE PRECISION NOT NULL,
        active BOOLEAN NOT NULL);";

const MYSQL_TABLES: &str = "
    CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, balance BIGINT NOT NULL,
        status TEXT NOT NULL, note LONGTEXT) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
    CREATE TABLE memberships (org VARCHAR(191) NOT NULL, user_id INTEGER NOT NULL,
        role TEXT NOT NULL, since BIGINT, PRIMARY KEY (org, user_id))
        ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
    CREATE TABLE users (id INTEGER PRIMARY KEY, display_name TEXT NOT NULL,
        password_hash TEXT NOT NULL, plan TEXT NOT NULL, score DOUBLE NOT NULL,
        active BOOLEAN NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;";

/// Removes a test database (schema, database, file) when the test ends.
type Cleanup<C> = Box<dyn FnOnce(&mut C)>;

/// A backend's test database, removed when the test ends.
pub struct Fresh<C> {
    pub conn: C,
    cleanup: Option<Cleanup<C>>,
    /// Opens another connection to the same database (not for SQLite in memory).
    pub reopen: Option<Box<dyn Fn() -> C>>,
    /// The SQLite file's path.
    pub path: Option<String>,
}

impl<C> Drop for Fresh<C> {
    fn drop(&mut self) {
        if let Some(cleanup) = self.cleanup.take() {
            cleanup(&mut self.conn);
        }
    }
}

/// A name no other test, and no concurrent run, uses.
fn unique_name(test: &str) -> String {
    format!("rt_{}_{}", test, std::process::id())
}

/// SQLite in memory, tables created, journal installed unless `install` is false.
pub fn sqlite_memory(_test: &str, install: bool) -> Fresh<SqliteConnection> {
    let mut conn = SqliteConnection::establish(":memory:").unwrap();
    conn.batch_execute(SQLITE_TABLES).unwrap();
    if install {
        recover::install(&mut conn).unwrap();
    }
    Fresh {
        conn,
        cleanup: None,
        reopen: None,
        path: None,
    }
}

/// A SQLite file in WAL mode, as applications run it.
pub fn sqlite_file(test: &str, install: bool) -> Fresh<SqliteConnection> {
    let path = std::env::temp_dir().join(format!("{}.db", unique_name(test)));
    let _ = std::fs::remove_file(&path);
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    conn.batch_execute(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;",
    )
    .unwrap();
    conn.batch_execute(SQLITE_TABLES).unwrap();
    if install {
        recover::install(&mut conn).unwrap();
    }
    let reopen_path = path.clone();
    let path_text = path.to_string_lossy().into_owned();
    Fresh {
        conn,
        cleanup: Some(Box::new(move |_| {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        })),
        reopen: Some(Box::new(move || {
            let mut conn = SqliteConnection::establish(reopen_path.to_str().unwrap()).unwrap();
            conn.batch_execute("PRAGMA busy_timeout = 5000;").unwrap();
            conn
        })),
        path: Some(path_text),
    }
}

/// A fresh schema on the PostgreSQL server of `RECOVER_PG_URL`.
#[cfg(feature = "postgres")]
pub fn postgres(test: &str, install: bool) -> Fresh<diesel::pg::PgConnection> {
    let url = std::env::var("RECOVER_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let mut conn = diesel::pg::PgConnection::establish(&url)
        .unwrap_or_else(|e| panic!("PostgreSQL at {url}: {e} (set RECOVER_PG_URL)"));
    let schema = unique_name(test);
    conn.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; SET search_path TO {schema};"
    ))
    .unwrap();
    conn.batch_execute(POSTGRES_TABLES).unwrap();
    if install {
        recover::install(&mut conn).unwrap();
    }
    let (reopen_url, reopen_schema) = (url.clone(), schema.clone());
    Fresh {
        conn,
        cleanup: Some(Box::new(move |conn: &mut diesel::pg::PgConnection| {
            let _ = conn.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        })),
        reopen: Some(Box::new(move || {
            let mut conn = diesel::pg::PgConnection::establish(&reopen_url).unwrap();
            conn.batch_execute(&format!("SET search_path TO {reopen_schema}"))
                .unwrap();
            conn
        })),
        path: None,
    }
}

/// A fresh database on the MySQL/MariaDB server of `RECOVER_MYSQL_URL`.
#[cfg(feature = "mysql")]
pub fn mysql(test: &str, install: bool) -> Fresh<diesel::mysql::MysqlConnection> {
    let url = std::env::var("RECOVER_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
    let mut conn = diesel::mysql::MysqlConnection::establish(&url)
        .unwrap_or_else(|e| panic!("MySQL at {url}: {e} (set RECOVER_MYSQL_URL)"));
    let database = unique_name(test);
    conn.batch_execute(&format!(
        "DROP DATABASE IF EXISTS {database}; CREATE DATABASE {database}; USE {database};"
    ))
    .unwrap();
    conn.batch_execute(MYSQL_TABLES).unwrap();
    if install {
        recover::install(&mut conn).unwrap();
    }
    let (reopen_url, reopen_database) = (url.clone(), database.clone());
    Fresh {
        conn,
        cleanup: Some(Box::new(
            move |conn: &mut diesel::mysql::MysqlConnection| {
                let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {database}"));
            },
        )),
        reopen: Some(Box::new(move || {
            let mut conn = diesel::mysql::MysqlConnection::establish(&reopen_url).unwrap();
            conn.batch_execute(&format!("USE {reopen_database}"))
                .unwrap();
            conn
        })),
        path: None,
    }
}

thread_local! {
    static CAPTURED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this test runs in capture mode: the models' tables have capture triggers, so raw SQL
/// edits are journaled like any other change.
pub fn captured() -> bool {
    CAPTURED.with(|c| c.get())
}

/// Turns capture mode on for the three models' tables (and marks the test as captured).
pub fn capture_models<C: TestDb>(conn: &mut C) {
    retrying(|| recover::capture::<Account>(conn));
    retrying(|| recover::capture::<Membership>(conn));
    retrying(|| recover::capture::<User>(conn));
    CAPTURED.with(|c| c.set(true));
}

/// Runs a DDL call of recover (`capture`, `release`) until it is not `Retryable`: on a Galera
/// cluster DDL runs in total order over the nodes and can abort a transaction that meets it,
/// under the other tests' DDL (their databases created and dropped) too.
fn retrying(mut call: impl FnMut() -> Result<(), recover::Error>) {
    for _ in 0..20 {
        match call() {
            Err(e) if e.is_retryable() => std::thread::sleep(std::time::Duration::from_millis(20)),
            done => return done.unwrap(),
        }
    }
    call().unwrap()
}

/// Runs SQL that changes the models' rows where no journal sees it: as is, or in capture mode
/// with the capture released for the statement (as a table whose triggers went missing).
pub fn unrecorded<C: TestDb>(conn: &mut C, sql: &str) {
    if !captured() {
        return conn.exec(sql);
    }
    retrying(|| recover::release::<Account>(conn));
    retrying(|| recover::release::<Membership>(conn));
    retrying(|| recover::release::<User>(conn));
    conn.exec(sql);
    capture_models(conn);
}

/// A fresh database in capture mode.
pub fn captured_db<C: TestDb>(fresh: Fresh<C>) -> Fresh<C> {
    let mut fresh = fresh;
    capture_models(&mut fresh.conn);
    fresh
}

/// Runs each generic test body `fn name<C: TestDb>(conn: &mut C)` on every backend that is
/// built, once as is and once in capture mode (DESIGN.md section 6; a SQLite file there): one
/// `#[test]` per body, backend and mode, each on its own fresh database. `uncaptured:` first
/// leaves capture mode out.
#[macro_export]
macro_rules! on_every_backend {
    (uncaptured: $($name:ident),* $(,)?) => {
        mod sqlite_memory {
            $(#[test] fn $name() { super::$name(&mut $crate::common::sqlite_memory(stringify!($name), true).conn) })*
        }
        mod sqlite_file {
            $(#[test] fn $name() { super::$name(&mut $crate::common::sqlite_file(stringify!($name), true).conn) })*
        }
        #[cfg(feature = "postgres")]
        mod postgres {
            $(#[test] fn $name() { super::$name(&mut $crate::common::postgres(stringify!($name), true).conn) })*
        }
        #[cfg(feature = "mysql")]
        mod mysql {
            $(#[test] fn $name() { super::$name(&mut $crate::common::mysql(stringify!($name), true).conn) })*
        }
    };
    ($($name:ident),* $(,)?) => {
        $crate::on_every_backend!(uncaptured: $($name),*);
        mod sqlite_captured {
            $(#[test] fn $name() { super::$name(&mut $crate::common::captured_db($crate::common::sqlite_file(concat!("c_", stringify!($name)), true)).conn) })*
        }
        #[cfg(feature = "postgres")]
        mod postgres_captured {
            $(#[test] fn $name() { super::$name(&mut $crate::common::captured_db($crate::common::postgres(concat!("c_", stringify!($name)), true)).conn) })*
        }
        #[cfg(feature = "mysql")]
        mod mysql_captured {
            $(#[test] fn $name() { super::$name(&mut $crate::common::captured_db($crate::common::mysql(concat!("c_", stringify!($name)), true)).conn) })*
        }
    };
}
