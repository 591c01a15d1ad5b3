//! `Journal::redact`: erasing a column's values from an entity's history, on every backend.

mod common;

use common::{JournalRow, TestDb, User};
use recover::{Error, Journal, RedactReport};

on_every_backend!(
    erases_values_and_records_who,
    erased_column_without_default,
    bad_columns
);

fn seeded<C: TestDb>(conn: &mut C) -> User {
    let journal = Journal::new();
    let mut u = User::new(1, "ann");
    u.plan = "secret-plan-a".into();
    journal.insert(conn, &u).unwrap();
    u.plan = "secret-plan-b".into();
    u.score = 0.75;
    journal.update(conn, &u).unwrap();
    journal.insert(conn, &User::new(2, "ben")).unwrap();
    u
}

fn erases_values_and_records_who<C: TestDb>(conn: &mut C) {
    seeded(conn);
    let report = Journal::new()
        .actor("dpo")
        .reason("GDPR request 17")
        .redact::<User>(conn, &1, &["plan"])
        .unwrap();
    assert_eq!(
        report,
        RedactReport {
            entries: 2,
            values: 3
        }
    );
    let journal_text = format!("{:?}", conn.journal_rows());
    assert!(
        !journal_text.contains("secret-plan"),
        "an erased value is left: {journal_text}"
    );
    let recorded = conn.redactions();
    assert_eq!(
        recorded,
        [(
            "1".to_owned(),
            r#"["plan"]"#.to_owned(),
            Some("dpo".to_owned())
        )]
    );
    // Other entities are untouched.
    let ben = Journal::new().history::<User>(conn, &2).unwrap();
    assert_eq!(ben[0].after.as_ref().unwrap().plan, "pro");
    // `plan` has a default: history reads, and undo writes the default in its place.
    let history = Journal::new().history::<User>(conn, &1).unwrap();
    assert_eq!(history[0].after.as_ref().unwrap().plan, "free");
    assert_eq!(
        history[1].changed_columns(),
        ["score"],
        "an erased value is no change"
    );
    Journal::new().undo::<User>(conn, &1).unwrap();
    let stored = conn.user(1).unwrap();
    assert_eq!((stored.plan.as_str(), stored.score), ("free", 0.25));
    let report = recover::check(conn).unwrap();
    assert!(report.is_ok(), "{report}");
    // Redacting again erases what was recorded since, and is recorded again.
    let again = Journal::new().redact::<User>(conn, &1, &["plan"]).unwrap();
    assert_eq!(
        again.values, 2,
        "only the undo entry, recorded since, held values"
    );
    assert_eq!(conn.redactions().len(), 2);
}

fn erased_column_without_default<C: TestDb>(conn: &mut C) {
    seeded(conn);
    Journal::new()
        .redact::<User>(conn, &1, &["display_name"])
        .unwrap();
    let e = Journal::new().history::<User>(conn, &1).unwrap_err();
    assert!(
        matches!(e, Error::Redacted { ref column, .. } if column == "display_name"),
        "{e:?}"
    );
    let (users, rows): (Vec<User>, Vec<JournalRow>) = (conn.users(), conn.journal_rows());
    let e = Journal::new().undo::<User>(conn, &1).unwrap_err();
    assert!(matches!(e, Error::Redacted { .. }), "{e:?}");
    assert!(e.to_string().contains("default"), "{e}");
    assert_eq!(
        (conn.users(), conn.journal_rows()),
        (users, rows),
        "nothing written"
    );
}

fn bad_columns<C: TestDb>(conn: &mut C) {
    seeded(conn);
    let rows = conn.journal_rows();
    for (columns, expected) in [
        (&["id"][..], "key column"),
        (&["nope"][..], "not a column"),
        (&["password_hash"][..], "not a column"),
        (&["plan", "nope"][..], "not a column"),
    ] {
        let e = Journal::new()
            .redact::<User>(conn, &1, columns)
            .unwrap_err();
        assert!(
            matches!(e, Error::InvalidColumn { .. }),
            "{columns:?}: {e:?}"
        );
        assert!(e.to_string().contains(expected), "{e}");
    }
    assert!(matches!(
        Journal::new().redact::<User>(conn, &1, &[]),
        Err(Error::Unsupported(_))
    ));
    assert_eq!(conn.journal_rows(), rows);
    assert!(conn.redactions().is_empty());
    // An entity with no history: nothing to erase, the request is still recorded.
    let report = Journal::new().redact::<User>(conn, &9, &["plan"]).unwrap();
    assert_eq!(report, RedactReport::default());
}
