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
//!   `B`, `C`, `C-B`, `H`, `T`, `PG-W1`, `PG-W2`, `PG-B`, `PG-C`, `MY-B`; `PG` = every
//!   PostgreSQL one, `MY` = the MySQL one, `SQLITE` = every SQLite one). Default: all.
//! - `RECOVER_BENCH_SCALE`: multiplies every operation count and journal size (default 1).
//! - `RECOVER_BENCH_ROUNDS`: measured rounds per side (default 6 for W1, W2, W3 and W4, 4
//!   for W1-FULL, 3 for H, 2 for the PostgreSQL ones, whose commits wait for fsync).
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
//! C and PG-C (capture mode) are W1 with the accounts table captured on the recorded side:
//! the same plain Diesel update (the cost of the trigger), or `Journal::update` (recover's call
//! completing its trigger's entry), against the bare update of a table with no triggers. C-B
//! is B with both sides on a captured table.
//!
//! W3 (undo) builds two journals: 10,000 entries recorded through recover, and 1,000,000 of
//! which all but the recorded ones are written with plain SQL in recover's format (the undos
//! only ever reach the recorded ones, so no conflict can occur). Each round runs, on both
//! databases, a batch of undos of random entities (each undo in its own transaction, timed on
//! its own) and a batch of recorded updates of random entities (the baseline "one recorded
//! update"); the batch order is reversed every other round. On the large journal, undos of
//! two extra entities are shuffled in among the others, the same number for each: one with a
//! history of 10,000 entries, one with only the changes that get undone.
//!
//! H (history memory) records 100,000 updates of one account (in one transaction), then reads
//! its history back on a fresh connection in three ways: (a) `Journal::history`, every entry
//! in one `Vec`; (b) `Journal::history_page` 1,000 entries at a time, keeping only a running
//! count and sum; (c) the same pages appended to one `Vec` (what (a) returns, built without
//! holding more than one page besides it). For each it reports the peak growth of the process's resident set during the
//! call (VmHWM in /proc/self/status, reset before each call by writing 5 to
//! /proc/self/clear_refs, after `malloc_trim` has handed freed memory back, so the baseline is
//! what is really in use), the peak growth of the Rust heap (counted by this benchmark's
//! global allocator, only during H; SQLite's own allocations are only in the RSS), what is
//! still held when the call has returned, and the size of what (a) returns, computed from the
//! entries themselves. After a warm-up pass, rounds rotate the order of the three; the table
//! shows medians.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel::sqlite::SqliteConnection;
use recover::{At, Entry, Journal};

/// The model of DESIGN.md section 1, shared with the bank example.
#[path = "../examples/bank/model.rs"]
mod model;

use model::{accounts, Account};

/// Rows in the table.
const ROWS: i32 = 1_000;
/// The fixed seed of every random sequence.
const SEED: u64 = 0x9E37_79B9_7F4A_7C15;

const ACCOUNTS_DDL: &str = "CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, \
     balance BIGINT NOT NULL, status TEXT NOT NULL, note TEXT);";

// ------------------------------------------------------------------------------------------
// Deterministic input

/// xorshift64*: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn new(stream: u64) -> Self {
        Rng(SEED ^ stream.wrapping_mul(0xD6E8_FEB8_6659_FD93) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-enough in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn initial_row(id: i32) -> Account {
    Account {
        id,
        owner: format!("owner-{id}"),
        balance: 1_000,
        status: "open".into(),
        note: None,
    }
}

fn initial_rows() -> Vec<Account> {
    (1..=ROWS).map(initial_row).collect()
}

/// The new state of one row: a new balance, sometimes a new status or note.
fn changed_row(rng: &mut Rng, id: i32, i: usize) -> Account {
    const STATUS: [&str; 3] = ["open", "frozen", "closed"];
    Account {
        id,
        owner: format!("owner-{id}"),
        balance: rng.below(1_000_000) as i64,
        status: STATUS[rng.below(3) as usize].into(),
        note: (rng.below(4) == 0).then(|| format!("note {i}")),
    }
}

/// `n` updates of random rows of `1..=ROWS`.
fn random_updates(rng: &mut Rng, n: usize) -> Vec<Account> {
    (0..n)
        .map(|i| {
            let id = rng.below(ROWS as u64) as i32 + 1;
            changed_row(rng, id, i)
        })
        .collect()
}

/// The table after `updates`, ordered by id.
fn expected_rows(updates: &[Account]) -> Vec<Account> {
    let mut rows = initial_rows();
    for u in updates {
        rows[(u.id - 1) as usize] = u.clone();
    }
    rows
}

// ------------------------------------------------------------------------------------------
// Configuration and measurement

struct Config {
    scale: f64,
    rounds: Option<usize>,
    only: Option<Vec<String>>,
    pg_url: Option<String>,
    mysql_url: Option<String>,
}

impl Config {
    fn from_env() -> Self {
        let scale = std::env::var("RECOVER_BENCH_SCALE")
            .ok()
            .map(|s| {
                s.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|f| *f > 0.0)
                    .unwrap_or_else(|| panic!("RECOVER_BENCH_SCALE={s:?}: not a positive number"))
            })
            .unwrap_or(1.0);
        let rounds = std::env::var("RECOVER_BENCH_ROUNDS").ok().map(|s| {
            s.trim()
                .parse::<usize>()
                .ok()
                .filter(|r| *r > 0)
                .unwrap_or_else(|| panic!("RECOVER_BENCH_ROUNDS={s:?}: not a positive integer"))
        });
        let only = std::env::var("RECOVER_BENCH")
            .ok()
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                s.split(',')
                    .map(|w| w.trim().to_ascii_uppercase())
                    .filter(|w| !w.is_empty())
                    .collect()
            });
        let pg_url = std::env::var("RECOVER_PG_URL")
            .ok()
            .filter(|s| !s.is_empty());
        let mysql_url = std::env::var("RECOVER_MYSQL_URL")
            .ok()
            .filter(|s| !s.is_empty());
        Config {
            scale,
            rounds,
            only,
            pg_url,
            mysql_url,
        }
    }

    /// An operation count, scaled.
    fn ops(&self, n: usize) -> usize {
        ((n as f64 * self.scale).round() as usize).max(1)
    }

    fn rounds(&self, default: usize) -> usize {
        self.rounds.unwrap_or(default)
    }

    fn wants(&self, workload: &str) -> bool {
        let Some(only) = &self.only else {
            return true;
        };
        only.iter().any(|w| {
            w == workload
                || w == "ALL"
                || (w == "PG" && workload.starts_with("PG-"))
                || (w == "MY" && workload.starts_with("MY-"))
                || (w == "SQLITE" && !workload.starts_with("PG-") && !workload.starts_with("MY-"))
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Bare,
    Recorded,
}

/// The round times of both sides of one workload.
struct Pair {
    ops: usize,
    bare: Vec<Duration>,
    recorded: Vec<Duration>,
}

fn median(times: &[Duration]) -> Duration {
    let mut t = times.to_vec();
    t.sort();
    let n = t.len();
    if n % 2 == 1 {
        t[n / 2]
    } else {
        (t[n / 2 - 1] + t[n / 2]) / 2
    }
}

fn ops_per_sec(ops: usize, t: Duration) -> f64 {
    ops as f64 / t.as_secs_f64()
}

/// Runs a warm-up round of each side with `warm` operations, then `rounds` measured rounds of
/// `ops` operations, alternating which side goes first. `run` sets up a fresh database (not
/// timed), times the work, checks the outcome, and returns the timed part.
fn measure(
    name: &str,
    ops: usize,
    warm: usize,
    rounds: usize,
    mut run: impl FnMut(Side, usize) -> Duration,
) -> Pair {
    eprint!("{name}: warm-up");
    run(Side::Bare, warm);
    run(Side::Recorded, warm);
    let mut pair = Pair {
        ops,
        bare: Vec::new(),
        recorded: Vec::new(),
    };
    for r in 0..rounds {
        eprint!(", round {}/{rounds}", r + 1);
        let order = if r % 2 == 0 {
            [Side::Bare, Side::Recorded]
        } else {
            [Side::Recorded, Side::Bare]
        };
        for side in order {
            let t = run(side, ops);
            match side {
                Side::Bare => pair.bare.push(t),
                Side::Recorded => pair.recorded.push(t),
            }
        }
    }
    eprintln!();
    pair
}

/// One line of the table.
struct Line {
    workload: String,
    backend: &'static str,
    bare: f64,
    recorded: f64,
    /// Recorded time / bare time (or measured / baseline for the W3 lines).
    ratio: f64,
    /// Smallest and largest per-round ratio.
    spread: Option<(f64, f64)>,
    target: Option<f64>,
}

impl Line {
    fn from_pair(
        workload: String,
        backend: &'static str,
        pair: &Pair,
        target: Option<f64>,
    ) -> Self {
        let (b, r) = (median(&pair.bare), median(&pair.recorded));
        let per_round: Vec<f64> = pair
            .bare
            .iter()
            .zip(&pair.recorded)
            .map(|(b, r)| r.as_secs_f64() / b.as_secs_f64())
            .collect();
        let lo = per_round.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = per_round.iter().copied().fold(0.0, f64::max);
        Line {
            workload,
            backend,
            bare: ops_per_sec(pair.ops, b),
            recorded: ops_per_sec(pair.ops, r),
            ratio: r.as_secs_f64() / b.as_secs_f64(),
            spread: Some((lo, hi)),
            target,
        }
    }
}

fn thousands(x: f64) -> String {
    let n = x.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn print_table(lines: &[Line]) {
    let w = lines
        .iter()
        .map(|l| l.workload.chars().count())
        .max()
        .unwrap_or(8)
        .max(8);
    println!(
        "{:<w$} | {:<8} | {:>10} | {:>14} | {:>6} | {:<11} | target",
        "workload", "backend", "bare ops/s", "recorded ops/s", "ratio", "per round"
    );
    println!(
        "{}-|-{}-|-{}-|-{}-|-{}-|-{}-|-{}",
        "-".repeat(w),
        "-".repeat(8),
        "-".repeat(10),
        "-".repeat(14),
        "-".repeat(6),
        "-".repeat(11),
        "-".repeat(8)
    );
    for l in lines {
        let spread = l
            .spread
            .map(|(lo, hi)| format!("{lo:.2}–{hi:.2}"))
            .unwrap_or_default();
        let target = l
            .target
            .map(|t| format!("≤ {t:.2} {}", if l.ratio <= t { "✓" } else { "✗" }))
            .unwrap_or_default();
        println!(
            "{:<w$} | {:<8} | {:>10} | {:>14} | {:>5.2}× | {:<11} | {}",
            l.workload,
            l.backend,
            thousands(l.bare),
            thousands(l.recorded),
            l.ratio,
            spread,
            target
        );
    }
}

// ------------------------------------------------------------------------------------------
// Shared statements

/// The bare update: every column written explicitly (an `AsChangeset` struct would skip a
/// `None` note, which `recover`'s update does write).
macro_rules! bare_update {
    ($conn:expr, $row:expr) => {{
        let row: &Account = $row;
        diesel::update(accounts::table.find(row.id))
            .set((
                accounts::owner.eq(&row.owner),
                accounts::balance.eq(row.balance),
                accounts::status.eq(&row.status),
                accounts::note.eq(&row.note),
            ))
            .execute($conn)
    }};
}

/// Checks the table holds `expected`, and the journal `entries` entries.
macro_rules! check_outcome {
    ($conn:expr, $expected:expr, $entries:expr) => {{
        let rows: Vec<Account> = accounts::table
            .order(accounts::id)
            .select(Account::as_select())
            .load($conn)
            .expect("load accounts");
        assert!(
            rows == $expected,
            "the table does not hold the expected rows"
        );
        let entries: i64 = diesel::select(diesel::dsl::sql::<BigInt>(
            "(SELECT count(*) FROM recover_journal)",
        ))
        .get_result($conn)
        .expect("count journal entries");
        assert_eq!(entries, $entries as i64, "journal entries");
    }};
}

// ------------------------------------------------------------------------------------------
// SQLite

const WAL_NORMAL: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;";
const WAL_FULL: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;";
/// Building a big journal: no durability, a big cache (the database is reopened afterwards).
const BULK: &str =
    "PRAGMA journal_mode = MEMORY; PRAGMA synchronous = OFF; PRAGMA cache_size = -262144;";

/// A SQLite file in the temp folder, removed (with its WAL) when dropped.
struct SqliteDb {
    conn: SqliteConnection,
    path: PathBuf,
}

static NEXT_FILE: AtomicUsize = AtomicUsize::new(0);

fn open_sqlite(path: &Path, pragmas: &str) -> SqliteConnection {
    let mut conn = SqliteConnection::establish(&path.to_string_lossy())
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    conn.batch_execute(pragmas).expect("pragmas");
    conn
}

impl SqliteDb {
    /// A new file with the accounts table (1,000 rows) and the journal tables installed, the
    /// WAL checkpointed, and `pragmas` set.
    fn create(pragmas: &str) -> Self {
        let n = NEXT_FILE.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("recover-bench-{}-{n}.db", std::process::id()));
        remove_sqlite_files(&path);
        let mut conn = open_sqlite(&path, pragmas);
        conn.batch_execute(ACCOUNTS_DDL).expect("create accounts");
        recover::install(&mut conn).expect("install");
        diesel::insert_into(accounts::table)
            .values(&initial_rows())
            .execute(&mut conn)
            .expect("seed accounts");
        conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE);")
            .expect("checkpoint");
        SqliteDb { conn, path }
    }

    /// [`SqliteDb::create`], with the accounts table in capture mode.
    fn create_captured(pragmas: &str) -> Self {
        let mut db = SqliteDb::create(pragmas);
        recover::capture::<Account>(&mut db.conn).expect("capture");
        db.conn
            .batch_execute("PRAGMA wal_checkpoint(TRUNCATE);")
            .expect("checkpoint");
        db
    }

    /// Closes the connection and opens a new one with `pragmas` (a cold SQLite page cache).
    fn reopen(&mut self, pragmas: &str) {
        self.conn = open_sqlite(&self.path, pragmas);
    }
}

fn remove_sqlite_files(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

impl Drop for SqliteDb {
    fn drop(&mut self) {
        remove_sqlite_files(&self.path);
    }
}

fn sqlite_version() -> String {
    let mut conn = SqliteConnection::establish(":memory:").expect("in-memory SQLite");
    diesel::select(diesel::dsl::sql::<Text>("sqlite_version()"))
        .get_result(&mut conn)
        .expect("sqlite_version()")
}

/// W1: each update in its own transaction.
fn sqlite_w1(cfg: &Config, name: &str, pragmas: &str, ops: usize, rounds: usize) -> Pair {
    let journal = Journal::new();
    measure(name, ops, cfg.ops(1_000).min(ops), rounds, |side, n| {
        let updates = random_updates(&mut Rng::new(1), n);
        let mut db = SqliteDb::create(pragmas);
        let conn = &mut db.conn;
        let start = Instant::now();
        match side {
            Side::Bare => {
                for u in &updates {
                    conn.immediate_transaction(|c| bare_update!(c, u))
                        .expect("bare update");
                }
            }
            Side::Recorded => {
                for u in &updates {
                    journal.update(conn, u).expect("recorded update");
                }
            }
        }
        let t = start.elapsed();
        let entries = if side == Side::Recorded { n } else { 0 };
        check_outcome!(conn, expected_rows(&updates), entries);
        t
    })
}

/// What a capture workload compares with a bare Diesel update of a table with no triggers
/// (each update in its own transaction).
#[derive(Debug, Clone, Copy)]
enum Capture {
    /// The same plain Diesel update, on a captured table: the cost of the trigger, and of
    /// compiling it into the statement, which Diesel prepares anew for every `update(..)`.
    Plain,
    /// The same update as a statement prepared once per connection, on both sides: the
    /// trigger's work without its compilation.
    Prepared,
    /// `Journal::update` of a captured model.
    Journal,
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
fn sqlite_c(cfg: &Config, what: Capture, ops: usize, rounds: usize) -> Pair {
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
fn capture_label(prefix: &str, what: Capture, n: usize) -> String {
    let n = short_count(n);
    match what {
        Capture::Plain => {
            format!("{prefix} plain Diesel update, captured table, {n} own txn")
        }
        Capture::Journal => format!("{prefix} Journal::update, captured model, {n} own txn"),
        Capture::Prepared => {
            format!("{prefix} SQL update prepared once, captured table, {n} own txn")
        }
    }
}

/// W2: every update inside one transaction.
fn sqlite_w2(cfg: &Config, ops: usize, rounds: usize) -> Pair {
    let journal = Journal::new();
    measure("W2", ops, cfg.ops(1_000).min(ops), rounds, |side, n| {
        let updates = random_updates(&mut Rng::new(2), n);
        let mut db = SqliteDb::create(WAL_NORMAL);
        let conn = &mut db.conn;
        let start = Instant::now();
        match side {
            Side::Bare => conn
                .transaction::<_, diesel::result::Error, _>(|c| {
                    for u in &updates {
                        bare_update!(c, u)?;
                    }
                    Ok(())
                })
                .expect("bare transaction"),
            Side::Recorded => conn
                .transaction::<_, recover::Error, _>(|c| {
                    for u in &updates {
                        journal.update(c, u)?;
                    }
                    Ok(())
                })
                .expect("recorded transaction"),
        }
        let t = start.elapsed();
        let entries = if side == Side::Recorded { n } else { 0 };
        check_outcome!(conn, expected_rows(&updates), entries);
        t
    })
}

/// W4: changesets of `size` updates vs the same updates, `size` to a transaction.
fn sqlite_w4(cfg: &Config, changesets: usize, size: usize, rounds: usize) -> Pair {
    let journal = Journal::new();
    let ops = changesets * size;
    let warm = (cfg.ops(10).min(changesets)) * size;
    measure("W4", ops, warm, rounds, |side, n| {
        let updates = random_updates(&mut Rng::new(4), n);
        let mut db = SqliteDb::create(WAL_NORMAL);
        let conn = &mut db.conn;
        let start = Instant::now();
        for chunk in updates.chunks(size) {
            match side {
                Side::Bare => conn
                    .immediate_transaction::<_, diesel::result::Error, _>(|c| {
                        for u in chunk {
                            bare_update!(c, u)?;
                        }
                        Ok(())
                    })
                    .expect("bare transaction"),
                Side::Recorded => drop(
                    journal
                        .changeset(conn, |tx| {
                            for u in chunk {
                                tx.update(u)?;
                            }
                            Ok(())
                        })
                        .expect("changeset"),
                ),
            }
        }
        let t = start.elapsed();
        let entries = if side == Side::Recorded { n } else { 0 };
        check_outcome!(conn, expected_rows(&updates), entries);
        if side == Side::Recorded && size > 1 {
            let changesets: i64 = diesel::select(diesel::dsl::sql::<BigInt>(
                "(SELECT count(*) FROM recover_changesets)",
            ))
            .get_result(conn)
            .expect("count changesets");
            assert_eq!(changesets as usize, n.div_ceil(size), "changeset rows");
        }
        t
    })
}

// ------------------------------------------------------------------------------------------
// W3: undo

/// Two extra rows, undone the same way (a run of undos down their stacks, shuffled in among
/// the others): one has a long history, the other only the changes that are undone.
const LONG_ID: i32 = ROWS + 1;
const SHORT_ID: i32 = ROWS + 2;

/// A database for the undo measurements, and how many recorded changes each entity has left
/// to undo (so that every undo has something to undo, and none can conflict: every change on
/// top of each stack was recorded through recover).
struct UndoDb {
    db: SqliteDb,
    label: String,
    undoable: Vec<u32>,
    rng: Rng,
    journal: Journal,
}

/// The time of one batch of W3 operations, per kind.
#[derive(Default)]
struct Batch {
    /// Undos of random entities of `1..=ROWS`.
    undo: Duration,
    /// Undos of the long-history entity.
    undo_long: Duration,
    /// Undos of the short-history entity.
    undo_short: Duration,
    /// Recorded updates of random entities (the baseline).
    update: Duration,
}

impl UndoDb {
    /// A journal of `total` entries: the filler written with plain SQL in recover's format
    /// (spread over the 1,000 entities, `long_total - extra` of them on the long-history
    /// entity), then, recorded through recover, `recorded` updates of random rows and `extra`
    /// updates of each of the two extra rows.
    fn build(
        label: String,
        total: usize,
        recorded: usize,
        long_total: usize,
        extra: usize,
    ) -> Self {
        let mut db = SqliteDb::create(BULK);
        let conn = &mut db.conn;
        diesel::insert_into(accounts::table)
            .values(&vec![initial_row(LONG_ID), initial_row(SHORT_ID)])
            .execute(conn)
            .expect("insert the extra rows");
        let filler = total - recorded - 2 * extra;
        let long_filler = long_total.saturating_sub(extra).min(filler);
        if filler > 0 {
            // Every `step`-th filler entry (the first `long_filler` of them) belongs to the
            // long-history entity.
            let step = filler
                .checked_div(long_filler)
                .map_or(i64::MAX, |s| s.max(1) as i64);
            let t0 = now_micros() - 3_600_000_000 - filler as i64;
            let image = "'{\"id\":' || k || ',\"owner\":\"owner-' || k || '\",\"balance\":' || n \
                 || ',\"status\":\"open\",\"note\":null}'";
            let sql = format!(
                "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {filler}),
                      e(n, k) AS (SELECT n, CASE WHEN n % {step} = 0 AND n / {step} <= {long_filler}
                                                THEN {LONG_ID} ELSE n % {ROWS} + 1 END FROM s)
                 INSERT INTO recover_journal (seq, changeset_id, entity, entity_key, op,
                     before_image, after_image, undoes, undo_next, redo_next, actor, reason,
                     recorded_at)
                 SELECT n, n, 'accounts', CAST(k AS TEXT), 'update', {image}, {image}, NULL, n,
                        NULL, NULL, NULL, {t0} + n
                 FROM e;"
            );
            conn.batch_execute(&sql).expect("bulk journal");
        }
        let journal = Journal::new();
        let mut rng = Rng::new(3);
        let mut updates = random_updates(&mut rng, recorded);
        for i in 0..extra {
            updates.push(changed_row(&mut rng, LONG_ID, i));
            updates.push(changed_row(&mut rng, SHORT_ID, i));
        }
        conn.transaction::<_, recover::Error, _>(|c| {
            for u in &updates {
                journal.update(c, u)?;
            }
            Ok(())
        })
        .expect("record the journal");
        let entries: i64 = diesel::select(diesel::dsl::sql::<BigInt>(
            "(SELECT count(*) FROM recover_journal)",
        ))
        .get_result(conn)
        .expect("count");
        assert_eq!(entries as usize, total, "journal size");
        let mut undoable = vec![0u32; SHORT_ID as usize + 1];
        for u in &updates {
            undoable[u.id as usize] += 1;
        }
        // A fresh connection with the W1 settings and a cold page cache.
        db.reopen(WAL_NORMAL);
        UndoDb {
            db,
            label,
            undoable,
            rng: Rng::new(33),
            journal,
        }
    }

    /// The number of journal entries of an entity.
    fn entries_of(&mut self, id: i32) -> usize {
        let n: i64 = diesel::select(diesel::dsl::sql::<BigInt>(&format!(
            "(SELECT count(*) FROM recover_journal WHERE entity = 'accounts' \
                 AND entity_key = '{id}')"
        )))
        .get_result(&mut self.db.conn)
        .expect("count");
        n as usize
    }

    /// `n` undos of random entities, and `extra` undos of each of the two extra entities
    /// shuffled in among them; each undo in its own transaction and timed on its own.
    fn undo(&mut self, n: usize, extra: usize) -> Batch {
        let mut keys: Vec<i32> = (0..n).map(|_| self.pick_undoable()).collect();
        for id in [LONG_ID, SHORT_ID] {
            let left = &mut self.undoable[id as usize];
            assert!(
                *left as usize >= extra,
                "W3: entity {id} has too few entries"
            );
            *left -= extra as u32;
            keys.resize(keys.len() + extra, id);
        }
        for i in (1..keys.len()).rev() {
            keys.swap(i, self.rng.below(i as u64 + 1) as usize);
        }
        let mut batch = Batch::default();
        let conn = &mut self.db.conn;
        for id in &keys {
            let start = Instant::now();
            self.journal.undo::<Account>(conn, id).expect("undo");
            let t = start.elapsed();
            match *id {
                LONG_ID => batch.undo_long += t,
                SHORT_ID => batch.undo_short += t,
                _ => batch.undo += t,
            }
        }
        batch
    }

    /// `n` recorded updates of random entities, each in its own transaction.
    fn update(&mut self, n: usize) -> Batch {
        let updates = random_updates(&mut self.rng, n);
        let conn = &mut self.db.conn;
        let start = Instant::now();
        for u in &updates {
            self.journal.update(conn, u).expect("recorded update");
        }
        let t = start.elapsed();
        for u in &updates {
            self.undoable[u.id as usize] += 1;
        }
        Batch {
            update: t,
            ..Batch::default()
        }
    }

    /// A random entity of `1..=ROWS` with something left to undo, counted as undone.
    fn pick_undoable(&mut self) -> i32 {
        let mut id = None;
        for _ in 0..10_000 {
            let candidate = self.rng.below(ROWS as u64) as i32 + 1;
            if self.undoable[candidate as usize] > 0 {
                id = Some(candidate);
                break;
            }
        }
        let id = id
            .or_else(|| (1..=ROWS).find(|id| self.undoable[*id as usize] > 0))
            .expect("W3: the journal has nothing left to undo; raise its size");
        self.undoable[id as usize] -= 1;
        id
    }
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

fn sqlite_w3(cfg: &Config, lines: &mut Vec<Line>, w1_recorded: Option<f64>) {
    let rounds = cfg.rounds(6);
    let m = cfg.ops(1_000);
    let warm = cfg.ops(100);
    let m_extra = (m / 10).max(1);
    let warm_extra = (warm / 10).max(1);
    let small_total = cfg.ops(10_000);
    let large_total = cfg.ops(1_000_000);
    let long_total = cfg.ops(10_000);
    let extra = rounds * m_extra + warm_extra;

    eprint!("W3: building a journal of {small_total} entries");
    let start = Instant::now();
    let small_label = format!("{} journal", short_count(small_total));
    let mut small = UndoDb::build(small_label, small_total, small_total, 0, 0);
    eprint!(
        " ({:.1} s), of {large_total} entries",
        start.elapsed().as_secs_f64()
    );
    let start = Instant::now();
    let recorded = small_total.min(large_total - 2 * extra);
    let large_label = format!("{} journal", short_count(large_total));
    let mut large = UndoDb::build(large_label, large_total, recorded, long_total, extra);
    eprintln!(" ({:.1} s)", start.elapsed().as_secs_f64());
    let long_entries = large.entries_of(LONG_ID);
    let short_entries = large.entries_of(SHORT_ID);

    // Per round, the batches run in one order in even rounds and reversed in odd ones.
    #[derive(Clone, Copy)]
    enum Step {
        SmallUndo,
        SmallUpdate,
        LargeUndo,
        LargeUpdate,
    }
    let steps = [
        Step::SmallUndo,
        Step::SmallUpdate,
        Step::LargeUndo,
        Step::LargeUpdate,
    ];
    // Per-operation times, one per round, of: 0 small undo, 1 small update, 2 large undo,
    // 3 long-history undo, 4 short-history undo, 5 large update.
    let mut per_op: [Vec<Duration>; 6] = Default::default();
    eprint!("W3: warm-up");
    small.undo(warm, 0);
    small.update(warm);
    large.undo(warm, warm_extra);
    large.update(warm);
    for r in 0..rounds {
        eprint!(", round {}/{rounds}", r + 1);
        let mut order = steps;
        if r % 2 == 1 {
            order.reverse();
        }
        for step in order {
            match step {
                Step::SmallUndo => per_op[0].push(small.undo(m, 0).undo / m as u32),
                Step::SmallUpdate => per_op[1].push(small.update(m).update / m as u32),
                Step::LargeUndo => {
                    let batch = large.undo(m, m_extra);
                    per_op[2].push(batch.undo / m as u32);
                    per_op[3].push(batch.undo_long / m_extra as u32);
                    per_op[4].push(batch.undo_short / m_extra as u32);
                }
                Step::LargeUpdate => per_op[5].push(large.update(m).update / m as u32),
            }
        }
    }
    eprintln!();

    let pair_line = |workload: String, base: usize, measured: usize, target: f64| {
        let pair = Pair {
            ops: 1,
            bare: per_op[base].clone(),
            recorded: per_op[measured].clone(),
        };
        Line::from_pair(workload, "sqlite", &pair, Some(target))
    };
    lines.push(pair_line(
        format!("W3 undo / recorded update, {}", small.label),
        1,
        0,
        2.5,
    ));
    lines.push(pair_line(
        format!("W3 undo / recorded update, {}", large.label),
        5,
        2,
        2.5,
    ));
    lines.push(pair_line(
        format!("W3 undo {} / undo {}", large.label, small.label),
        0,
        2,
        1.2,
    ));
    lines.push(pair_line(
        format!(
            "W3 undo, entity of {} entries / of {short_entries}",
            short_count(long_entries)
        ),
        4,
        3,
        1.2,
    ));
    if let Some(w1) = w1_recorded {
        for (label, i) in [(&small.label, 0), (&large.label, 2)] {
            let undo = ops_per_sec(1, median(&per_op[i]));
            lines.push(Line {
                workload: format!("W3 undo ({label}) / W1 recorded update"),
                backend: "sqlite",
                bare: w1,
                recorded: undo,
                ratio: w1 / undo,
                spread: None,
                target: Some(2.5),
            });
        }
    }
}

fn short_count(n: usize) -> String {
    if n >= 1_000_000 && n % 1_000_000 == 0 {
        format!("{}M", n / 1_000_000)
    } else if n >= 1_000 && n % 1_000 == 0 {
        format!("{}k", n / 1_000)
    } else {
        n.to_string()
    }
}

// ------------------------------------------------------------------------------------------
// H: history memory

/// The system allocator, with the Rust heap's live bytes and their peak counted while
/// `HEAP_COUNTING` is on (only during H's measured calls; otherwise one relaxed load per
/// allocation). Requested sizes, without the allocator's own overhead.
struct CountingAlloc;

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

static HEAP_COUNTING: AtomicBool = AtomicBool::new(false);
static HEAP_LIVE: AtomicIsize = AtomicIsize::new(0);
static HEAP_PEAK: AtomicIsize = AtomicIsize::new(0);

fn heap_grew(delta: isize) {
    if HEAP_COUNTING.load(Ordering::Relaxed) {
        let now = HEAP_LIVE.fetch_add(delta, Ordering::Relaxed) + delta;
        HEAP_PEAK.fetch_max(now, Ordering::Relaxed);
    }
}

// SAFETY: every call is passed on to `System` unchanged; the counting only observes sizes.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            heap_grew(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            heap_grew(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        heap_grew(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            heap_grew(new_size as isize - layout.size() as isize);
        }
        p
    }
}

/// Hands the memory malloc keeps free back to the system, so that the RSS measured next is
/// what is in use and a new allocation shows up as growth.
fn trim_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::os::raw::c_int;
        }
        // SAFETY: glibc's malloc_trim takes no pointer and only releases free memory.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// VmRSS and VmHWM of this process, in bytes.
fn rss_and_peak() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Resets VmHWM to the current RSS; false if the kernel did not (then peaks are not measured).
fn reset_peak_rss() -> bool {
    if std::fs::write("/proc/self/clear_refs", "5").is_err() {
        return false;
    }
    // Reset: the peak is the current RSS, give or take what the kernel's per-CPU RSS counters
    // had not summed yet (tens of KiB seen here).
    rss_and_peak().is_some_and(|(rss, peak)| peak <= rss + 1024 * 1024)
}

/// What one measured call used.
#[derive(Clone, Copy, Default)]
struct MemUse {
    /// Peak RSS growth during the call, if the peak could be reset.
    peak_rss: Option<u64>,
    /// RSS growth when the call has returned (its result still held).
    held_rss: Option<u64>,
    /// Peak growth of the Rust heap during the call.
    peak_heap: u64,
    /// Rust heap growth when the call has returned (its result still held).
    held_heap: u64,
    time: Duration,
}

/// Runs `f` with memory measured, returns its result (still held at the measurement) and use.
fn measure_memory<R>(f: impl FnOnce() -> R) -> (R, MemUse) {
    trim_malloc();
    let reset = reset_peak_rss();
    let rss0 = rss_and_peak().map(|(rss, peak)| rss.max(peak));
    HEAP_LIVE.store(0, Ordering::Relaxed);
    HEAP_PEAK.store(0, Ordering::Relaxed);
    HEAP_COUNTING.store(true, Ordering::Relaxed);
    let start = Instant::now();
    let out = f();
    let time = start.elapsed();
    HEAP_COUNTING.store(false, Ordering::Relaxed);
    let after = rss_and_peak();
    let grown = |x: u64| rss0.map(|r0| x.saturating_sub(r0));
    let used = MemUse {
        peak_rss: after.filter(|_| reset).and_then(|(_, peak)| grown(peak)),
        held_rss: after.and_then(|(rss, _)| grown(rss)),
        peak_heap: HEAP_PEAK.load(Ordering::Relaxed).max(0) as u64,
        held_heap: HEAP_LIVE.load(Ordering::Relaxed).max(0) as u64,
        time,
    };
    (out, used)
}

/// The memory `entries` hold, in bytes: the entries themselves (`len` of them), the unused
/// capacity of the vector, and every heap string and changed-column list inside them (by
/// length: their spare capacity is not visible; requested sizes, as the counting allocator
/// counts them).
struct ReturnedSize {
    entries: u64,
    spare: u64,
    heap: u64,
}

fn returned_size(entries: &Vec<Entry<Account>>) -> ReturnedSize {
    let account = |a: &Option<Account>| {
        a.as_ref().map_or(0, |a| {
            a.owner.capacity() + a.status.capacity() + a.note.as_ref().map_or(0, String::capacity)
        })
    };
    let text = |t: &Option<String>| t.as_ref().map_or(0, String::capacity);
    let heap: usize = entries
        .iter()
        .map(|e| {
            account(&e.before)
                + account(&e.after)
                + text(&e.actor)
                + text(&e.reason)
                + std::mem::size_of_val(e.changed_columns())
        })
        .sum();
    let size = std::mem::size_of::<Entry<Account>>();
    ReturnedSize {
        entries: (entries.len() * size) as u64,
        spare: ((entries.capacity() - entries.len()) * size) as u64,
        heap: heap as u64,
    }
}

/// What reading the history page by page keeps: a count, a sum and the last seq (checked to
/// grow).
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    entries: usize,
    balance_sum: i64,
    last_seq: i64,
}

impl Tally {
    fn of(entries: &[Entry<Account>]) -> Self {
        let mut tally = Tally::default();
        entries.iter().for_each(|e| tally.add(e));
        tally
    }

    fn add(&mut self, e: &Entry<Account>) {
        assert!(e.seq > self.last_seq, "H: the history is not oldest first");
        self.entries += 1;
        self.balance_sum += e.after.as_ref().map_or(0, |a| a.balance);
        self.last_seq = e.seq;
    }
}

const H_PAGE: usize = 1_000;

/// H: the memory of reading a history of 100,000 entries whole and page by page.
fn sqlite_h(cfg: &Config) -> Vec<String> {
    let n = cfg.ops(100_000);
    let rounds = cfg.rounds(3);
    let key = 1;
    let journal = Journal::new();

    eprint!("H: recording {n} updates of one account");
    let start = Instant::now();
    let mut db = SqliteDb::create(BULK);
    let mut rng = Rng::new(5);
    let updates: Vec<Account> = (0..n).map(|i| changed_row(&mut rng, key, i)).collect();
    db.conn
        .transaction::<_, recover::Error, _>(|c| {
            for u in &updates {
                journal.update(c, u)?;
            }
            Ok(())
        })
        .expect("record the history");
    let expected = (n, updates.iter().map(|u| u.balance).sum::<i64>());
    drop(updates);
    eprintln!(" ({:.1} s)", start.elapsed().as_secs_f64());

    // Rounds rotate the order of the approaches; the first pass is a warm-up.
    let approaches = [Approach::Whole, Approach::Paged, Approach::Collected];
    let mut uses: [Vec<MemUse>; 3] = Default::default();
    let mut returned = None;
    let mut reset_works = true;
    eprint!("H: warm-up");
    for r in 0..=rounds {
        if r > 0 {
            eprint!(", round {r}/{rounds}");
        }
        let mut order = approaches;
        order.rotate_left(r % approaches.len());
        for approach in order {
            // A new connection each time: a cold SQLite page cache, an empty statement cache.
            db.reopen(WAL_NORMAL);
            let conn = &mut db.conn;
            let (tally, used) = match approach {
                Approach::Whole => {
                    let (entries, used) =
                        measure_memory(|| journal.history::<Account>(conn, &key).expect("history"));
                    returned = Some((returned_size(&entries), entries.capacity()));
                    (Tally::of(&entries), used)
                }
                Approach::Paged => measure_memory(|| {
                    let mut tally = Tally::default();
                    for_each_page(&journal, conn, key, |page| {
                        page.iter().for_each(|e| tally.add(e))
                    });
                    tally
                }),
                Approach::Collected => {
                    let (entries, used) = measure_memory(|| {
                        let mut all = Vec::new();
                        for_each_page(&journal, conn, key, |page| all.extend(page));
                        all.shrink_to_fit();
                        all
                    });
                    (Tally::of(&entries), used)
                }
            };
            assert_eq!(
                (tally.entries, tally.balance_sum),
                expected,
                "H: {approach:?} did not read the whole history"
            );
            reset_works &= used.peak_rss.is_some();
            if r > 0 {
                uses[approach as usize].push(used);
            }
        }
    }
    eprintln!();
    drop(db);

    let mib = |b: u64| format!("{:.1}", b as f64 / (1024.0 * 1024.0));
    let med = |uses: &[MemUse], f: fn(&MemUse) -> Option<u64>| {
        let mut v: Vec<u64> = uses.iter().filter_map(f).collect();
        if v.len() < uses.len() || v.is_empty() {
            return "-".to_owned();
        }
        v.sort_unstable();
        mib(v[v.len() / 2])
    };
    const HEAD: [&str; 7] = [
        "H: history of one entity",
        "entries read",
        "peak RSS (MiB)",
        "held RSS (MiB)",
        "peak heap (MiB)",
        "held heap (MiB)",
        "time (ms)",
    ];
    let w = HEAD.map(|h| h.chars().count().max(36 * (h == HEAD[0]) as usize));
    let cells = |c: [String; 7]| {
        format!(
            "{:<w0$} | {:>w1$} | {:>w2$} | {:>w3$} | {:>w4$} | {:>w5$} | {:>w6$}",
            c[0],
            c[1],
            c[2],
            c[3],
            c[4],
            c[5],
            c[6],
            w0 = w[0],
            w1 = w[1],
            w2 = w[2],
            w3 = w[3],
            w4 = w[4],
            w5 = w[5],
            w6 = w[6]
        )
    };
    let mut out = vec![
        cells(HEAD.map(str::to_owned)),
        w.map(|w| "-".repeat(w)).join("-|-"),
    ];
    for approach in approaches {
        let uses = &uses[approach as usize];
        let times: Vec<Duration> = uses.iter().map(|u| u.time).collect();
        out.push(cells([
            approach.label(),
            thousands(n as f64),
            med(uses, |u| u.peak_rss),
            med(uses, |u| u.held_rss),
            med(uses, |u| Some(u.peak_heap)),
            med(uses, |u| Some(u.held_heap)),
            format!("{:.0}", median(&times).as_secs_f64() * 1e3),
        ]));
    }
    out.push(String::new());
    if let Some((size, capacity)) = returned {
        out.push(format!(
            "(a) returns {} entries × size_of::<Entry<Account>>() {} B = {} MiB, + {} MiB of heap \
             strings and changed-column lists (by length) = {} MiB, in a Vec of capacity {} \
             (+ {} MiB unused)",
            thousands(n as f64),
            std::mem::size_of::<Entry<Account>>(),
            mib(size.entries),
            mib(size.heap),
            mib(size.entries + size.heap),
            thousands(capacity as f64),
            mib(size.spare)
        ));
    }
    out.push(
        "peak = growth during the call over the RSS (or the live Rust heap) just before it; \
         held = growth still there when the call has returned and its result is alive (for \
         (b): a count and a sum); heap = the Rust heap only, requested sizes, as counted by the \
         benchmark's allocator; RSS = the whole process, with malloc's overhead and SQLite's \
         page cache. Medians of the rounds."
            .to_owned(),
    );
    if !reset_works {
        out.push(
            "peak RSS not measured: writing 5 to /proc/self/clear_refs did not reset VmHWM"
                .to_owned(),
        );
    }
    out
}

/// The ways H reads a history.
#[derive(Debug, Clone, Copy)]
enum Approach {
    /// `history`: one `Vec` of every entry.
    Whole = 0,
    /// `history_page`, keeping a running count and sum.
    Paged = 1,
    /// `history_page`, every page appended to one `Vec`: the same result as `Whole`.
    Collected = 2,
}

impl Approach {
    fn label(self) -> String {
        match self {
            Approach::Whole => "(a) history, one Vec".to_owned(),
            Approach::Paged => format!("(b) history_page, {H_PAGE} at a time"),
            Approach::Collected => format!("(c) history_page ×{H_PAGE} into one Vec"),
        }
    }
}

/// Reads the history of `key` page by page, oldest first.
fn for_each_page(
    journal: &Journal,
    conn: &mut SqliteConnection,
    key: i32,
    mut f: impl FnMut(Vec<Entry<Account>>),
) {
    let mut after = i64::MIN;
    loop {
        let page = journal
            .history_page::<Account>(conn, &key, after, H_PAGE)
            .expect("history_page");
        let (len, last) = (page.len(), page.last().map(|e| e.seq));
        f(page);
        match last {
            Some(last) if len == H_PAGE => after = last,
            _ => break,
        }
    }
}

// ------------------------------------------------------------------------------------------
// Workload B, shared by SQLite and PostgreSQL

/// What workload B compares.
#[derive(Debug, Clone, Copy)]
enum Bulk {
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

// ------------------------------------------------------------------------------------------
// PostgreSQL

#[cfg(feature = "postgres")]
mod pg {
    use super::*;
    use diesel::pg::PgConnection;

    /// The benchmark's schema, dropped when this is dropped.
    pub struct Schema {
        url: String,
        name: String,
    }

    impl Schema {
        pub fn new(url: &str) -> Self {
            Schema {
                url: url.to_owned(),
                name: format!("bench_{}", std::process::id()),
            }
        }

        /// A new connection to a fresh schema with the accounts table (1,000 rows) and the
        /// journal tables.
        pub fn fresh(&self) -> PgConnection {
            let mut conn = PgConnection::establish(&self.url)
                .unwrap_or_else(|e| panic!("PostgreSQL at {}: {e}", self.url));
            let s = &self.name;
            conn.batch_execute(&format!(
                "SET client_min_messages = warning; DROP SCHEMA IF EXISTS {s} CASCADE; \
                 CREATE SCHEMA {s}; SET search_path TO {s}; {ACCOUNTS_DDL}"
            ))
            .expect("fresh schema");
            recover::install(&mut conn).expect("install");
            diesel::insert_into(accounts::table)
                .values(&initial_rows())
                .execute(&mut conn)
                .expect("seed accounts");
            conn.batch_execute("VACUUM ANALYZE accounts")
                .expect("vacuum");
            conn
        }

        pub fn name(&self) -> &str {
            &self.name
        }

        pub fn version(&self) -> String {
            let mut conn = PgConnection::establish(&self.url)
                .unwrap_or_else(|e| panic!("PostgreSQL at {}: {e}", self.url));
            diesel::select(diesel::dsl::sql::<Text>(
                "current_setting('server_version')",
            ))
            .get_result(&mut conn)
            .expect("server_version")
        }
    }

    impl Drop for Schema {
        fn drop(&mut self) {
            if let Ok(mut conn) = PgConnection::establish(&self.url) {
                let _ = conn.batch_execute(&format!(
                    "SET client_min_messages = warning; DROP SCHEMA IF EXISTS {} CASCADE",
                    self.name
                ));
            }
        }
    }

    /// PG-W1: each update in its own transaction.
    pub fn w1(cfg: &Config, schema: &Schema, ops: usize, rounds: usize) -> Pair {
        let journal = Journal::new();
        measure("PG-W1", ops, cfg.ops(500).min(ops), rounds, |side, n| {
            let updates = random_updates(&mut Rng::new(1), n);
            let conn = &mut schema.fresh();
            let start = Instant::now();
            match side {
                Side::Bare => {
                    for u in &updates {
                        conn.transaction(|c| bare_update!(c, u))
                            .expect("bare update");
                    }
                }
                Side::Recorded => {
                    for u in &updates {
                        journal.update(conn, u).expect("recorded update");
                    }
                }
            }
            let t = start.elapsed();
            let entries = if side == Side::Recorded { n } else { 0 };
            check_outcome!(conn, expected_rows(&updates), entries);
            t
        })
    }

    /// PG-C: workload C on PostgreSQL.
    pub fn c(cfg: &Config, schema: &Schema, what: Capture, ops: usize, rounds: usize) -> Pair {
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

    /// PG-B: workload B on PostgreSQL.
    pub fn b(cfg: &Config, schema: &Schema, what: Bulk, rows: usize, rounds: usize) -> Pair {
        let journal = Journal::new();
        let name = format!("PG-B {what:?}");
        measure(&name, rows, cfg.ops(1_000).min(rows), rounds, |side, n| {
            bulk_round!(&mut schema.fresh(), &journal, what, side, n)
        })
    }

    /// PG-W2: every update inside one transaction.
    pub fn w2(cfg: &Config, schema: &Schema, ops: usize, rounds: usize) -> Pair {
        let journal = Journal::new();
        measure("PG-W2", ops, cfg.ops(1_000).min(ops), rounds, |side, n| {
            let updates = random_updates(&mut Rng::new(2), n);
            let conn = &mut schema.fresh();
            let start = Instant::now();
            match side {
                Side::Bare => conn
                    .transaction::<_, diesel::result::Error, _>(|c| {
                        for u in &updates {
                            bare_update!(c, u)?;
                        }
                        Ok(())
                    })
                    .expect("bare transaction"),
                Side::Recorded => conn
                    .transaction::<_, recover::Error, _>(|c| {
                        for u in &updates {
                            journal.update(c, u)?;
                        }
                        Ok(())
                    })
                    .expect("recorded transaction"),
            }
            let t = start.elapsed();
            let entries = if side == Side::Recorded { n } else { 0 };
            check_outcome!(conn, expected_rows(&updates), entries);
            t
        })
    }
}

// ------------------------------------------------------------------------------------------
// MySQL / MariaDB

#[cfg(feature = "mysql")]
mod my {
    use super::*;
    use diesel::mysql::MysqlConnection;

    /// The benchmark's database, dropped when this is dropped.
    pub struct Database {
        url: String,
        name: String,
    }

    impl Database {
        pub fn new(url: &str) -> Self {
            Database {
                url: url.to_owned(),
                name: format!("recover_bench_{}", std::process::id()),
            }
        }

        fn connect(&self) -> MysqlConnection {
            MysqlConnection::establish(&self.url)
                .unwrap_or_else(|e| panic!("MySQL at {}: {e}", self.url))
        }

        /// A new connection to a fresh database with the accounts table (1,000 rows) and the
        /// journal tables.
        pub fn fresh(&self) -> MysqlConnection {
            let mut conn = self.connect();
            let d = &self.name;
            conn.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {d}; CREATE DATABASE {d}; USE {d}; {ACCOUNTS_DDL}"
            ))
            .expect("fresh database");
            recover::install(&mut conn).expect("install");
            diesel::insert_into(accounts::table)
                .values(&initial_rows())
                .execute(&mut conn)
                .expect("seed accounts");
            conn
        }

        pub fn name(&self) -> &str {
            &self.name
        }

        pub fn version(&self) -> String {
            diesel::select(diesel::dsl::sql::<Text>("VERSION()"))
                .get_result(&mut self.connect())
                .expect("VERSION()")
        }
    }

    impl Drop for Database {
        fn drop(&mut self) {
            if let Ok(mut conn) = MysqlConnection::establish(&self.url) {
                let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {}", self.name));
            }
        }
    }

    /// MY-B: workload B on MySQL or MariaDB.
    pub fn b(cfg: &Config, db: &Database, what: Bulk, rows: usize, rounds: usize) -> Pair {
        let journal = Journal::new();
        let name = format!("MY-B {what:?}");
        measure(&name, rows, cfg.ops(1_000).min(rows), rounds, |side, n| {
            bulk_round!(&mut db.fresh(), &journal, what, side, n)
        })
    }
}

// ------------------------------------------------------------------------------------------

/// T: `restore_table` of a table of 100,000 rows of which 1,000 changed since the instant:
/// its cost follows the changed entities, not the table.
fn sqlite_t(cfg: &Config) -> String {
    let rows = cfg.ops(100_000).max(1_000);
    let changed = (rows / 100).max(10);
    let path = std::env::temp_dir().join(format!("recover_bench_t_{}.db", std::process::id()));
    remove_sqlite_files(&path);
    let mut conn = open_sqlite(&path, WAL_NORMAL);
    conn.batch_execute(ACCOUNTS_DDL).expect("create accounts");
    recover::install(&mut conn).expect("install");
    let journal = Journal::new();
    conn.transaction::<_, recover::Error, _>(|conn| {
        for id in 1..=rows as i32 {
            journal.insert(conn, &initial_row(id))?;
        }
        Ok(())
    })
    .expect("seed the table");
    std::thread::sleep(Duration::from_millis(5));
    let before = chrono::Utc::now();
    std::thread::sleep(Duration::from_millis(5));
    let mut rng = Rng::new(7);
    conn.transaction::<_, recover::Error, _>(|conn| {
        for i in 0..changed {
            let id = (rng.next() % rows as u64) as i32 + 1;
            journal.update(conn, &changed_row(&mut rng, id, i))?;
        }
        Ok(())
    })
    .expect("change some rows");
    let started = Instant::now();
    let mut restored = 0;
    journal
        .restore_table_with_progress::<Account>(&mut conn, At::Time(before), |p| restored = p.total)
        .expect("restore the table");
    let took = started.elapsed();
    let same = accounts::table
        .order(accounts::id)
        .load::<Account>(&mut conn)
        .expect("read the table")
        .into_iter()
        .zip(1..)
        .all(|(a, id)| a == initial_row(id));
    assert!(same, "the table is not as it was");
    drop(conn);
    remove_sqlite_files(&path);
    format!(
        "T: restore_table of {} rows with {restored} changed since the instant: {:.1} ms ({:.0} entities/s)",
        short_count(rows),
        took.as_secs_f64() * 1e3,
        restored as f64 / took.as_secs_f64()
    )
}

/// B: bulk recording of every row of a table of `rows` rows (each side on a fresh database).
/// The "bare" side is the baseline (`Bulk` says which), the "recorded" side the bulk call;
/// the change is `balance = balance + 1` (or the delete) of every row.
fn sqlite_b(cfg: &Config, what: Bulk, rows: usize, rounds: usize) -> Pair {
    let journal = Journal::new();
    let name = format!("B {what:?}");
    measure(&name, rows, cfg.ops(1_000).min(rows), rounds, |side, n| {
        let mut db = SqliteDb::create(WAL_NORMAL);
        bulk_round!(&mut db.conn, &journal, what, side, n)
    })
}

/// C-B: workload B on a captured table (both sides): the triggers write the bulk call's
/// entries, and each single recorded call completes its trigger's entry.
fn sqlite_c_b(cfg: &Config, what: Bulk, rows: usize, rounds: usize) -> Pair {
    let journal = Journal::new();
    let name = format!("C-B {what:?}");
    measure(&name, rows, cfg.ops(1_000).min(rows), rounds, |side, n| {
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
        bulk_round!(&mut db.conn, &journal, what, side, n)
    })
}

/// The lines of workload B on one backend: `run` measures one comparison (rows, rounds).
fn bulk_lines(
    cfg: &Config,
    prefix: &str,
    backend: &'static str,
    default_rounds: usize,
    comparisons: &[Bulk],
    mut run: impl FnMut(Bulk, usize, usize) -> Pair,
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
            Line::from_pair(label, backend, &run(what, rows, rounds), target)
        })
        .collect()
}

/// The comparisons of workload B on a server.
#[cfg(any(feature = "postgres", feature = "mysql"))]
const SERVER_BULK: [Bulk; 3] = [
    Bulk::UpdateVsSingles,
    Bulk::DeleteVsSingles,
    Bulk::UpdateVsBare,
];

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
        let pair = sqlite_w1(&cfg, "W1", WAL_NORMAL, n, cfg.rounds(6));
        w1_recorded = Some(ops_per_sec(pair.ops, median(&pair.recorded)));
        let label = format!("W1 {} updates, own txn, WAL NORMAL", short_count(n));
        lines.push(Line::from_pair(label, "sqlite", &pair, Some(2.0)));
    }
    if cfg.wants("W1-FULL") {
        let n = cfg.ops(10_000);
        let pair = sqlite_w1(&cfg, "W1-FULL", WAL_FULL, n, cfg.rounds(4));
        let label = format!("W1-FULL {} updates, own txn, WAL FULL", short_count(n));
        lines.push(Line::from_pair(label, "sqlite", &pair, Some(1.15)));
    }
    if cfg.wants("W2") {
        let n = cfg.ops(10_000);
        let pair = sqlite_w2(&cfg, n, cfg.rounds(6));
        let label = format!("W2 {} updates, one txn", short_count(n));
        lines.push(Line::from_pair(label, "sqlite", &pair, Some(3.0)));
    }
    if cfg.wants("W3") {
        sqlite_w3(&cfg, &mut lines, w1_recorded);
    }
    if cfg.wants("W4") {
        let changesets = cfg.ops(100);
        let pair = sqlite_w4(&cfg, changesets, 100, cfg.rounds(6));
        let label = format!("W4 {changesets} changesets of 100 updates");
        lines.push(Line::from_pair(label, "sqlite", &pair, Some(3.0)));
    }
    if cfg.wants("B") {
        let all = [
            Bulk::UpdateVsSingles,
            Bulk::DeleteVsSingles,
            Bulk::UpdateVsBare,
            Bulk::FloorVsSingles,
        ];
        lines.extend(bulk_lines(
            &cfg,
            "B",
            "sqlite",
            6,
            &all,
            |what, rows, rounds| sqlite_b(&cfg, what, rows, rounds),
        ));
    }
    for what in [Capture::Plain, Capture::Prepared, Capture::Journal] {
        if cfg.wants("C") {
            let n = cfg.ops(10_000);
            let pair = sqlite_c(&cfg, what, n, cfg.rounds(6));
            lines.push(Line::from_pair(
                capture_label("C", what, n),
                "sqlite",
                &pair,
                Some(1.6),
            ));
        }
    }
    if cfg.wants("C-B") {
        let run = |what, rows, rounds| sqlite_c_b(&cfg, what, rows, rounds);
        let all = [Bulk::UpdateVsSingles, Bulk::DeleteVsSingles];
        lines.extend(bulk_lines(&cfg, "C-B", "sqlite", 6, &all, run));
    }
    let history = cfg.wants("H").then(|| sqlite_h(&cfg));
    let table_restore = cfg.wants("T").then(|| sqlite_t(&cfg));

    let wants_pg =
        cfg.wants("PG-W1") || cfg.wants("PG-W2") || cfg.wants("PG-B") || cfg.wants("PG-C");
    match (&cfg.pg_url, wants_pg) {
        (None, _) | (_, false) => {
            if wants_pg {
                notes.push("PostgreSQL skipped: RECOVER_PG_URL is not set".to_owned());
            }
        }
        #[cfg(feature = "postgres")]
        (Some(url), true) => {
            let schema = pg::Schema::new(url);
            println!("PostgreSQL {}   schema {}", schema.version(), schema.name());
            if cfg.wants("PG-W1") {
                let n = cfg.ops(10_000);
                let pair = pg::w1(&cfg, &schema, n, cfg.rounds(2));
                let label = format!("PG-W1 {} updates, own txn", short_count(n));
                lines.push(Line::from_pair(label, "postgres", &pair, Some(1.5)));
            }
            if cfg.wants("PG-W2") {
                let n = cfg.ops(10_000);
                let pair = pg::w2(&cfg, &schema, n, cfg.rounds(2));
                let label = format!("PG-W2 {} updates, one txn", short_count(n));
                lines.push(Line::from_pair(label, "postgres", &pair, None));
            }
            for what in [Capture::Plain, Capture::Prepared, Capture::Journal] {
                if cfg.wants("PG-C") {
                    let n = cfg.ops(10_000);
                    let pair = pg::c(&cfg, &schema, what, n, cfg.rounds(2));
                    let label = capture_label("PG-C", what, n);
                    lines.push(Line::from_pair(label, "postgres", &pair, Some(1.15)));
                }
            }
            if cfg.wants("PG-B") {
                let run = |what, rows, rounds| pg::b(&cfg, &schema, what, rows, rounds);
                lines.extend(bulk_lines(&cfg, "PG-B", "postgres", 2, &SERVER_BULK, run));
            }
        }
        #[cfg(not(feature = "postgres"))]
        (Some(_), true) => notes.push(
            "PostgreSQL skipped: RECOVER_PG_URL is set, but the benchmark was built without \
             `--features postgres`"
                .to_owned(),
        ),
    }

    match (&cfg.mysql_url, cfg.wants("MY-B")) {
        (None, _) | (_, false) => {
            if cfg.wants("MY-B") {
                notes.push("MySQL skipped: RECOVER_MYSQL_URL is not set".to_owned());
            }
        }
        #[cfg(feature = "mysql")]
        (Some(url), true) => {
            let db = my::Database::new(url);
            println!("MySQL {}   database {}", db.version(), db.name());
            let run = |what, rows, rounds| my::b(&cfg, &db, what, rows, rounds);
            lines.extend(bulk_lines(&cfg, "MY-B", "mysql", 2, &SERVER_BULK, run));
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
