//! `Journal::prune`: retention that never makes an entity unrestorable, on every backend.

mod common;

use common::{Account, TestDb};
use recover::{Error, Journal, PruneReport, Retention};

on_every_backend!(
    keep_last_entries,
    keep_recent_entries,
    changesets_go_whole_and_bad_input
);

/// The balance after each remaining entry of the account (-1: deleted), oldest first.
fn history_of<C: TestDb>(conn: &mut C, id: i32) -> Vec<i64> {
    let history = Journal::new().history::<Account>(conn, &id).unwrap();
    history
        .iter()
        .map(|e| e.after.as_ref().map_or(-1, |a| a.balance))
        .collect()
}

fn keep_last_entries<C: TestDb>(conn: &mut C) {
    let journal = Journal::new();
    for id in 1..=3 {
        journal.insert(conn, &Account::new(id, "o", 0)).unwrap();
        for balance in 1..=9 {
            journal
                .update(conn, &Account::new(id, "o", balance))
                .unwrap();
        }
    }
    journal.delete(conn, &Account::new(3, "o", 9)).unwrap();
    let report = journal
        .prune(conn, &Retention::new().keep_last(2).batch_size(7))
        .unwrap();
    assert_eq!(
        report,
        PruneReport {
            entities: 3,
            removed: 8 + 8 + 9,
            batches: 4
        }
    );
    assert_eq!(history_of(conn, 1), [8, 9]);
    assert_eq!(history_of(conn, 3), [9, -1]);
    // Every entity is still restorable to its current state, and undo works down to the cut.
    assert!(recover::check(conn).unwrap().is_ok());
    journal.undo::<Account>(conn, &3).unwrap();
    assert_eq!(
        conn.account(3).unwrap().balance,
        9,
        "undelete after pruning"
    );
    journal.undo::<Account>(conn, &1).unwrap();
    assert_eq!(conn.account(1).unwrap().balance, 8);
    journal.undo::<Account>(conn, &1).unwrap();
    assert_eq!(
        conn.account(1).unwrap().balance,
        7,
        "the oldest kept entry's before-image"
    );
    assert!(matches!(
        journal.undo::<Account>(conn, &1),
        Err(Error::NothingToUndo { .. })
    ));
    journal.redo::<Account>(conn, &1).unwrap();
    assert_eq!(conn.account(1).unwrap().balance, 8);
    // Pruning again under the same policy removes what fell out since.
    let again = journal.prune(conn, &Retention::new().keep_last(2)).unwrap();
    assert_eq!(again.removed, 4);
}

fn keep_recent_entries<C: TestDb>(conn: &mut C) {
    let journal = Journal::new();
    journal.insert(conn, &Account::new(1, "o", 0)).unwrap();
    journal.update(conn, &Account::new(1, "o", 1)).unwrap();
    journal.insert(conn, &Account::new(2, "o", 0)).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(3));
    let t = chrono::Utc::now();
    std::thread::sleep(std::time::Duration::from_millis(3));
    journal.update(conn, &Account::new(1, "o", 2)).unwrap();
    let report = journal
        .prune(conn, &Retention::new().keep_since(t))
        .unwrap();
    assert_eq!(
        report.removed, 2,
        "entity 1's two old entries; entity 2's only entry is its newest"
    );
    assert_eq!(history_of(conn, 1), [2]);
    assert_eq!(history_of(conn, 2), [0]);
    // Both rules: an entry goes only when both let it go.
    journal.update(conn, &Account::new(2, "o", 1)).unwrap();
    journal.update(conn, &Account::new(2, "o", 2)).unwrap();
    let report = journal
        .prune(conn, &Retention::new().keep_since(t).keep_last(1))
        .unwrap();
    assert_eq!(
        report.removed, 1,
        "only entity 2's insert is old and not among its newest"
    );
}

fn changesets_go_whole_and_bad_input<C: TestDb>(conn: &mut C) {
    let journal = Journal::new();
    assert!(matches!(
        journal.prune(conn, &Retention::new()),
        Err(Error::Unsupported(_))
    ));
    assert_eq!(
        journal.prune(conn, &Retention::new().keep_last(1)).unwrap(),
        PruneReport::default()
    );
    let cs = journal
        .changeset(conn, |tx| {
            tx.insert(&Account::new(1, "o", 0))?;
            tx.insert(&Account::new(2, "o", 0))?;
            Ok(())
        })
        .unwrap();
    journal.update(conn, &Account::new(1, "o", 1)).unwrap();
    // Entity 2's insert is its newest entry: the changeset cannot go whole, so it stays whole.
    assert_eq!(
        journal
            .prune(conn, &Retention::new().keep_last(1))
            .unwrap()
            .removed,
        0
    );
    journal.update(conn, &Account::new(2, "o", 1)).unwrap();
    assert_eq!(
        journal
            .prune(conn, &Retention::new().keep_last(1))
            .unwrap()
            .removed,
        2
    );
    assert!(matches!(
        journal.undo_changeset(conn, cs),
        Err(Error::ChangesetNotFound(_))
    ));
    assert_eq!(conn.journal_rows().len(), 2);
}
