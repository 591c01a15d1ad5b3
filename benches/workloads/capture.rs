//! Capture mode: C, C-B, PG-C and MY-C.
//!
//! C and PG-C (capture mode) are W1 with the accounts table captured on the recorded side:
//! the same plain Diesel update (the cost of the trigger), or `Journal::update` (recover's call
//! completing its trigger's entry), against the bare update of a table with no triggers. C-B
//! is B with both sides on a captured table.

use std::time::Instant;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use recover::Journal;

#[cfg(feature = "mysql")]
use crate::harness::mysql::Database;
#[cfg(feature = "postgres")]
use crate::harness::postgres::Schema;
use crate::harness::sqlite::{SqliteDb, WAL_NORMAL};
use crate::harness::{
    bare_update, check_outcome, expected_rows, initial_row, measure, median, random_updates,
    short_count, Config, Line, Pair, Rng, Side, ROWS,
};
use crate::model::{accounts, Account};
use crate::workloads::bulk::{bulk_lines, bulk_round, Bulk};

/// What a capture workload compares with a bare Diesel update of a table with no triggers
/// (each update in its own transaction).
#[derive(Debug, Clone, Copy)]
pub enum Capture {
    /// The same plain Diesel update, on a captured table: the cost of the trigger, and of
    /// compiling it into the statement, which Diesel prepares anew for every `update(..)`.
    Plain,
    /// The same update as a statement prepared once per connection, on both sides: the
    /// trigger's work without its compilation.
    Prepared,
    /// `Journal::update` of a captured model.
    Journal,
    /// The plain Diesel update, every update of the round in one transaction: what the trigger
    /// adds per row where no commit hides it (PostgreSQL's commits wait for the disk).
    OneTransaction,
}

/// One round of a capture workload: `n` updates, each in its own transaction, on `$conn`, a
/// fresh database (captured for the recorded side); checks the outcome.
macro_rules! capture_round {
    ($conn:expr, $journal:expr, $what:expr, $side:expr, $updates:expr) => {{
        let (conn, journal, updates) = ($conn, $journal, $updates);
        let start = Instant::now();
        match ($side, $what) {
            (_, Capture::Prepared) => {
                for u in updates {
                    conn.transaction(|c| PreparedUpdate(u).execute(c))
                        .expect("prepared update");
                }
            }
            (_, Capture::OneTransaction) => {
                conn.transaction(|c| {
                    for u in updates {
                        bare_update!(c, u)?;
                    }
                    QueryResult::Ok(())
                })
                .expect("plain updates in one transaction");
            }
            (Side::Bare, _) | (Side::Recorded, Capture::Plain) => {
                for u in updates {
                    conn.transaction(|c| bare_update!(c, u))
                        .expect("plain update");
                }
            }
            (Side::Recorded, Capture::Journal) => {
                for u in updates {
                    journal.update(conn, u).expect("recorded update");
                }
            }
        }
        let t = start.elapsed();
        let entries = if $side == Side::Recorded {
            updates.len()
        } else {
            0
        };
        check_outcome!(conn, expected_rows(updates), entries);
        t
    }};
}

/// The bare update as a statement with a static query id, which Diesel prepares once per
/// connection (its `update(..)` is prepared anew on every call).
struct PreparedUpdate<'a>(&'a Account);

impl diesel::query_builder::QueryId for PreparedUpdate<'_> {
    type QueryId = PreparedUpdate<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<C> RunQueryDsl<C> for PreparedUpdate<'_> {}

impl<DB> diesel::query_builder::QueryFragment<DB> for PreparedUpdate<'_>
where
    DB: diesel::backend::Backend
        + diesel::sql_types::HasSqlType<BigInt>
        + diesel::sql_types::HasSqlType<Text>
        + diesel::sql_types::HasSqlType<diesel::sql_types::Integer>,
    i64: diesel::serialize::ToSql<BigInt, DB>,
    i32: diesel::serialize::ToSql<diesel::sql_types::Integer, DB>,
    String: diesel::serialize::ToSql<Text, DB>,
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> QueryResult<()> {
        use diesel::sql_types::{Integer, Nullable};
        let row = self.0;
        out.push_sql("UPDATE accounts SET owner = ");
        out.push_bind_param::<Text, _>(&row.owner)?;
        out.push_sql(", balance = ");
        out.push_bind_param::<BigInt, _>(&row.balance)?;
        out.push_sql(", status = ");
        out.push_bind_param::<Text, _>(&row.status)?;
        out.push_sql(", note = ");
        out.push_bind_param::<Nullable<Text>, _>(&row.note)?;
        out.push_sql(" WHERE id = ");
        out.push_bind_param::<Integer, _>(&row.id)?;
        Ok(())
    }
}

/// C: workload W1 in capture mode, on a SQLite file (WAL, synchronous NORMAL).
pub fn sqlite_c(cfg: &Config, what: Capture, ops: usize, rounds: usize) -> Pair {
    let journal = Journal::new();
    let name = format!("C {what:?}");
    measure(&name, ops, cfg.ops(1_000).min(ops), rounds, |side, n| {
        let updates = random_updates(&mut Rng::new(1), n);
        let mut db = match side {
            Side::Bare => SqliteDb::create(WAL_NORMAL),
            Side::Recorded => SqliteDb::create_captured(WAL_NORMAL),
        };
        capture_round!(&mut db.conn, &journal, what, side, &updates)
    })
}

/// The label and target of a capture workload's line.
pub fn capture_label(prefix: &str, what: Capture, n: usize) -> String {
    let n = short_count(n);
    match what {
        Capture::Plain => {
            format!("{prefix} plain Diesel update, captured table, {n} own txn")
        }
        Capture::Journal => format!("{prefix} Journal::update, captured model, {n} own txn"),
        Capture::Prepared => {
            format!("{prefix} SQL update prepared once, captured table, {n} own txn")
        }
        Capture::OneTransaction => {
            format!("{prefix} plain Diesel update, captured table, {n} in one txn")
        }
    }
}

/// What the trigger adds to each updated row, in µs: the recorded side's median round time
/// less the bare side's, per update.
pub fn added_micros(pair: &Pair) -> f64 {
    let (bare, recorded) = (median(&pair.bare), median(&pair.recorded));
    (recorded.as_secs_f64() - bare.as_secs_f64()) * 1e6 / pair.ops as f64
}

/// C-B: workload B on a captured table (both sides): the triggers write the bulk call's
/// entries, and each single recorded call completes its trigger's entry.
pub fn sqlite_c_b(cfg: &Config) -> Vec<Line> {
    let all = [Bulk::UpdateVsSingles, Bulk::DeleteVsSingles];
    bulk_lines(cfg, "C-B", "sqlite", 6, &all, |journal, what, side, n| {
        // Seeded before capture: the seed rows are not journaled.
        let mut db = SqliteDb::create(WAL_NORMAL);
        let extra: Vec<Account> = (ROWS + 1..=n as i32).map(initial_row).collect();
        for chunk in extra.chunks(1_000) {
            diesel::insert_into(accounts::table)
                .values(chunk)
                .execute(&mut db.conn)
                .expect("seed accounts");
        }
        recover::capture::<Account>(&mut db.conn).expect("capture");
        bulk_round!(&mut db.conn, journal, what, side, n)
    })
}

/// PG-C: workload C on PostgreSQL.
#[cfg(feature = "postgres")]
pub fn pg_c(cfg: &Config, schema: &Schema, what: Capture, ops: usize, rounds: usize) -> Pair {
    let journal = Journal::new();
    let name = format!("PG-C {what:?}");
    measure(&name, ops, cfg.ops(500).min(ops), rounds, |side, n| {
        let updates = random_updates(&mut Rng::new(1), n);
        let conn = &mut schema.fresh();
        if side == Side::Recorded {
            recover::capture::<Account>(conn).expect("capture");
        }
        capture_round!(conn, &journal, what, side, &updates)
    })
}

/// MY-C: PG-C on MySQL/MariaDB (no target yet: issue 17 asks for the figure).
#[cfg(feature = "mysql")]
pub fn my_c(cfg: &Config, db: &Database, what: Capture, ops: usize, rounds: usize) -> Pair {
    let journal = Journal::new();
    let name = format!("MY-C {what:?}");
    measure(&name, ops, cfg.ops(500).min(ops), rounds, |side, n| {
        let updates = random_updates(&mut Rng::new(1), n);
        let conn = &mut db.fresh();
        if side == Side::Recorded {
            recover::capture::<Account>(conn).expect("capture");
        }
        capture_round!(conn, &journal, what, side, &updates)
    })
}
