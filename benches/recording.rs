//! What recording costs, measured against the same work done with bare Diesel, in one run.
//!
//! ```sh
//! cargo bench --bench recording                                    # SQLite workloads
//! RECOVER_PG_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo bench --features postgres --bench recording            # + PostgreSQL
//! RECOVER_MYSQL_URL=mysql://root@127.0.0.1:3306/test RECOVER_BENCH=MY-B \
//!     cargo bench --features mysql --bench recording               # bulk on MariaDB
//! RECOVER_BENCH=W1,W3 RECOVER_BENCH_SCALE=0.1 cargo bench --bench recording   # a quick look
//! ```
//!
//! Environment:
//! - `RECOVER_BENCH`: workloads to run, comma separated (`W1`, `W1-FULL`, `W2`, `W3`, `W4`,
//!   `B`, `C`, `C-B`, `H`, `T`, `PG-W1`, `PG-W2`, `PG-B`, `PG-C`, `PG-N`, `MY-B`, `MY-C`, `MY-N`, `RB`;
//!   `PG` = every PostgreSQL one, `MY` = every MySQL one, `SQLITE` = every SQLite one).
//!   Default: all.
//! - `RECOVER_BENCH_SCALE`: multiplies every operation count and journal size (default 1).
//! - `RECOVER_BENCH_ROUNDS`: measured rounds per side (default 6 for W1, W2, W3 and W4, 4
//!   for W1-FULL, 3 for H, 2 for the PostgreSQL ones, whose commits wait for fsync, 1 for
//!   PG-N and MY-N).
//! - `RECOVER_PG_URL`: the PostgreSQL server (only with `--features postgres`); the benchmark
//!   works in a fresh schema `bench_<pid>` and drops it at the end.
//! - `RECOVER_MYSQL_URL`: the MySQL or MariaDB server (only with `--features mysql`); the
//!   benchmark works in a fresh database `recover_bench_<pid>` and drops it at the end.
//!
//! Method: the model is DESIGN.md section 1's `accounts` table, 1,000 rows. Every measurement
//! starts from a fresh database (a new file in the system temp folder, or a new PostgreSQL
//! schema) and a new connection, so both sides start with the same pages and an empty statement
//! cache. A warm-up round of each side runs first; then the measured rounds alternate the order
//! of the two sides (bare first in even rounds, recorded first in odd ones). Ops/s come from the
//! median round time of each side, and the ratio is recorded time / bare time. The update
//! sequences are drawn from a fixed-seed xorshift generator, the same on both sides, and every
//! run is checked afterwards: both sides must leave the same rows, and the journal must hold
//! exactly the entries recorded.
//!
//! The workload families, one file each under `workloads/`, on the harness in `harness/`
//! (configuration, input, measurement, table, shared statements, and the databases):
//! - `single`: W1, W1-FULL, W2 and W4 on SQLite, PG-W1 and PG-W2 on PostgreSQL (single
//!   recorded updates, in their own transactions, in one, or in changesets);
//! - `undo`: W3, undo on a small and a large journal;
//! - `history`: H, the memory of reading a long history;
//! - `bulk`: B, PG-B and MY-B, bulk recording against its baselines;
//! - `table`: T, restoring a table;
//! - `capture`: C, C-B and PG-C, the same workloads in capture mode;
//! - `concurrency`: PG-N and MY-N, 1 to 16 concurrent writers, each on its own connection and
//!   rows, and a hot-spot mix of 8 writers sharing 10 rows (with `--features postgres` or
//!   `mysql`).

/// The model of DESIGN.md section 1, shared with the bank example.
#[path = "../examples/bank/model.rs"]
mod model;

mod harness;
mod workloads;

use std::time::Instant;

#[cfg(feature = "mysql")]
use crate::harness::mysql::Database;
#[cfg(feature = "postgres")]
use crate::harness::postgres::Schema;
use crate::harness::sqlite::{sqlite_version, WAL_FULL, WAL_NORMAL};
use crate::harness::{median, ops_per_sec, print_table, short_count, Config, Line, ROWS};
use crate::workloads::capture::{self, capture_label, Capture};
#[cfg(any(feature = "postgres", feature = "mysql"))]
use crate::workloads::concurrency;
#[cfg(feature = "postgres")]
use crate::workloads::rebuild;
use crate::workloads::{bulk, history, single, table, undo};

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn main() {
    let cfg = Config::from_env();
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("recover recording benchmark");
    println!(
        "date {}   nproc {nproc} ({})   SQLite {}",
        chrono::Local::now().format("%Y-%m-%d %H:%M %Z"),
        cpu_model(),
        sqlite_version()
    );
    println!(
        "scale {}   table of {ROWS} rows   temp folder {}",
        cfg.scale,
        std::env::temp_dir().display()
    );

    let mut lines = Vec::new();
    let mut notes = Vec::new();
    let mut w1_recorded = None;
    let started = Instant::now();

    if cfg.wants("W1") {
        let n = cfg.ops(10_000);
        let pair = single::sqlite_w1(&cfg, "W1", WAL_NORMAL, n, cfg.rounds(6));
        w1_recorded = Some(ops_per_sec(pair.ops, median(&pair.recorded)));
        let label = format!("W1 {} updates, own txn, WAL NORMAL", short_count(n));
        lines.push(Line::from_pair(label, "sqlite", &pair, Some(2.0)));
    }
    if cfg.wants("W1-FULL") {
        let n = cfg.ops(10_000);
        let pair = single::sqlite_w1(&cfg, "W1-FULL", WAL_FULL, n, cfg.rounds(4));
        let label = format!("W1-FULL {} updates, own txn, WAL FULL", short_count(n));
        lines.push(Line::from_pair(label, "sqlite", &pair, Some(1.15)));
    }
    if cfg.wants("W2") {
        let n = cfg.ops(10_000);
        let pair = single::sqlite_w2(&cfg, n, cfg.rounds(6));
        let label = format!("W2 {} updates, one txn", short_count(n));
        lines.push(Line::from_pair(label, "sqlite", &pair, Some(3.0)));
    }
    if cfg.wants("W3") {
        undo::sqlite_w3(&cfg, &mut lines, w1_recorded);
    }
    if cfg.wants("W4") {
        let changesets = cfg.ops(100);
        let pair = single::sqlite_w4(&cfg, changesets, 100, cfg.rounds(6));
        let label = format!("W4 {changesets} changesets of 100 updates");
        lines.push(Line::from_pair(label, "sqlite", &pair, Some(3.0)));
    }
    if cfg.wants("B") {
        lines.extend(bulk::sqlite_b(&cfg));
    }
    for what in [
        Capture::Plain,
        Capture::Prepared,
        Capture::Journal,
        Capture::OneTransaction,
    ] {
        if cfg.wants("C") {
            let n = cfg.ops(10_000);
            let pair = capture::sqlite_c(&cfg, what, n, cfg.rounds(6));
            let target = if let Capture::OneTransaction = what {
                notes.push(format!(
                    "C: the triggers add {:.1} µs per updated row (in one transaction)",
                    capture::added_micros(&pair)
                ));
                None
            } else {
                Some(1.6)
            };
            lines.push(Line::from_pair(
                capture_label("C", what, n),
                "sqlite",
                &pair,
                target,
            ));
        }
    }
    if cfg.wants("C-B") {
        lines.extend(capture::sqlite_c_b(&cfg));
    }
    let history = cfg.wants("H").then(|| history::sqlite_h(&cfg));
    let table_restore = cfg.wants("T").then(|| table::sqlite_t(&cfg));

    #[allow(unused_mut)]
    let mut summaries: Vec<String> = Vec::new();
    let wants_pg = cfg.wants("PG-W1")
        || cfg.wants("PG-W2")
        || cfg.wants("PG-B")
        || cfg.wants("PG-C")
        || cfg.wants("PG-N")
        || cfg.wants("RB");
    match (&cfg.pg_url, wants_pg) {
        (None, _) | (_, false) => {
            if wants_pg {
                notes.push("PostgreSQL skipped: RECOVER_PG_URL is not set".to_owned());
            }
        }
        #[cfg(feature = "postgres")]
        (Some(url), true) => {
            let schema = Schema::new(url);
            println!("PostgreSQL {}   schema {}", schema.version(), schema.name());
            if cfg.wants("PG-W1") {
                let n = cfg.ops(10_000);
                let pair = single::pg_w1(&cfg, &schema, n, cfg.rounds(2));
                let label = format!("PG-W1 {} updates, own txn", short_count(n));
                lines.push(Line::from_pair(label, "postgres", &pair, Some(1.5)));
            }
            if cfg.wants("PG-W2") {
                let n = cfg.ops(10_000);
                let pair = single::pg_w2(&cfg, &schema, n, cfg.rounds(2));
                let label = format!("PG-W2 {} updates, one txn", short_count(n));
                lines.push(Line::from_pair(label, "postgres", &pair, None));
            }
            for what in [
                Capture::Plain,
                Capture::Prepared,
                Capture::Journal,
                Capture::OneTransaction,
            ] {
                if cfg.wants("PG-C") {
                    let n = cfg.ops(10_000);
                    let pair = capture::pg_c(&cfg, &schema, what, n, cfg.rounds(2));
                    let label = capture_label("PG-C", what, n);
                    if let Capture::OneTransaction = what {
                        notes.push(format!(
                            "PG-C: the trigger adds {:.1} µs per updated row (in one \
                             transaction; issue 17's target: 15)",
                            capture::added_micros(&pair)
                        ));
                        lines.push(Line::from_pair(label, "postgres", &pair, None));
                    } else {
                        lines.push(Line::from_pair(label, "postgres", &pair, Some(1.15)));
                    }
                }
            }
            if cfg.wants("PG-B") {
                lines.extend(bulk::pg_b(&cfg, &schema));
            }
            if cfg.wants("RB") {
                notes.push(rebuild::sqlite_to_pg(&cfg, &schema));
            }
            if cfg.wants("PG-N") {
                let family = concurrency::pg_n(&cfg, &schema);
                lines.extend(family.lines);
                summaries.extend(family.summary);
            }
        }
        #[cfg(not(feature = "postgres"))]
        (Some(_), true) => notes.push(
            "PostgreSQL skipped: RECOVER_PG_URL is set, but the benchmark was built without \
             `--features postgres`"
                .to_owned(),
        ),
    }

    let wants_my = cfg.wants("MY-B") || cfg.wants("MY-C") || cfg.wants("MY-N");
    match (&cfg.mysql_url, wants_my) {
        (None, _) | (_, false) => {
            if wants_my {
                notes.push("MySQL skipped: RECOVER_MYSQL_URL is not set".to_owned());
            }
        }
        #[cfg(feature = "mysql")]
        (Some(url), true) => {
            let db = Database::new(url);
            println!("MySQL {}   database {}", db.version(), db.name());
            if cfg.wants("MY-B") {
                lines.extend(bulk::my_b(&cfg, &db));
            }
            for what in [
                Capture::Plain,
                Capture::Prepared,
                Capture::Journal,
                Capture::OneTransaction,
            ] {
                if cfg.wants("MY-C") {
                    let n = cfg.ops(10_000);
                    let pair = capture::my_c(&cfg, &db, what, n, cfg.rounds(2));
                    let label = capture_label("MY-C", what, n);
                    if let Capture::OneTransaction = what {
                        notes.push(format!(
                            "MY-C: the trigger adds {:.1} µs per updated row (in one \
                             transaction)",
                            capture::added_micros(&pair)
                        ));
                    }
                    lines.push(Line::from_pair(label, "mysql", &pair, None));
                }
            }
            if cfg.wants("MY-N") {
                let family = concurrency::my_n(&cfg, &db);
                lines.extend(family.lines);
                summaries.extend(family.summary);
            }
        }
        #[cfg(not(feature = "mysql"))]
        (Some(_), true) => notes.push(
            "MySQL skipped: RECOVER_MYSQL_URL is set, but the benchmark was built without \
             `--features mysql`"
                .to_owned(),
        ),
    }

    if !lines.is_empty() {
        println!();
        print_table(&lines);
        println!();
        println!(
            "ratio = recorded time / bare time (medians of the rounds); \"per round\" = the \
             smallest and largest ratio of one round's pair."
        );
    }
    for line in &summaries {
        println!("{line}");
    }
    if cfg.wants("W3") {
        println!(
            "W3 lines: the \"bare\" column is the baseline (a recorded update on the same \
             database, each in its own transaction, or the undo it is compared with), the \
             \"recorded\" column the undo; each undo in its own transaction."
        );
    }
    if cfg.wants("B") || cfg.wants("PG-B") || cfg.wants("MY-B") {
        println!(
            "B lines: ops = rows; the \"bare\" column is the baseline (single recorded calls \
             in one transaction, or bare Diesel's one UPDATE), the \"recorded\" column the bulk \
             call (for \"B floor\", the same rows and entries written by plain SQL); ratio \
             ≤ 0.20 means at least 5× faster."
        );
    }
    if let Some(history) = history {
        println!();
        for line in history {
            println!("{line}");
        }
    }
    if let Some(line) = table_restore {
        println!("\n{line}");
    }
    for note in notes {
        println!("{note}");
    }
    println!("total {:.0} s", started.elapsed().as_secs_f64());
}
