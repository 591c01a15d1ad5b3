//! `Journal::retries`: a top-level call that collides with a concurrent transaction tries again,
//! and is journaled once; inside the caller's transaction it does not.

mod common;

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::{Account, TestDb};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use recover::{Error, Journal};

/// Another connection holds SQLite's write lock for `hold`, then lets go.
fn hold_write_lock(path: String, hold: Duration) -> (thread::JoinHandle<()>, mpsc::Receiver<()>) {
    let (locked, is_locked) = mpsc::channel();
    let holder = thread::spawn(move || {
        let mut other = SqliteConnection::establish(&path).unwrap();
        other.batch_execute("BEGIN IMMEDIATE").unwrap();
        locked.send(()).unwrap();
        thread::sleep(hold);
        other.batch_execute("COMMIT").unwrap();
    });
    (holder, is_locked)
}

#[test]
fn a_busy_database_is_retried_and_journaled_once() {
    let mut db = common::sqlite_file("retry_busy", true);
    let path = db.path.clone().unwrap();
    let conn = &mut db.conn;
    conn.batch_execute("PRAGMA busy_timeout = 0").unwrap();
    Journal::new()
        .insert(conn, &Account::new(1, "ann", 100))
        .unwrap();

    // Without retries: Retryable, and nothing written.
    let (holder, is_locked) = hold_write_lock(path.clone(), Duration::from_millis(200));
    is_locked.recv().unwrap();
    let once = Journal::new().update(conn, &Account::new(1, "ann", 50));
    assert!(matches!(once, Err(Error::Retryable(_))), "{once:?}");
    holder.join().unwrap();
    assert_eq!(conn.account(1), Some(Account::new(1, "ann", 100)));
    assert_eq!(conn.journal_rows().len(), 1);

    // With retries: it waits the lock out, and writes one entry.
    let (holder, is_locked) = hold_write_lock(path, Duration::from_millis(150));
    is_locked.recv().unwrap();
    Journal::new()
        .retries(12)
        .update(conn, &Account::new(1, "ann", 50))
        .unwrap();
    holder.join().unwrap();
    assert_eq!(conn.account(1), Some(Account::new(1, "ann", 50)));
    let ops: Vec<_> = conn.journal_rows().into_iter().map(|r| r.op).collect();
    assert_eq!(ops, ["insert", "update"]);
}

#[test]
fn inside_the_callers_transaction_nothing_is_retried() {
    let mut db = common::sqlite_file("retry_inside", true);
    let path = db.path.clone().unwrap();
    let conn = &mut db.conn;
    conn.batch_execute("PRAGMA busy_timeout = 0").unwrap();
    Journal::new()
        .insert(conn, &Account::new(1, "ann", 100))
        .unwrap();
    let (holder, is_locked) = hold_write_lock(path, Duration::from_millis(300));
    is_locked.recv().unwrap();
    let started = std::time::Instant::now();
    let inside: Result<(), Error> = conn.transaction(|conn| {
        Journal::new()
            .retries(12)
            .update(conn, &Account::new(1, "ann", 50))?;
        Ok(())
    });
    // It failed at once: the caller's transaction is the one to retry.
    assert!(matches!(inside, Err(Error::Retryable(_))), "{inside:?}");
    assert!(started.elapsed() < Duration::from_millis(250));
    holder.join().unwrap();
    assert_eq!(conn.account(1), Some(Account::new(1, "ann", 100)));
    assert_eq!(conn.journal_rows().len(), 1);
}

/// The guard of recover's MySQL transactions (autocommit off, a mark written first and removed
/// last): a transaction whose mark is gone was rolled back by the server without telling (a
/// Galera brute-force abort). Made deterministic by removing the mark by hand inside the call:
/// the call fails as `Retryable`, and nothing written after the mark is kept, the journal
/// included; the connection is back in autocommit afterwards.
#[cfg(feature = "mysql")]
#[test]
fn mysql_a_transaction_whose_mark_is_gone_commits_nothing() {
    let mut db = common::mysql("retry_mark", true);
    let conn = &mut db.conn;
    let journal = Journal::new();
    journal.insert(conn, &Account::new(1, "ann", 10)).unwrap();
    let before = conn.journal_rows();
    let result = journal.transaction(conn, |conn| {
        journal.update(conn, &Account::new(1, "ann", 99))?;
        conn.batch_execute("DELETE FROM recover_marks")?;
        Ok(())
    });
    assert!(
        matches!(&result, Err(e) if e.is_retryable()),
        "expected Retryable, got {result:?}"
    );
    assert_eq!(conn.account(1), Some(Account::new(1, "ann", 10)));
    assert_eq!(conn.journal_rows(), before);
    // Autocommit is on again: a plain statement outside recover commits by itself.
    conn.exec("UPDATE accounts SET note = 'plain' WHERE id = 1");
    let mut other = (db.reopen.as_ref().unwrap())();
    let note: Option<String> = common::accounts::table
        .find(1)
        .select(common::accounts::note)
        .first(&mut other)
        .unwrap();
    assert_eq!(note.as_deref(), Some("plain"));
}

/// A journal installed before `recover_marks` existed: a top-level call creates the table (its
/// transaction has done nothing yet) and goes on; inside a caller's transaction, where its DDL
/// would commit the caller's work, the call refuses as `NotInstalled` and writes nothing; the
/// caller's transaction goes on. `install` creates the table again.
#[cfg(feature = "mysql")]
#[test]
fn mysql_a_journal_without_its_marks_table() {
    let mut db = common::mysql("retry_no_marks", true);
    let conn = &mut db.conn;
    let journal = Journal::new();
    conn.exec("DROP TABLE recover_marks");
    journal.insert(conn, &Account::new(1, "ann", 10)).unwrap();
    assert_eq!(conn.journal_rows().len(), 1);

    conn.exec("DROP TABLE recover_marks");
    let before = conn.journal_rows();
    let caller = conn.transaction::<_, Error, _>(|conn| {
        let refused = journal.update(conn, &Account::new(1, "ann", 99));
        assert!(
            matches!(refused, Err(Error::NotInstalled(_))),
            "{refused:?}"
        );
        conn.exec("UPDATE accounts SET note = 'caller' WHERE id = 1");
        Ok(())
    });
    caller.unwrap();
    let mut expected = Account::new(1, "ann", 10);
    expected.note = Some("caller".into());
    assert_eq!(conn.account(1), Some(expected));
    assert_eq!(conn.journal_rows(), before);
    recover::install(conn).unwrap();
    journal.update(conn, &Account::new(1, "ann", 11)).unwrap();
    assert_eq!(conn.journal_rows().len(), 2);
}
