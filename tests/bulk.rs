//! `update_where` and `delete_where`: many rows in one changeset, on every backend.

mod common;

use common::{accounts, memberships, users, Account, Membership, TestDb, User};
use diesel::prelude::*;
use recover::{Error, Journal, Op};

on_every_backend!(
    update_where_journals_every_matched_row,
    delete_where_journals_every_matched_row,
    bulk_changes_join_a_changeset_block,
    bulk_bad_input_writes_nothing,
    bulk_on_composite_keys_and_renamed_columns,
    bulk_of_thousands_of_rows,
);

fn seed<C: TestDb>(conn: &mut C, journal: &Journal) {
    for (id, balance) in [(1, 500), (2, -20), (3, 80), (4, -5), (5, 0)] {
        journal
            .insert(conn, &Account::new(id, &format!("owner{id}"), balance))
            .unwrap();
    }
}

fn update_where_journals_every_matched_row<C: TestDb>(conn: &mut C) {
    seed(conn, &Journal::new());
    let before = conn.accounts();
    let entries_before = conn.journal_rows().len();

    let id = Journal::new()
        .actor("ops")
        .reason("freeze overdrawn")
        .update_where::<Account>(
            conn,
            accounts::balance.lt(0),
            (
                accounts::status.eq("frozen"),
                accounts::balance.eq(accounts::balance + 100),
            ),
        )
        .unwrap();

    let after = conn.accounts();
    for (old, new) in before.iter().zip(&after) {
        if old.balance < 0 {
            let expected = Account {
                status: "frozen".into(),
                balance: old.balance + 100,
                ..old.clone()
            };
            assert_eq!(new, &expected);
        } else {
            assert_eq!(new, old, "rows the filter did not match are untouched");
        }
    }

    // One entry per matched row, in key order, in one changeset carrying actor and reason.
    let rows = conn.journal_rows();
    let new_entries = &rows[entries_before..];
    assert_eq!(new_entries.len(), 2);
    let keys: Vec<&str> = new_entries.iter().map(|e| e.entity_key.as_str()).collect();
    assert_eq!(keys, ["2", "4"]);
    for e in new_entries {
        assert_eq!(e.op, "update");
        assert_eq!(e.changeset_id, id.get());
        assert_eq!(e.actor.as_deref(), Some("ops"));
        assert_eq!(e.reason.as_deref(), Some("freeze overdrawn"));
    }
    assert_eq!(new_entries[0].seq, id.get());
    assert_eq!(new_entries[0].before().unwrap()["balance"], -20);
    assert_eq!(new_entries[0].before().unwrap()["status"], "open");
    assert_eq!(new_entries[0].after().unwrap()["balance"], 80);
    assert_eq!(new_entries[0].after().unwrap()["status"], "frozen");

    // Each row's history holds its bulk entry; undo works per entity ...
    let history = Journal::new().history::<Account>(conn, &4).unwrap();
    assert_eq!(history.last().unwrap().op, Op::Update);
    assert_eq!(history.last().unwrap().after.as_ref().unwrap().balance, 95);
    Journal::new().undo::<Account>(conn, &4).unwrap();
    assert_eq!(conn.account(4), before.iter().find(|a| a.id == 4).cloned());
    // ... and then the row no longer holds what the changeset wrote: undoing the changeset is
    // a conflict, until the row's undo is redone.
    let conflict = Journal::new().undo_changeset(conn, id);
    assert!(
        matches!(conflict, Err(Error::Conflict { ref key, .. }) if key == "4"),
        "{conflict:?}"
    );
    Journal::new().redo::<Account>(conn, &4).unwrap();
    Journal::new().undo_changeset(conn, id).unwrap();
    assert_eq!(conn.accounts(), before);

    // A change that leaves the values as they are still matches, and is journaled (MySQL
    // counts matched rows, not changed ones).
    let same = Journal::new()
        .update_where::<Account>(conn, accounts::id.le(2), accounts::status.eq("open"))
        .unwrap();
    let rows = conn.journal_rows();
    let entries: Vec<_> = rows
        .iter()
        .filter(|e| e.changeset_id == same.get())
        .collect();
    assert_eq!(entries.len(), 2);
    assert!(entries.iter().all(|e| e.before() == e.after()));
    assert_eq!(conn.accounts(), before);
    assert!(recover::check(conn).unwrap().is_ok());
}

fn delete_where_journals_every_matched_row<C: TestDb>(conn: &mut C) {
    seed(conn, &Journal::new());
    let before = conn.accounts();

    let id = Journal::new()
        .actor("janitor")
        .delete_where::<Account>(conn, accounts::balance.le(0))
        .unwrap();
    let left: Vec<i32> = conn.accounts().iter().map(|a| a.id).collect();
    assert_eq!(left, [1, 3]);

    let rows = conn.journal_rows();
    let deletes: Vec<_> = rows.iter().filter(|e| e.op == "delete").collect();
    assert_eq!(deletes.len(), 3);
    for (e, key) in deletes.iter().zip(["2", "4", "5"]) {
        assert_eq!(e.entity_key, key);
        assert_eq!(e.changeset_id, id.get());
        assert_eq!(e.after_image, None);
        assert_eq!(e.actor.as_deref(), Some("janitor"));
    }
    assert_eq!(deletes[0].before().unwrap()["owner"], "owner2");

    // They are listed as deleted, newest first, and can be brought back one by one ...
    let deleted: Vec<i32> = Journal::new()
        .deleted::<Account>(conn)
        .unwrap()
        .iter()
        .map(|d| d.key)
        .collect();
    assert_eq!(deleted, [5, 4, 2]);
    Journal::new().undo::<Account>(conn, &5).unwrap();
    assert_eq!(conn.account(5), before.iter().find(|a| a.id == 5).cloned());
    // ... or all together (forced: 5 is back already, which the changeset did not leave).
    let undone = Journal::new().force().undo_changeset(conn, id).unwrap();
    assert_eq!(conn.accounts(), before);
    // The undo is itself a changeset, and redoing the delete works through it.
    Journal::new().undo_changeset(conn, undone).unwrap();
    let left: Vec<i32> = conn.accounts().iter().map(|a| a.id).collect();
    assert_eq!(left, [1, 3, 5]);
    assert!(recover::check(conn).unwrap().is_ok());
}

fn bulk_changes_join_a_changeset_block<C: TestDb>(conn: &mut C) {
    let journal = Journal::new();
    seed(conn, &journal);
    let before = conn.accounts();
    let id = journal
        .changeset(conn, |tx| {
            tx.insert(&Account::new(6, "owner6", -1))?;
            let updated = tx.update_where::<Account>(
                accounts::balance.lt(0),
                accounts::note.eq(Some("overdrawn")),
            )?;
            assert_eq!(updated, 3, "2, 4 and the new 6");
            // A filter that matches nothing is an error the block may handle and go on.
            let none = tx.delete_where::<Account>(accounts::owner.eq("nobody"));
            assert!(matches!(none, Err(Error::NoMatch { entity: "accounts" })));
            let deleted = tx.delete_where::<Account>(accounts::id.eq(1))?;
            assert_eq!(deleted, 1);
            Ok(())
        })
        .unwrap();
    let rows = conn.journal_rows();
    let in_block: Vec<(&str, &str)> = rows
        .iter()
        .filter(|e| e.changeset_id == id.get())
        .map(|e| (e.op.as_str(), e.entity_key.as_str()))
        .collect();
    assert_eq!(
        in_block,
        [
            ("insert", "6"),
            ("update", "2"),
            ("update", "4"),
            ("update", "6"),
            ("delete", "1"),
        ]
    );
    let notes: Vec<(i32, Option<String>)> = conn
        .accounts()
        .into_iter()
        .map(|a| (a.id, a.note))
        .collect();
    let overdrawn = || Some("overdrawn".to_string());
    assert_eq!(
        notes,
        [
            (2, overdrawn()),
            (3, None),
            (4, overdrawn()),
            (5, None),
            (6, overdrawn())
        ]
    );
    journal.undo_changeset(conn, id).unwrap();
    assert_eq!(conn.accounts(), before);

    // A block that fails after a bulk change keeps nothing of it.
    let entries = conn.journal_rows().len();
    let failed = journal.changeset(conn, |tx| {
        tx.update_where::<Account>(accounts::id.gt(0), accounts::status.eq("gone"))?;
        tx.insert(&Account::new(1, "duplicate", 0))
    });
    assert!(matches!(failed, Err(Error::AlreadyExists { .. })));
    assert_eq!(conn.accounts(), before);
    assert_eq!(conn.journal_rows().len(), entries);
}

fn bulk_bad_input_writes_nothing<C: TestDb>(conn: &mut C) {
    let journal = Journal::new();
    // On an empty table, and on one where nothing matches.
    let none = journal.update_where::<Account>(conn, accounts::id.gt(0), accounts::balance.eq(1));
    assert!(matches!(none, Err(Error::NoMatch { entity: "accounts" })));
    seed(conn, &journal);
    let before = conn.accounts();
    let entries = conn.journal_rows();

    let none = journal.update_where::<Account>(
        conn,
        accounts::balance.gt(1_000_000),
        accounts::balance.eq(0),
    );
    assert!(matches!(none, Err(Error::NoMatch { .. })));
    let message = none.unwrap_err().to_string();
    assert!(
        message.contains("accounts") && message.contains("no row matches"),
        "{message}"
    );
    let none = journal.delete_where::<Account>(conn, accounts::owner.eq("nobody"));
    assert!(matches!(none, Err(Error::NoMatch { .. })));

    // Changing the key would cut the rows off their history.
    let moved = journal.update_where::<Account>(
        conn,
        accounts::id.le(2),
        accounts::id.eq(accounts::id + 100),
    );
    assert!(
        matches!(moved, Err(Error::Unsupported(m)) if m.contains("key")),
        "{moved:?}"
    );

    // A database error (a NOT NULL column set to NULL) rolls the rows back with the journal.
    let invalid = journal.update_where::<Account>(
        conn,
        accounts::id.eq(1),
        accounts::owner.eq(diesel::dsl::sql::<diesel::sql_types::Text>("NULL")),
    );
    assert!(matches!(invalid, Err(Error::Database(_))), "{invalid:?}");

    assert_eq!(conn.accounts(), before);
    assert_eq!(conn.journal_rows(), entries);

    // Without the journal installed: a typed error, and the rows are untouched.
    conn.exec("DROP TABLE recover_journal");
    let missing =
        journal.update_where::<Account>(conn, accounts::id.eq(1), accounts::balance.eq(7));
    assert!(
        matches!(missing, Err(Error::NotInstalled(_))),
        "{missing:?}"
    );
    assert_eq!(conn.accounts(), before);
}

fn bulk_on_composite_keys_and_renamed_columns<C: TestDb>(conn: &mut C) {
    let journal = Journal::new();
    // 250 memberships: the after-images are read back 100 keys a statement.
    for user_id in 0..125 {
        for org in ["acme", "globex"] {
            let m = Membership {
                org: org.into(),
                user_id,
                role: "member".into(),
                since: Some(user_id.into()),
            };
            journal.insert(conn, &m).unwrap();
        }
    }
    let before = conn.memberships();
    let id = journal
        .update_where::<Membership>(
            conn,
            memberships::org.eq("acme").and(memberships::user_id.ge(10)),
            (
                memberships::role.eq("admin"),
                memberships::since.eq(None::<i64>),
            ),
        )
        .unwrap();
    let admins = conn
        .memberships()
        .iter()
        .filter(|m| m.role == "admin")
        .count();
    assert_eq!(admins, 115);
    let rows = conn.journal_rows();
    let bulk: Vec<_> = rows.iter().filter(|e| e.changeset_id == id.get()).collect();
    assert_eq!(bulk.len(), 115);
    assert_eq!(bulk[0].entity_key, r#"[10,"acme"]"#);
    assert_eq!(bulk[0].after().unwrap()["since"], serde_json::Value::Null);
    journal.undo_changeset(conn, id).unwrap();
    assert_eq!(conn.memberships(), before);

    // Images use the current column names and leave skipped columns out; restoring them
    // leaves a skipped column as the row has it.
    for id in 1..=3 {
        journal
            .insert(conn, &User::new(id, &format!("user{id}")))
            .unwrap();
    }
    let id = journal
        .update_where::<User>(
            conn,
            users::score.lt(1.0),
            (
                users::display_name.eq("anonymous"),
                users::password_hash.eq("reset"),
            ),
        )
        .unwrap();
    let rows = conn.journal_rows();
    let first = rows.iter().find(|e| e.seq == id.get()).unwrap();
    let before_image = first.before().unwrap();
    assert_eq!(before_image["display_name"], "user1");
    assert!(before_image.get("password_hash").is_none());
    assert_eq!(first.after().unwrap()["display_name"], "anonymous");
    journal.undo_changeset(conn, id).unwrap();
    let user = conn.user(2).unwrap();
    assert_eq!(user.name, "user2");
    assert_eq!(
        user.password_hash, "reset",
        "skipped columns are not journaled"
    );
}

fn bulk_of_thousands_of_rows<C: TestDb>(conn: &mut C) {
    // More rows than one multi-row insert of entries (1,000) and one read of after-images.
    let journal = Journal::new();
    journal
        .changeset(conn, |tx| {
            for id in 1..=2_345 {
                tx.insert(&Account::new(id, "o", id.into()))?;
            }
            Ok(())
        })
        .unwrap();
    let before = conn.accounts();
    let updated = journal
        .update_where::<Account>(
            conn,
            accounts::id.ne(7),
            accounts::balance.eq(accounts::balance * 2),
        )
        .unwrap();
    let rows = conn.journal_rows();
    let bulk: Vec<_> = rows
        .iter()
        .filter(|e| e.changeset_id == updated.get())
        .collect();
    assert_eq!(bulk.len(), 2_344);
    assert!(bulk.windows(2).all(|w| w[0].seq < w[1].seq));
    let after = conn.accounts();
    assert!(after
        .iter()
        .zip(&before)
        .all(|(a, b)| a.balance == if a.id == 7 { b.balance } else { 2 * b.balance }));

    let deleted = journal
        .delete_where::<Account>(conn, accounts::id.gt(345))
        .unwrap();
    assert_eq!(conn.accounts().len(), 345);
    assert!(recover::check(conn).unwrap().is_ok());
    journal.undo_changeset(conn, deleted).unwrap();
    journal.undo_changeset(conn, updated).unwrap();
    assert_eq!(conn.accounts(), before);
    let report = recover::check(conn).unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

/// The write must touch exactly the rows whose before-images were read; when it does not (here
/// a trigger skips one row, as a concurrent transaction could make one match or stop
/// matching), the call is `Retryable` and nothing is kept.
#[test]
fn a_write_that_misses_a_read_row_is_retryable_and_writes_nothing() {
    let conn = &mut common::sqlite_memory("bulk_skipped_row", true).conn;
    seed(conn, &Journal::new());
    conn.exec(
        "CREATE TRIGGER skip_two BEFORE UPDATE ON accounts WHEN old.id = 2 \
         BEGIN SELECT RAISE(IGNORE); END",
    );
    let before = conn.accounts();
    let entries = conn.journal_rows();
    let result =
        Journal::new().update_where::<Account>(conn, accounts::id.le(3), accounts::balance.eq(7));
    match &result {
        Err(e @ Error::Retryable(_)) => {
            assert!(e.to_string().contains("3 rows matched"), "{e}");
        }
        other => panic!("expected Retryable, got {other:?}"),
    }
    assert_eq!(conn.accounts(), before);
    assert_eq!(conn.journal_rows(), entries);
}
