//! Crash tests (issue 5, item 2): a process recording changes is killed with SIGKILL at random
//! moments, hundreds of times, and nothing it committed is lost or half-written.
//!
//! Each parent test re-runs this test binary as a child (`--exact child_.. --nocapture`, with
//! `RECOVER_CRASH_CHILD` naming the database; without it the `child_*` tests return at once).
//! The child loops forever over recorded changes on a small bank: changesets (transfers between
//! 2 to 4 accounts, a shuffle of every account, closing an account into another, reopening one),
//! a transfer as two single recorded updates inside the caller's own `conn.transaction`,
//! `undo_changeset` of the newest changeset (which must succeed) and of older ones (a conflict
//! when their rows changed since), and single updates, undos and redos of side accounts. Every
//! change keeps the sum of the bank's balances constant. The child prints `@@READY` once it is
//! connected, then `@@B` before each call, `@@C <changeset id>` for each changeset it
//! committed, and `@@E` when it returned. The parent kills it 5–80 ms after `@@READY` (a deterministic PRNG picks the
//! delay), reopens the database (on PostgreSQL, once the killed client's backend is gone: the
//! server may still commit what the client sent just before it died) and checks:
//!
//! - the sum of the bank's balances is unchanged: every changeset is all-or-nothing;
//! - every changeset the child reported committed is in the journal (durable), and every new
//!   changeset is whole: its entries start at its id, and a changeset of several entries has
//!   its `recover_changesets` row with its last seq (one of one entry has none);
//! - `recover::check` finds no problem, and every account's stored row equals the after-image
//!   of its newest journal entry (absent when that entry deleted it);
//! - SQLite's own `PRAGMA integrity_check` is `ok`;
//! - `recover` keeps working: a recorded update and its undo succeed and leave the row as it was.
//!
//! Backends: a SQLite file in WAL mode with `synchronous = NORMAL` and with `synchronous = FULL`
//! (`RECOVER_CRASH_ITERATIONS` kills each, default 100, on a fresh file every 25 kills so that
//! the full `recover::check` after each kill stays cheap; the child checkpoints every 64 pages),
//! and PostgreSQL with the `postgres` feature (`RECOVER_CRASH_PG_ITERATIONS`, default 30; the
//! server of `RECOVER_PG_URL`, in a schema of its own dropped at the end). `RECOVER_CRASH_SEED`
//! changes the PRNG seed; the kill moments depend on the machine's speed anyway, so a failure
//! prints the kill's number, the child's seed and the delay.
//!
//! Run with `--nocapture` to see the number of kills, committed changesets and the time.
#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{Account, TestDb};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use recover::{ChangesetId, Error, Journal};

/// Set in the child only: `sqlite:<sync>:<path>` or `postgres:<schema>`.
const CHILD_ENV: &str = "RECOVER_CRASH_CHILD";
/// The child's PRNG seed.
const CHILD_SEED_ENV: &str = "RECOVER_CRASH_CHILD_SEED";

/// The bank: accounts 1..=BANK, whose balances always sum to BANK * OPENING.
const BANK: i32 = 8;
const OPENING: i64 = 1_000;
/// Side accounts, outside the sum: single updates, undos and redos.
const SIDE: [i32; 3] = [101, 102, 103];

/// Kill delays after `@@READY`, in milliseconds.
const MIN_DELAY_MS: u64 = 5;
const MAX_DELAY_MS: u64 = 80;
/// How long a child may take to connect.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// SIGKILL's number on every Unix.
const SIGKILL: i32 = 9;
/// The reason of the changes the child records inside its own transaction.
const OWN_TRANSACTION: &str = "own transaction";
/// Changesets the child may pick from for `undo_changeset`.
const RECENT: usize = 32;

// ---------------------------------------------------------------------------------------------
// A deterministic PRNG (xorshift64*).

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn index(&mut self, len: usize) -> usize {
        usize::try_from(self.below(len as u64)).unwrap()
    }

    /// A signed amount in -limit..=limit.
    fn amount(&mut self, limit: i64) -> i64 {
        i64::try_from(self.below(2 * limit.unsigned_abs() + 1)).unwrap() - limit
    }

    /// Removes and returns a random element.
    fn take<T>(&mut self, items: &mut Vec<T>) -> T {
        let i = self.index(items.len());
        items.swap_remove(i)
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|e| panic!("{name}={v:?} is not a number: {e}"))
        })
        .unwrap_or(default)
}

fn is_bank(id: i32) -> bool {
    (1..=BANK).contains(&id)
}

// ---------------------------------------------------------------------------------------------
// The raw-SQL reads the test needs beside `TestDb` (integers only: no binds, same SQL on every
// backend).

#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    v: i64,
}

#[derive(QueryableByName, Debug)]
struct ChangesetShape {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    entries: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    first: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    last: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    recorded_last: Option<i64>,
}

trait CrashDb: TestDb {
    fn numbers(&mut self, sql: &str) -> Vec<i64>;
    fn shapes(&mut self, sql: &str) -> Vec<ChangesetShape>;
    /// What the storage engine itself finds wrong (SQLite's integrity check).
    fn storage_problems(&mut self) -> Vec<String>;
    /// Waits until the killed child's work is over: a server finishes (and may still commit)
    /// what a client sent just before it died.
    fn settle(&mut self);

    fn number(&mut self, sql: &str) -> i64 {
        self.numbers(sql)[0]
    }

    /// The changesets of the newest entries, oldest first, each once; neither the one that
    /// opened the bank (undoing it would close every account) nor the halves of a transfer
    /// made in the caller's own transaction.
    fn recent_changesets(&mut self) -> Vec<i64> {
        let mut ids = self.numbers(&format!(
            "SELECT changeset_id AS v FROM recover_journal \
             WHERE changeset_id > (SELECT MIN(seq) FROM recover_journal) \
             AND (reason IS NULL OR reason <> '{OWN_TRANSACTION}') \
             ORDER BY seq DESC LIMIT {}",
            4 * RECENT
        ));
        ids.dedup();
        ids.truncate(RECENT);
        ids.reverse();
        ids
    }

    fn max_seq(&mut self) -> i64 {
        self.number("SELECT COALESCE(MAX(seq), 0) AS v FROM recover_journal")
    }

    /// The seq of an account's newest journal entry.
    fn newest_seq(&mut self, id: i32) -> Option<i64> {
        self.numbers(&format!(
            "SELECT seq AS v FROM recover_journal WHERE entity = 'accounts' \
             AND entity_key = '{id}' ORDER BY seq DESC LIMIT 1"
        ))
        .first()
        .copied()
    }
}

macro_rules! impl_crash_db {
    ($conn:ty, $storage:expr, $settle:expr) => {
        impl CrashDb for $conn {
            fn numbers(&mut self, sql: &str) -> Vec<i64> {
                diesel::sql_query(sql)
                    .load::<Number>(self)
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
                    .into_iter()
                    .map(|n| n.v)
                    .collect()
            }
            fn shapes(&mut self, sql: &str) -> Vec<ChangesetShape> {
                diesel::sql_query(sql)
                    .load(self)
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
            }
            fn storage_problems(&mut self) -> Vec<String> {
                $storage(self)
            }
            fn settle(&mut self) {
                $settle(self)
            }
        }
    };
}

#[derive(QueryableByName)]
struct IntegrityLine {
    #[diesel(sql_type = diesel::sql_types::Text)]
    integrity_check: String,
}

impl_crash_db!(
    SqliteConnection,
    |conn: &mut SqliteConnection| {
        diesel::sql_query("PRAGMA integrity_check")
            .load::<IntegrityLine>(conn)
            .unwrap()
            .into_iter()
            .map(|l| l.integrity_check)
            .filter(|l| l != "ok")
            .collect::<Vec<_>>()
    },
    // A killed process holds no lock: it is over.
    |_: &mut SqliteConnection| {}
);
#[cfg(feature = "postgres")]
impl_crash_db!(
    diesel::pg::PgConnection,
    |_: &mut diesel::pg::PgConnection| Vec::<String>::new(),
    |conn: &mut diesel::pg::PgConnection| {
        let started = Instant::now();
        let sql = "SELECT COUNT(*) AS v FROM pg_stat_activity \
                   WHERE application_name = 'crash child ' || current_schema()";
        while conn.number(sql) > 0 {
            assert!(
                started.elapsed() < READY_TIMEOUT,
                "the killed child's backend is still there"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
);

// ---------------------------------------------------------------------------------------------
// The child: recorded changes forever, until it is killed.

/// One recorded call, picked at random.
///
/// `recent` are the changesets it may undo, newest last; `clean` says that nothing changed
/// since the newest of them. A transfer in the caller's own transaction records two
/// single-entry changesets that must not be undone alone (they would break the sum): their ids
/// go to `own` instead of the result.
fn step<C: CrashDb>(
    conn: &mut C,
    journal: &Journal,
    rng: &mut Rng,
    recent: &[i64],
    clean: bool,
    own: &mut Vec<ChangesetId>,
) -> Result<ChangesetId, Error> {
    let bank = |tx_conn: &mut C| -> Vec<Account> {
        tx_conn
            .accounts()
            .into_iter()
            .filter(|a| is_bank(a.id))
            .collect()
    };
    match rng.below(100) {
        // A transfer between 2 to 4 accounts.
        0..=34 => journal.changeset(conn, |tx| {
            let mut live = bank(tx.conn());
            let n = (2 + rng.index(3)).min(live.len());
            let mut total = 0;
            for i in 0..n {
                let mut a = rng.take(&mut live);
                let delta = if i + 1 == n { -total } else { rng.amount(50) };
                total += delta;
                a.balance += delta;
                tx.update(&a)?;
            }
            Ok(())
        }),
        // A transfer in the caller's own transaction: two single recorded updates.
        35..=39 => {
            let ids = conn.transaction(|conn| {
                let mut live = bank(conn);
                if live.len() < 2 {
                    return Ok(Vec::new());
                }
                let (mut from, mut to) = (rng.take(&mut live), rng.take(&mut live));
                let amount = rng.amount(30);
                from.balance -= amount;
                to.balance += amount;
                let own_tx = Journal::new().actor("crash-child").reason(OWN_TRANSACTION);
                Ok::<_, Error>(vec![own_tx.update(conn, &from)?, own_tx.update(conn, &to)?])
            })?;
            own.extend(ids);
            Ok(ChangesetId::EMPTY)
        }
        // Every account at once.
        40..=46 => journal.changeset(conn, |tx| {
            let mut live = bank(tx.conn());
            let n = live.len();
            let mut total = 0;
            for i in 0..n {
                let mut a = rng.take(&mut live);
                let delta = if i + 1 == n { -total } else { rng.amount(20) };
                total += delta;
                a.balance += delta;
                a.note = Some(format!("shuffled {}", rng.below(1000)));
                tx.update(&a)?;
            }
            Ok(())
        }),
        // Close an account into another.
        47..=51 => journal.changeset(conn, |tx| {
            let mut live = bank(tx.conn());
            if live.len() > 3 {
                let closed = rng.take(&mut live);
                let mut heir = rng.take(&mut live);
                heir.balance += closed.balance;
                tx.update(&heir)?;
                tx.delete(&closed)?;
            }
            Ok(())
        }),
        // Reopen a closed account with money from another.
        52..=56 => journal.changeset(conn, |tx| {
            let mut live = bank(tx.conn());
            let closed: Vec<i32> = (1..=BANK)
                .filter(|id| live.iter().all(|a| a.id != *id))
                .collect();
            if !closed.is_empty() && !live.is_empty() {
                let id = closed[rng.index(closed.len())];
                let mut payer = rng.take(&mut live);
                let amount = i64::try_from(rng.below(100)).unwrap();
                payer.balance -= amount;
                tx.update(&payer)?;
                let mut a = Account::new(id, &format!("owner-{id}"), amount);
                a.status = "reopened".into();
                tx.insert(&a)?;
            }
            Ok(())
        }),
        // Undo the newest changeset: nothing changed since, so it must succeed.
        57..=71 => match recent.last() {
            Some(&id) => match journal.undo_changeset(conn, ChangesetId::from(id)) {
                Err(e) if clean => panic!("undo_changeset of the newest changeset {id}: {e}"),
                done => done,
            },
            None => Ok(ChangesetId::EMPTY),
        },
        // Undo an older changeset: a conflict when one of its rows changed since.
        72..=81 => match recent.len() {
            0 => Ok(ChangesetId::EMPTY),
            n => journal.undo_changeset(conn, ChangesetId::from(recent[rng.index(n)])),
        },
        // A single change of a side account.
        82..=87 => {
            let id = SIDE[rng.index(SIDE.len())];
            match conn.account(id) {
                Some(mut a) => {
                    a.balance = i64::try_from(rng.below(1_000)).unwrap();
                    a.note = (rng.below(2) == 0).then(|| format!("note {}", rng.below(1000)));
                    journal.update(conn, &a)
                }
                None => journal.insert(conn, &Account::new(id, "side", 0)),
            }
        }
        88..=93 => journal.undo::<Account>(conn, &SIDE[rng.index(SIDE.len())]),
        _ => journal.redo::<Account>(conn, &SIDE[rng.index(SIDE.len())]),
    }
}

fn child_loop<C: CrashDb>(conn: &mut C) {
    let seed = env_number(CHILD_SEED_ENV, 1);
    let mut rng = Rng::new(seed);
    let journal = Journal::new().actor("crash-child").reason("crash test");
    let mut recent = conn.recent_changesets();
    // The journal's newest changeset may be one of `OWN_TRANSACTION`, not in `recent`.
    let mut clean = false;
    let mut own = Vec::new();
    println!("@@READY");
    loop {
        println!("@@B");
        let result = step(conn, &journal, &mut rng, &recent, clean, &mut own);
        if !own.is_empty() {
            clean = false;
            for id in own.drain(..) {
                println!("@@C {}", id.get());
            }
        }
        match result {
            Ok(ChangesetId::EMPTY) => {}
            Ok(id) => {
                println!("@@C {}", id.get());
                recent.push(id.get());
                if recent.len() > RECENT {
                    recent.remove(0);
                }
                clean = true;
            }
            Err(
                Error::Conflict { .. } | Error::NothingToUndo { .. } | Error::NothingToRedo { .. },
            ) => {}
            Err(e) => panic!("crash child (seed {seed}): unexpected error: {e}"),
        }
        println!("@@E");
    }
}

#[test]
fn child_sqlite() {
    let Some(target) = std::env::var(CHILD_ENV)
        .ok()
        .and_then(|v| v.strip_prefix("sqlite:").map(str::to_owned))
    else {
        return; // an ordinary test run: this test is the child of `sqlite_wal_*` only
    };
    let (sync, path) = target.split_once(':').unwrap();
    let mut conn = open_sqlite(path, sync);
    // Checkpoints often, so that some kills land in one.
    conn.batch_execute("PRAGMA wal_autocheckpoint = 64;")
        .unwrap();
    child_loop(&mut conn);
}

// ---------------------------------------------------------------------------------------------
// The parent: start, kill, reopen, check.

/// What one backend's run did.
#[derive(Debug, Default)]
struct Stats {
    kills: u64,
    /// Kills that landed after `@@B` and before that call's `@@C` (or its end).
    kills_in_a_call: u64,
    committed: u64,
    /// Journal entries at the end, summed over the databases.
    journal_entries: u64,
    verify: Duration,
}

/// What the parent knows between kills.
struct Progress {
    journal: Journal,
    /// The journal's largest seq at the previous check.
    checked_seq: i64,
}

struct Killed {
    committed: Vec<i64>,
    in_a_call: bool,
}

/// Starts a child, kills it `delay` after it is ready, and returns what it reported.
fn run_child(child_test: &str, target: &str, seed: u64, delay: Duration) -> Killed {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", child_test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, target)
        .env(CHILD_SEED_ENV, seed.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (ready_tx, ready) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let reader: JoinHandle<(Vec<i64>, bool)> = std::thread::spawn(move || {
        let (mut committed, mut in_a_call) = (Vec::new(), false);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // libtest may print its own text before ours on the same line.
            let Some((_, marker)) = line.split_once("@@") else {
                continue;
            };
            match marker {
                "READY" => {
                    let _ = ready_tx.send(());
                }
                "B" => in_a_call = true,
                "E" => in_a_call = false,
                c => committed.push(c.strip_prefix("C ").unwrap().parse().unwrap()),
            }
        }
        (committed, in_a_call)
    });
    let mut stderr = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let fail = |mut child: Child, errors: JoinHandle<String>, what: String| -> ! {
        let _ = child.kill();
        let status = child.wait();
        panic!(
            "crash child {child_test} (seed {seed}) {what}: {status:?}\n{}",
            errors.join().unwrap()
        );
    };
    if ready.recv_timeout(READY_TIMEOUT).is_err() {
        fail(child, errors, "did not start".into());
    }
    std::thread::sleep(delay);
    if let Ok(Some(status)) = child.try_wait() {
        fail(
            child,
            errors,
            format!("exited before it was killed ({status})"),
        );
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    if status.signal() != Some(SIGKILL) {
        fail(
            child,
            errors,
            format!("ended otherwise than by SIGKILL ({status})"),
        );
    }
    let (committed, in_a_call) = reader.join().unwrap();
    errors.join().unwrap();
    Killed {
        committed,
        in_a_call,
    }
}

/// Seeds the bank and the side accounts in a fresh database, as recorded inserts.
fn seed_bank<C: CrashDb>(conn: &mut C) {
    Journal::new()
        .actor("crash-parent")
        .changeset(conn, |tx| {
            for id in 1..=BANK {
                tx.insert(&Account::new(id, &format!("owner-{id}"), OPENING))?;
            }
            for id in SIDE {
                tx.insert(&Account::new(id, "side", 0))?;
            }
            Ok(())
        })
        .unwrap();
}

/// Everything that must hold after a kill.
fn verify<C: CrashDb>(conn: &mut C, killed: &Killed, progress: &mut Progress, iteration: u64) {
    let storage = conn.storage_problems();
    assert!(storage.is_empty(), "storage damaged: {storage:?}");

    // All-or-nothing: every changeset keeps the sum.
    let accounts = conn.accounts();
    let sum: i64 = accounts
        .iter()
        .filter(|a| is_bank(a.id))
        .map(|a| a.balance)
        .sum();
    assert_eq!(
        sum,
        i64::from(BANK) * OPENING,
        "half a changeset: {accounts:#?}"
    );

    // Durable: every changeset the child saw committed is there, as committed.
    if !killed.committed.is_empty() {
        let list = killed
            .committed
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let found = conn.number(&format!(
            "SELECT COUNT(*) AS v FROM recover_journal WHERE changeset_id = seq AND seq IN ({list})"
        ));
        assert_eq!(
            usize::try_from(found).unwrap(),
            killed.committed.len(),
            "committed changesets lost: {list}"
        );
    }

    // Whole: every new changeset starts at its id, and its metadata row agrees.
    let after = progress.checked_seq;
    let shapes = conn.shapes(&format!(
        "SELECT j.changeset_id AS id, COUNT(*) AS entries, MIN(j.seq) AS first, \
         MAX(j.seq) AS last, (SELECT c.last_seq FROM recover_changesets c \
         WHERE c.id = j.changeset_id) AS recorded_last \
         FROM recover_journal j WHERE j.seq > {after} GROUP BY j.changeset_id"
    ));
    for s in &shapes {
        assert_eq!(
            s.first, s.id,
            "changeset starts before the last check: {s:?}"
        );
        let expected_last = (s.entries > 1).then_some(s.last);
        assert_eq!(s.recorded_last, expected_last, "changeset metadata: {s:?}");
    }
    let recorded = conn.number(&format!(
        "SELECT COUNT(*) AS v FROM recover_changesets WHERE id > {after}"
    ));
    let multi = shapes.iter().filter(|s| s.entries > 1).count();
    assert_eq!(
        usize::try_from(recorded).unwrap(),
        multi,
        "recover_changesets rows without their entries"
    );

    // The journal agrees with the rows.
    let report = recover::check(conn).unwrap();
    assert!(report.is_ok(), "recover::check after a kill:\n{report}");
    for id in (1..=BANK).chain(SIDE) {
        let stored = accounts.iter().find(|a| a.id == id).cloned();
        let newest = conn
            .newest_seq(id)
            .unwrap_or_else(|| panic!("account {id} has no journal entry"));
        let entry = progress
            .journal
            .history_page::<Account>(conn, &id, newest - 1, 1)
            .unwrap()
            .pop()
            .unwrap();
        assert_eq!(entry.seq, newest);
        assert_eq!(
            stored, entry.after,
            "account {id} differs from entry {newest}"
        );
    }
    assert!(
        accounts
            .iter()
            .all(|a| is_bank(a.id) || SIDE.contains(&a.id)),
        "rows nobody wrote: {accounts:?}"
    );

    // And recover keeps working on it.
    match accounts.first().cloned() {
        Some(before) => {
            let mut changed = before.clone();
            changed.note = Some(format!("checked after kill {iteration}"));
            progress.journal.update(conn, &changed).unwrap();
            assert_eq!(conn.account(before.id), Some(changed));
            progress.journal.undo::<Account>(conn, &before.id).unwrap();
            assert_eq!(conn.account(before.id), Some(before));
        }
        None => {
            let side = Account::new(SIDE[0], "side", 0);
            progress.journal.insert(conn, &side).unwrap();
            assert_eq!(conn.account(side.id), Some(side.clone()));
            progress.journal.undo::<Account>(conn, &side.id).unwrap();
            assert_eq!(conn.account(side.id), None);
        }
    }

    progress.checked_seq = conn.max_seq();
}

/// Kills `iterations` children of `child_test` working on `target`, reopening the database
/// with `open` after each kill.
fn crash_loop<C: CrashDb>(
    label: &str,
    iterations: u64,
    child_test: &str,
    target: &str,
    rng: &mut Rng,
    stats: &mut Stats,
    mut open: impl FnMut() -> C,
) {
    let mut progress = Progress {
        journal: Journal::new().actor("crash-parent"),
        checked_seq: open().max_seq(),
    };
    for iteration in 0..iterations {
        let child_seed = rng.next();
        let delay = MIN_DELAY_MS + rng.below(MAX_DELAY_MS - MIN_DELAY_MS + 1);
        let killed = run_child(child_test, target, child_seed, Duration::from_millis(delay));
        stats.kills += 1;
        stats.kills_in_a_call += u64::from(killed.in_a_call);
        stats.committed += killed.committed.len() as u64;

        let verifying = Instant::now();
        let mut conn = open();
        conn.settle();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            verify(&mut conn, &killed, &mut progress, iteration)
        }));
        if let Err(panic) = outcome {
            eprintln!(
                "{label}: check failed after kill {iteration} (child seed {child_seed}, killed \
                 {delay} ms after it started, {} changesets committed)",
                killed.committed.len()
            );
            std::panic::resume_unwind(panic);
        }
        stats.verify += verifying.elapsed();
    }
    stats.journal_entries += u64::try_from(open().max_seq()).unwrap();
}

impl Stats {
    fn print(&self, label: &str, started: Instant) {
        println!(
            "{label}: {} kills in {:.1?} ({} of them inside a recorded call), {} changesets \
             committed by the children, {} journal entries, checks took {:.1?}",
            self.kills,
            started.elapsed(),
            self.kills_in_a_call,
            self.committed,
            self.journal_entries,
            self.verify
        );
    }
}

/// The run's PRNG, from `RECOVER_CRASH_SEED`.
fn run_rng(label: &str) -> Rng {
    let seed = env_number("RECOVER_CRASH_SEED", 0x5EED);
    println!("{label}: RECOVER_CRASH_SEED={seed}");
    Rng::new(seed ^ label.bytes().map(u64::from).sum::<u64>())
}

// ---------------------------------------------------------------------------------------------
// SQLite: a WAL file, durable commits or not.

/// Opens an existing SQLite file as the application does.
fn open_sqlite(path: &str, synchronous: &str) -> SqliteConnection {
    let mut conn = SqliteConnection::establish(path).unwrap();
    conn.batch_execute(&format!(
        "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous};"
    ))
    .unwrap();
    conn
}

/// The database file and its WAL, removed when the test ends.
struct SqliteFile(String);

impl Drop for SqliteFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0));
        }
    }
}

/// Kills children working on a WAL file, a fresh file every `EPOCH` kills: `recover::check`
/// after each kill reads the whole journal, so its cost grows with it.
fn sqlite_crashes(synchronous: &str) {
    const EPOCH: u64 = 25;
    let label = format!("SQLite WAL, synchronous={synchronous}");
    let iterations = env_number("RECOVER_CRASH_ITERATIONS", 100);
    let mut rng = run_rng(&label);
    let mut stats = Stats::default();
    let started = Instant::now();
    for epoch in 0..iterations.div_ceil(EPOCH) {
        let path = std::env::temp_dir().join(format!(
            "recover_crash_{}_{}_{epoch}.db",
            synchronous.to_lowercase(),
            std::process::id()
        ));
        let file = SqliteFile(path.to_str().unwrap().to_owned());
        drop(SqliteFile(file.0.clone())); // a leftover of an earlier run
        {
            let mut conn = open_sqlite(&file.0, synchronous);
            conn.batch_execute(
                "CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, \
                 balance BIGINT NOT NULL, status TEXT NOT NULL, note TEXT);",
            )
            .unwrap();
            recover::install(&mut conn).unwrap();
            seed_bank(&mut conn);
        }
        crash_loop(
            &label,
            EPOCH.min(iterations - epoch * EPOCH),
            "child_sqlite",
            &format!("sqlite:{synchronous}:{}", file.0),
            &mut rng,
            &mut stats,
            || open_sqlite(&file.0, synchronous),
        );
    }
    stats.print(&label, started);
    assert_eq!(stats.kills, iterations);
}

#[test]
fn sqlite_wal_synchronous_normal() {
    sqlite_crashes("NORMAL");
}

#[test]
fn sqlite_wal_synchronous_full() {
    sqlite_crashes("FULL");
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL: the server rolls back what a killed client left open.

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use diesel::pg::PgConnection;

    fn url() -> String {
        std::env::var("RECOVER_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
    }

    pub(super) fn open(schema: &str) -> PgConnection {
        let url = url();
        let mut conn = PgConnection::establish(&url)
            .unwrap_or_else(|e| panic!("PostgreSQL at {url}: {e} (set RECOVER_PG_URL)"));
        conn.batch_execute(&format!("SET search_path TO {schema}"))
            .unwrap();
        conn
    }

    /// The test's schema, dropped when the test ends.
    struct Schema(String);

    impl Drop for Schema {
        fn drop(&mut self) {
            let _ =
                open("public").batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.0));
        }
    }

    #[test]
    fn postgres_kill_client() {
        let schema = Schema(format!("recover_crash_{}", std::process::id()));
        {
            let mut conn = open("public");
            conn.batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {0} CASCADE; CREATE SCHEMA {0}; SET search_path TO {0};
                 CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT NOT NULL,
                     balance BIGINT NOT NULL, status TEXT NOT NULL, note TEXT);",
                schema.0
            ))
            .unwrap();
            recover::install(&mut conn).unwrap();
            seed_bank(&mut conn);
        }
        let label = "PostgreSQL";
        let iterations = env_number("RECOVER_CRASH_PG_ITERATIONS", 30);
        let mut rng = run_rng(label);
        let mut stats = Stats::default();
        let started = Instant::now();
        crash_loop(
            label,
            iterations,
            "postgres::child_postgres",
            &format!("postgres:{}", schema.0),
            &mut rng,
            &mut stats,
            || open(&schema.0),
        );
        stats.print(label, started);
        assert_eq!(stats.kills, iterations);
    }

    #[test]
    fn child_postgres() {
        let Some(schema) = std::env::var(CHILD_ENV)
            .ok()
            .and_then(|v| v.strip_prefix("postgres:").map(str::to_owned))
        else {
            return; // an ordinary test run: this test is the child of `postgres_kill_client` only
        };
        let mut conn = open(&schema);
        // What `settle` waits for.
        conn.batch_execute(&format!("SET application_name = 'crash child {schema}'"))
            .unwrap();
        child_loop(&mut conn);
    }
}
