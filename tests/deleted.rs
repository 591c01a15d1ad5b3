//! `Journal::deleted`: the rows that are gone, newest first, on every backend.

mod common;

use common::{Account, Membership, TestDb};
use diesel::prelude::*;
use recover::Journal;

on_every_backend!(lists_removed_rows_newest_first, pages_and_bad_input);

fn lists_removed_rows_newest_first<C: TestDb>(conn: &mut C) {
    let journal = Journal::new();
    for id in 1..=4 {
        journal
            .insert(conn, &Account::new(id, &format!("owner{id}"), id.into()))
            .unwrap();
    }
    let mut a2 = Account::new(2, "owner2", 2);
    a2.balance = 20;
    journal.update(conn, &a2).unwrap();
    Journal::new()
        .actor("bob")
        .reason("cleanup")
        .delete(conn, &a2)
        .unwrap();
    journal.delete(conn, &Account::new(3, "owner3", 3)).unwrap();
    journal.delete(conn, &Account::new(1, "owner1", 1)).unwrap();
    journal.undo::<Account>(conn, &1).unwrap(); // 1 is back: not deleted any more
    journal.undo::<Account>(conn, &4).unwrap(); // an undone insert removes the row too

    let deleted = journal.deleted::<Account>(conn).unwrap();
    let keys: Vec<i32> = deleted.iter().map(|d| d.key).collect();
    assert_eq!(keys, [4, 3, 2], "newest first");
    assert_eq!(deleted[2].last, a2, "the row as it was last");
    assert_eq!(deleted[2].actor.as_deref(), Some("bob"));
    assert_eq!(deleted[2].reason.as_deref(), Some("cleanup"));
    assert!(deleted
        .windows(2)
        .all(|w| w[0].seq > w[1].seq && w[0].deleted_at >= w[1].deleted_at));
    assert!(journal.deleted::<Membership>(conn).unwrap().is_empty());

    // Undelete from the listing.
    journal.undo::<Account>(conn, &deleted[1].key).unwrap();
    assert_eq!(conn.account(3), Some(Account::new(3, "owner3", 3)));
    let keys: Vec<i32> = journal
        .deleted::<Account>(conn)
        .unwrap()
        .iter()
        .map(|d| d.key)
        .collect();
    assert_eq!(keys, [4, 2]);
}

fn pages_and_bad_input<C: TestDb>(conn: &mut C) {
    let journal = Journal::new();
    assert!(
        journal.deleted::<Account>(conn).unwrap().is_empty(),
        "an empty journal"
    );
    for id in 1..=25 {
        journal.insert(conn, &Account::new(id, "o", 0)).unwrap();
        journal.delete(conn, &Account::new(id, "o", 0)).unwrap();
    }
    let mut seen = Vec::new();
    let mut before = i64::MAX;
    loop {
        let page = journal.deleted_page::<Account>(conn, before, 10).unwrap();
        if page.is_empty() {
            break;
        }
        before = page.last().unwrap().seq;
        seen.extend(page.into_iter().map(|d| d.key));
    }
    assert_eq!(seen, (1..=25).rev().collect::<Vec<_>>());
    // A corrupt last image is a typed error.
    conn.exec("UPDATE recover_journal SET before_image = 'junk' WHERE op = 'delete'");
    assert!(matches!(
        journal.deleted::<Account>(conn),
        Err(recover::Error::CorruptImage { .. })
    ));
}

#[derive(QueryableByName)]
struct PlanRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    detail: String,
}

/// The listing is served by the partial index on removals, not a scan of the journal.
#[test]
fn sqlite_query_plan_uses_the_removals_index() {
    let mut db = common::sqlite_memory("deleted_plan", true);
    let plan: Vec<PlanRow> = diesel::sql_query(
        "EXPLAIN QUERY PLAN SELECT * FROM recover_journal j WHERE entity = 'accounts' \
         AND after_image IS NULL AND before_image IS NOT NULL AND seq < 100 \
         AND NOT EXISTS (SELECT 1 FROM recover_journal n WHERE n.entity = j.entity \
         AND n.entity_key = j.entity_key AND n.seq > j.seq) ORDER BY seq DESC LIMIT 10",
    )
    .load(&mut db.conn)
    .unwrap();
    let plan: Vec<String> = plan.into_iter().map(|r| r.detail).collect();
    assert!(plan[0].contains("recover_journal_removals"), "{plan:?}");
    assert!(plan.iter().all(|d| !d.starts_with("SCAN")), "{plan:?}");
}
