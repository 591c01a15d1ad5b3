//! `recover::check` on a healthy journal and on journals corrupted on purpose, on every backend.

mod common;

use common::{Account, TestDb, User};
use recover::{Journal, Problem};

on_every_backend!(
    healthy_journal_passes,
    row_changed_outside_recover,
    chain_broken_by_an_unrecorded_edit,
    unreadable_images_and_rows,
    entity_without_a_type,
);

fn seeded<C: TestDb>(conn: &mut C) {
    let journal = Journal::new();
    let mut a = Account::new(1, "ann", 100);
    journal.insert(conn, &a).unwrap();
    a.balance = 50;
    journal.update(conn, &a).unwrap();
    journal.insert(conn, &Account::new(2, "ben", 200)).unwrap();
    journal.delete(conn, &Account::new(2, "ben", 200)).unwrap();
    journal.undo::<Account>(conn, &1).unwrap();
    journal.insert(conn, &User::new(1, "ann")).unwrap();
}

/// Runs the check and asserts it changed nothing.
fn check<C: TestDb>(conn: &mut C) -> recover::Report {
    let (rows, journal) = (conn.accounts(), conn.journal_rows());
    let report = recover::check(conn).unwrap();
    assert_eq!(
        (conn.accounts(), conn.journal_rows()),
        (rows, journal),
        "check wrote"
    );
    report
}

fn healthy_journal_passes<C: TestDb>(conn: &mut C) {
    seeded(conn);
    let report = check(conn);
    assert!(report.is_ok(), "{report}");
    assert_eq!((report.entities, report.entries), (3, 6));
}

fn row_changed_outside_recover<C: TestDb>(conn: &mut C) {
    seeded(conn);
    common::unrecorded(conn, "UPDATE accounts SET owner = 'mallory' WHERE id = 1");
    common::unrecorded(
        conn,
        "INSERT INTO accounts (id, owner, balance, status) VALUES (2, 'ben', 1, 'open')",
    );
    let report = check(conn);
    assert_eq!(report.problems.len(), 2, "{report}");
    assert!(matches!(&report.problems[0],
        Problem::RowDiffers { entity, key, columns, .. } if entity == "accounts" && key == "1" && columns == &["owner"]));
    assert!(matches!(&report.problems[1], Problem::RowDiffers { key, .. } if key == "2"));
}

fn chain_broken_by_an_unrecorded_edit<C: TestDb>(conn: &mut C) {
    seeded(conn);
    common::unrecorded(conn, "UPDATE accounts SET status = 'frozen' WHERE id = 1");
    Journal::new()
        .update(conn, &Account::new(1, "ann", 7))
        .unwrap();
    let report = check(conn);
    assert_eq!(report.problems.len(), 1, "{report}");
    match &report.problems[0] {
        Problem::BrokenChain {
            key,
            seq,
            previous,
            columns,
            ..
        } => {
            assert_eq!(key, "1");
            assert!(previous < seq);
            assert_eq!(columns, &["status"]);
        }
        other => panic!("expected a broken chain, got {other}"),
    }
}

fn unreadable_images_and_rows<C: TestDb>(conn: &mut C) {
    seeded(conn);
    conn.exec("UPDATE recover_journal SET after_image = '{\"id\":' WHERE entity = 'users'");
    conn.exec("UPDATE recover_journal SET op = 'explode' WHERE entity = 'accounts' AND entity_key = '2' AND op = 'delete'");
    let report = check(conn);
    let unreadable: Vec<_> = report
        .problems
        .iter()
        .filter_map(|p| match p {
            Problem::Unreadable { entity, error, .. } => Some((entity.as_str(), error.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(unreadable.len(), 2, "{report}");
    assert!(unreadable
        .iter()
        .any(|(e, error)| *e == "users" && error.contains("not JSON")));
    assert!(unreadable
        .iter()
        .any(|(e, error)| *e == "accounts" && error.contains("explode")));
}

fn entity_without_a_type<C: TestDb>(conn: &mut C) {
    seeded(conn);
    conn.exec(
        "INSERT INTO recover_journal (seq, changeset_id, entity, entity_key, op, before_image, after_image, recorded_at) \
         VALUES (1000, 1000, 'ghosts', '1', 'insert', NULL, '{\"id\":1}', 0), \
                (1001, 1001, 'ghosts', '1', 'update', '{\"id\":2}', '{\"id\":3}', 0)",
    );
    let report = check(conn);
    assert!(
        report.problems.contains(&Problem::UnknownEntity {
            entity: "ghosts".into()
        }),
        "{report}"
    );
    assert!(report.problems.iter().any(|p| matches!(p,
        Problem::BrokenChain { entity, columns, .. } if entity == "ghosts" && columns == &["id"])));
}
