//! Concurrent writers: PG-N on PostgreSQL and MY-N on MySQL or MariaDB. For 1, 2, 4, 8 and 16
//! writer threads, each with its own connection, each updates its own disjoint rows, every
//! update in its own transaction with the server's durable commits; the bare side runs Diesel's
//! update in `conn.transaction`, the recorded side `Journal::update`. Then the hot-spot mix: 8
//! writers, every tenth update of each going to one of 10 shared rows. Collisions (deadlocks,
//! serialization failures, lock wait timeouts) are retried here, and counted.
//!
//! Throughput is all writers' operations over the time from the start signal to the last
//! writer's end; connections are opened, and the updates drawn, before the clock starts.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use recover::Journal;

#[cfg(feature = "mysql")]
use crate::harness::mysql::Database;
#[cfg(feature = "postgres")]
use crate::harness::postgres::Schema;
use crate::harness::{
    bare_update, changed_row, initial_row, measure, median, ops_per_sec, short_count, thousands,
    Config, Line, Rng, Side, ROWS,
};
use crate::model::{accounts, Account};

/// The writer counts of the scaling series.
pub const WRITERS: [usize; 5] = [1, 2, 4, 8, 16];
/// Updates per writer at scale 1.
const PER_WRITER: usize = 2_000;
/// Writers of the hot-spot mix.
const HOT_WRITERS: usize = 8;
/// The shared rows of the hot-spot mix: ids `1..=HOT_ROWS`.
const HOT_ROWS: i32 = 10;
/// The ratio(16)/ratio(1) target.
const SCALING_TARGET: f64 = 1.3;

/// What one backend's family measured: its table lines and the lines printed after the table.
pub struct Family {
    pub lines: Vec<Line>,
    pub summary: Vec<String>,
}

/// The updates of writer `w` of `writers`: `per` updates of its own rows (a contiguous block,
/// disjoint from every other writer's); with `hot`, every tenth one of a shared row instead.
fn writer_updates(writers: usize, w: usize, per: usize, hot: bool) -> Vec<Account> {
    let base = if hot { HOT_ROWS } else { 0 };
    let own = (ROWS - base) / writers as i32;
    let first = base + 1 + w as i32 * own;
    let mut rng = Rng::new(0x4E00 + (writers as u64) * 64 + w as u64 + if hot { 32 } else { 0 });
    (0..per)
        .map(|i| {
            let id = if hot && i % 10 == 9 {
                1 + rng.below(HOT_ROWS as u64) as i32
            } else {
                first + rng.below(own as u64) as i32
            };
            changed_row(&mut rng, id, i)
        })
        .collect()
}

/// Every writer's updates.
fn plan(writers: usize, per: usize, hot: bool) -> Vec<Vec<Account>> {
    (0..writers)
        .map(|w| writer_updates(writers, w, per, hot))
        .collect()
}

/// Checks `rows` (the whole table, ordered by id) against `plan`: a row no writer touched is
/// as seeded; any other holds the last update of one of the writers that touched it (exactly
/// its owner's, for a row of one writer).
fn check_rows(rows: &[Account], plan: &[Vec<Account>]) {
    assert_eq!(rows.len(), ROWS as usize, "rows in the table");
    let mut last: Vec<Vec<&Account>> = vec![Vec::new(); ROWS as usize];
    for updates in plan {
        let mut mine: Vec<Option<&Account>> = vec![None; ROWS as usize];
        for u in updates {
            mine[(u.id - 1) as usize] = Some(u);
        }
        for (slot, u) in last.iter_mut().zip(mine) {
            slot.extend(u);
        }
    }
    for (row, candidates) in rows.iter().zip(&last) {
        if candidates.is_empty() {
            assert!(*row == initial_row(row.id), "row {} was changed", row.id);
        } else {
            assert!(
                candidates.contains(&row),
                "row {} holds no writer's last update",
                row.id
            );
        }
    }
}

/// `true` for a bare Diesel error caused only by a concurrent transaction: a deadlock, a
/// serialization failure, a lock wait timeout.
fn bare_retryable(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error as E};
    match e {
        E::DatabaseError(kind, info) => {
            let m = info.message();
            matches!(kind, DatabaseErrorKind::SerializationFailure)
                || m.contains("deadlock")
                || m.contains("Deadlock")
                || m.contains("Lock wait timeout")
        }
        _ => false,
    }
}

/// One round of one side on `$conn`, a fresh database: opens one connection per writer with
/// `$connect`, runs every writer's updates on its own thread (timed from a common start), and
/// checks the outcome on `$conn`: the rows (see `check_rows`), one journal entry per recorded
/// update, and `recover::check` clean. Returns the time and the retries.
macro_rules! concurrent_round {
    ($conn:expr, $connect:expr, $journal:expr, $side:expr, $plan:expr) => {{
        let (conn, journal, side, plan): (_, &Journal, Side, &[Vec<Account>]) =
            ($conn, $journal, $side, $plan);
        let mut writers: Vec<_> = plan.iter().map(|_| $connect).collect();
        let start_line = Barrier::new(plan.len() + 1);
        let (t, retries) = std::thread::scope(|s| {
            let handles: Vec<_> = writers
                .iter_mut()
                .zip(plan)
                .map(|(c, updates)| {
                    let start_line = &start_line;
                    s.spawn(move || {
                        start_line.wait();
                        let mut retries = 0_usize;
                        for u in updates {
                            match side {
                                Side::Bare => loop {
                                    match c.transaction(|c| bare_update!(c, u)) {
                                        Ok(n) => {
                                            assert_eq!(n, 1, "bare update of row {}", u.id);
                                            break;
                                        }
                                        Err(e) if bare_retryable(&e) => retries += 1,
                                        Err(e) => panic!("bare update: {e}"),
                                    }
                                },
                                Side::Recorded => loop {
                                    match journal.update(c, u) {
                                        Ok(_) => break,
                                        Err(e) if e.is_retryable() => retries += 1,
                                        Err(e) => panic!("recorded update: {e}"),
                                    }
                                },
                            }
                        }
                        retries
                    })
                })
                .collect();
            start_line.wait();
            let start = Instant::now();
            let retries: usize = handles
                .into_iter()
                .map(|h| h.join().expect("writer thread"))
                .sum();
            (start.elapsed(), retries)
        });
        drop(writers);
        let rows: Vec<Account> = accounts::table
            .order(accounts::id)
            .select(Account::as_select())
            .load(conn)
            .expect("load accounts");
        check_rows(&rows, plan);
        let ops: usize = plan.iter().map(Vec::len).sum();
        let entries: i64 = diesel::select(diesel::dsl::sql::<BigInt>(
            "(SELECT count(*) FROM recover_journal)",
        ))
        .get_result(conn)
        .expect("count journal entries");
        let expected = if side == Side::Recorded { ops } else { 0 };
        assert_eq!(entries, expected as i64, "journal entries");
        if side == Side::Recorded {
            let report = recover::check(conn).expect("recover::check");
            assert!(report.is_ok(), "recover::check: {report}");
            assert_eq!(report.entries, ops, "entries seen by recover::check");
        }
        (t, retries)
    }};
}

/// PG-N on PostgreSQL.
#[cfg(feature = "postgres")]
pub fn pg_n(cfg: &Config, schema: &Schema) -> Family {
    family(cfg, "PG-N", "postgres", |journal, side, plan| {
        concurrent_round!(&mut schema.fresh(), schema.connect(), journal, side, plan)
    })
}

/// MY-N on MySQL or MariaDB.
#[cfg(feature = "mysql")]
pub fn my_n(cfg: &Config, db: &Database) -> Family {
    family(cfg, "MY-N", "mysql", |journal, side, plan| {
        concurrent_round!(&mut db.fresh(), db.connect_to(), journal, side, plan)
    })
}

/// The family on one backend: the scaling series, then the hot-spot mix. `round` runs one
/// side of one round of a plan (see `concurrent_round!`) and returns its time and retries.
pub fn family(
    cfg: &Config,
    prefix: &str,
    backend: &'static str,
    mut round: impl FnMut(&Journal, Side, &[Vec<Account>]) -> (Duration, usize),
) -> Family {
    let per = cfg.ops(PER_WRITER);
    let rounds = cfg.rounds(1);
    let journal = Journal::new();
    let mut lines = Vec::new();
    let mut summary = Vec::new();
    let mut ratios = Vec::new();

    let mut series = |writers: usize, hot: bool| {
        let ops = writers * per;
        let warm = writers * cfg.ops(50).min(per);
        // Retries of the measured rounds, bare and recorded.
        let mut retries = [0_usize; 2];
        let name = format!(
            "{prefix} {writers} writers{}",
            if hot { ", hot spot" } else { "" }
        );
        let pair = measure(&name, ops, warm, rounds, |side, n| {
            let (t, r) = round(&journal, side, &plan(writers, n / writers, hot));
            if n == ops {
                retries[(side == Side::Recorded) as usize] += r;
            }
            t
        });
        let per_1k = retries.map(|r| r as f64 * 1_000.0 / (ops * rounds) as f64);
        (pair, per_1k)
    };

    for writers in WRITERS {
        let (pair, per_1k) = series(writers, false);
        let label = format!(
            "{prefix} {writers:>2} writers × {} updates, own txn each",
            short_count(per)
        );
        let line = Line::from_pair(label, backend, &pair, None);
        ratios.push(line.ratio);
        if per_1k != [0.0, 0.0] {
            summary.push(format!(
                "{prefix} {writers} writers: retries per 1,000 ops: bare {:.1}, recorded {:.1}",
                per_1k[0], per_1k[1]
            ));
        }
        lines.push(line);
    }
    let (first, last) = (ratios[0], ratios[ratios.len() - 1]);
    let scaling = last / first;
    summary.push(format!(
        "{prefix} ratio({}) / ratio({}) = {last:.2} / {first:.2} = {scaling:.2}   target ≤ \
         {SCALING_TARGET:.1} {}",
        WRITERS[WRITERS.len() - 1],
        WRITERS[0],
        if scaling <= SCALING_TARGET {
            "✓"
        } else {
            "✗"
        }
    ));

    let (pair, per_1k) = series(HOT_WRITERS, true);
    let label = format!(
        "{prefix} hot spot: {HOT_WRITERS} writers × {}, 10% on {HOT_ROWS} shared rows",
        short_count(per)
    );
    let line = Line::from_pair(label, backend, &pair, None);
    summary.push(format!(
        "{prefix} hot spot ({HOT_WRITERS} writers, every 10th update on one of {HOT_ROWS} \
         shared rows): bare {} ops/s, {:.1} retries per 1,000 ops; recorded {} ops/s, {:.1} \
         retries per 1,000 ops; ratio {:.2}×",
        thousands(ops_per_sec(pair.ops, median(&pair.bare))),
        per_1k[0],
        thousands(ops_per_sec(pair.ops, median(&pair.recorded))),
        per_1k[1],
        line.ratio
    ));
    lines.push(line);
    Family { lines, summary }
}
