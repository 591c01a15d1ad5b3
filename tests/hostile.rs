//! Hostile input on every backend: quotes, NUL bytes, emoji and 1 MiB values round-trip through
//! recording, history and undo; journal rows edited by hand into odd shapes are typed errors that
//! write nothing; images from an older or newer schema follow the model's rules.

mod common;

use common::{Account, JournalRow, Membership, TestDb};
use recover::{Error, Journal};

on_every_backend!(
    awkward_text_round_trips,
    nul_bytes_round_trip_or_fail_cleanly,
    megabyte_values_round_trip,
    awkward_keys,
    odd_journal_rows,
    images_with_extra_columns_are_read,
    image_of_a_column_that_was_dropped,
);

fn round_trip<C: TestDb>(conn: &mut C, owner: &str, note: &str) {
    let journal = Journal::new()
        .actor(owner)
        .reason(note.chars().take(40).collect::<String>());
    let mut a = Account::new(1, "plain", 1);
    journal.insert(conn, &a).unwrap();
    a.owner = owner.to_owned();
    a.note = Some(note.to_owned());
    journal.update(conn, &a).unwrap();
    assert_eq!(conn.account(1), Some(a.clone()));
    let history = journal.history::<Account>(conn, &1).unwrap();
    assert_eq!(history[1].after, Some(a.clone()));
    assert_eq!(history[1].actor.as_deref(), Some(owner));
    journal.undo::<Account>(conn, &1).unwrap();
    assert_eq!(conn.account(1), Some(Account::new(1, "plain", 1)));
    journal.redo::<Account>(conn, &1).unwrap();
    assert_eq!(conn.account(1), Some(a));
    conn.exec("DELETE FROM accounts");
    conn.exec("DELETE FROM recover_journal");
}

fn awkward_text_round_trips<C: TestDb>(conn: &mut C) {
    round_trip(
        conn,
        "O'Brien \"the\" `quoted`; DROP TABLE accounts; --",
        "back\\slash\n\ttab",
    );
    round_trip(
        conn,
        "émoji 🦀👩‍👩‍👧 ß ﷽",
        "zero width\u{200b}joiner, \u{7f} DEL, ok",
    );
    round_trip(conn, "{\"looks\": [\"like\", \"json\"]}", "</script><!--");
}

fn megabyte_values_round_trip<C: TestDb>(conn: &mut C) {
    let big = "x🦀".repeat(1 << 18); // 1.25 MiB of UTF-8
    round_trip(conn, "big", &big);
}

fn awkward_keys<C: TestDb>(conn: &mut C) {
    let journal = Journal::new();
    for org in [
        "o'rg",
        "\"quoted\"",
        "🦀",
        "a,b]",
        "[1,\"x\"]",
        "back\\slash",
    ] {
        let mut m = Membership {
            org: org.into(),
            user_id: 1,
            role: "member".into(),
            since: None,
        };
        journal.insert(conn, &m).unwrap();
        m.role = "owner".into();
        journal.update(conn, &m).unwrap();
        journal
            .undo::<Membership>(conn, &(1, org.to_string()))
            .unwrap();
        let stored = conn
            .memberships()
            .into_iter()
            .find(|s| s.org == org)
            .unwrap();
        assert_eq!(stored.role, "member", "{org}");
        assert_eq!(
            journal
                .history::<Membership>(conn, &(1, org.to_string()))
                .unwrap()
                .len(),
            3
        );
    }
    // Keys that differ only in case are different entities. (Trailing spaces are not: MySQL's
    // PAD SPACE collations compare 'acme ' equal to 'acme', in the user's table as in the journal.)
    for org in ["Acme", "acme"] {
        let m = Membership {
            org: org.into(),
            user_id: 2,
            role: "member".into(),
            since: None,
        };
        journal.insert(conn, &m).unwrap();
    }
    for org in ["Acme", "acme"] {
        assert_eq!(
            journal
                .history::<Membership>(conn, &(2, org.to_string()))
                .unwrap()
                .len(),
            1,
            "{org:?}"
        );
    }
}

/// Runs `f`, which must fail with a typed error, and checks that nothing changed.
fn fails_cleanly<C: TestDb>(
    conn: &mut C,
    what: &str,
    f: impl FnOnce(&mut C) -> Result<(), Error>,
) -> Error {
    let (rows, journal): (Vec<Account>, Vec<JournalRow>) = (conn.accounts(), conn.journal_rows());
    let error = f(conn).expect_err(what);
    assert_eq!(
        (conn.accounts(), conn.journal_rows()),
        (rows, journal),
        "{error}"
    );
    error
}

fn odd_journal_rows<C: TestDb>(conn: &mut C) {
    let journal = Journal::new();
    let mut a = Account::new(1, "ann", 100);
    journal.insert(conn, &a).unwrap();
    a.balance = 5;
    journal.update(conn, &a).unwrap();

    // Each edit makes the newest entry odd; each undo must fail cleanly, then the edit is undone.
    let cases: [(&str, &str); 7] = [
        (
            "UPDATE recover_journal SET op = '' WHERE op = 'update'",
            "UPDATE recover_journal SET op = 'update' WHERE op = ''",
        ),
        (
            "UPDATE recover_journal SET before_image = 'null' WHERE op = 'update'",
            "",
        ),
        (
            "UPDATE recover_journal SET before_image = '{\"id\": [1]}' WHERE op = 'update'",
            "",
        ),
        (
            "UPDATE recover_journal SET before_image = '{}' WHERE op = 'update'",
            "",
        ),
        (
            "UPDATE recover_journal SET before_image = '\"a string\"' WHERE op = 'update'",
            "",
        ),
        (
            "UPDATE recover_journal SET undo_next = -5 WHERE op = 'update'",
            "UPDATE recover_journal SET undo_next = seq WHERE op = 'update'",
        ),
        (
            "UPDATE recover_journal SET undo_next = (SELECT 1) WHERE op = 'update'",
            "UPDATE recover_journal SET undo_next = seq WHERE op = 'update'",
        ),
    ];
    let good_before = conn.journal_rows()[1].before_image.clone().unwrap();
    for (edit, repair) in cases {
        conn.exec(edit);
        let e = fails_cleanly(conn, edit, |c| journal.undo::<Account>(c, &1).map(drop));
        assert!(
            matches!(
                e,
                Error::CorruptImage { .. }
                    | Error::CorruptJournal { .. }
                    | Error::SchemaDrift { .. }
            ),
            "{edit}: {e:?}"
        );
        if repair.is_empty() {
            conn.exec(&format!(
                "UPDATE recover_journal SET before_image = '{}' WHERE op = 'update'",
                good_before.replace('\'', "''")
            ));
        } else {
            conn.exec(repair);
        }
    }
    // A negative seq is just an older entry: history still reads in seq order.
    conn.exec("UPDATE recover_journal SET seq = -7, changeset_id = -7, undo_next = -7 WHERE op = 'insert'");
    let history = journal.history::<Account>(conn, &1).unwrap();
    assert_eq!(history[0].seq, -7);
    journal.undo::<Account>(conn, &1).unwrap();
    assert_eq!(conn.account(1).unwrap().balance, 100);
    journal.undo::<Account>(conn, &1).unwrap();
    assert_eq!(conn.account(1), None);
}

fn images_with_extra_columns_are_read<C: TestDb>(conn: &mut C) {
    // An image from a newer schema (or a column the model dropped) has columns the model does
    // not know: they are ignored.
    let journal = Journal::new();
    let mut a = Account::new(1, "ann", 100);
    journal.insert(conn, &a).unwrap();
    a.balance = 5;
    journal.update(conn, &a).unwrap();
    conn.exec(
        "UPDATE recover_journal SET before_image = REPLACE(before_image, '\"id\":1', '\"id\":1,\"legacy_flag\":true,\"nested\":{\"a\":[1,2]}')",
    );
    journal.undo::<Account>(conn, &1).unwrap();
    assert_eq!(conn.account(1).unwrap().balance, 100);
    assert_eq!(
        journal.history::<Account>(conn, &1).unwrap()[1]
            .before
            .as_ref()
            .unwrap()
            .balance,
        100
    );
}

fn image_of_a_column_that_was_dropped<C: TestDb>(conn: &mut C) {
    // The model lost `note`: simulate it by an image without it for a field that has no
    // default — the model says nothing, so it is drift, named.
    let journal = Journal::new();
    let mut a = Account::new(1, "ann", 100);
    journal.insert(conn, &a).unwrap();
    a.balance = 5;
    journal.update(conn, &a).unwrap();
    conn.exec(
        "UPDATE recover_journal SET before_image = REPLACE(before_image, ',\"note\":null', '')",
    );
    let e = fails_cleanly(conn, "dropped column", |c| {
        journal.undo::<Account>(c, &1).map(drop)
    });
    assert!(
        matches!(e, Error::SchemaDrift { ref column, .. } if column == "note"),
        "{e:?}"
    );
}

fn nul_bytes_round_trip_or_fail_cleanly<C: TestDb>(conn: &mut C) {
    // SQLite and MySQL store NUL in text; PostgreSQL refuses it. Either it round-trips (the
    // image escapes it as \u0000), or the call fails with a database error and writes nothing.
    let journal = Journal::new();
    journal.insert(conn, &Account::new(1, "plain", 1)).unwrap();
    let mut a = Account::new(1, "nul\0inside", 1);
    a.note = Some("\0".into());
    let (rows, entries) = (conn.accounts(), conn.journal_rows());
    match journal.update(conn, &a) {
        Ok(_) => {
            assert_eq!(conn.account(1), Some(a.clone()));
            assert!(conn.journal_rows()[1]
                .after_image
                .as_deref()
                .unwrap()
                .contains("\\u0000"));
            journal.undo::<Account>(conn, &1).unwrap();
            assert_eq!(conn.account(1), Some(Account::new(1, "plain", 1)));
        }
        Err(e) => {
            assert!(matches!(e, Error::Database(_)), "{e:?}");
            assert_eq!((conn.accounts(), conn.journal_rows()), (rows, entries));
        }
    }
}
