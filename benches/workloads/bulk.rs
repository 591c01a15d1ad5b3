//! Bulk recording: B on SQLite, PG-B on PostgreSQL and MY-B on MySQL or MariaDB, each
//! comparing a bulk call (`update_where`, `delete_where`) with its baseline on a table of
//! 10,000 rows; C-B (in `capture`) runs the same rounds on a captured table.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use recover::Journal;

#[cfg(feature = "mysql")]
use crate::harness::mysql::Database;
#[cfg(feature = "postgres")]
use crate::harness::postgres::Schema;
use crate::harness::sqlite::{SqliteDb, WAL_NORMAL};
use crate::harness::{check_outcome, initial_row, measure, short_count, Config, Line, Side, ROWS};
use crate::model::{accounts, Account};

/// What workload B compares.
#[derive(Debug, Clone, Copy)]
pub enum Bulk {
    /// `update_where` vs the same update as single recorded `update` calls, one transaction.
    UpdateVsSingles,
    /// `delete_where` vs single recorded `delete` calls, one transaction.
    DeleteVsSingles,
    /// `update_where` vs bare Diesel's `update(..).filter(..).set(..)`.
    UpdateVsBare,
    /// SQLite only: the same rows and journal entries written by two plain SQL statements
    /// (`UPDATE`, and `INSERT .. SELECT` with `json_object` images), no Rust in between, vs
    /// single recorded `update` calls: the floor of any bulk recording into this journal.
    FloorVsSingles,
}

/// One round of workload B on `$conn`, a fresh database holding `ROWS` rows: seeds the table
/// up to `$n` rows (not timed), times one side of `$what`, checks the outcome.
macro_rules! bulk_round {
    ($conn:expr, $journal:expr, $what:expr, $side:expr, $n:expr) => {{
        let (conn, journal, what, side, n) = ($conn, $journal, $what, $side, $n);
        let have: i64 = accounts::table.count().get_result(conn).expect("count accounts");
        let extra: Vec<Account> = (have as i32 + 1..=n as i32).map(initial_row).collect();
        for chunk in extra.chunks(1_000) {
            diesel::insert_into(accounts::table)
                .values(chunk)
                .execute(conn)
                .expect("seed accounts");
        }
        let mut table: Vec<Account> = accounts::table
            .order(accounts::id)
            .load(conn)
            .expect("load accounts");
        let untouched = table.split_off(n);
        let last = table.last().map_or(0, |a| a.id);
        let mut rows = table;
        rows.iter_mut().for_each(|a| a.balance += 1);
        let start = Instant::now();
        let entries = match (what, side) {
            (Bulk::UpdateVsSingles | Bulk::FloorVsSingles, Side::Bare) => {
                conn.transaction::<_, recover::Error, _>(|c| {
                    rows.iter().try_for_each(|a| journal.update(c, a).map(drop))
                })
                .expect("recorded updates");
                n
            }
            (Bulk::DeleteVsSingles, Side::Bare) => {
                conn.transaction::<_, recover::Error, _>(|c| {
                    rows.iter().try_for_each(|a| journal.delete(c, a).map(drop))
                })
                .expect("recorded deletes");
                n
            }
            (Bulk::UpdateVsBare, Side::Bare) => {
                let updated = diesel::update(accounts::table.filter(accounts::id.le(last)))
                    .set(accounts::balance.eq(accounts::balance + 1))
                    .execute(conn)
                    .expect("bare update");
                assert_eq!(updated, n);
                0
            }
            (Bulk::UpdateVsSingles | Bulk::UpdateVsBare, Side::Recorded) => {
                journal
                    .update_where::<Account>(
                        conn,
                        accounts::id.le(last),
                        accounts::balance.eq(accounts::balance + 1),
                    )
                    .expect("update_where");
                n
            }
            (Bulk::FloorVsSingles, Side::Recorded) => {
                conn.transaction::<_, diesel::result::Error, _>(|c| {
                    diesel::sql_query(format!(
                        "INSERT INTO recover_journal (seq, changeset_id, entity, entity_key, op, \
                         before_image, after_image, undoes, undo_next, redo_next, actor, \
                         reason, recorded_at) \
                         SELECT id, 1, 'accounts', CAST(id AS TEXT), 'update', \
                         json_object('id', id, 'owner', owner, 'balance', balance, \
                         'status', status, 'note', note), \
                         json_object('id', id, 'owner', owner, 'balance', balance + 1, \
                         'status', status, 'note', note), \
                         NULL, id, NULL, NULL, NULL, 0 FROM accounts WHERE id <= {last}"
                    ))
                    .execute(c)?;
                    diesel::update(accounts::table.filter(accounts::id.le(last)))
                        .set(accounts::balance.eq(accounts::balance + 1))
                        .execute(c)
                })
                .expect("plain SQL journal");
                n
            }
            (Bulk::DeleteVsSingles, Side::Recorded) => {
                journal
                    .delete_where::<Account>(conn, accounts::id.le(last))
                    .expect("delete_where");
                n
            }
        };
        let t = start.elapsed();
        let expected: Vec<Account> = match what {
            Bulk::DeleteVsSingles => untouched,
            Bulk::UpdateVsSingles | Bulk::UpdateVsBare | Bulk::FloorVsSingles => {
                rows.into_iter().chain(untouched).collect()
            }
        };
        check_outcome!(conn, expected, entries);
        t
    }};
}

pub(crate) use bulk_round;

/// B: bulk recording of every row of a table of `rows` rows (each side on a fresh database).
/// The "bare" side is the baseline (`Bulk` says which), the "recorded" side the bulk call;
/// the change is `balance = balance + 1` (or the delete) of every row.
pub fn sqlite_b(cfg: &Config) -> Vec<Line> {
    let all = [
        Bulk::UpdateVsSingles,
        Bulk::DeleteVsSingles,
        Bulk::UpdateVsBare,
        Bulk::FloorVsSingles,
    ];
    bulk_lines(cfg, "B", "sqlite", 6, &all, |journal, what, side, n| {
        let mut db = SqliteDb::create(WAL_NORMAL);
        bulk_round!(&mut db.conn, journal, what, side, n)
    })
}

/// The comparisons of workload B on a server.
#[cfg(any(feature = "postgres", feature = "mysql"))]
const SERVER_BULK: [Bulk; 3] = [
    Bulk::UpdateVsSingles,
    Bulk::DeleteVsSingles,
    Bulk::UpdateVsBare,
];

/// PG-B: workload B on PostgreSQL.
#[cfg(feature = "postgres")]
pub fn pg_b(cfg: &Config, schema: &Schema) -> Vec<Line> {
    bulk_lines(
        cfg,
        "PG-B",
        "postgres",
        2,
        &SERVER_BULK,
        |journal, what, side, n| bulk_round!(&mut schema.fresh(), journal, what, side, n),
    )
}

/// MY-B: workload B on MySQL or MariaDB.
#[cfg(feature = "mysql")]
pub fn my_b(cfg: &Config, db: &Database) -> Vec<Line> {
    bulk_lines(
        cfg,
        "MY-B",
        "mysql",
        2,
        &SERVER_BULK,
        |journal, what, side, n| bulk_round!(&mut db.fresh(), journal, what, side, n),
    )
}

/// The lines of workload B on one backend: each comparison measured on `rows` rows, `round`
/// running one side of one round (see `bulk_round!`) with the comparison's journal.
pub fn bulk_lines(
    cfg: &Config,
    prefix: &str,
    backend: &'static str,
    default_rounds: usize,
    comparisons: &[Bulk],
    mut round: impl FnMut(&Journal, Bulk, Side, usize) -> Duration,
) -> Vec<Line> {
    let rows = cfg.ops(10_000).max(ROWS as usize);
    let n = short_count(rows);
    let rounds = cfg.rounds(default_rounds);
    comparisons
        .iter()
        .map(|&what| {
            let (label, target) = match what {
                Bulk::UpdateVsSingles => (
                    format!("{prefix} update_where {n} rows vs {n} updates, one txn"),
                    Some(0.2),
                ),
                Bulk::DeleteVsSingles => (
                    format!("{prefix} delete_where {n} rows vs {n} deletes, one txn"),
                    Some(0.2),
                ),
                Bulk::UpdateVsBare => (
                    format!("{prefix} update_where {n} rows vs bare Diesel's"),
                    None,
                ),
                Bulk::FloorVsSingles => (
                    format!("{prefix} floor: plain SQL journal of {n} rows vs {n} updates"),
                    None,
                ),
            };
            let journal = Journal::new();
            let name = format!("{prefix} {what:?}");
            let pair = measure(&name, rows, cfg.ops(1_000).min(rows), rounds, |side, n| {
                round(&journal, what, side, n)
            });
            Line::from_pair(label, backend, &pair, target)
        })
        .collect()
}
