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

/// A MySQL journal of the counter-row layout (before the head rows), with a table captured by
/// that version's triggers: `install` migrates it in place. Its seqs go on from the counter,
/// the old triggers keep journaling (through the current procedure), recover's own calls on the
/// captured table still write one entry each, undo reaches back into the old entries, and the
/// counter is gone so that a process of the old version fails instead of handing out seqs twice.
#[cfg(feature = "mysql")]
#[test]
fn mysql_install_migrates_a_counter_row_journal() {
    use diesel::mysql::MysqlConnection;
    use diesel::RunQueryDsl;

    let mut db = common::mysql("migrate_counter_rows", false);
    let conn = &mut db.conn;
    conn.batch_execute(include_str!("fixtures/mysql-counter-layout.sql"))
        .unwrap();
    // The old version's triggers: today's, calling the procedure of then.
    let old_triggers = recover::capture_sql::<Account, MysqlConnection>()
        .replace("recover_capture_entry_v2", "recover_capture_entry_v1");
    conn.batch_execute(&old_triggers).unwrap();
    conn.exec("INSERT INTO accounts (id, owner, balance, status) VALUES (1, 'ann', 10, 'open')");
    conn.exec("UPDATE accounts SET balance = 20 WHERE id = 1");
    // A gap the counter handed out (a rolled-back call): seqs must continue after it.
    conn.exec("UPDATE recover_seq SET next_seq = 40 WHERE id = 1");
    let old = conn.journal_rows();
    assert_eq!(old.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2]);

    recover::install(conn).unwrap();
    recover::install(conn).unwrap(); // the second run changes nothing
    let tables: Vec<Name> = diesel::sql_query(
        "SELECT CAST(table_name AS CHAR) AS name FROM information_schema.tables \
         WHERE table_schema = DATABASE() AND table_name LIKE 'recover\\_%' ORDER BY 1",
    )
    .load(conn)
    .unwrap();
    assert!(
        !tables.iter().any(|t| t.name == "recover_seq"),
        "{:?}",
        tables.iter().map(|t| &t.name).collect::<Vec<_>>()
    );

    // The old trigger, through the current procedure.
    conn.exec("UPDATE accounts SET balance = 30 WHERE id = 1");
    // recover's own call on the captured table: one entry, recover's.
    let journal = Journal::new().actor("migrated");
    journal.update(conn, &Account::new(1, "ann", 50)).unwrap();
    let rows = conn.journal_rows();
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert_eq!(rows[..2], old[..]);
    assert!(rows[2].seq > 40 && rows[3].seq > rows[2].seq, "{rows:?}");
    assert_eq!(rows[3].actor.as_deref(), Some("migrated"));
    assert_eq!(rows[3].op, "update");

    for balance in [30, 20, 10] {
        journal.undo::<Account>(conn, &1).unwrap();
        assert_eq!(conn.account(1).map(|a| a.balance), Some(balance));
    }
    journal.undo::<Account>(conn, &1).unwrap();
    assert_eq!(conn.account(1), None);
    assert!(recover::check(conn).unwrap().is_ok());
}

#[cfg(feature = "mysql")]
#[derive(diesel::QueryableByName)]
struct Name {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}
