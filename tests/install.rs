//! The published SQL files are what `install` runs, and a journal made by running them by hand
//! (as a migration tool would) works like one made by `install`.

mod common;

use diesel::connection::SimpleConnection;
use recover::{Journal, JournalConn};

use common::{Account, TestDb};

#[test]
fn published_sql_is_what_install_runs() {
    assert_eq!(
        <diesel::SqliteConnection as JournalConn>::INSTALL_SQL,
        include_str!("../recover-core/sql/sqlite.sql")
    );
    #[cfg(feature = "postgres")]
    assert_eq!(
        <diesel::pg::PgConnection as JournalConn>::INSTALL_SQL,
        include_str!("../recover-core/sql/postgres.sql")
    );
    #[cfg(feature = "mysql")]
    assert_eq!(
        <diesel::mysql::MysqlConnection as JournalConn>::INSTALL_SQL,
        include_str!("../recover-core/sql/mysql.sql")
    );
}

fn migrate_by_hand<C: TestDb + SimpleConnection>(conn: &mut C, sql: &str) {
    conn.batch_execute(sql).unwrap();
    conn.batch_execute(sql).unwrap(); // a migration run twice changes nothing
    recover::install(conn).unwrap(); // nor does install after it
    let journal = Journal::new();
    journal.insert(conn, &Account::new(1, "ann", 1)).unwrap();
    journal.update(conn, &Account::new(1, "ann", 2)).unwrap();
    journal.undo::<Account>(conn, &1).unwrap();
    assert_eq!(conn.account(1), Some(Account::new(1, "ann", 1)));
    assert!(recover::check(conn).unwrap().is_ok());
}

#[test]
fn sqlite_migration_by_hand() {
    let mut db = common::sqlite_file("migration_by_hand", false);
    migrate_by_hand(&mut db.conn, include_str!("../recover-core/sql/sqlite.sql"));
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_migration_by_hand() {
    let mut db = common::postgres("migration_by_hand", false);
    migrate_by_hand(
        &mut db.conn,
        include_str!("../recover-core/sql/postgres.sql"),
    );
}

#[cfg(feature = "mysql")]
#[test]
fn mysql_migration_by_hand() {
    let mut db = common::mysql("migration_by_hand", false);
    migrate_by_hand(&mut db.conn, include_str!("../recover-core/sql/mysql.sql"));
}
