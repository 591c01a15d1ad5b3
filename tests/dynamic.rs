//! `recover::dynamic`: any linked model by table name and key text, on every backend (and with
//! capture triggers writing the images).

mod common;

use common::{Account, Membership, TestDb};
use recover::dynamic::{self, Log, RestoreTo};
use recover::{At, ChangesetId, Error, Journal, Op};
use serde_json::json;

on_every_backend!(
    models_and_keys,
    reads,
    writes_by_key,
    dry_run_writes_nothing
);

fn models_and_keys<C: TestDb>(_conn: &mut C) {
    let models = dynamic::models::<C>();
    let tables: Vec<&str> = models.iter().map(|m| m.entity()).collect();
    assert_eq!(
        tables,
        ["accounts", "memberships", "users"],
        "one per table, ordered"
    );

    let accounts = dynamic::model::<C>("accounts").unwrap();
    assert!(accounts.type_name().ends_with("Account"));
    assert_eq!(accounts.key_columns(), ["id"]);
    let columns: Vec<&str> = accounts.columns().iter().map(|c| c.name).collect();
    assert_eq!(columns, ["id", "owner", "balance", "status", "note"]);
    assert!(matches!(
        dynamic::model::<C>("nope"),
        Err(Error::UnknownEntity(e)) if e == "nope"
    ));

    // The key text is the JSON the journal stores; spacing is made canonical.
    assert_eq!(accounts.key("1").unwrap().text(), "1");
    assert_eq!(accounts.key(" 7 ").unwrap().text(), "7");
    for bad in ["abc", "1.5", "\"1\"", "[1]", "", "99999999999"] {
        assert!(
            matches!(
                accounts.key(bad),
                Err(Error::InvalidKey {
                    entity: "accounts",
                    ..
                })
            ),
            "{bad:?} is not a key of accounts"
        );
    }
    let memberships = dynamic::model::<C>("memberships").unwrap();
    assert_eq!(memberships.key_columns(), ["user_id", "org"]);
    let key = memberships.key(r#"[7, "acme"]"#).unwrap();
    assert_eq!(key.text(), r#"[7,"acme"]"#);
    assert_eq!(key.entity(), "memberships");
    let wrong_order = memberships.key(r#"["acme", 7]"#).unwrap_err();
    assert!(
        wrong_order.to_string().contains("user_id, org"),
        "{wrong_order}"
    );
}

fn reads<C: TestDb>(conn: &mut C) {
    let alice = Journal::new().actor("alice");
    let bob = Journal::new().actor("bob").reason("ticket 42");
    let mut a1 = Account::new(1, "ann", 100);
    alice.insert(conn, &a1).unwrap();
    alice.insert(conn, &Account::new(2, "ben", 250)).unwrap();
    a1.balance = 50;
    a1.note = Some("withdrew".into());
    bob.update(conn, &a1).unwrap();
    bob.delete(conn, &Account::new(2, "ben", 250)).unwrap();
    let m = Membership {
        org: "acme".into(),
        user_id: 7,
        role: "admin".into(),
        since: None,
    };
    alice.insert(conn, &m).unwrap();

    let all = dynamic::log(conn, &Log::new()).unwrap();
    let ops: Vec<(Op, &str, &str)> = all
        .iter()
        .map(|e| (e.op, e.entity.as_str(), e.key.as_str()))
        .collect();
    assert_eq!(
        ops,
        [
            (Op::Insert, "memberships", r#"[7,"acme"]"#),
            (Op::Delete, "accounts", "2"),
            (Op::Update, "accounts", "1"),
            (Op::Insert, "accounts", "2"),
            (Op::Insert, "accounts", "1"),
        ],
        "newest first"
    );
    let update = &all[2];
    assert_eq!(update.before.as_ref().unwrap()["balance"], json!(100));
    assert_eq!(update.after.as_ref().unwrap()["balance"], json!(50));
    assert_eq!(update.after.as_ref().unwrap()["note"], json!("withdrew"));
    assert_eq!(update.changed_columns, ["balance", "note"]);
    assert_eq!(update.actor.as_deref(), Some("bob"));
    assert_eq!(update.reason.as_deref(), Some("ticket 42"));
    assert_eq!(all[1].after, None);
    assert_eq!(all[4].before, None);

    // Filters and paging, done by the database.
    let accounts = dynamic::model::<C>("accounts").unwrap();
    let table = dynamic::log(conn, &Log::new().table(accounts)).unwrap();
    assert_eq!(table.len(), 4);
    let one = dynamic::log(conn, &Log::new().entity(&accounts.key("1").unwrap())).unwrap();
    assert_eq!(
        one.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [all[2].seq, all[4].seq]
    );
    let by_bob = dynamic::log(conn, &Log::new().actor("bob")).unwrap();
    assert_eq!(by_bob.len(), 2);
    let first = dynamic::log(conn, &Log::new().limit(2)).unwrap();
    let next = dynamic::log(conn, &Log::new().limit(2).before(first[1].seq)).unwrap();
    assert_eq!(next, all[2..4]);
    let future = all[0].recorded_at + chrono::Duration::seconds(1);
    assert!(dynamic::log(conn, &Log::new().since(future))
        .unwrap()
        .is_empty());
    assert_eq!(
        dynamic::log(conn, &Log::new().since(all[4].recorded_at))
            .unwrap()
            .len(),
        5
    );

    // One entry, a changeset, the deleted rows, the counts.
    assert_eq!(dynamic::entry(conn, update.seq).unwrap(), *update);
    assert!(matches!(
        dynamic::entry(conn, 999_999),
        Err(Error::EntryNotFound(999_999))
    ));
    assert_eq!(
        dynamic::changeset(conn, update.changeset).unwrap(),
        std::slice::from_ref(update)
    );
    assert!(matches!(
        dynamic::changeset(conn, ChangesetId::from(999_999)),
        Err(Error::ChangesetNotFound(_))
    ));
    assert!(dynamic::changeset(conn, ChangesetId::EMPTY)
        .unwrap()
        .is_empty());
    let deleted = accounts.deleted(conn, None, 10).unwrap();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].key, "2");
    assert_eq!(deleted[0].before.as_ref().unwrap()["owner"], json!("ben"));
    assert!(accounts
        .deleted(conn, Some(deleted[0].seq), 10)
        .unwrap()
        .is_empty());
    let counts = accounts.counts(conn).unwrap();
    assert_eq!((counts.entities, counts.entries), (2, 4));
    let users = dynamic::model::<C>("users").unwrap();
    assert_eq!(users.counts(conn).unwrap().entries, 0);
    assert_eq!(accounts.key("1").unwrap().versions(conn).unwrap(), 2);
}

fn writes_by_key<C: TestDb>(conn: &mut C) {
    let journal = Journal::new().actor("ops").reason("by key");
    let mut a1 = Account::new(1, "ann", 100);
    journal.insert(conn, &a1).unwrap();
    journal.insert(conn, &Account::new(2, "ben", 250)).unwrap();
    a1.balance = 50;
    journal.update(conn, &a1).unwrap();
    let accounts = dynamic::model::<C>("accounts").unwrap();
    let key = accounts.key("1").unwrap();

    journal.undo_key(conn, &key).unwrap();
    assert_eq!(conn.account(1).unwrap().balance, 100);
    journal.redo_key(conn, &key).unwrap();
    assert_eq!(conn.account(1).unwrap().balance, 50);
    journal.restore_key(conn, &key, At::Version(1)).unwrap();
    assert_eq!(conn.account(1).unwrap().balance, 100);
    let update = dynamic::log(conn, &Log::new().entity(&key))
        .unwrap()
        .into_iter()
        .find(|e| e.op == Op::Update)
        .unwrap();
    journal
        .restore_key(conn, &key, RestoreTo::Entry(update.seq))
        .unwrap();
    assert_eq!(conn.account(1).unwrap().balance, 50);
    let newest = dynamic::log(conn, &Log::new().limit(1)).unwrap().remove(0);
    assert_eq!(
        (newest.op, newest.actor.as_deref()),
        (Op::Restore, Some("ops"))
    );

    // Bad input: nothing written.
    let before = conn.journal_rows().len();
    let other = dynamic::log(conn, &Log::new().entity(&accounts.key("2").unwrap()))
        .unwrap()
        .remove(0);
    assert!(matches!(
        journal.restore_key(conn, &key, RestoreTo::Entry(other.seq)),
        Err(Error::EntryOfOtherEntity { found_key, .. }) if found_key == "2"
    ));
    assert!(matches!(
        journal.restore_key(conn, &key, RestoreTo::Entry(999_999)),
        Err(Error::EntryNotFound(999_999))
    ));
    assert!(matches!(
        journal.restore_key(conn, &key, RestoreTo::Version(99)),
        Err(Error::VersionOutOfRange { requested: 99, .. })
    ));
    assert!(matches!(
        journal.redo_key(conn, &accounts.key("2").unwrap()),
        Err(Error::NothingToRedo { .. })
    ));

    // A row changed outside recover: a conflict with both images, nothing written.
    common::unrecorded(conn, "UPDATE accounts SET balance = 7 WHERE id = 1");
    match journal.undo_key(conn, &key) {
        Err(Error::Conflict {
            columns,
            expected,
            actual,
            ..
        }) => {
            assert_eq!(columns, ["balance"]);
            assert_eq!(expected.unwrap()["balance"], json!(50));
            assert_eq!(actual.unwrap()["balance"], json!(7));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(conn.journal_rows().len(), before);
    assert_eq!(conn.account(1).unwrap().balance, 7);
    journal.clone().force().undo_key(conn, &key).unwrap();
    assert_eq!(conn.account(1).unwrap().balance, 100);
}

fn dry_run_writes_nothing<C: TestDb>(conn: &mut C) {
    let journal = Journal::new().actor("ops");
    let mut a1 = Account::new(1, "ann", 100);
    journal.insert(conn, &a1).unwrap();
    a1.balance = 50;
    journal.update(conn, &a1).unwrap();
    let key = dynamic::model::<C>("accounts").unwrap().key("1").unwrap();
    let rows = conn.journal_rows();

    let would = dynamic::dry_run(conn, |conn| {
        let cs = journal.undo_key(conn, &key)?;
        dynamic::changeset(conn, cs)
    })
    .unwrap();
    assert_eq!(would.len(), 1);
    assert_eq!(would[0].op, Op::Undo);
    assert_eq!(would[0].after.as_ref().unwrap()["balance"], json!(100));
    assert_eq!(conn.journal_rows(), rows, "the journal is as it was");
    assert_eq!(conn.account(1).unwrap().balance, 50, "the row is as it was");

    // An error inside is returned as is, and nothing is written either.
    let err = dynamic::dry_run(conn, |conn| {
        journal.redo_key(conn, &key)?;
        Ok(())
    })
    .unwrap_err();
    assert!(matches!(err, Error::NothingToRedo { .. }));
    assert_eq!(conn.journal_rows(), rows);

    // And the real thing afterwards works.
    journal.undo_key(conn, &key).unwrap();
    assert_eq!(conn.account(1).unwrap().balance, 100);
}
