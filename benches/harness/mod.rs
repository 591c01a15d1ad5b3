//! The harness every workload family shares: the configuration from the environment, the
//! deterministic input, the measurement of both sides, the table of results, the shared
//! statements (the bare update, the outcome check, the seeding), and the databases, one
//! submodule per backend.

use std::time::Duration;

use crate::model::Account;

pub mod sqlite;

#[cfg(feature = "postgres")]
pub mod postgres;

#[cfg(feature = "mysql")]
pub mod mysql;

/// Rows in the table.
pub const ROWS: i32 = 1_000;
/// The fixed seed of every random sequence.
const SEED: u64 = 0x9E37_79B9_7F4A_7C15;

pub const ACCOUNTS_DDL: &str =
    "CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, \
     balance BIGINT NOT NULL, status TEXT NOT NULL, note TEXT);";

// ------------------------------------------------------------------------------------------
// Deterministic input

/// xorshift64*: small, fast, deterministic.
pub struct Rng(u64);

impl Rng {
    pub fn new(stream: u64) -> Self {
        Rng(SEED ^ stream.wrapping_mul(0xD6E8_FEB8_6659_FD93) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-enough in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

pub fn initial_row(id: i32) -> Account {
    Account {
        id,
        owner: format!("owner-{id}"),
        balance: 1_000,
        status: "open".into(),
        note: None,
    }
}

pub fn initial_rows() -> Vec<Account> {
    (1..=ROWS).map(initial_row).collect()
}

/// The new state of one row: a new balance, sometimes a new status or note.
pub fn changed_row(rng: &mut Rng, id: i32, i: usize) -> Account {
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
pub fn random_updates(rng: &mut Rng, n: usize) -> Vec<Account> {
    (0..n)
        .map(|i| {
            let id = rng.below(ROWS as u64) as i32 + 1;
            changed_row(rng, id, i)
        })
        .collect()
}

/// The table after `updates`, ordered by id.
pub fn expected_rows(updates: &[Account]) -> Vec<Account> {
    let mut rows = initial_rows();
    for u in updates {
        rows[(u.id - 1) as usize] = u.clone();
    }
    rows
}

// ------------------------------------------------------------------------------------------
// Configuration and measurement

pub struct Config {
    pub scale: f64,
    rounds: Option<usize>,
    only: Option<Vec<String>>,
    pub pg_url: Option<String>,
    pub mysql_url: Option<String>,
}

impl Config {
    pub fn from_env() -> Self {
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
    pub fn ops(&self, n: usize) -> usize {
        ((n as f64 * self.scale).round() as usize).max(1)
    }

    pub fn rounds(&self, default: usize) -> usize {
        self.rounds.unwrap_or(default)
    }

    pub fn wants(&self, workload: &str) -> bool {
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
pub enum Side {
    Bare,
    Recorded,
}

/// The round times of both sides of one workload.
pub struct Pair {
    pub ops: usize,
    pub bare: Vec<Duration>,
    pub recorded: Vec<Duration>,
}

pub fn median(times: &[Duration]) -> Duration {
    let mut t = times.to_vec();
    t.sort();
    let n = t.len();
    if n % 2 == 1 {
        t[n / 2]
    } else {
        (t[n / 2 - 1] + t[n / 2]) / 2
    }
}

pub fn ops_per_sec(ops: usize, t: Duration) -> f64 {
    ops as f64 / t.as_secs_f64()
}

/// Runs a warm-up round of each side with `warm` operations, then `rounds` measured rounds of
/// `ops` operations, alternating which side goes first. `run` sets up a fresh database (not
/// timed), times the work, checks the outcome, and returns the timed part.
pub fn measure(
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
pub struct Line {
    pub workload: String,
    pub backend: &'static str,
    pub bare: f64,
    pub recorded: f64,
    /// Recorded time / bare time (or measured / baseline for the W3 lines).
    pub ratio: f64,
    /// Smallest and largest per-round ratio.
    pub spread: Option<(f64, f64)>,
    pub target: Option<f64>,
}

impl Line {
    pub fn from_pair(
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

pub fn thousands(x: f64) -> String {
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

pub fn print_table(lines: &[Line]) {
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

pub fn short_count(n: usize) -> String {
    if n >= 1_000_000 && n % 1_000_000 == 0 {
        format!("{}M", n / 1_000_000)
    } else if n >= 1_000 && n % 1_000 == 0 {
        format!("{}k", n / 1_000)
    } else {
        n.to_string()
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

/// Installs the journal tables on `$conn`, a database whose accounts table is empty, and
/// seeds the table with its `ROWS` rows.
macro_rules! install_and_seed {
    ($conn:expr) => {{
        let conn = $conn;
        recover::install(conn).expect("install");
        diesel::insert_into($crate::model::accounts::table)
            .values(&$crate::harness::initial_rows())
            .execute(conn)
            .expect("seed accounts");
    }};
}

pub(crate) use {bare_update, check_outcome, install_and_seed};
