//! Every operation of DESIGN.md sections 1–3, on every backend, checked against the stored rows
//! and the journal's own rows.

mod common;

use common::{Account, Membership, TestDb, User};
use recover::{At, ChangesetId, Error, Journal, Op};

on_every_backend!(
    recording_writes_row_and_entry,
    undo_reverts_delete_update_insert,
    redo_reapplies_until_a_new_change,
    undo_redo_chain_of_sixty_steps,
    restore_to_version,
    restore_to_time,
    restore_is_undoable_and_clears_redo,
    history_lists_entries_oldest_first,
    history_pages,
    changeset_groups_and_undo_changeset_reverts_all,
    undo_changeset_can_itself_be_undone,
    changeset_failing_halfway_keeps_nothing,
    callers_transaction_rollback_keeps_no_entry,
    inside_callers_transaction_commits_together,
    nullable_columns_round_trip,
    composite_keys,
    skipped_columns_stay_out_of_images,
    renamed_and_defaulted_columns_read_old_images,
    changeset_across_entity_types,
    empty_changeset,
);

fn recording_writes_row_and_entry<C: TestDb>(conn: &mut C) {
    let journal = Journal::new().actor("alice").reason("ticket 42");
    let mut a = Account::new(1, "ann", 100);
    let inserted = journal.insert(conn, &a).unwrap();
    a.balance = 50;
    let updated = journal.update(conn, &a).unwrap();
    assert_eq!(conn.account(1), Some(a.clone()));
    journal.delete(conn, &a).unwrap();
    assert_eq!(conn.account(1), None);

    let rows = conn.journal_rows();
    assert_eq!(rows.len(), 3);
    assert!(rows.windows(2).all(|w| w[0].seq < w[1].seq));
    let ops: Vec<_> = rows.iter().map(|r| r.op.as_str()).collect();
    assert_eq!(ops, ["insert", "update", "delete"]);
    assert!(rows
        .iter()
        .all(|r| r.entity == "accounts" && r.entity_key == "1"));
    assert!(rows.iter().all(|r| r.actor.as_deref() == Some("alice")));
    assert!(rows
        .iter()
        .all(|r| r.reason.as_deref() == Some("ticket 42")));
    assert!(rows
        .iter()
        .all(|r| r.changeset_id == r.seq && r.undoes.is_none()));
    assert_eq!(inserted.get(), rows[0].seq);
    assert_eq!(updated.get(), rows[1].seq);
    assert_eq!(rows[0].before(), None);
    assert_eq!(
        rows[0].after(),
        Some(
            serde_json::json!({"id": 1, "owner": "ann", "balance": 100, "status": "open", "note": null})
        )
    );
    assert_eq!(rows[1].before(), rows[0].after());
    assert_eq!(rows[1].after().unwrap()["balance"], 50);
    assert_eq!(rows[2].before(), rows[1].after());
    assert_eq!(rows[2].after(), None);
}

fn undo_reverts_delete_update_insert<C: TestDb>(conn: &mut C) {
    let journal = Journal::new();
    let mut a = Account::new(1, "ann", 100);
    journal.insert(conn, &a).unwrap();
    a.balance = 50;
    journal.update(conn, &a).unwrap();
    journal.delete(conn, &a).unwrap();

    journal.undo::<Account>(conn, &1).unwrap();
    assert_eq!(
        conn.account(1).unwrap().balance,
        50,
        "undo of the delete re-inserts it"
    );
    journal.undo::<Account>(conn, &1).unwrap();
    assert_eq!(
        conn.account(1).unwrap().balance,
        100,
        "undo of the update writes it back"
    );
    journal.undo::<Account>(conn, &1).unwrap();
    assert_eq!(conn.account(1), None, "undo of the insert deletes it");
    assert!(matches!(
        journal.undo::<Account>(conn, &1),
        Err(Error::NothingToUndo {
            entity: "accounts",
            ..
        })
    ));

    let rows = conn.journal_rows();
    let undos: Vec<_> = rows.iter().filter(|r| r.op == "undo").collect();
    assert_eq!(undos.len(), 3);
    assert_eq!(undos[0].undoes, Some(rows[2].seq));
    assert_eq!(undos[1].undoes, Some(rows[1].seq));
    assert_eq!(undos[2].undoes, Some(rows[0].seq));
    assert_eq!(undos[0].before(), None);
    assert_eq!(undos[0].after(), rows[2].before());
    assert_eq!(undos[2].after(), None);
}

fn redo_reapplies_until_a_new_change<C: TestDb>(conn: &mut C) {
    let journal = Journal::new();
    let mut a = Account::new(1, "ann", 100);
    journal.insert(conn, &a).unwrap();
    a.balance = 50;
    journal.update(conn, &a).unwrap();
    assert!(matches!(
        journal.redo::<Account>(conn, &1),
        Err(Error::NothingToRedo { .. })
    ));

    journal.undo::<Account>(conn, &1).unwrap();
    assert_eq!(conn.account(1).unwrap().balance, 100);
    journal.redo::<Account>(conn, &1).unwrap();
    assert_eq!(conn.account(1).unwrap().balance, 50);
    assert_eq!(conn.journal_rows().last().unwrap().op, "redo");
    assert!(matches!(
        journal.redo::<Account>(conn, &1),
        Err(Error::NothingToRedo { .. })
    ));

    // Undo after a redo undoes the re-applied change again.
    journal.undo::<Account>(conn, &1).unwrap();
    assert_eq!(conn.account(1).unwrap().balance, 100);
    // A new change clears the redo stack.
    a.balance = 70;
    journal.update(conn, &a).unwrap();
    assert!(matches!(
        journal.redo::<Account>(conn, &1),
        Err(Error::NothingToRedo { .. })
    ));
    journal.undo::<Account>(conn, &1).unwrap();
    assert_eq!(conn.account(1).unwrap().balance, 100);
    journal.undo::<Account>(conn, &1).unwrap();
    assert_eq!(conn.account(1), None);
}

fn undo_redo_chain_of_sixty_steps<C: TestDb>(conn: &mut C) {
    let journal = Journal::new();
    let mut a = Account::new(1, "ann", 0);
    journal.insert(conn, &a).unwrap();
    for balance in 1..=30 {
        a.balance = balance;
        journal.update(conn, &a).unwrap();
    }
    for expected in (0..30).rev() {
        journal.undo::<Account>(conn, &1).unwrap();
        assert_eq!(conn.account(1).unwrap().balance, expected);
    }
    for expected in 1..=30 {
        journal.redo::<Account>(conn, &1).unwrap();
        assert_eq!(conn.account(1).unwrap().balance, expected);
    }
    assert!(matches!(
        journal.redo::<Account>(conn, &1),
        Err(Error::NothingToRedo { .. })
    ));
    // Interleaved: undo 10, redo 5, undo 20, redo all.
    for _ in 0..10 {
        journal.undo::<Account>(conn, &1).unwrap();
    }
    assert_eq!(conn.account(1).unwrap().balance, 20);
    for _ in 0..5 {
        journal.redo::<Account>(conn, &1).unwrap();
    }
    assert_eq!(conn.account(1).unwrap().balance, 25);
    for _ in 0..20 {
        journal.undo::<Account>(conn, &1).unwrap();
    }
    assert_eq!(conn.account(1).unwrap().balance, 5);
    while journal.redo::<Account>(conn, &1).is_ok() {}
    assert_eq!(conn.account(1).unwrap().balance, 30);
    for _ in 0..30 {
        journal.undo::<Account>(conn, &1).unwrap();
    }
    assert_eq!(conn.account(1).unwrap().balance, 0);
    journal.undo::<Account>(conn, &1).unwrap();
    assert_eq!(conn.account(1), None);
    assert!(matches!(
        journal.undo::<Account>(conn, &1),
        Err(Error::NothingToUndo { .. })
    ));
    // The chain is consistent: each entry's before-image is the previous entry's after-image.
    let rows = conn.journal_rows();
    assert!(rows.windows(2).all(|w| w[1].before() == w[0].after()));
}

fn restore_to_version<C: TestDb>(conn: &mut C) {
    let journal = Journal::new();
    let mut a = Account::new(1, "ann", 100);
    journal.insert(conn, &a).unwrap();
    a.balance = 50;
    journal.update(conn, &a).unwrap();
    journal.delete(conn, &a).unwrap();

    journal
        .restore::<Account>(conn, &1, At::Version(1))
        .unwrap();
    assert_eq!(conn.account(1).unwrap().balance, 100);
    journal
        .restore::<Account>(conn, &1, At::Version(2))
        .unwrap();
    assert_eq!(conn.account(1).unwrap().balance, 50);
    journal
        .restore::<Account>(conn, &1, At::Version(3))
        .unwrap();
    assert_eq!(conn.account(1), None, "version 3 is the delete");
    assert_eq!(conn.journal_rows().last().unwrap().op, "restore");

    for bad in [0, 7] {
        match journal.restore::<Account>(conn, &1, At::Version(bad)) {
            Err(Error::VersionOutOfRange {
                requested,
                latest: 6,
                ..
            }) => assert_eq!(requested, bad),
            other => panic!("expected VersionOutOfRange, got {other:?}"),
        }
    }
    assert!(matches!(
        journal.restore::<Account>(conn, &99, At::Version(1)),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(conn.journal_rows().len(), 6);
}

fn restore_to_time<C: TestDb>(conn: &mut C) {
    let journal = Journal::new();
    let before_anything = chrono::Utc::now();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let mut a = Account::new(1, "ann", 100);
    journal.insert(conn, &a).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let after_insert = chrono::Utc::now();
    std::thread::sleep(std::time::Duration::from_millis(5));
    a.balance = 50;
    journal.update(conn, &a).unwrap();

    journal
        .restore::<Account>(conn, &1, At::Time(after_insert))
        .unwrap();
    assert_eq!(conn.account(1).unwrap().balance, 100);
    journal
        .restore::<Account>(conn, &1, At::Time(chrono::Utc::now()))
        .unwrap();
    assert_eq!(
        conn.account(1).unwrap().balance,
        100,
        "now is after the first restore"
    );
    journal
        .restore::<Account>(conn, &1, At::Time(before_anything))
        .unwrap();
    assert_eq!(
        conn.account(1),
        None,
        "it did not exist then: the row is deleted"
    );
    let history = journal.history::<Account>(conn, &1).unwrap();
    assert_eq!(history.len(), 5);
    assert!(history
        .windows(2)
        .all(|w| w[0].recorded_at <= w[1].recorded_at));
}

fn restore_is_undoable_and_clears_redo<C: TestDb>(conn: &mut C) {
    let journal = Journal::new();
    let mut a = Account::new(1, "ann", 100);
    journal.insert(conn, &a).unwrap();
    a.balance = 50;
    journal.update(conn, &a).unwrap();
    a.balance = 25;
    journal.update(conn, &a).unwrap();
    journal.undo::<Account>(conn, &1).unwrap();
    journal
        .restore::<Account>(conn, &1, At::Version(1))
        .unwrap();
    assert_eq!(conn.account(1).unwrap().balance, 100);
    assert!(matches!(
        journal.redo::<Account>(conn, &1),
        Err(Error::NothingToRedo { .. })
    ));
    journal.undo::<Account>(conn, &1).unwrap();
    assert_eq!(conn.account(1).unwrap().balance, 50, "undo of the restore");
    journal.redo::<Account>(conn, &1).unwrap();
    assert_eq!(conn.account(1).unwrap().balance, 100, "redo of the restore");
}

fn history_lists_entries_oldest_first<C: TestDb>(conn: &mut C) {
    let journal = Journal::new().actor("bob");
    let mut a = Account::new(1, "ann", 100);
    journal.insert(conn, &a).unwrap();
    a.balance = 50;
    a.note = Some("vip".into());
    journal.clone().reason("raise").update(conn, &a).unwrap();
    journal.delete(conn, &a).unwrap();
    journal.undo::<Account>(conn, &1).unwrap();
    Journal::new()
        .insert(conn, &Account::new(2, "other", 1))
        .unwrap();

    let history = journal.history::<Account>(conn, &1).unwrap();
    let ops: Vec<Op> = history.iter().map(|e| e.op).collect();
    assert_eq!(ops, [Op::Insert, Op::Update, Op::Delete, Op::Undo]);
    assert!(history.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(history[0].before, None);
    assert_eq!(history[0].after, Some(Account::new(1, "ann", 100)));
    assert_eq!(history[1].before, history[0].after);
    assert_eq!(history[1].after, Some(a.clone()));
    assert_eq!(history[1].changed_columns(), ["balance", "note"]);
    assert_eq!(
        history[0].changed_columns(),
        ["id", "owner", "balance", "status", "note"]
    );
    assert_eq!(history[2].after, None);
    assert_eq!(history[3].undoes, Some(history[2].seq));
    assert_eq!(history[3].after, Some(a));
    assert_eq!(history[0].actor.as_deref(), Some("bob"));
    assert_eq!(history[1].reason.as_deref(), Some("raise"));
    assert_eq!(history[0].reason, None);
    assert_eq!(history[1].changeset, ChangesetId::from(history[1].seq));
    let now = chrono::Utc::now();
    assert!(history.iter().all(|e| e.recorded_at <= now));
    assert!((now - history[0].recorded_at).num_seconds() < 60);
    assert!(journal.history::<Account>(conn, &3).unwrap().is_empty());
}

fn history_pages<C: TestDb>(conn: &mut C) {
    let journal = Journal::new();
    let mut a = Account::new(1, "ann", 0);
    journal.insert(conn, &a).unwrap();
    for balance in 1..=24 {
        a.balance = balance;
        journal.update(conn, &a).unwrap();
    }
    let mut seen = Vec::new();
    let mut after = i64::MIN;
    loop {
        let page = journal
            .history_page::<Account>(conn, &1, after, 10)
            .unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 10);
        after = page.last().unwrap().seq;
        seen.extend(page);
    }
    assert_eq!(seen, journal.history::<Account>(conn, &1).unwrap());
    assert_eq!(seen.len(), 25);
}

fn changeset_groups_and_undo_changeset_reverts_all<C: TestDb>(conn: &mut C) {
    let journal = Journal::new().actor("ops");
    let mut a = Account::new(1, "ann", 100);
    let b = Account::new(2, "ben", 200);
    journal.insert(conn, &a).unwrap();
    journal.insert(conn, &b).unwrap();
    let cs = journal
        .changeset(conn, |tx| {
            a.balance = 0;
            tx.update(&a)?;
            tx.delete(&b)?;
            tx.insert(&Account::new(3, "cat", 300))?;
            Ok(())
        })
        .unwrap();
    assert_eq!(
        conn.accounts(),
        vec![a.clone(), Account::new(3, "cat", 300)]
    );
    let rows: Vec<_> = conn
        .journal_rows()
        .into_iter()
        .filter(|r| r.changeset_id == cs.get())
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].seq, cs.get());

    let undone = journal.undo_changeset(conn, cs).unwrap();
    assert_ne!(undone, cs);
    assert_eq!(
        conn.accounts(),
        vec![Account::new(1, "ann", 100), b.clone()]
    );
    let rows: Vec<_> = conn
        .journal_rows()
        .into_iter()
        .filter(|r| r.changeset_id == undone.get())
        .collect();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r.op == "undo"));
    let entities: Vec<_> = rows.iter().map(|r| r.entity_key.as_str()).collect();
    assert_eq!(entities, ["3", "2", "1"], "reverted newest first");
    assert!(matches!(
        journal.undo_changeset(conn, ChangesetId::from(9_999)),
        Err(Error::ChangesetNotFound(_))
    ));
}

fn undo_changeset_can_itself_be_undone<C: TestDb>(conn: &mut C) {
    let journal = Journal::new();
    let mut a = Account::new(1, "ann", 100);
    journal.insert(conn, &a).unwrap();
    let cs = journal
        .changeset(conn, |tx| {
            a.balance = 1;
            tx.update(&a)?;
            a.balance = 2;
            tx.update(&a)?;
            Ok(())
        })
        .unwrap();
    let undone = journal.undo_changeset(conn, cs).unwrap();
    assert_eq!(conn.account(1).unwrap().balance, 100);
    let redone = journal.undo_changeset(conn, undone).unwrap();
    assert_eq!(conn.account(1).unwrap().balance, 2);
    journal.undo_changeset(conn, redone).unwrap();
    assert_eq!(conn.account(1).unwrap().balance, 100);
    // Single-entry changesets from plain calls are changesets too.
    a.balance = 7;
    let single = journal.update(conn, &a).unwrap();
    journal.undo_changeset(conn, single).unwrap();
    assert_eq!(conn.account(1).unwrap().balance, 100);
}

fn changeset_failing_halfway_keeps_nothing<C: TestDb>(conn: &mut C) {
    let journal = Journal::new();
    let mut a = Account::new(1, "ann", 100);
    journal.insert(conn, &a).unwrap();
    let rows_before = conn.journal_rows();
    let result = journal.changeset(conn, |tx| {
        a.balance = 0;
        tx.update(&a)?;
        tx.insert(&Account::new(2, "ben", 1))?;
        tx.insert(&Account::new(1, "dup", 1))?; // fails: key 1 exists
        Ok(())
    });
    assert!(
        matches!(
            result,
            Err(Error::AlreadyExists {
                entity: "accounts",
                ..
            })
        ),
        "{result:?}"
    );
    assert_eq!(conn.accounts(), vec![Account::new(1, "ann", 100)]);
    assert_eq!(conn.journal_rows(), rows_before);
}

fn callers_transaction_rollback_keeps_no_entry<C: TestDb>(conn: &mut C) {
    let journal = Journal::new();
    journal.insert(conn, &Account::new(1, "ann", 100)).unwrap();
    let rows_before = conn.journal_rows();
    let result: Result<(), Error> = conn.transaction(|conn| {
        journal.update(conn, &Account::new(1, "ann", 0))?;
        journal.insert(conn, &Account::new(2, "ben", 1))?;
        Err(diesel::result::Error::RollbackTransaction.into())
    });
    assert!(result.is_err());
    assert_eq!(conn.accounts(), vec![Account::new(1, "ann", 100)]);
    assert_eq!(conn.journal_rows(), rows_before);
}

fn inside_callers_transaction_commits_together<C: TestDb>(conn: &mut C) {
    let journal = Journal::new();
    conn.transaction::<_, Error, _>(|conn| {
        journal.insert(conn, &Account::new(1, "ann", 100))?;
        journal.update(conn, &Account::new(1, "ann", 5))?;
        // A failing recover call inside the transaction rolls back its savepoint only.
        assert!(journal.insert(conn, &Account::new(1, "dup", 0)).is_err());
        journal.undo::<Account>(conn, &1)?;
        Ok(())
    })
    .unwrap();
    assert_eq!(conn.accounts(), vec![Account::new(1, "ann", 100)]);
    let ops: Vec<_> = conn.journal_rows().into_iter().map(|r| r.op).collect();
    assert_eq!(ops, ["insert", "update", "undo"]);
}

fn nullable_columns_round_trip<C: TestDb>(conn: &mut C) {
    let journal = Journal::new();
    let mut a = Account::new(1, "ann", 100);
    journal.insert(conn, &a).unwrap();
    a.note = Some("note".into());
    journal.update(conn, &a).unwrap();
    a.note = None;
    journal.update(conn, &a).unwrap();
    assert_eq!(conn.account(1).unwrap().note, None);
    journal.undo::<Account>(conn, &1).unwrap();
    assert_eq!(conn.account(1).unwrap().note.as_deref(), Some("note"));
    journal.undo::<Account>(conn, &1).unwrap();
    assert_eq!(
        conn.account(1).unwrap().note,
        None,
        "NULL is written back, not skipped"
    );
}

fn composite_keys<C: TestDb>(conn: &mut C) {
    let journal = Journal::new();
    let mut m = Membership {
        org: "acme".into(),
        user_id: 7,
        role: "member".into(),
        since: None,
    };
    let other = Membership {
        org: "acme".into(),
        user_id: 8,
        role: "owner".into(),
        since: Some(1),
    };
    journal.insert(conn, &m).unwrap();
    journal.insert(conn, &other).unwrap();
    m.role = "admin".into();
    journal.update(conn, &m).unwrap();
    journal.delete(conn, &m).unwrap();
    assert_eq!(conn.memberships(), vec![other.clone()]);
    let key = (7, "acme".to_string());
    journal.undo::<Membership>(conn, &key).unwrap();
    journal.undo::<Membership>(conn, &key).unwrap();
    assert_eq!(conn.memberships()[0].role, "member");
    assert_eq!(conn.memberships()[1], other);
    let history = journal.history::<Membership>(conn, &key).unwrap();
    assert_eq!(history.len(), 5);
    let rows = conn.journal_rows();
    assert_eq!(rows[0].entity, "memberships");
    assert_eq!(rows[0].entity_key, r#"[7,"acme"]"#);
    assert!(matches!(
        journal.undo::<Membership>(conn, &(8, "other".to_string())),
        Err(Error::NothingToUndo { .. })
    ));
}

fn skipped_columns_stay_out_of_images<C: TestDb>(conn: &mut C) {
    let journal = Journal::new();
    let mut u = User::new(1, "ann");
    journal.insert(conn, &u).unwrap();
    let rows = conn.journal_rows();
    let image = rows[0].after().unwrap();
    assert!(image.get("password_hash").is_none());
    assert_eq!(
        image["display_name"], "ann",
        "images use the SQL column name"
    );

    u.password_hash = "new-hash".into();
    u.score = 0.5;
    journal.update(conn, &u).unwrap();
    assert_eq!(
        conn.user(1).unwrap().password_hash,
        "new-hash",
        "update writes skipped columns"
    );
    journal.undo::<User>(conn, &1).unwrap();
    let stored = conn.user(1).unwrap();
    assert_eq!(stored.score, 0.25);
    assert_eq!(
        stored.password_hash, "new-hash",
        "restore leaves skipped columns as they are"
    );
    // A skipped column changed outside recover is no conflict.
    conn.exec("UPDATE users SET password_hash = 'rotated' WHERE id = 1");
    journal.redo::<User>(conn, &1).unwrap();

    journal.delete(conn, &u).unwrap();
    journal.undo::<User>(conn, &1).unwrap();
    assert_eq!(
        conn.user(1).unwrap().password_hash,
        "<redacted>",
        "undelete takes the default"
    );
    let history = journal.history::<User>(conn, &1).unwrap();
    assert_eq!(
        history[0].after.as_ref().unwrap().password_hash,
        "<redacted>"
    );
    assert!(history
        .iter()
        .all(|e| !e.changed_columns().contains(&"password_hash")));
}

fn renamed_and_defaulted_columns_read_old_images<C: TestDb>(conn: &mut C) {
    let journal = Journal::new();
    let mut u = User::new(1, "ann");
    journal.insert(conn, &u).unwrap();
    u.name = "anna".into();
    journal.update(conn, &u).unwrap();
    // Make the images look as if recorded before `display_name` was renamed from `name`, and
    // before `plan` existed.
    conn.exec(
        "UPDATE recover_journal SET before_image = REPLACE(REPLACE(before_image, '\"display_name\"', '\"name\"'), '\"plan\":\"pro\",', ''), \
         after_image = REPLACE(after_image, '\"display_name\"', '\"full_name\"')",
    );
    let history = journal.history::<User>(conn, &1).unwrap();
    assert_eq!(history[1].before.as_ref().unwrap().name, "ann");
    assert_eq!(history[1].before.as_ref().unwrap().plan, "free");
    assert_eq!(history[1].after.as_ref().unwrap().name, "anna");
    journal.undo::<User>(conn, &1).unwrap();
    let stored = conn.user(1).unwrap();
    assert_eq!(stored.name, "ann");
    assert_eq!(
        stored.plan, "free",
        "the default stands in for a column the image predates"
    );
}

fn changeset_across_entity_types<C: TestDb>(conn: &mut C) {
    let journal = Journal::new();
    let cs = journal
        .changeset(conn, |tx| {
            tx.insert(&Account::new(1, "ann", 100))?;
            tx.insert(&User::new(1, "ann"))?;
            tx.insert(&Membership {
                org: "acme".into(),
                user_id: 1,
                role: "owner".into(),
                since: None,
            })?;
            Ok(())
        })
        .unwrap();
    assert_eq!(conn.journal_rows().len(), 3);
    journal.undo_changeset(conn, cs).unwrap();
    assert!(conn.accounts().is_empty());
    assert!(conn.users().is_empty());
    assert!(conn.memberships().is_empty());
}

fn empty_changeset<C: TestDb>(conn: &mut C) {
    let journal = Journal::new();
    let cs = journal.changeset(conn, |_| Ok(())).unwrap();
    assert_eq!(cs, ChangesetId::EMPTY);
    assert_eq!(
        journal.undo_changeset(conn, cs).unwrap(),
        ChangesetId::EMPTY
    );
    assert!(conn.journal_rows().is_empty());
}
