//! Capture mode (DESIGN.md section 6): triggers journal every change of a captured table, and
//! recover's own calls on it still write one entry each.

mod common;

use common::{accounts, memberships, Account, Membership, TestDb, User};
use diesel::prelude::*;
use recover::{At, ChangesetId, Error, Journal, Problem};

on_every_backend!(
    uncaptured:
    recover_calls_write_one_entry_each,
    bulk_calls_write_one_entry_per_row,
    no_op_updates_write_nothing_and_nulls_are_changes,
    context_ends_with_its_transaction,
    key_change_is_removal_and_creation_in_one_changeset,
    grouping_outside_a_journal_transaction,
    composite_keys_and_skipped_columns,
    capture_is_idempotent_and_capture_sql_is_the_same,
    release_stops_journaling,
    check_reports_missing_and_stale_triggers,
    bad_input_writes_nothing,
);

/// Bodies that use Diesel's query builder, which needs a concrete connection type: written
/// once, expanded per backend.
macro_rules! diesel_bodies {
    ($conn:ty) => {
        pub fn plain_diesel_and_raw_sql_are_journaled_and_undone(conn: &mut $conn) {
            capture_all(conn);
            diesel::insert_into(accounts::table)
                .values((
                    accounts::id.eq(1),
                    accounts::owner.eq("ann"),
                    accounts::balance.eq(100_i64),
                    accounts::status.eq("open"),
                ))
                .execute(conn)
                .unwrap();
            diesel::update(accounts::table.find(1))
                .set(accounts::balance.eq(50_i64))
                .execute(conn)
                .unwrap();
            conn.exec("UPDATE accounts SET note = 'it''s raw' WHERE id = 1");
            diesel::delete(accounts::table.find(1))
                .execute(conn)
                .unwrap();

            let rows = conn.journal_rows();
            assert_eq!(ops(conn), ["insert", "update", "update", "delete"]);
            assert!(rows
                .iter()
                .all(|r| r.entity == "accounts" && r.entity_key == "1"));
            assert!(rows.iter().all(|r| r.actor.is_none() && r.reason.is_none()));
            assert!(rows.iter().all(|r| r.undoes.is_none()));
            assert_eq!(rows[0].before(), None);
            assert_eq!(rows[1].before(), rows[0].after());
            assert_eq!(rows[2].before(), rows[1].after());
            assert_eq!(rows[3].before(), rows[2].after());
            assert_eq!(rows[3].after(), None);
            assert_eq!(rows[2].after().unwrap()["note"], "it's raw");

            // History decodes the trigger's images into the model.
            let journal = Journal::new();
            let history = journal.history::<Account>(conn, &1).unwrap();
            let noted = Account {
                note: Some("it's raw".into()),
                ..Account::new(1, "ann", 50)
            };
            assert_eq!(history[0].after, Some(Account::new(1, "ann", 100)));
            assert_eq!(history[2].after, Some(noted.clone()));
            assert_eq!(history[3].before, Some(noted.clone()));
            assert_eq!(history[1].changed_columns(), ["balance"]);

            // Undo walks back through the plain changes, with no conflict.
            journal.undo::<Account>(conn, &1).unwrap();
            assert_eq!(conn.account(1), Some(noted));
            journal.undo::<Account>(conn, &1).unwrap();
            assert_eq!(conn.account(1), Some(Account::new(1, "ann", 50)));
            journal.undo::<Account>(conn, &1).unwrap();
            assert_eq!(conn.account(1), Some(Account::new(1, "ann", 100)));
            journal.redo::<Account>(conn, &1).unwrap();
            assert_eq!(conn.account(1), Some(Account::new(1, "ann", 50)));
            // Each undo and the redo is one entry, recover's, not the trigger's.
            assert_eq!(
                ops(conn),
                ["insert", "update", "update", "delete", "undo", "undo", "undo", "redo"]
            );
            assert!(recover::check(conn).unwrap().is_ok());
        }

        pub fn journal_transaction_is_one_changeset_with_actor(conn: &mut $conn) {
            capture_all(conn);
            let setup = Journal::new();
            for id in 1..=3 {
                setup.insert(conn, &Account::new(id, "x", 10)).unwrap();
            }
            conn.exec("UPDATE accounts SET status = 'closed' WHERE id = 3");
            let journal = Journal::new().actor("ops").reason("cleanup");
            let cs = journal
                .transaction(conn, |conn| {
                    diesel::update(accounts::table.find(1))
                        .set(accounts::balance.eq(0_i64))
                        .execute(conn)?;
                    diesel::delete(accounts::table.filter(accounts::status.eq("closed")))
                        .execute(conn)?;
                    diesel::insert_into(memberships::table)
                        .values((
                            memberships::org.eq("acme"),
                            memberships::user_id.eq(1),
                            memberships::role.eq("admin"),
                        ))
                        .execute(conn)?;
                    Ok(())
                })
                .unwrap();
            let rows: Vec<_> = conn
                .journal_rows()
                .into_iter()
                .filter(|r| r.changeset_id == cs.get())
                .collect();
            let ops: Vec<_> = rows.iter().map(|r| r.op.as_str()).collect();
            assert_eq!(ops, ["update", "delete", "insert"]);
            assert_eq!(rows[0].seq, cs.get());
            assert!(rows.iter().all(
                |r| r.actor.as_deref() == Some("ops") && r.reason.as_deref() == Some("cleanup")
            ));
            let history = journal.history::<Account>(conn, &1).unwrap();
            assert_eq!(history.last().unwrap().actor.as_deref(), Some("ops"));

            journal.undo_changeset(conn, cs).unwrap();
            let mut closed = Account::new(3, "x", 10);
            closed.status = "closed".into();
            assert_eq!(
                conn.accounts(),
                vec![Account::new(1, "x", 10), Account::new(2, "x", 10), closed]
            );
            assert!(conn.memberships().is_empty());
            // Nothing captured changed: the empty changeset.
            let none = journal.transaction(conn, |_| Ok(())).unwrap();
            assert_eq!(none, ChangesetId::EMPTY);
        }
    };
}

/// A second connection's plain write, journaled by the trigger, undone by the first.
fn second_connections_write_is_undone<C: TestDb>(conn: &mut C, other: &mut C) {
    capture_all(conn);
    Journal::new()
        .insert(conn, &Account::new(1, "ann", 100))
        .unwrap();
    other.exec("UPDATE accounts SET balance = 0, note = 'by the other service' WHERE id = 1");
    let history = Journal::new().history::<Account>(conn, &1).unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].after.as_ref().unwrap().balance, 0);
    Journal::new().undo::<Account>(conn, &1).unwrap();
    assert_eq!(other.account(1), Some(Account::new(1, "ann", 100)));
    assert!(recover::check(other).unwrap().is_ok());
}

/// [`second_connections_write_is_undone`] on a database a second connection can reach.
fn with_second_connection<C: TestDb>(mut db: common::Fresh<C>) {
    let mut other = (db.reopen.as_ref().expect("a database on disk or a server"))();
    second_connections_write_is_undone(&mut db.conn, &mut other);
}

#[test]
fn sqlite_second_connection() {
    with_second_connection(common::sqlite_file("capture_second_connection", true));
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_second_connection() {
    with_second_connection(common::postgres("capture_second_connection", true));
}

#[cfg(feature = "mysql")]
#[test]
fn mysql_second_connection() {
    with_second_connection(common::mysql("capture_second_connection", true));
}

/// The Diesel bodies on every backend that is built.
macro_rules! diesel_tests {
    ($($backend:ident: $conn:ty = $fresh:path;)*) => {$(
        mod $backend {
            use super::*;
            diesel_bodies!($conn);

            #[test]
            fn plain_diesel() {
                plain_diesel_and_raw_sql_are_journaled_and_undone(
                    &mut $fresh("capture_plain_diesel", true).conn,
                );
            }

            #[test]
            fn journal_transaction() {
                journal_transaction_is_one_changeset_with_actor(
                    &mut $fresh("capture_journal_transaction", true).conn,
                );
            }
        }
    )*};
}

diesel_tests! {
    sqlite_memory_dsl: SqliteConnection = common::sqlite_memory;
    sqlite_file_dsl: SqliteConnection = common::sqlite_file;
}
#[cfg(feature = "postgres")]
diesel_tests! { postgres_dsl: diesel::pg::PgConnection = common::postgres; }
#[cfg(feature = "mysql")]
diesel_tests! { mysql_dsl: diesel::mysql::MysqlConnection = common::mysql; }

use common::capture_models as capture_all;

fn ops<C: TestDb>(conn: &mut C) -> Vec<String> {
    conn.journal_rows().into_iter().map(|r| r.op).collect()
}

fn recover_calls_write_one_entry_each<C: TestDb>(conn: &mut C) {
    capture_all(conn);
    let journal = Journal::new().actor("alice").reason("ticket 42");
    let mut a = Account::new(1, "ann", 100);
    journal.insert(conn, &a).unwrap();
    a.balance = 50;
    journal.update(conn, &a).unwrap();
    journal.delete(conn, &a).unwrap();
    journal.undo::<Account>(conn, &1).unwrap();
    journal.undo::<Account>(conn, &1).unwrap();
    journal.redo::<Account>(conn, &1).unwrap();
    journal
        .restore::<Account>(conn, &1, At::Version(1))
        .unwrap();
    let cs = journal
        .changeset(conn, |tx| {
            tx.insert(&Account::new(2, "ben", 7))?;
            tx.update(&Account::new(1, "ann", 1))?;
            Ok(())
        })
        .unwrap();
    journal.undo_changeset(conn, cs).unwrap();

    let rows = conn.journal_rows();
    let ops: Vec<_> = rows.iter().map(|r| r.op.as_str()).collect();
    assert_eq!(
        ops,
        [
            "insert", "update", "delete", "undo", "undo", "redo", "restore", "insert", "update",
            "undo", "undo"
        ]
    );
    assert!(rows.iter().all(|r| r.actor.as_deref() == Some("alice")));
    assert_eq!(rows[3].undoes, Some(rows[2].seq));
    assert_eq!(rows[4].undoes, Some(rows[1].seq));
    assert_eq!(rows[5].undoes, Some(rows[4].seq));
    assert_eq!(rows[7].changeset_id, cs.get());
    assert_eq!(rows[8].changeset_id, cs.get());
    assert_eq!(rows[9].changeset_id, rows[10].changeset_id);
    // Images are recover's own encoding.
    assert_eq!(
        rows[0].after(),
        Some(
            serde_json::json!({"id": 1, "owner": "ann", "balance": 100, "status": "open", "note": null})
        )
    );
    assert_eq!(conn.accounts(), vec![Account::new(1, "ann", 100)]);
    assert!(recover::check(conn).unwrap().is_ok());
}

fn bulk_calls_write_one_entry_per_row<C: TestDb>(conn: &mut C) {
    capture_all(conn);
    let journal = Journal::new().actor("batch");
    for id in 1..=5 {
        journal
            .insert(conn, &Account::new(id, "x", i64::from(id) * 100))
            .unwrap();
    }
    let fee = journal
        .update_where::<Account>(
            conn,
            accounts::balance.ge(300_i64),
            accounts::balance.eq(accounts::balance - 10),
        )
        .unwrap();
    let rows = conn.journal_rows();
    assert_eq!(rows.len(), 8);
    assert!(rows[5..].iter().all(|r| r.op == "update"
        && r.changeset_id == fee.get()
        && r.actor.as_deref() == Some("batch")));
    let gone = journal
        .delete_where::<Account>(conn, accounts::id.le(2))
        .unwrap();
    assert_eq!(conn.journal_rows().len(), 10);
    journal.undo_changeset(conn, gone).unwrap();
    journal.undo_changeset(conn, fee).unwrap();
    let expected: Vec<_> = (1..=5)
        .map(|id| Account::new(id, "x", i64::from(id) * 100))
        .collect();
    assert_eq!(conn.accounts(), expected);
    // Inside a changeset block, a bulk call joins the block's changeset.
    let cs = journal
        .changeset(conn, |tx| {
            tx.update(&Account::new(1, "y", 1))?;
            tx.update_where::<Account>(accounts::id.ge(4), accounts::status.eq("frozen"))?;
            Ok(())
        })
        .unwrap();
    let block: Vec<_> = conn
        .journal_rows()
        .into_iter()
        .filter(|r| r.changeset_id == cs.get())
        .collect();
    assert_eq!(block.len(), 3);
    journal.undo_changeset(conn, cs).unwrap();
    assert_eq!(conn.accounts(), expected);
    assert!(recover::check(conn).unwrap().is_ok());
}

fn no_op_updates_write_nothing_and_nulls_are_changes<C: TestDb>(conn: &mut C) {
    capture_all(conn);
    conn.exec(
        "INSERT INTO accounts (id, owner, balance, status, note) VALUES (1, 'ann', 5, 'open', NULL)",
    );
    conn.exec("UPDATE accounts SET balance = 5 WHERE id = 1");
    conn.exec("UPDATE accounts SET note = NULL WHERE id = 1");
    assert_eq!(ops(conn), ["insert"]);
    conn.exec("UPDATE accounts SET note = '' WHERE id = 1");
    conn.exec("UPDATE accounts SET note = NULL WHERE id = 1");
    let rows = conn.journal_rows();
    assert_eq!(ops(conn), ["insert", "update", "update"]);
    assert_eq!(rows[1].after().unwrap()["note"], "");
    assert_eq!(rows[2].after().unwrap()["note"], serde_json::Value::Null);
    // A change to a skipped column alone is no change of the image.
    conn.exec(
        "INSERT INTO users (id, display_name, password_hash, plan, score, active) \
         VALUES (1, 'u', 'h1', 'pro', 0.5, true)",
    );
    conn.exec("UPDATE users SET password_hash = 'h2' WHERE id = 1");
    assert_eq!(conn.journal_rows().len(), 4);
}

fn context_ends_with_its_transaction<C: TestDb>(conn: &mut C) {
    capture_all(conn);
    let journal = Journal::new().actor("ops");
    // The journal's very first entry, written by a trigger.
    let first = journal
        .transaction(conn, |conn| {
            conn.exec(
                "INSERT INTO accounts (id, owner, balance, status) VALUES (1, 'a', 1, 'open')",
            );
            Ok(())
        })
        .unwrap();
    assert_ne!(first, ChangesetId::EMPTY);
    assert_eq!(conn.journal_rows()[0].seq, first.get());
    // After commit: the next change has no actor.
    conn.exec("UPDATE accounts SET balance = 2 WHERE id = 1");
    // After an error: rolled back, and no context left behind.
    let failed = journal.transaction(conn, |conn| {
        conn.exec("UPDATE accounts SET balance = 3 WHERE id = 1");
        Err(Error::Unsupported("the caller gives up"))
    });
    assert!(matches!(failed, Err(Error::Unsupported(_))));
    conn.exec("UPDATE accounts SET balance = 4 WHERE id = 1");
    // Inside the caller's transaction: the context ends with its savepoint, not with the
    // caller's transaction.
    conn.transaction::<_, Error, _>(|conn| {
        journal.transaction(conn, |conn| {
            conn.exec("UPDATE accounts SET balance = 5 WHERE id = 1");
            Ok(())
        })?;
        conn.exec("UPDATE accounts SET balance = 6 WHERE id = 1");
        Ok(())
    })
    .unwrap();
    let rows = conn.journal_rows();
    let seen: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.after().unwrap()["balance"].as_i64().unwrap(),
                r.actor.clone(),
            )
        })
        .collect();
    let ops = Some("ops".to_owned());
    assert_eq!(
        seen,
        [(1, ops.clone()), (2, None), (4, None), (5, ops), (6, None)]
    );
    assert_eq!(conn.account(1).unwrap().balance, 6);
}

/// Outside a `journal.transaction`: PostgreSQL groups a database transaction's captured changes
/// into one changeset; SQLite and MySQL, whose triggers cannot tell transactions apart, make
/// each changed row a changeset of its own (README, "Capture mode").
fn grouping_outside_a_journal_transaction<C: TestDb>(conn: &mut C) {
    capture_all(conn);
    conn.exec("INSERT INTO accounts (id, owner, balance, status) VALUES (1, 'a', 1, 'open')");
    conn.exec("INSERT INTO accounts (id, owner, balance, status) VALUES (2, 'b', 1, 'open')");
    conn.transaction::<_, Error, _>(|conn| {
        conn.exec("UPDATE accounts SET balance = 5 WHERE id = 1");
        conn.exec("UPDATE accounts SET balance = 6 WHERE id = 2");
        Ok(())
    })
    .unwrap();
    let rows = conn.journal_rows();
    let (first, second) = (&rows[2], &rows[3]);
    assert!(first.actor.is_none() && second.actor.is_none());
    let by_transaction = postgres::<C>();
    if by_transaction {
        assert_eq!(first.changeset_id, second.changeset_id);
        Journal::new()
            .undo_changeset(conn, ChangesetId::from(first.changeset_id))
            .unwrap();
        assert_eq!(conn.account(1).unwrap().balance, 1);
        assert_eq!(conn.account(2).unwrap().balance, 1);
    } else {
        assert_eq!(first.changeset_id, first.seq);
        assert_eq!(second.changeset_id, second.seq);
    }
    // Separate transactions are separate changesets everywhere.
    assert_ne!(rows[0].changeset_id, rows[1].changeset_id);
}

fn key_change_is_removal_and_creation_in_one_changeset<C: TestDb>(conn: &mut C) {
    capture_all(conn);
    let journal = Journal::new();
    journal.insert(conn, &Account::new(1, "ann", 5)).unwrap();
    conn.exec("UPDATE accounts SET id = 9, balance = 6 WHERE id = 1");
    let rows = conn.journal_rows();
    assert_eq!(ops(conn), ["insert", "delete", "insert"]);
    assert_eq!(rows[1].entity_key, "1");
    assert_eq!(rows[2].entity_key, "9");
    assert_eq!(rows[1].changeset_id, rows[2].changeset_id);
    assert_eq!(rows[2].after().unwrap()["balance"], 6);
    journal
        .undo_changeset(conn, ChangesetId::from(rows[1].changeset_id))
        .unwrap();
    assert_eq!(conn.accounts(), vec![Account::new(1, "ann", 5)]);
    assert!(recover::check(conn).unwrap().is_ok());
}

fn composite_keys_and_skipped_columns<C: TestDb>(conn: &mut C) {
    capture_all(conn);
    conn.exec("INSERT INTO memberships (org, user_id, role, since) VALUES ('o\"q', 7, 'admin', 3)");
    conn.exec("UPDATE memberships SET role = 'member', since = NULL WHERE user_id = 7");
    let rows = conn.journal_rows();
    // The key's text is recover's own: the key columns in `primary_key(user_id, org)` order.
    assert_eq!(rows[0].entity_key, r#"[7,"o\"q"]"#);
    let journal = Journal::new();
    let key = (7, "o\"q".to_owned());
    journal.undo::<Membership>(conn, &key).unwrap();
    assert_eq!(conn.memberships()[0].role, "admin");
    assert_eq!(conn.memberships()[0].since, Some(3));

    conn.exec(
        "INSERT INTO users (id, display_name, password_hash, plan, score, active) \
         VALUES (1, 'u', 'secret', 'pro', -1.5e-300, true)",
    );
    conn.exec("UPDATE users SET active = false, score = 0.1 WHERE id = 1");
    let rows = conn.journal_rows();
    let image = rows.last().unwrap().before().unwrap();
    assert!(image.get("password_hash").is_none(), "{image}");
    let history = journal.history::<User>(conn, &1).unwrap();
    let first = history[0].after.clone().unwrap();
    assert_eq!(first.score.to_bits(), (-1.5e-300_f64).to_bits());
    assert!(first.active);
    assert_eq!(first.password_hash, "<redacted>");
    assert_eq!(history[1].changed_columns(), ["score", "active"]);
    journal.undo::<User>(conn, &1).unwrap();
    let user = conn.user(1).unwrap();
    assert_eq!(user.score.to_bits(), (-1.5e-300_f64).to_bits());
    assert!(user.active);
    assert_eq!(user.password_hash, "secret");
}

fn capture_is_idempotent_and_capture_sql_is_the_same<C: TestDb>(conn: &mut C) {
    // The migration's DDL, run by hand, is what `capture` installs.
    conn.batch_execute(&recover::capture_sql::<Account, C>())
        .unwrap();
    conn.exec("INSERT INTO accounts (id, owner, balance, status) VALUES (1, 'a', 1, 'open')");
    assert_eq!(ops(conn), ["insert"]);
    let report = recover::check(conn).unwrap();
    assert!(report.is_ok(), "{report:?} {:?}", conn.journal_rows());
    recover::capture::<Account>(conn).unwrap();
    recover::capture::<Account>(conn).unwrap();
    conn.exec("UPDATE accounts SET balance = 2 WHERE id = 1");
    assert_eq!(ops(conn), ["insert", "update"]);
    let report = recover::check(conn).unwrap();
    assert!(report.is_ok(), "{report:?} {:?}", conn.journal_rows());
}

fn release_stops_journaling<C: TestDb>(conn: &mut C) {
    capture_all(conn);
    conn.exec("INSERT INTO accounts (id, owner, balance, status) VALUES (1, 'a', 1, 'open')");
    recover::release::<Account>(conn).unwrap();
    recover::release::<Account>(conn).unwrap();
    conn.exec("UPDATE accounts SET balance = 2 WHERE id = 1");
    assert_eq!(ops(conn), ["insert"]);
    let undo = Journal::new().undo::<Account>(conn, &1);
    assert!(matches!(undo, Err(Error::Conflict { .. })), "{undo:?}");
    assert_eq!(conn.account(1).unwrap().balance, 2);
    // Released tables are not reported as captured.
    let report = recover::check(conn).unwrap();
    assert!(!report
        .problems
        .iter()
        .any(|p| matches!(p, Problem::CaptureMissing { .. })));
}

fn check_reports_missing_and_stale_triggers<C: TestDb>(conn: &mut C) {
    capture_all(conn);
    conn.exec("INSERT INTO accounts (id, owner, balance, status) VALUES (1, 'a', 1, 'open')");
    // Triggers generated for the model before it had `note`.
    let stale = recover::capture_sql::<Account, C>().replace(
        "columns (id, owner, balance, status, note)",
        "columns (id, owner, balance, status)",
    );
    conn.batch_execute(&stale).unwrap();
    let report = recover::check(conn).unwrap();
    assert!(
        matches!(report.problems.as_slice(), [Problem::CaptureStale { entity, .. }] if entity == "accounts"),
        "{report:?}"
    );
    recover::capture::<Account>(conn).unwrap();
    assert!(recover::check(conn).unwrap().is_ok());
    // Dropped by hand (a migration that recreated the table, say).
    conn.batch_execute(&drop_one_trigger::<C>("memberships"))
        .unwrap();
    let report = recover::check(conn).unwrap();
    assert!(
        matches!(report.problems.as_slice(), [Problem::CaptureMissing { entity }] if entity == "memberships"),
        "{report:?}"
    );
}

/// Whether `C` is PostgreSQL's connection (its triggers group by transaction, and share one
/// function).
fn postgres<C: 'static>() -> bool {
    #[cfg(feature = "postgres")]
    if std::any::TypeId::of::<C>() == std::any::TypeId::of::<diesel::pg::PgConnection>() {
        return true;
    }
    false
}

/// SQL that drops one capture trigger of `table`, as a careless migration would.
fn drop_one_trigger<C: TestDb>(table: &str) -> String {
    if postgres::<C>() {
        format!("DROP TRIGGER recover_capture_close ON {table}")
    } else {
        format!("DROP TRIGGER recover_capture_{table}_delete")
    }
}

fn bad_input_writes_nothing<C: TestDb>(conn: &mut C) {
    // A table that does not exist.
    diesel::table! { ghosts (id) { id -> Integer, name -> Text } }
    #[derive(Debug, Clone, PartialEq, Queryable, recover::Recoverable)]
    #[diesel(table_name = ghosts)]
    struct Ghost {
        id: i32,
        name: String,
    }
    let missing = recover::capture::<Ghost>(conn);
    assert!(
        matches!(missing, Err(Error::NoSuchTable { entity: "ghosts" })),
        "{missing:?}"
    );

    // A nullable key column.
    conn.exec("CREATE TABLE ghosts (id INTEGER UNIQUE, name TEXT NOT NULL)");
    let nullable = recover::capture::<Ghost>(conn);
    assert!(
        matches!(&nullable, Err(Error::NullableKey { column, .. }) if column == "id"),
        "{nullable:?}"
    );

    // A second model for a table captured already.
    #[derive(Debug, Clone, PartialEq, Queryable, recover::Recoverable)]
    #[diesel(table_name = accounts)]
    struct Balance {
        id: i32,
        balance: i64,
    }
    recover::capture::<Account>(conn).unwrap();
    let other = recover::capture::<Balance>(conn);
    assert!(
        matches!(
            &other,
            Err(Error::CapturedByOtherModel {
                entity: "accounts",
                ..
            })
        ),
        "{other:?}"
    );

    // A trigger of capture's name that is not recover's.
    conn.batch_execute(&foreign_trigger::<C>()).unwrap();
    let clash = recover::capture::<User>(conn);
    assert!(
        matches!(
            &clash,
            Err(Error::TriggerExists {
                entity: "users",
                ..
            })
        ),
        "{clash:?}"
    );
    conn.exec("INSERT INTO users (id, display_name, password_hash, plan, score, active) VALUES (1, 'u', 'h', 'p', 1, true)");
    assert!(conn.journal_rows().is_empty());
}

/// A trigger of the name capture uses on `users`, made by someone else.
fn foreign_trigger<C: TestDb>() -> String {
    if postgres::<C>() {
        "CREATE OR REPLACE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$; \
         CREATE TRIGGER recover_capture AFTER INSERT ON users FOR EACH ROW EXECUTE FUNCTION audit()"
    } else {
        // SQLite and MySQL alike.
        "CREATE TRIGGER recover_capture_users_insert AFTER INSERT ON users FOR EACH ROW \
         BEGIN DELETE FROM memberships WHERE 0 = 1; END"
    }
    .to_owned()
}

/// Capture before `install`: [`Error::NotInstalled`], nothing created.
#[test]
fn capture_before_install_is_not_installed() {
    let mut db = common::sqlite_memory("capture_before_install", false);
    let result = recover::capture::<Account>(&mut db.conn);
    assert!(matches!(result, Err(Error::NotInstalled(_))), "{result:?}");
    let triggers: i64 = diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger'",
    )
    .get_result(&mut db.conn)
    .unwrap();
    assert_eq!(triggers, 0);
}

/// SQLite's REPLACE removes the old row without firing its DELETE trigger: the insert is
/// journaled as an update from the old image, and undo brings the replaced row back.
#[test]
fn sqlite_replace_is_journaled_as_an_update() {
    let mut db = common::sqlite_file("capture_replace", true);
    let conn = &mut db.conn;
    capture_all(conn);
    conn.exec("INSERT INTO accounts (id, owner, balance, status) VALUES (1, 'ann', 5, 'open')");
    conn.exec("REPLACE INTO accounts (id, owner, balance, status) VALUES (1, 'bob', 9, 'open')");
    let rows = conn.journal_rows();
    assert_eq!(ops(conn), ["insert", "update"]);
    assert_eq!(rows[1].before(), rows[0].after());
    Journal::new().undo::<Account>(conn, &1).unwrap();
    assert_eq!(conn.accounts(), vec![Account::new(1, "ann", 5)]);
    // With recursive triggers on, REPLACE fires the DELETE trigger: a delete, then an insert.
    conn.exec("PRAGMA recursive_triggers = ON");
    conn.exec("REPLACE INTO accounts (id, owner, balance, status) VALUES (1, 'cy', 7, 'open')");
    assert_eq!(ops(conn), ["insert", "update", "undo", "delete", "insert"]);
    Journal::new().undo::<Account>(conn, &1).unwrap();
    Journal::new().undo::<Account>(conn, &1).unwrap();
    assert_eq!(conn.accounts(), vec![Account::new(1, "ann", 5)]);
    assert!(recover::check(conn).unwrap().is_ok());
}

/// PostgreSQL skips ordinary triggers under `session_replication_role = replica` (pg_restore,
/// logical replication): capture's trigger is ENABLE ALWAYS and journals there too.
#[cfg(feature = "postgres")]
#[test]
fn postgres_replica_role_still_journals() {
    let mut db = common::postgres("capture_replica_role", true);
    let conn = &mut db.conn;
    capture_all(conn);
    conn.exec("SET session_replication_role = replica");
    conn.exec("INSERT INTO accounts (id, owner, balance, status) VALUES (1, 'ann', 5, 'open')");
    conn.exec("SET session_replication_role = DEFAULT");
    assert_eq!(ops(conn), ["insert"]);
}

/// One UPDATE of many rows on a captured PostgreSQL table, outside any recover context: one
/// changeset of all its entries, whose `recover_changesets` row is written once in the
/// transaction and once more at its commit (the last seq, by the deferred trigger), not once
/// per row or per statement: an upsert of that one row per row left a version of it per row,
/// which every later upsert walked (O(N²)). Two more statements in the same transaction join
/// the changeset, and `undo_changeset` takes all of it back. With `SET CONSTRAINTS ALL
/// IMMEDIATE` the last seq is set at the end of each statement instead, and is as exact.
#[cfg(feature = "postgres")]
#[test]
fn postgres_a_bulk_update_writes_its_changeset_row_once_per_transaction() {
    #[derive(QueryableByName)]
    struct Seq {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    #[derive(QueryableByName)]
    struct Version {
        #[diesel(sql_type = diesel::sql_types::Text)]
        ctid: String,
    }
    let mut db = common::postgres("capture_bulk_changeset", true);
    let conn = &mut db.conn;
    capture_all(conn);
    // Where the newest version of the newest changeset row lies: each write of a row takes the
    // next slot of the table's first page.
    let version = |conn: &mut diesel::pg::PgConnection| {
        diesel::sql_query(
            "SELECT ctid::text AS ctid FROM recover_changesets ORDER BY id DESC LIMIT 1",
        )
        .get_result::<Version>(conn)
        .map(|v| v.ctid)
    };
    let last_seq = |conn: &mut diesel::pg::PgConnection, id: i64| {
        diesel::sql_query("SELECT last_seq AS n FROM recover_changesets WHERE id = $1")
            .bind::<diesel::sql_types::BigInt, _>(id)
            .load::<Seq>(conn)
            .unwrap()
            .into_iter()
            .map(|c| c.n)
            .collect::<Vec<_>>()
    };
    // One changeset of 200 inserts, in one statement: its row written with its last seq
    // already (the commit's trigger finds nothing to change).
    conn.exec(
        "INSERT INTO accounts (id, owner, balance, status) \
         SELECT i, 'o' || i, i, 'open' FROM generate_series(1, 200) AS i",
    );
    assert_eq!(version(conn).unwrap(), "(0,1)");
    let before = conn.accounts();
    let entries = conn.journal_rows().len();
    let versions = conn
        .transaction::<_, Error, _>(|conn| {
            conn.exec("UPDATE accounts SET balance = balance + 1000");
            let after_bulk = version(conn)?;
            conn.exec("UPDATE accounts SET status = 'closed' WHERE id = 1");
            conn.exec("DELETE FROM accounts WHERE id = 2");
            Ok((after_bulk, version(conn)?))
        })
        .unwrap();
    assert_eq!(
        (
            versions.0.as_str(),
            versions.1.as_str(),
            version(conn).unwrap().as_str()
        ),
        ("(0,2)", "(0,2)", "(0,3)"),
        "the changeset row written by the bulk UPDATE, not by the later statements, and once \
         more at the commit"
    );
    let rows = conn.journal_rows();
    let new = &rows[entries..];
    assert_eq!(new.len(), 202);
    let id = new[0].seq;
    assert!(new.iter().all(|r| r.changeset_id == id));
    assert_eq!(last_seq(conn, id), [new[201].seq]);
    Journal::new()
        .undo_changeset(conn, ChangesetId::from(id))
        .unwrap();
    assert_eq!(conn.accounts(), before);

    // The constraint made immediate: the last seq is exact at each statement's end.
    conn.transaction::<_, Error, _>(|conn| {
        conn.exec("SET CONSTRAINTS ALL IMMEDIATE");
        conn.exec("UPDATE accounts SET note = 'a' WHERE id = 3");
        conn.exec("UPDATE accounts SET note = 'b' WHERE id = 4");
        conn.exec("UPDATE accounts SET note = 'c' WHERE id = 5");
        Ok(())
    })
    .unwrap();
    let rows = conn.journal_rows();
    let [.., first, _, last] = rows.as_slice() else {
        panic!("{rows:?}")
    };
    assert_eq!(last.changeset_id, first.seq);
    assert_eq!(last_seq(conn, first.seq), [last.seq]);
    Journal::new()
        .undo_changeset(conn, ChangesetId::from(first.seq))
        .unwrap();
    assert_eq!(conn.accounts(), before);
    assert!(recover::check(conn).unwrap().is_ok());
}

/// MySQL changes rows by foreign-key cascade without firing their triggers: capture refuses a
/// table whose foreign keys cascade, and writes nothing.
#[cfg(feature = "mysql")]
#[test]
fn mysql_refuses_cascading_foreign_keys() {
    let mut db = common::mysql("capture_cascade", true);
    let conn = &mut db.conn;
    conn.exec("ALTER TABLE memberships ADD CONSTRAINT member_account FOREIGN KEY (user_id) REFERENCES accounts (id) ON DELETE CASCADE");
    let refused = recover::capture::<Membership>(conn);
    assert!(
        matches!(&refused, Err(Error::CascadeNotCaptured { entity: "memberships", constraint }) if constraint == "member_account"),
        "{refused:?}"
    );
    assert!(!recover::check(conn)
        .unwrap()
        .problems
        .iter()
        .any(|p| matches!(p, Problem::CaptureMissing { .. })));
    // RESTRICT is fine: no row changes behind the trigger's back.
    conn.exec("ALTER TABLE memberships DROP FOREIGN KEY member_account");
    conn.exec("ALTER TABLE memberships ADD CONSTRAINT member_account FOREIGN KEY (user_id) REFERENCES accounts (id) ON DELETE RESTRICT");
    recover::capture::<Membership>(conn).unwrap();
}

/// A pooled connection handed back after a `journal.transaction` carries no context into the
/// next transaction that uses it.
#[test]
fn sqlite_pooled_connection_reused_has_no_context() {
    use diesel::r2d2::{ConnectionManager, Pool};
    let db = common::sqlite_file("capture_pool", true);
    let url = db.path.clone().unwrap();
    let pool = Pool::builder()
        .max_size(1)
        .build(ConnectionManager::<SqliteConnection>::new(url))
        .unwrap();
    {
        let mut conn = pool.get().unwrap();
        capture_all(&mut *conn);
        Journal::new()
            .actor("ops")
            .transaction(&mut *conn, |conn| {
                conn.exec(
                    "INSERT INTO accounts (id, owner, balance, status) VALUES (1, 'a', 1, 'open')",
                );
                Ok(())
            })
            .unwrap();
    }
    let mut again = pool.get().unwrap();
    again.exec("UPDATE accounts SET balance = 2 WHERE id = 1");
    let actors: Vec<_> = again.journal_rows().into_iter().map(|r| r.actor).collect();
    assert_eq!(actors, [Some("ops".to_owned()), None]);
}

/// A connection inside a `journal.transaction` and another one writing at the same time: each
/// entry gets its own connection's context, and nothing crosses over.
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn concurrent_connections_do_not_share_context<C: TestDb + Send>(mut db: common::Fresh<C>) {
    let reopen = db.reopen.take().expect("a server");
    let conn = &mut db.conn;
    capture_all(conn);
    conn.exec("INSERT INTO accounts (id, owner, balance, status) VALUES (1, 'a', 0, 'open')");
    conn.exec("INSERT INTO accounts (id, owner, balance, status) VALUES (2, 'b', 0, 'open')");
    let (inside, other_may_write) = std::sync::mpsc::channel();
    let (written, other_wrote) = std::sync::mpsc::channel();
    let mut other = reopen();
    let other = std::thread::spawn(move || {
        other_may_write.recv().unwrap();
        other.exec("UPDATE accounts SET balance = 2 WHERE id = 2");
        written.send(()).unwrap();
    });
    Journal::new()
        .actor("ops")
        .transaction(conn, |conn| {
            // The other connection writes while this context is set (before this transaction
            // takes the journal's counter lock on MySQL, which serialises captured writers).
            inside.send(()).unwrap();
            other_wrote.recv().unwrap();
            conn.exec("UPDATE accounts SET balance = 1 WHERE id = 1");
            Ok(())
        })
        .unwrap();
    other.join().unwrap();
    let rows = conn.journal_rows();
    let by_key: Vec<_> = rows
        .iter()
        .filter(|r| r.op == "update")
        .map(|r| (r.entity_key.as_str(), r.actor.as_deref()))
        .collect();
    assert_eq!(by_key.len(), 2, "{rows:?}");
    assert!(by_key.contains(&("1", Some("ops"))), "{by_key:?}");
    assert!(by_key.contains(&("2", None)), "{by_key:?}");
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_concurrent_connections_do_not_share_context() {
    concurrent_connections_do_not_share_context(common::postgres("capture_concurrent", true));
}

#[cfg(feature = "mysql")]
#[test]
fn mysql_concurrent_connections_do_not_share_context() {
    concurrent_connections_do_not_share_context(common::mysql("capture_concurrent", true));
}

/// On MySQL a recover call's entry completes the capture trigger's entry at its reserved seq,
/// and only that one: an entry of another entity at that seq (another primary handing out the
/// same seq, say) is never overwritten; the call fails and writes nothing.
#[cfg(feature = "mysql")]
#[test]
fn mysql_never_overwrites_another_entitys_entry() {
    let mut db = common::mysql("capture_foreign_seq", true);
    let conn = &mut db.conn;
    capture_all(conn);
    Journal::new()
        .insert(conn, &Account::new(1, "ann", 5))
        .unwrap();
    // The next seq the tickets hand out is already taken, by another entity.
    conn.exec(
        "INSERT INTO recover_journal (seq, changeset_id, entity, entity_key, op, after_image, \
         undo_next, recorded_at) SELECT t, t, 'elsewhere', '7', 'insert', '{}', t, 0 \
         FROM (SELECT MAX(seq) + @@auto_increment_increment AS t FROM recover_tickets) AS next",
    );
    let before = conn.journal_rows();
    let clash = Journal::new().update(conn, &Account::new(1, "ann", 6));
    assert!(matches!(clash, Err(Error::Database(_))), "{clash:?}");
    assert_eq!(conn.journal_rows(), before);
    assert_eq!(conn.account(1), Some(Account::new(1, "ann", 5)));
}

/// Triggers generated by the release before issue 17 (fingerprint v1) keep journaling against
/// today's journal, recover's own calls still complete their entries, and `check` reports them
/// stale until `capture` refreshes them.
#[test]
fn sqlite_triggers_of_the_previous_release_keep_working_until_refreshed() {
    let mut db = common::sqlite_file("capture_v1", true);
    let conn = &mut db.conn;
    diesel::connection::SimpleConnection::batch_execute(
        conn,
        include_str!("fixtures/capture-v1-sqlite-accounts.sql"),
    )
    .unwrap();
    conn.exec(&format!(
        "INSERT INTO recover_captures (entity, model, generated_for, captured_at) VALUES \
         ('accounts', '{}', 'recover capture v1: accounts columns (id, owner, balance, status, \
         note) key (id)', 0)",
        std::any::type_name::<Account>()
    ));
    conn.exec("INSERT INTO accounts (id, owner, balance, status) VALUES (1, 'ann', 5, 'open')");
    diesel::update(accounts::table.find(1))
        .set(accounts::balance.eq(6_i64))
        .execute(conn)
        .unwrap();
    conn.exec("UPDATE accounts SET id = 2 WHERE id = 1");
    let journal = Journal::new();
    journal.update(conn, &Account::new(2, "ann", 7)).unwrap();
    assert_eq!(
        ops(conn),
        ["insert", "update", "delete", "insert", "update"]
    );
    let report = recover::check(conn).unwrap();
    assert!(
        matches!(report.problems.as_slice(), [Problem::CaptureStale { entity, .. }] if entity == "accounts"),
        "{report:?}"
    );
    recover::capture::<Account>(conn).unwrap();
    assert!(recover::check(conn).unwrap().is_ok());
    conn.exec("UPDATE accounts SET balance = 8 WHERE id = 2");
    journal.undo::<Account>(conn, &2).unwrap();
    journal.undo::<Account>(conn, &2).unwrap();
    assert_eq!(conn.account(2), Some(Account::new(2, "ann", 6)));
    assert_eq!(
        ops(conn),
        ["insert", "update", "delete", "insert", "update", "update", "undo", "undo"]
    );
}
