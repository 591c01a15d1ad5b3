//! Bad input to every public operation: each is a typed error, and the rows and the journal are
//! exactly as they were.

mod common;

use common::{Account, JournalRow, TestDb, User};
use recover::{At, Error, Journal};

on_every_backend!(
    missing_rows,
    duplicate_insert,
    wrong_entity_key,
    conflict_on_undo_writes_nothing,
    conflict_on_deleted_or_reinserted_row,
    forced_undo_overwrites,
    conflict_aborts_undo_changeset,
    corrupt_images,
    image_of_another_entity,
    schema_drift_missing_column,
    schema_drift_wrong_type,
    corrupt_journal_rows,
    changeset_of_an_entity_without_a_type,
    error_messages_name_entity_and_columns,
);

/// Runs `f`, which must fail, and checks that it changed neither rows nor journal.
fn fails_cleanly<C: TestDb>(conn: &mut C, f: impl FnOnce(&mut C) -> Result<(), Error>) -> Error {
    let accounts = conn.accounts();
    let users = conn.users();
    let journal: Vec<JournalRow> = conn.journal_rows();
    let error = f(conn).expect_err("the call must fail");
    assert_eq!(
        conn.accounts(),
        accounts,
        "rows changed by a failed call ({error})"
    );
    assert_eq!(
        conn.users(),
        users,
        "rows changed by a failed call ({error})"
    );
    assert_eq!(
        conn.journal_rows(),
        journal,
        "journal changed by a failed call ({error})"
    );
    error
}

fn seeded<C: TestDb>(conn: &mut C) -> Account {
    let journal = Journal::new();
    let mut a = Account::new(1, "ann", 100);
    journal.insert(conn, &a).unwrap();
    a.balance = 50;
    journal.update(conn, &a).unwrap();
    a
}

fn missing_rows<C: TestDb>(conn: &mut C) {
    let j = Journal::new();
    let ghost = Account::new(9, "ghost", 0);
    let e = fails_cleanly(conn, |c| j.update(c, &ghost).map(drop));
    assert!(
        matches!(e, Error::NotFound { entity: "accounts", ref key } if key == "9"),
        "{e}"
    );
    let e = fails_cleanly(conn, |c| j.delete(c, &ghost).map(drop));
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    let e = fails_cleanly(conn, |c| {
        j.restore::<Account>(c, &9, At::Version(1)).map(drop)
    });
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    let e = fails_cleanly(conn, |c| j.undo::<Account>(c, &9).map(drop));
    assert!(matches!(e, Error::NothingToUndo { .. }), "{e}");
    let e = fails_cleanly(conn, |c| j.redo::<Account>(c, &9).map(drop));
    assert!(matches!(e, Error::NothingToRedo { .. }), "{e}");
}

fn duplicate_insert<C: TestDb>(conn: &mut C) {
    seeded(conn);
    let e = fails_cleanly(conn, |c| {
        Journal::new()
            .insert(c, &Account::new(1, "dup", 0))
            .map(drop)
    });
    assert!(
        matches!(
            e,
            Error::AlreadyExists {
                entity: "accounts",
                ..
            }
        ),
        "{e}"
    );
}

fn wrong_entity_key<C: TestDb>(conn: &mut C) {
    seeded(conn);
    // Key 1 has history as an account, none as a user.
    let e = fails_cleanly(conn, |c| Journal::new().undo::<User>(c, &1).map(drop));
    assert!(
        matches!(
            e,
            Error::NothingToUndo {
                entity: "users",
                ..
            }
        ),
        "{e}"
    );
    assert!(Journal::new().history::<User>(conn, &1).unwrap().is_empty());
}

fn conflict_on_undo_writes_nothing<C: TestDb>(conn: &mut C) {
    seeded(conn);
    common::unrecorded(
        conn,
        "UPDATE accounts SET balance = 75, status = 'frozen' WHERE id = 1",
    );
    let e = fails_cleanly(conn, |c| Journal::new().undo::<Account>(c, &1).map(drop));
    match e {
        Error::Conflict {
            entity,
            key,
            expected,
            actual,
            columns,
        } => {
            assert_eq!((entity, key.as_str()), ("accounts", "1"));
            assert_eq!(columns, ["balance", "status"]);
            assert_eq!(expected.unwrap()["balance"], 50);
            assert_eq!(actual.unwrap()["balance"], 75);
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let e = fails_cleanly(conn, |c| {
        Journal::new()
            .restore::<Account>(c, &1, At::Version(1))
            .map(drop)
    });
    assert!(matches!(e, Error::Conflict { .. }), "{e}");
}

fn conflict_on_deleted_or_reinserted_row<C: TestDb>(conn: &mut C) {
    seeded(conn);
    common::unrecorded(conn, "DELETE FROM accounts WHERE id = 1");
    let e = fails_cleanly(conn, |c| Journal::new().undo::<Account>(c, &1).map(drop));
    assert!(matches!(e, Error::Conflict { actual: None, .. }), "{e}");
    common::unrecorded(
        conn,
        "INSERT INTO accounts (id, owner, balance, status) VALUES (1, 'ann', 50, 'open')",
    );
    Journal::new()
        .undo::<Account>(conn, &1)
        .expect("the row is as the journal says again");
    Journal::new()
        .delete(conn, &Account::new(1, "ann", 100))
        .unwrap();
    common::unrecorded(
        conn,
        "INSERT INTO accounts (id, owner, balance, status) VALUES (1, 'new', 1, 'open')",
    );
    let e = fails_cleanly(conn, |c| Journal::new().undo::<Account>(c, &1).map(drop));
    assert!(matches!(e, Error::Conflict { expected: None, .. }), "{e}");
}

fn forced_undo_overwrites<C: TestDb>(conn: &mut C) {
    seeded(conn);
    common::unrecorded(conn, "UPDATE accounts SET balance = 75 WHERE id = 1");
    Journal::new().force().undo::<Account>(conn, &1).unwrap();
    assert_eq!(conn.account(1).unwrap().balance, 100);
    let last = conn.journal_rows().pop().unwrap();
    assert_eq!(
        last.before().unwrap()["balance"],
        75,
        "the before-image is what was stored"
    );
}

fn conflict_aborts_undo_changeset<C: TestDb>(conn: &mut C) {
    let journal = Journal::new();
    let cs = journal
        .changeset(conn, |tx| {
            tx.insert(&Account::new(1, "ann", 100))?;
            tx.insert(&Account::new(2, "ben", 200))?;
            Ok(())
        })
        .unwrap();
    common::unrecorded(conn, "UPDATE accounts SET owner = 'benjamin' WHERE id = 2");
    let e = fails_cleanly(conn, |c| journal.undo_changeset(c, cs).map(drop));
    assert!(
        matches!(e, Error::Conflict { ref columns, .. } if columns == &["owner"]),
        "{e}"
    );
    // A change made after the changeset through recover is a conflict too.
    common::unrecorded(conn, "UPDATE accounts SET owner = 'ben' WHERE id = 2");
    journal.update(conn, &Account::new(1, "ann", 1)).unwrap();
    let e = fails_cleanly(conn, |c| journal.undo_changeset(c, cs).map(drop));
    assert!(
        matches!(e, Error::Conflict { ref key, .. } if key == "1"),
        "{e}"
    );
    journal.clone().force().undo_changeset(conn, cs).unwrap();
    assert!(conn.accounts().is_empty());
}

fn corrupt_images<C: TestDb>(conn: &mut C) {
    for (image, problem) in [
        ("not json at all", "not JSON"),
        ("[1, 2]", "an array"),
        ("42", "a number"),
    ] {
        let mut fresh = Account::new(1, "ann", 100);
        Journal::new().insert(conn, &fresh).unwrap();
        fresh.balance = 1;
        Journal::new().update(conn, &fresh).unwrap();
        conn.exec(&format!(
            "UPDATE recover_journal SET before_image = '{image}' WHERE op = 'update'"
        ));
        let e = fails_cleanly(conn, |c| Journal::new().undo::<Account>(c, &1).map(drop));
        assert!(
            matches!(e, Error::CorruptImage { ref problem, .. } if problem.contains(problem)),
            "{e}"
        );
        let e = Journal::new().history::<Account>(conn, &1).unwrap_err();
        assert!(matches!(e, Error::CorruptImage { .. }), "{e}");
        assert!(e.to_string().contains(problem), "{e}");
        conn.exec("DELETE FROM recover_journal");
        conn.exec("DELETE FROM accounts");
    }
}

fn image_of_another_entity<C: TestDb>(conn: &mut C) {
    let mut a = seeded(conn);
    a.balance = 7;
    Journal::new().update(conn, &a).unwrap();
    conn.exec(
        "UPDATE recover_journal SET before_image = REPLACE(before_image, '\"id\":1', '\"id\":2') \
         WHERE before_image IS NOT NULL",
    );
    let e = fails_cleanly(conn, |c| Journal::new().undo::<Account>(c, &1).map(drop));
    assert!(matches!(e, Error::CorruptImage { .. }), "{e}");
    assert!(e.to_string().contains("accounts 2"), "{e}");
}

fn schema_drift_missing_column<C: TestDb>(conn: &mut C) {
    seeded(conn);
    conn.exec(
        "UPDATE recover_journal SET before_image = REPLACE(before_image, '\"status\":\"open\",', '') \
         WHERE op = 'update'",
    );
    let e = fails_cleanly(conn, |c| Journal::new().undo::<Account>(c, &1).map(drop));
    match &e {
        Error::SchemaDrift {
            entity: "accounts",
            column,
            ..
        } => assert_eq!(column, "status"),
        other => panic!("expected SchemaDrift, got {other:?}"),
    }
}

fn schema_drift_wrong_type<C: TestDb>(conn: &mut C) {
    seeded(conn);
    conn.exec(
        "UPDATE recover_journal SET before_image = REPLACE(before_image, '\"balance\":100', '\"balance\":\"lots\"') \
         WHERE op = 'update'",
    );
    let e = fails_cleanly(conn, |c| Journal::new().undo::<Account>(c, &1).map(drop));
    match &e {
        Error::SchemaDrift {
            column, problem, ..
        } => {
            assert_eq!(column, "balance");
            assert!(problem.contains("lots"), "{problem}");
        }
        other => panic!("expected SchemaDrift, got {other:?}"),
    }
    // A value out of the field type's range is drift too.
    conn.exec(
        "UPDATE recover_journal SET before_image = REPLACE(before_image, '\"lots\"', '1e400') WHERE op = 'update'",
    );
    let e = fails_cleanly(conn, |c| Journal::new().undo::<Account>(c, &1).map(drop));
    assert!(
        matches!(e, Error::SchemaDrift { .. } | Error::CorruptImage { .. }),
        "{e}"
    );
}

fn corrupt_journal_rows<C: TestDb>(conn: &mut C) {
    seeded(conn);
    conn.exec("UPDATE recover_journal SET op = 'frobnicate' WHERE op = 'update'");
    let e = Journal::new().history::<Account>(conn, &1).unwrap_err();
    assert!(matches!(e, Error::CorruptJournal { .. }), "{e}");
    // A dangling undo pointer.
    conn.exec(
        "UPDATE recover_journal SET op = 'update', undo_next = 424242 WHERE op = 'frobnicate'",
    );
    let e = fails_cleanly(conn, |c| Journal::new().undo::<Account>(c, &1).map(drop));
    assert!(matches!(e, Error::CorruptJournal { .. }), "{e}");
    // A key that is not a key of the entity.
    conn.exec(
        "UPDATE recover_journal SET undo_next = seq, entity_key = '\"one\"' WHERE op = 'update'",
    );
    conn.exec("UPDATE recover_journal SET entity_key = '\"one\"'");
    let cs = recover::ChangesetId::from(conn.journal_rows()[1].seq);
    let e = fails_cleanly(conn, |c| Journal::new().undo_changeset(c, cs).map(drop));
    assert!(matches!(e, Error::CorruptJournal { .. }), "{e}");
}

fn error_messages_name_entity_and_columns<C: TestDb>(conn: &mut C) {
    seeded(conn);
    common::unrecorded(conn, "UPDATE accounts SET balance = 75 WHERE id = 1");
    let message = Journal::new()
        .undo::<Account>(conn, &1)
        .unwrap_err()
        .to_string();
    assert!(message.contains("accounts 1"), "{message}");
    assert!(message.contains("balance"), "{message}");
    assert!(message.contains("force"), "{message}");
    let message = Journal::new()
        .undo::<Account>(conn, &2)
        .unwrap_err()
        .to_string();
    assert_eq!(message, "accounts 2: nothing to undo");
}

// Outside the per-backend suite: a database where `install` was not run.

#[test]
fn journal_not_installed_sqlite() {
    let mut db = common::sqlite_memory("not_installed", false);
    not_installed(&mut db.conn);
}

#[cfg(feature = "postgres")]
#[test]
fn journal_not_installed_postgres() {
    let mut db = common::postgres("not_installed", false);
    not_installed(&mut db.conn);
}

#[cfg(feature = "mysql")]
#[test]
fn journal_not_installed_mysql() {
    let mut db = common::mysql("not_installed", false);
    not_installed(&mut db.conn);
}

fn not_installed<C: TestDb>(conn: &mut C) {
    let e = Journal::new()
        .insert(conn, &Account::new(1, "ann", 1))
        .unwrap_err();
    assert!(matches!(e, Error::NotInstalled(_)), "{e:?}");
    assert!(e.to_string().contains("recover::install"), "{e}");
    assert!(
        conn.accounts().is_empty(),
        "the insert was rolled back with its entry"
    );
    let e = Journal::new().history::<Account>(conn, &1).unwrap_err();
    assert!(matches!(e, Error::NotInstalled(_)), "{e:?}");
    recover::install(conn).unwrap();
    recover::install(conn).unwrap();
    Journal::new()
        .insert(conn, &Account::new(1, "ann", 1))
        .unwrap();
}

fn changeset_of_an_entity_without_a_type<C: TestDb>(conn: &mut C) {
    // A changeset whose entries name a table no `Recoverable` type in this program maps.
    let cs = Journal::new()
        .changeset(conn, |tx| {
            tx.insert(&Account::new(1, "ann", 100))?;
            tx.insert(&Account::new(2, "ben", 200))?;
            Ok(())
        })
        .unwrap();
    conn.exec("UPDATE recover_journal SET entity = 'ghosts' WHERE entity_key = '1'");
    let e = fails_cleanly(conn, |c| Journal::new().undo_changeset(c, cs).map(drop));
    assert!(
        matches!(e, Error::UnknownEntity(ref entity) if entity == "ghosts"),
        "{e:?}"
    );
}
