//! `Journal::restore_table`: a whole table back to an instant, as one undoable changeset.

mod common;

use std::time::Duration;

use common::{Account, TestDb};
use recover::{At, ChangesetId, Error, Journal, Progress};

on_every_backend!(table_back_to_an_instant, conflicts_and_bad_input);

fn pause() -> chrono::DateTime<chrono::Utc> {
    std::thread::sleep(Duration::from_millis(3));
    let t = chrono::Utc::now();
    std::thread::sleep(Duration::from_millis(3));
    t
}

fn seeded<C: TestDb>(conn: &mut C) -> chrono::DateTime<chrono::Utc> {
    let journal = Journal::new();
    for id in 1..=5 {
        journal
            .insert(conn, &Account::new(id, "o", id.into()))
            .unwrap();
    }
    let t = pause();
    journal.update(conn, &Account::new(1, "o", 100)).unwrap();
    journal.delete(conn, &Account::new(2, "o", 2)).unwrap();
    journal.insert(conn, &Account::new(6, "new", 6)).unwrap();
    journal.update(conn, &Account::new(4, "o", 40)).unwrap();
    journal.update(conn, &Account::new(4, "o", 4)).unwrap(); // changed and changed back
    t
}

fn table_back_to_an_instant<C: TestDb>(conn: &mut C) {
    let t = seeded(conn);
    let after_changes = conn.accounts();
    let mut calls = Vec::new();
    let cs = Journal::new()
        .restore_table_with_progress::<Account>(conn, At::Time(t), |p| calls.push(p))
        .unwrap();
    let expected: Vec<Account> = (1..=5).map(|id| Account::new(id, "o", id.into())).collect();
    assert_eq!(conn.accounts(), expected);
    assert_eq!(
        calls.last(),
        Some(&Progress { done: 4, total: 4 }),
        "entities 1, 2, 4, 6"
    );
    assert_eq!(calls.len(), 4);
    Journal::new().undo_changeset(conn, cs).unwrap();
    assert_eq!(conn.accounts(), after_changes);
    // Nothing recorded after the instant: nothing to do.
    let now = pause();
    assert_eq!(
        Journal::new()
            .restore_table::<Account>(conn, At::Time(now))
            .unwrap(),
        ChangesetId::EMPTY
    );
}

fn conflicts_and_bad_input<C: TestDb>(conn: &mut C) {
    let t = seeded(conn);
    common::unrecorded(conn, "UPDATE accounts SET owner = 'x' WHERE id IN (1, 6)");
    let (rows, entries) = (conn.accounts(), conn.journal_rows());
    match Journal::new().restore_table::<Account>(conn, At::Time(t)) {
        Err(Error::TableConflict {
            entity: "accounts",
            conflicts,
        }) => {
            let keys: Vec<&str> = conflicts.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(keys, ["1", "6"]);
            assert_eq!(conflicts[0].1, ["owner"]);
        }
        other => panic!("expected a table conflict, got {other:?}"),
    }
    assert_eq!(
        (conn.accounts(), conn.journal_rows()),
        (rows.clone(), entries.clone())
    );
    assert!(matches!(
        Journal::new().restore_table::<Account>(conn, At::Version(1)),
        Err(Error::Unsupported(_))
    ));
    // The same by table name (what the command line calls): the same refusals.
    let model = recover::dynamic::model::<C>("accounts").unwrap();
    assert!(matches!(
        Journal::new().restore_table_of(conn, model, At::Version(1), |_| {}),
        Err(Error::Unsupported(_))
    ));
    match Journal::new().restore_table_of(conn, model, At::Time(t), |_| {}) {
        Err(Error::TableConflict { conflicts, .. }) => assert_eq!(conflicts.len(), 2),
        other => panic!("expected a table conflict, got {other:?}"),
    }
    let long_ago = chrono::Utc::now() - chrono::Duration::days(365);
    assert!(matches!(
        Journal::new().restore_table::<Account>(conn, At::Time(long_ago)),
        Err(Error::BeforeJournal { .. })
    ));
    assert_eq!((conn.accounts(), conn.journal_rows()), (rows, entries));
    Journal::new()
        .force()
        .restore_table::<Account>(conn, At::Time(t))
        .unwrap();
    let expected: Vec<Account> = (1..=5).map(|id| Account::new(id, "o", id.into())).collect();
    assert_eq!(conn.accounts(), expected);
}
