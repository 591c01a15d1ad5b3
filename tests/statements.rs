//! The hot path's statements, counted through Diesel's `Instrumentation`: how many each recorded
//! insert, update, delete, undo, redo and restore runs on each backend, and that once warmed up
//! none of them is prepared anew (every statement but transaction control comes from the
//! connection's statement cache). A deterministic guard: a regression that adds a round trip or
//! a statement Diesel cannot cache fails here, where a timed test would only be noisy.
//!
//! Counts are per call, on a table of one row per key, after the same calls ran twice on other
//! keys. If a change adds or removes a statement on purpose, update the count and say why in the
//! commit.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use common::*;
use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel::prelude::*;
use recover::{At, Journal};

/// What the connection reported: each statement run (its SQL, binds left out) and each one
/// prepared into the statement cache.
#[derive(Default)]
struct Log {
    run: Vec<String>,
    cached: Vec<String>,
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Log>>);

impl Instrumentation for Recorder {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        let mut log = self.0.lock().unwrap();
        match event {
            InstrumentationEvent::StartQuery { query, .. } => {
                let text = query.to_string();
                let sql = text.split(" -- binds:").next().unwrap_or_default();
                log.run.push(sql.trim().to_owned());
            }
            InstrumentationEvent::CacheQuery { sql, .. } => log.cached.push(sql.trim().to_owned()),
            _ => {}
        }
    }
}

/// What one call ran.
#[derive(Debug)]
struct Calls {
    /// Statements run, transaction control included.
    statements: usize,
    /// Statements prepared into the cache during the call (none once warmed up).
    prepared: Vec<String>,
    /// Statements run that the cache does not hold, other than transaction control
    /// (`BEGIN`, `COMMIT`, savepoints) and those the test allows.
    uncached: Vec<String>,
}

fn transaction_control(sql: &str) -> bool {
    let upper = sql.trim_start().to_ascii_uppercase();
    [
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
        "SAVEPOINT",
        "RELEASE",
        "START TRANSACTION",
    ]
    .iter()
    .any(|p| upper.starts_with(p))
}

struct Counter {
    recorder: Recorder,
    cache: HashSet<String>,
}

impl Counter {
    fn attach<C: Connection>(conn: &mut C) -> Self {
        let recorder = Recorder::default();
        conn.set_instrumentation(recorder.clone());
        Counter {
            recorder,
            cache: HashSet::new(),
        }
    }

    /// Runs `call`, then reports its statements; `allowed` names statements (by their start)
    /// that are not recover's to cache, such as a plain Diesel `UPDATE` of the caller's.
    fn count<C>(&mut self, conn: &mut C, allowed: &str, call: impl FnOnce(&mut C)) -> Calls {
        // What ran since the last count (capture's own transactions, say) prepared statements too.
        let before = std::mem::take(&mut *self.recorder.0.lock().unwrap());
        self.cache.extend(before.cached);
        call(conn);
        let log = std::mem::take(&mut *self.recorder.0.lock().unwrap());
        self.cache.extend(log.cached.iter().cloned());
        let uncached = log
            .run
            .iter()
            .filter(|sql| !transaction_control(sql) && !self.cache.contains(*sql))
            .filter(|sql| allowed.is_empty() || !sql.starts_with(allowed))
            .cloned()
            .collect();
        Calls {
            statements: log.run.len(),
            prepared: log.cached,
            uncached,
        }
    }
}

/// Every recorded operation, on `id`'s account, in the order the counts list them.
const OPS: [&str; 6] = ["insert", "update", "delete", "undo", "redo", "restore"];

fn run_op<C: TestDb>(conn: &mut C, op: &str, id: i32) {
    let journal = Journal::new().actor("guard");
    let mut account = Account::new(id, "ann", 100);
    match op {
        "insert" => journal.insert(conn, &account).map(drop).unwrap(),
        "update" => {
            account.balance = 50;
            journal.update(conn, &account).map(drop).unwrap()
        }
        "delete" => journal.delete(conn, &account).map(drop).unwrap(),
        "undo" => journal.undo::<Account>(conn, &id).map(drop).unwrap(),
        "redo" => journal.redo::<Account>(conn, &id).map(drop).unwrap(),
        "restore" => journal
            .restore::<Account>(conn, &id, At::Version(2))
            .map(drop)
            .unwrap(),
        other => unreachable!("{other}"),
    }
}

/// Warms up on two keys, then counts each operation on a third, and checks the row after it.
fn recorded_calls<C: TestDb>(conn: &mut C, counter: &mut Counter) -> Vec<(&'static str, Calls)> {
    for id in [1, 2] {
        for op in OPS {
            counter.count(conn, "", |conn| run_op(conn, op, id));
        }
    }
    let mut calls = Vec::new();
    for op in OPS {
        calls.push((op, counter.count(conn, "", |conn| run_op(conn, op, 3))));
    }
    // insert 100, update 50, delete, undo (50), redo (deleted), restore to version 2 (50).
    assert_eq!(conn.account(3).map(|a| a.balance), Some(50));
    calls
}

/// `diesel::update(accounts::table.find(id)).set(accounts::balance.eq(balance))` on one
/// backend's connection.
type PlainUpdate<C> = fn(&mut C, i32, i64) -> QueryResult<usize>;

macro_rules! plain_update {
    ($conn:ty) => {
        |conn: &mut $conn, id: i32, balance: i64| {
            diesel::update(accounts::table.find(id))
                .set(accounts::balance.eq(balance))
                .execute(conn)
        }
    };
}

/// A plain Diesel update of a captured table inside `journal.transaction`: recover's context
/// statements around it are cached; the caller's `UPDATE` is Diesel's, prepared every time.
fn captured_plain_update<C: TestDb>(
    conn: &mut C,
    counter: &mut Counter,
    plain_update: PlainUpdate<C>,
) -> Calls {
    let journal = Journal::new().actor("guard");
    for id in 11..=13 {
        journal.insert(conn, &Account::new(id, "ann", 100)).unwrap();
    }
    let update = |conn: &mut C, id: i32, balance: i64| {
        journal
            .transaction(conn, |conn| {
                plain_update(conn, id, balance)?;
                Ok(())
            })
            .unwrap()
    };
    for id in [11, 12] {
        counter.count(conn, "UPDATE", |conn| {
            update(conn, id, 7);
        });
    }
    let calls = counter.count(conn, "UPDATE", |conn| {
        update(conn, 13, 7);
    });
    assert_eq!(conn.account(13).map(|a| a.balance), Some(7));
    let history = Journal::new().history::<Account>(conn, &13).unwrap();
    assert_eq!(history.len(), 2, "the captured update journaled once");
    assert_eq!(history[1].actor.as_deref(), Some("guard"));
    calls
}

fn report(backend: &str, calls: &[(&str, Calls)], expected: &[(&str, usize)]) -> String {
    let mut report = String::new();
    for ((op, got), (_, want)) in calls.iter().zip(expected) {
        report.push_str(&format!(
            "{backend} {op}: {} statements (expected {want}), prepared {:?}, uncached {:?}\n",
            got.statements, got.prepared, got.uncached
        ));
    }
    report
}

fn check(backend: &str, calls: &[(&str, Calls)], expected: &[(&str, usize)], all: &str) {
    for ((op, got), (name, want)) in calls.iter().zip(expected) {
        assert_eq!(op, name);
        assert!(
            got.prepared.is_empty() && got.uncached.is_empty(),
            "{backend} {op} prepared statements anew after warm-up:\n{all}"
        );
        assert_eq!(got.statements, *want, "{backend} {op}:\n{all}");
    }
}

/// The expected counts per backend, in `OPS` order, then the captured plain update.
struct Expected {
    plain: [(&'static str, usize); 6],
    captured: [(&'static str, usize); 6],
    plain_update_captured: usize,
}

fn guard<C: TestDb>(
    backend: &str,
    plain: &mut C,
    captured: &mut C,
    plain_update: PlainUpdate<C>,
    expected: &Expected,
) {
    let mut counter = Counter::attach(plain);
    let plain_calls = recorded_calls(plain, &mut counter);
    // Attached first: capture's own transactions prepare some of the statements counted.
    let mut counter = Counter::attach(captured);
    capture_models(captured);
    let captured_calls = recorded_calls(captured, &mut counter);
    let update = [(
        "update",
        captured_plain_update(captured, &mut counter, plain_update),
    )];
    let update_expected = [("update", expected.plain_update_captured)];
    let captured_name = format!("{backend} captured");
    let update_name = format!("{backend} captured, plain Diesel update in journal.transaction");
    let all = [
        report(backend, &plain_calls, &expected.plain),
        report(&captured_name, &captured_calls, &expected.captured),
        report(&update_name, &update, &update_expected),
    ]
    .concat();
    println!("{all}");
    check(backend, &plain_calls, &expected.plain, &all);
    check(&captured_name, &captured_calls, &expected.captured, &all);
    check(&update_name, &update, &update_expected, &all);
}

/// SQLite: `BEGIN IMMEDIATE`, the row read, the journal's largest seq, the row write, the
/// entry's insert (completing a capture trigger's entry in the same statement), `COMMIT`; undo,
/// redo and restore also read the entity's newest entry and its undo target.
#[test]
fn sqlite_statements_per_call() {
    guard(
        "SQLite",
        &mut sqlite_file("stmt_plain", true).conn,
        &mut sqlite_file("stmt_captured", true).conn,
        plain_update!(SqliteConnection),
        &Expected {
            plain: [
                ("insert", 6),
                ("update", 6),
                ("delete", 6),
                ("undo", 8),
                ("redo", 8),
                ("restore", 8),
            ],
            captured: [
                ("insert", 6),
                ("update", 6),
                ("delete", 6),
                ("undo", 8),
                ("redo", 8),
                ("restore", 8),
            ],
            plain_update_captured: 9,
        },
    );
}

/// PostgreSQL: as SQLite, with the row read locking it (`FOR UPDATE`) and the seq drawn by the
/// entry's insert itself (an insert adds the entity's advisory lock).
#[cfg(feature = "postgres")]
#[test]
fn postgres_statements_per_call() {
    guard(
        "PostgreSQL",
        &mut postgres("stmt_plain", true).conn,
        &mut postgres("stmt_captured", true).conn,
        plain_update!(diesel::pg::PgConnection),
        &Expected {
            plain: [
                ("insert", 6),
                ("update", 5),
                ("delete", 5),
                ("undo", 8),
                ("redo", 8),
                ("restore", 8),
            ],
            captured: [
                ("insert", 6),
                ("update", 5),
                ("delete", 5),
                ("undo", 8),
                ("redo", 8),
                ("restore", 8),
            ],
            plain_update_captured: 7,
        },
    );
}

/// MySQL: a ticket's insert and `LAST_INSERT_ID()` for the seq, the head row's upsert where the
/// row may be absent, and the guard of each transaction recover begins (autocommit off and on,
/// its mark written and removed: four statements); on a captured table the entry's insert meets the trigger's entry and an
/// `UPDATE` completes it (one statement more).
#[cfg(feature = "mysql")]
#[test]
fn mysql_statements_per_call() {
    guard(
        "MySQL",
        &mut mysql("stmt_plain", true).conn,
        &mut mysql("stmt_captured", true).conn,
        plain_update!(diesel::mysql::MysqlConnection),
        &Expected {
            plain: [
                ("insert", 12),
                ("update", 11),
                ("delete", 11),
                ("undo", 14),
                ("redo", 14),
                ("restore", 14),
            ],
            captured: [
                ("insert", 13),
                ("update", 12),
                ("delete", 12),
                ("undo", 15),
                ("redo", 15),
                ("restore", 15),
            ],
            plain_update_captured: 11,
        },
    );
}
