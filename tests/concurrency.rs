//! Concurrency and dropped connections on real servers (issue 3, item 4 and "Bad input").
//!
//! - PostgreSQL and MariaDB: 8 threads, each on its own pooled connection (r2d2), record
//!   inserts, updates, deletes, undos, redos, two-row changesets and bulk `update_where` and
//!   `delete_where` calls on 5 shared rows; afterwards
//!   the journal of every entity is a consistent chain, the stored rows equal the newest
//!   after-images, and every successful call left exactly its entries.
//! - The same on a SQLite WAL file shared by 4 connections, and `SQLITE_BUSY` surfacing as
//!   `Error::Retryable` only after the busy timeout.
//! - A connection killed from a second connection in the middle of a changeset: the change and
//!   its journal entries are both absent afterwards.
//! - `recover` on a pooled connection and inside the user's own `conn.transaction(..)`.
//! - Deterministic reproductions of what the stress runs can hit: two transactions made to meet
//!   on one row (an undo waiting behind an update, an insert waiting behind an insert).
//! - Opt-in, with `RECOVER_GALERA_URLS` set (`scripts/galera-start` starts a 3-node MariaDB
//!   Galera cluster on loopback): the MariaDB workload and money transfers with the threads
//!   spread round-robin over the nodes, then the same checks on every node.

// Without a server feature only the SQLite tests are built; the server-only helpers stay.
#![cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]

mod common;

use std::collections::BTreeMap;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use common::{accounts, Account, JournalRow, TestDb};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{
    ConnectionManager, CustomizeConnection, Pool, PooledConnection, R2D2Connection,
};
use recover::{Error, Journal};

/// The shared rows every thread works on (ids 1..=ROWS).
const ROWS: i32 = 5;
/// Threads on the servers, and recorded operations per thread.
const SERVER_THREADS: usize = 8;
const SERVER_OPS: usize = 500;
/// Threads on the SQLite file, and recorded operations per thread.
const SQLITE_THREADS: usize = 4;
const SQLITE_OPS: usize = 250;
/// Retries of one operation before it counts as a failure (a livelock would be a bug too).
const MAX_RETRIES: u32 = 100;

// ---------------------------------------------------------------------------------------------
// A deterministic PRNG per thread (xorshift64*).

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

    fn id(&mut self) -> i32 {
        1 + i32::try_from(self.below(u64::try_from(ROWS).unwrap())).unwrap()
    }

    fn account(&mut self, id: i32, thread: usize) -> Account {
        let mut a = Account::new(id, &format!("owner-{thread}"), self.below(1_000_000) as i64);
        a.status = ["open", "frozen", "closed"][self.below(3) as usize].into();
        a.note = (self.below(2) == 0).then(|| format!("t{thread}-{}", self.below(1000)));
        a
    }
}

// ---------------------------------------------------------------------------------------------
// One recorded operation, and what a thread saw.

#[derive(Debug, Clone)]
enum Op {
    Insert(Account),
    Update(Account),
    Delete(Account),
    Undo(i32),
    Redo(i32),
    /// Two updates of two different rows in one changeset (in random order, so that two of
    /// them can deadlock).
    Changeset(Account, Account),
    /// `update_where` of the rows with ids in `lo..=hi`: a new balance and status.
    UpdateWhere(i32, i32, i64, &'static str),
    /// `delete_where` of the rows with ids in `lo..=hi`.
    DeleteWhere(i32, i32),
}

impl Op {
    fn random(rng: &mut Rng, thread: usize) -> Op {
        let id = rng.id();
        match rng.below(100) {
            0..=14 => Op::Insert(rng.account(id, thread)),
            15..=49 => Op::Update(rng.account(id, thread)),
            50..=61 => Op::Delete(rng.account(id, thread)),
            62..=79 => Op::Undo(id),
            80..=93 => Op::Redo(id),
            94..=95 => {
                let (lo, hi) = (id.min(rng.id()), id.max(rng.id()));
                let status = ["open", "frozen", "closed"][rng.below(3) as usize];
                Op::UpdateWhere(lo, hi, rng.below(1_000_000) as i64, status)
            }
            96 => Op::DeleteWhere(id, id.max(rng.id())),
            _ => {
                let other = 1 + (id + rng.id() % (ROWS - 1)) % ROWS;
                debug_assert_ne!(other, id);
                Op::Changeset(rng.account(id, thread), rng.account(other, thread))
            }
        }
    }

    /// The same operation on the rows `by` ids further on (a thread's rows of its own).
    fn shifted(self, by: i32) -> Op {
        let moved = |a: Account| Account { id: a.id + by, ..a };
        match self {
            Op::Insert(a) => Op::Insert(moved(a)),
            Op::Update(a) => Op::Update(moved(a)),
            Op::Delete(a) => Op::Delete(moved(a)),
            Op::Undo(id) => Op::Undo(id + by),
            Op::Redo(id) => Op::Redo(id + by),
            Op::Changeset(a, b) => Op::Changeset(moved(a), moved(b)),
            Op::UpdateWhere(lo, hi, balance, status) => {
                Op::UpdateWhere(lo + by, hi + by, balance, status)
            }
            Op::DeleteWhere(lo, hi) => Op::DeleteWhere(lo + by, hi + by),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Op::Insert(_) => "insert",
            Op::Update(_) => "update",
            Op::Delete(_) => "delete",
            Op::Undo(_) => "undo",
            Op::Redo(_) => "redo",
            Op::Changeset(..) => "changeset",
            Op::UpdateWhere(..) => "update_where",
            Op::DeleteWhere(..) => "delete_where",
        }
    }

    /// Runs the operation; on success, the number of journal entries it wrote.
    fn run<C: TestDb>(&self, conn: &mut C, journal: &Journal) -> Result<u64, Error> {
        match self {
            Op::Insert(a) => journal.insert(conn, a).map(|_| 1),
            Op::Update(a) => journal.update(conn, a).map(|_| 1),
            Op::Delete(a) => journal.delete(conn, a).map(|_| 1),
            Op::Undo(id) => journal.undo::<Account>(conn, id).map(|_| 1),
            Op::Redo(id) => journal.redo::<Account>(conn, id).map(|_| 1),
            Op::Changeset(a, b) => journal
                .changeset(conn, |tx| {
                    tx.update(a)?;
                    tx.update(b)?;
                    Ok(())
                })
                .map(|_| 2),
            Op::UpdateWhere(lo, hi, balance, status) => {
                let mut rows = 0;
                journal.changeset(conn, |tx| {
                    rows = tx.update_where::<Account>(
                        accounts::id.between(*lo, *hi),
                        (accounts::balance.eq(*balance), accounts::status.eq(*status)),
                    )?;
                    Ok(())
                })?;
                Ok(rows as u64)
            }
            Op::DeleteWhere(lo, hi) => {
                let mut rows = 0;
                journal.changeset(conn, |tx| {
                    rows = tx.delete_where::<Account>(accounts::id.between(*lo, *hi))?;
                    Ok(())
                })?;
                Ok(rows as u64)
            }
        }
    }
}

#[derive(Debug, Default)]
struct Stats {
    /// Operations issued (retries not counted).
    ops: u64,
    /// Journal entries the successful operations wrote.
    entries: u64,
    /// Successful operations that wrote several entries (one `recover_changesets` row each).
    changesets: u64,
    /// Successful operations per kind.
    ok: BTreeMap<&'static str, u64>,
    /// Errors the semantics allow (NotFound, AlreadyExists, NothingToUndo, NothingToRedo), per
    /// variant.
    refused: BTreeMap<String, u64>,
    /// `Error::Retryable` per cause (deadlock, serialization, busy, lock wait timeout).
    retries: BTreeMap<String, u64>,
    /// `Error::Conflict`: every change goes through recover, so any is a bug.
    conflicts: Vec<String>,
    /// Any other error (and operations that never succeeded after MAX_RETRIES): a bug.
    unexpected: Vec<String>,
}

impl Stats {
    fn merge(&mut self, other: Stats) {
        self.ops += other.ops;
        self.entries += other.entries;
        self.changesets += other.changesets;
        for (k, v) in other.ok {
            *self.ok.entry(k).or_default() += v;
        }
        for (k, v) in other.refused {
            *self.refused.entry(k).or_default() += v;
        }
        for (k, v) in other.retries {
            *self.retries.entry(k).or_default() += v;
        }
        self.conflicts.extend(other.conflicts);
        self.unexpected.extend(other.unexpected);
    }

    fn successes(&self) -> u64 {
        self.ok.values().sum()
    }

    fn print(&self, backend: &str, elapsed: Duration) {
        println!(
            "[{backend}] {} ops in {elapsed:.2?}: {} succeeded {:?}, {} journal entries; \
             refused {:?}; retries {:?}; conflicts {}; unexpected {}",
            self.ops,
            self.successes(),
            self.ok,
            self.entries,
            self.refused,
            self.retries,
            self.conflicts.len(),
            self.unexpected.len(),
        );
        for c in self.conflicts.iter().take(5) {
            println!("[{backend}] conflict: {c}");
        }
        for u in self.unexpected.iter().take(5) {
            println!("[{backend}] unexpected: {u}");
        }
    }
}

/// The variant's name, from its `Debug` form.
fn variant(e: &Error) -> String {
    let debug = format!("{e:?}");
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Why a `Retryable` error was retryable.
fn retry_cause(e: &diesel::result::Error) -> String {
    use diesel::result::{DatabaseErrorKind, Error as E};
    match e {
        E::DatabaseError(kind, info) => {
            let message = info.message();
            if message.to_lowercase().contains("deadlock") {
                "deadlock".into()
            } else if matches!(kind, DatabaseErrorKind::SerializationFailure) {
                "serialization failure".into()
            } else if message.contains("database is locked") {
                "sqlite busy".into()
            } else if message.contains("Lock wait timeout") {
                "lock wait timeout".into()
            } else {
                format!("other: {message}")
            }
        }
        other => format!("other: {other}"),
    }
}

/// One thread's work: `ops` random operations on the shared rows, each retried while it is
/// `Retryable`.
fn worker<C: TestDb>(conn: &mut C, thread: usize, ops: usize, shift: i32) -> Stats {
    let journal = Journal::new().actor(format!("thread-{thread}"));
    let mut rng = Rng::new(0x5EED + thread as u64);
    let mut stats = Stats::default();
    for _ in 0..ops {
        let op = Op::random(&mut rng, thread).shifted(shift);
        attempt(&mut stats, op.kind(), &op, || op.run(conn, &journal));
    }
    stats
}

/// Runs one recorded operation, retried while it is `Retryable`, and counts the outcome.
fn attempt(
    stats: &mut Stats,
    kind: &'static str,
    op: &dyn std::fmt::Debug,
    mut run: impl FnMut() -> Result<u64, Error>,
) {
    stats.ops += 1;
    let mut tries = 0;
    loop {
        match run() {
            Ok(entries) => {
                stats.entries += entries;
                stats.changesets += u64::from(entries > 1);
                *stats.ok.entry(kind).or_default() += 1;
            }
            Err(Error::Retryable(e)) => {
                *stats.retries.entry(retry_cause(&e)).or_default() += 1;
                tries += 1;
                if tries < MAX_RETRIES {
                    std::thread::sleep(backoff(tries));
                    continue;
                }
                stats.unexpected.push(format!(
                    "{op:?}: still Retryable after {MAX_RETRIES} tries: {e}"
                ));
            }
            Err(
                e @ (Error::NotFound { .. }
                | Error::NoMatch { .. }
                | Error::AlreadyExists { .. }
                | Error::NothingToUndo { .. }
                | Error::NothingToRedo { .. }),
            ) => {
                *stats.refused.entry(variant(&e)).or_default() += 1;
            }
            Err(e @ Error::Conflict { .. }) => {
                stats.conflicts.push(format!("{op:?}: {e} ({e:?})"));
            }
            Err(e) => stats.unexpected.push(format!("{op:?}: {e} ({e:?})")),
        }
        break;
    }
}

/// The pause before retry `tries` (1-based), as a user's retry loop should wait: about 1 ms
/// doubling up to 50 ms, times a random factor in [0.5, 1.5), so that writers that collided do
/// not collide again in step (a bulk call over five rows, retried in lockstep with eight
/// single-row writers on three Galera nodes, once lost 100 times in a row).
fn backoff(tries: u32) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let base = (1_000_u64 << tries.min(6)).min(50_000);
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    Duration::from_micros(base / 2 + random % base)
}

/// Inserts the shared rows (through recover, so that every change is journaled).
fn seed<C: TestDb>(conn: &mut C) -> Stats {
    let journal = Journal::new().actor("seed");
    let mut stats = Stats::default();
    for id in 1..=ROWS {
        journal
            .insert(conn, &Account::new(id, &format!("seed-{id}"), 1000))
            .unwrap();
        stats.ops += 1;
        stats.entries += 1;
        *stats.ok.entry("insert").or_default() += 1;
    }
    stats
}

// ---------------------------------------------------------------------------------------------
// Checking the journal against the rows after the run.

/// An `Account` as its image: a JSON object keyed by column name.
fn image_of(a: &Account) -> serde_json::Value {
    serde_json::json!({
        "id": a.id,
        "owner": a.owner,
        "balance": a.balance,
        "status": a.status,
        "note": a.note,
    })
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

/// What the checks need beyond `TestDb`: a count by plain SQL.
trait Db: TestDb {
    fn count(&mut self, sql: &str) -> i64;
}

macro_rules! impl_db {
    ($conn:ty) => {
        impl Db for $conn {
            fn count(&mut self, sql: &str) -> i64 {
                diesel::sql_query(sql)
                    .get_result::<Count>(self)
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
                    .n
            }
        }
    };
}

impl_db!(SqliteConnection);
#[cfg(feature = "postgres")]
impl_db!(diesel::pg::PgConnection);
#[cfg(feature = "mysql")]
impl_db!(diesel::mysql::MysqlConnection);

fn changeset_rows<C: Db>(conn: &mut C) -> i64 {
    conn.count("SELECT COUNT(*) AS n FROM recover_changesets")
}

/// For every entity: the entries (by seq) form a chain from absent (the first is an insert)
/// where each after-image equals the next before-image, every undo/redo reverts an entry of
/// the same entity, and the stored row equals the newest after-image (absent ⇔ NULL). Returns
/// the problems found, and the number of entries and of entities.
fn journal_problems<C: Db>(conn: &mut C) -> (Vec<String>, usize, usize) {
    let rows = conn.journal_rows();
    let mut problems = Vec::new();
    let mut by_entity: BTreeMap<(String, String), Vec<&JournalRow>> = BTreeMap::new();
    for row in &rows {
        by_entity
            .entry((row.entity.clone(), row.entity_key.clone()))
            .or_default()
            .push(row);
    }
    let seqs: BTreeMap<i64, &JournalRow> = rows.iter().map(|r| (r.seq, r)).collect();
    for ((entity, key), entries) in &by_entity {
        if entity != "accounts" {
            problems.push(format!("entries of an unexpected entity {entity} {key}"));
            continue;
        }
        let first = entries[0];
        if first.op != "insert" || first.before_image.is_some() {
            problems.push(format!(
                "{entity} {key}: first entry {} is {} with before-image {:?}",
                first.seq, first.op, first.before_image
            ));
        }
        for pair in entries.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if a.after() != b.before() {
                problems.push(format!(
                    "{entity} {key}: broken chain between {} ({}) and {} ({}): \
                     after {:?} != before {:?}",
                    a.seq, a.op, b.seq, b.op, a.after_image, b.before_image
                ));
            }
        }
        for e in entries {
            if let Some(target) = e.undoes {
                match seqs.get(&target) {
                    Some(t) if t.entity == e.entity && t.entity_key == e.entity_key => {}
                    _ => problems.push(format!(
                        "{entity} {key}: entry {} ({}) undoes {target}, not an entry of it",
                        e.seq, e.op
                    )),
                }
            }
        }
    }
    let stored: BTreeMap<String, Account> = conn
        .accounts()
        .into_iter()
        .map(|a| (a.id.to_string(), a))
        .collect();
    let keys: std::collections::BTreeSet<String> = stored
        .keys()
        .cloned()
        .chain(by_entity.keys().map(|(_, key)| key.clone()))
        .collect();
    for key in keys {
        let newest = by_entity
            .get(&("accounts".to_owned(), key.clone()))
            .and_then(|e| e.last());
        let row = stored.get(&key).map(image_of);
        let journaled = newest.and_then(|e| e.after());
        if row != journaled {
            problems.push(format!(
                "accounts {key}: stored row {row:?} != newest after-image {journaled:?} \
                 (entry {:?})",
                newest.map(|e| e.seq)
            ));
        }
    }
    (problems, rows.len(), by_entity.len())
}

fn assert_no_problems(problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{} problems in the journal; the first ones:\n{}",
        problems.len(),
        problems[..problems.len().min(10)].join("\n")
    );
}

/// The journal checks, plus: the journal holds exactly `stats.entries` entries and one
/// `recover_changesets` row per successful two-row changeset (no change missing, none extra).
fn verify<C: Db>(conn: &mut C, stats: &Stats) {
    let (mut problems, entries, entities) = journal_problems(conn);
    if entries as u64 != stats.entries {
        problems.push(format!(
            "the journal holds {entries} entries, the successful operations reported {}",
            stats.entries
        ));
    }
    let changesets = changeset_rows(conn);
    let expected_changesets = stats.changesets;
    if changesets as u64 != expected_changesets {
        problems.push(format!(
            "recover_changesets holds {changesets} rows, {expected_changesets} calls of several \
             entries succeeded"
        ));
    }
    if problems.is_empty() {
        println!(
            "journal verified: {entries} entries of {entities} entities, every chain consistent, \
             every stored row equal to its newest after-image, {changesets} changeset rows"
        );
    }
    assert_no_problems(&problems);
}

/// Fails on conflicts and unexpected errors (after the journal check, which says more).
fn assert_no_bug(stats: &Stats, backend: &str) {
    assert!(
        stats.unexpected.is_empty(),
        "[{backend}] {} unexpected errors, the first ones:\n{}",
        stats.unexpected.len(),
        stats.unexpected[..stats.unexpected.len().min(5)].join("\n")
    );
    assert!(
        stats.conflicts.is_empty(),
        "[{backend}] {} conflicts although every change went through recover:\n{}",
        stats.conflicts.len(),
        stats.conflicts[..stats.conflicts.len().min(5)].join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Pools on the servers.

/// Runs SQL on every connection the pool opens (the test's schema or database).
#[derive(Debug)]
struct OnAcquire(String);

impl<C: diesel::Connection> CustomizeConnection<C, diesel::r2d2::Error> for OnAcquire {
    fn on_acquire(&self, conn: &mut C) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(&self.0)
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

fn pool<C: R2D2Connection + 'static>(
    url: &str,
    size: u32,
    setup: String,
) -> Pool<ConnectionManager<C>> {
    Pool::builder()
        .max_size(size)
        .connection_timeout(Duration::from_secs(10))
        .connection_customizer(Box::new(OnAcquire(setup)))
        .build(ConnectionManager::new(url))
        .unwrap()
}

/// The stress run on a pool: seed the rows, `SERVER_THREADS` threads each with its own pooled
/// connection, then the checks.
fn stress_pool<C>(pool: &Pool<ConnectionManager<C>>, backend: &str)
where
    C: Db + R2D2Connection + Send,
{
    let stats = stress_pools(std::slice::from_ref(pool), SERVER_OPS, backend);
    verify(&mut *pool.get().unwrap(), &stats);
    assert_no_bug(&stats, backend);
}

/// Seeds the rows through the first pool, then runs `SERVER_THREADS` threads of `ops`
/// operations, thread `t` on a connection of pool `t % pools.len()`; prints and returns what
/// they saw.
fn stress_pools<C>(pools: &[Pool<ConnectionManager<C>>], ops: usize, backend: &str) -> Stats
where
    C: Db + R2D2Connection + Send,
{
    let mut stats = seed(&mut *pools[0].get().unwrap());
    stats.merge(run_workers(pools, ops, backend, |_| 0));
    stats
}

/// Runs `SERVER_THREADS` threads of `ops` operations, thread `t` on a connection of pool
/// `t % pools.len()` and on the rows `shift(t)` ids on from the shared ones; prints and returns
/// what they saw.
fn run_workers<C>(
    pools: &[Pool<ConnectionManager<C>>],
    ops: usize,
    backend: &str,
    shift: impl Fn(usize) -> i32 + Sync,
) -> Stats
where
    C: Db + R2D2Connection + Send,
{
    let mut stats = Stats::default();
    let start = Instant::now();
    let barrier = Barrier::new(SERVER_THREADS);
    let conns = take_connections(pools, backend);
    std::thread::scope(|s| {
        let handles: Vec<_> = conns
            .into_iter()
            .enumerate()
            .map(|(t, mut pooled)| {
                let (barrier, shift) = (&barrier, &shift);
                s.spawn(move || {
                    barrier.wait();
                    worker(&mut *pooled, t, ops, shift(t))
                })
            })
            .collect();
        for h in handles {
            stats.merge(h.join().unwrap());
        }
    });
    stats.print(backend, start.elapsed());
    stats
}

/// One pooled connection per thread, thread `t`'s from pool `t % pools.len()`, all taken before
/// any thread starts: a pool that cannot give one fails the test here, not in a thread that the
/// others would then wait for at their barrier forever.
fn take_connections<C>(
    pools: &[Pool<ConnectionManager<C>>],
    backend: &str,
) -> Vec<PooledConnection<ConnectionManager<C>>>
where
    C: R2D2Connection + 'static,
{
    (0..SERVER_THREADS)
        .map(|t| {
            let pool = t % pools.len();
            pools[pool].get().unwrap_or_else(|e| {
                panic!("[{backend}] no connection for thread {t} from pool {pool} in 10 s: {e}")
            })
        })
        .collect()
}

#[cfg(feature = "postgres")]
fn pg_url() -> String {
    std::env::var("RECOVER_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

#[cfg(feature = "mysql")]
fn mysql_url() -> String {
    std::env::var("RECOVER_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

/// The schema `common::postgres` created and set as the connection's search path.
#[cfg(feature = "postgres")]
fn pg_schema(conn: &mut diesel::pg::PgConnection) -> String {
    diesel::sql_query("SELECT current_schema()::text AS name")
        .get_result::<Name>(conn)
        .unwrap()
        .name
}

/// The database `common::mysql` created and is using.
#[cfg(feature = "mysql")]
fn mysql_database(conn: &mut diesel::mysql::MysqlConnection) -> String {
    diesel::sql_query("SELECT DATABASE() AS name")
        .get_result::<Name>(conn)
        .unwrap()
        .name
}

#[cfg(feature = "postgres")]
fn pg_pool(schema: &str, size: u32) -> Pool<ConnectionManager<diesel::pg::PgConnection>> {
    pool(&pg_url(), size, format!("SET search_path TO {schema}"))
}

#[cfg(feature = "mysql")]
fn mysql_pool(
    database: &str,
    size: u32,
) -> Pool<ConnectionManager<diesel::mysql::MysqlConnection>> {
    pool(&mysql_url(), size, format!("USE {database}"))
}

// ---------------------------------------------------------------------------------------------
// 1. Contention on the servers.

#[cfg(feature = "postgres")]
#[test]
fn postgres_eight_pooled_threads_keep_the_journal_consistent() {
    let mut fresh = common::postgres("conc_stress", true);
    let schema = pg_schema(&mut fresh.conn);
    let pool = pg_pool(&schema, SERVER_THREADS as u32 + 2);
    stress_pool(&pool, "postgres");
}

#[cfg(feature = "mysql")]
#[test]
fn mysql_eight_pooled_threads_keep_the_journal_consistent() {
    let mut fresh = common::mysql("conc_stress", true);
    let database = mysql_database(&mut fresh.conn);
    let pool = mysql_pool(&database, SERVER_THREADS as u32 + 2);
    stress_pool(&pool, "mysql");
}

// ---------------------------------------------------------------------------------------------
// 2. A SQLite WAL file shared by several connections.

/// The file behind a SQLite connection.
fn sqlite_path(conn: &mut SqliteConnection) -> String {
    diesel::sql_query("SELECT file AS name FROM pragma_database_list WHERE name = 'main'")
        .get_result::<Name>(conn)
        .unwrap()
        .name
}

fn sqlite_open(path: &str, busy_timeout_ms: u32) -> SqliteConnection {
    let mut conn = SqliteConnection::establish(path).unwrap();
    conn.batch_execute(&format!(
        "PRAGMA busy_timeout = {busy_timeout_ms}; PRAGMA synchronous = NORMAL;"
    ))
    .unwrap();
    conn
}

#[test]
fn sqlite_file_shared_by_four_connections_serialises_writers() {
    let mut fresh = common::sqlite_file("conc_stress", true);
    let path = sqlite_path(&mut fresh.conn);
    let mut stats = seed(&mut fresh.conn);
    let start = Instant::now();
    let barrier = Barrier::new(SQLITE_THREADS);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..SQLITE_THREADS)
            .map(|t| {
                let (barrier, path) = (&barrier, &path);
                s.spawn(move || {
                    let mut conn = sqlite_open(path, 5000);
                    barrier.wait();
                    worker(&mut conn, t, SQLITE_OPS, 0)
                })
            })
            .collect();
        for h in handles {
            stats.merge(h.join().unwrap());
        }
    });
    stats.print("sqlite file", start.elapsed());
    verify(&mut fresh.conn, &stats);
    assert_no_bug(&stats, "sqlite file");
    // With a 5 s busy timeout and short write transactions, writers wait for each other.
    assert!(stats.retries.is_empty(), "{:?}", stats.retries);
}

#[test]
fn sqlite_busy_is_retryable_only_after_the_busy_timeout() {
    let mut fresh = common::sqlite_file("conc_busy", true);
    let path = sqlite_path(&mut fresh.conn);
    let journal = Journal::new();
    let a = Account::new(1, "ann", 100);
    journal.insert(&mut fresh.conn, &a).unwrap();
    let journal_before = fresh.conn.journal_rows();

    let mut other = sqlite_open(&path, 200);
    // The first connection holds the write lock.
    fresh.conn.batch_execute("BEGIN IMMEDIATE").unwrap();
    let changed = Account {
        balance: 5,
        ..a.clone()
    };
    let start = Instant::now();
    let result = journal.update(&mut other, &changed);
    let waited = start.elapsed();
    fresh.conn.batch_execute("ROLLBACK").unwrap();
    println!("[sqlite busy] after {waited:?}: {result:?}");
    match &result {
        Err(Error::Retryable(e)) => assert_eq!(retry_cause(e), "sqlite busy"),
        other => panic!("expected Error::Retryable, got {other:?}"),
    }
    assert!(
        waited >= Duration::from_millis(190),
        "SQLITE_BUSY surfaced after {waited:?}, before the 200 ms busy timeout"
    );
    assert!(waited < Duration::from_secs(3), "waited {waited:?}");
    // Nothing written, seen from both connections.
    assert_eq!(fresh.conn.account(1), Some(a.clone()));
    assert_eq!(fresh.conn.journal_rows(), journal_before);
    assert_eq!(other.account(1), Some(a.clone()));
    // The failed call left the second connection usable: retried, it goes through.
    journal.update(&mut other, &changed).unwrap();
    assert_eq!(fresh.conn.account(1), Some(changed));
    assert_eq!(fresh.conn.journal_rows().len(), journal_before.len() + 1);
}

// ---------------------------------------------------------------------------------------------
// 3. A connection killed in the middle of a changeset.

/// Runs a changeset of two updates on `victim`, with `kill` (run on another connection)
/// killing the victim between them. Returns the changeset's result; the caller checks that
/// nothing of it is left.
fn changeset_with_kill<C: TestDb>(
    victim: &mut C,
    kill: impl FnOnce(),
) -> (Result<recover::ChangesetId, Error>, bool) {
    let journal = Journal::new().actor("victim");
    let a = Account::new(1, "ann", 100);
    let b = Account::new(2, "bob", 200);
    let mut second_update_ran = false;
    let result = journal.changeset(victim, |tx| {
        tx.update(&Account {
            balance: 1,
            ..a.clone()
        })?;
        kill();
        second_update_ran = true;
        tx.update(&Account {
            balance: 2,
            ..b.clone()
        })?;
        Ok(())
    });
    (result, second_update_ran)
}

fn seed_two<C: TestDb>(conn: &mut C) -> Vec<JournalRow> {
    let journal = Journal::new();
    journal.insert(conn, &Account::new(1, "ann", 100)).unwrap();
    journal.insert(conn, &Account::new(2, "bob", 200)).unwrap();
    conn.journal_rows()
}

fn assert_nothing_of_the_changeset<C: Db>(fresh: &mut C, journal_before: &[JournalRow]) {
    assert_eq!(
        fresh.accounts(),
        vec![Account::new(1, "ann", 100), Account::new(2, "bob", 200)],
        "the change of the killed changeset is (partly) stored"
    );
    assert_eq!(
        fresh.journal_rows(),
        journal_before,
        "journal entries of the killed changeset are stored"
    );
    assert_eq!(changeset_rows(fresh), 0);
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_connection_killed_mid_changeset_leaves_nothing() {
    use diesel::pg::PgConnection;
    use diesel::sql_types::{Bool, Integer};

    let mut fresh = common::postgres("conc_kill", true);
    let schema = pg_schema(&mut fresh.conn);
    let setup = format!("SET search_path TO {schema}");
    let mut victim = PgConnection::establish(&pg_url()).unwrap();
    victim.batch_execute(&setup).unwrap();
    let journal_before = seed_two(&mut victim);
    let pid: i32 = diesel::select(diesel::dsl::sql::<Integer>("pg_backend_pid()"))
        .get_result(&mut victim)
        .unwrap();

    let killer = &mut fresh.conn;
    let (result, second_ran) = changeset_with_kill(&mut victim, || {
        let killed: bool = diesel::select(diesel::dsl::sql::<Bool>(&format!(
            "pg_terminate_backend({pid})"
        )))
        .get_result(&mut *killer)
        .unwrap();
        assert!(killed, "pg_terminate_backend({pid}) found no backend");
        // Wait until the backend is gone (the signal is asynchronous).
        let sql = format!("SELECT COUNT(*) AS n FROM pg_stat_activity WHERE pid = {pid}");
        wait_for("the killed backend to exit", || killer.count(&sql) == 0);
    });
    println!("[postgres kill] changeset result: {result:?}");
    let error = result.expect_err("a changeset on a killed connection succeeded");
    assert!(second_ran);
    println!(
        "[postgres kill] error variant: {} ({error})",
        variant(&error)
    );
    drop(victim);

    let mut check = PgConnection::establish(&pg_url()).unwrap();
    check.batch_execute(&setup).unwrap();
    assert_nothing_of_the_changeset(&mut check, &journal_before);
}

#[cfg(feature = "mysql")]
#[test]
fn mysql_connection_killed_mid_changeset_leaves_nothing() {
    use diesel::mysql::MysqlConnection;
    use diesel::sql_types::BigInt;

    let mut fresh = common::mysql("conc_kill", true);
    let database = mysql_database(&mut fresh.conn);
    let setup = format!("USE {database}");
    let mut victim = MysqlConnection::establish(&mysql_url()).unwrap();
    victim.batch_execute(&setup).unwrap();
    let journal_before = seed_two(&mut victim);
    let id: i64 = diesel::select(diesel::dsl::sql::<BigInt>(
        "CAST(CONNECTION_ID() AS SIGNED)",
    ))
    .get_result(&mut victim)
    .unwrap();

    let killer = &mut fresh.conn;
    let (result, second_ran) = changeset_with_kill(&mut victim, || {
        killer
            .batch_execute(&format!("KILL CONNECTION {id}"))
            .unwrap();
        // Wait until the server has closed it (KILL only flags the thread).
        let sql =
            format!("SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE ID = {id}");
        wait_for("the killed connection to close", || killer.count(&sql) == 0);
    });
    println!("[mysql kill] changeset result: {result:?}");
    let error = result.expect_err("a changeset on a killed connection succeeded");
    assert!(second_ran);
    println!("[mysql kill] error variant: {} ({error})", variant(&error));
    drop(victim);

    let mut check = MysqlConnection::establish(&mysql_url()).unwrap();
    check.batch_execute(&setup).unwrap();
    assert_nothing_of_the_changeset(&mut check, &journal_before);
}

/// Polls `done` every 5 ms, for at most `timeout`; whether it came true.
fn poll(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn wait_for(what: &str, done: impl FnMut() -> bool) {
    assert!(
        poll(Duration::from_secs(10), done),
        "timed out waiting for {what}"
    );
}

// ---------------------------------------------------------------------------------------------
// Two transactions on one row, made to meet deterministically: the reproductions of what the
// stress runs found.

/// Runs `first` on `a` inside a transaction and keeps it open until `second`, started on `b` in
/// another thread, waits for a lock `a` holds (`b_waits`, polled on `observer`); then runs
/// `then` on `a`, commits `a` and returns what `second` returned.
fn meet<C: Db + Send>(
    a: &mut C,
    b: &mut C,
    observer: &mut C,
    b_waits: &str,
    first: impl FnOnce(&mut C) -> Result<(), Error>,
    second: impl FnOnce(&mut C) -> Result<recover::ChangesetId, Error> + Send,
    then: impl FnOnce(&mut C) -> Result<(), Error>,
) -> Result<recover::ChangesetId, Error> {
    std::thread::scope(|s| {
        let (handle, waited) = a
            .transaction::<_, Error, _>(|a| {
                first(a)?;
                let handle = s.spawn(move || second(b));
                // Commit even when the wait is not seen, so that the second thread never hangs
                // on a lock held by a panicking test.
                let waited = poll(Duration::from_secs(5), || observer.count(b_waits) > 0);
                then(a)?;
                Ok((handle, waited))
            })
            .unwrap();
        let result = handle.join().unwrap();
        assert!(
            waited,
            "the second transaction never waited for the first one's lock ({b_waits}); \
             it returned {result:?}"
        );
        result
    })
}

/// An undo that waits for the row lock of a concurrent recorded update must undo that update
/// once it commits (or fail as `Retryable`), not report a `Conflict`.
fn undo_behind_a_concurrent_update<C: Db + Send>(
    a: &mut C,
    b: &mut C,
    observer: &mut C,
    b_waits: &str,
) {
    let journal = Journal::new();
    let v1 = Account::new(1, "ann", 100);
    journal.insert(a, &v1).unwrap();
    let v2 = Account {
        balance: 50,
        ..v1.clone()
    };
    let result = meet(
        a,
        b,
        observer,
        b_waits,
        |a| journal.update(a, &v2).map(drop),
        |b| journal.undo::<Account>(b, &1),
        |_| Ok(()),
    );
    println!("[undo behind update] {result:?}");
    match result {
        Ok(_) => assert_eq!(observer.account(1), Some(v1)),
        Err(Error::Retryable(_)) => assert_eq!(observer.account(1), Some(v2)),
        Err(e) => panic!("undo behind a concurrent update: {e} ({e:?})"),
    }
}

/// Two inserts of one key: the one that waits must fail as `AlreadyExists` (or `Retryable`),
/// not as an anonymous `Database` error.
fn insert_behind_a_concurrent_insert<C: Db + Send>(
    a: &mut C,
    b: &mut C,
    observer: &mut C,
    b_waits: &str,
) {
    let journal = Journal::new();
    let first = Account::new(7, "first", 1);
    let result = meet(
        a,
        b,
        observer,
        b_waits,
        |a| journal.insert(a, &first).map(drop),
        |b| journal.insert(b, &Account::new(7, "second", 2)),
        |_| Ok(()),
    );
    println!("[insert behind insert] {result:?}");
    assert!(
        matches!(
            result,
            Err(Error::AlreadyExists { .. } | Error::Retryable(_))
        ),
        "insert behind a concurrent insert of the same key: {result:?}"
    );
    assert_eq!(observer.account(7), Some(first));
    assert_eq!(observer.journal_rows().len(), 1);
}

/// An insert that waits for a concurrent transaction which inserts the same key and then
/// undoes that insert (so the key is free again when it commits): the waiting insert may go
/// through, but its entry must come after the undo's, so that the entity's chain stays
/// consistent and the stored row equals its newest after-image.
fn insert_behind_a_concurrent_insert_and_undo<C: Db + Send>(
    a: &mut C,
    b: &mut C,
    observer: &mut C,
    b_waits: &str,
) {
    let journal = Journal::new();
    let result = meet(
        a,
        b,
        observer,
        b_waits,
        |a| journal.insert(a, &Account::new(7, "first", 1)).map(drop),
        |b| journal.insert(b, &Account::new(7, "second", 2)),
        |a| journal.undo::<Account>(a, &7).map(drop),
    );
    println!("[insert behind insert+undo] {result:?}");
    let rows: Vec<(i64, String)> = observer
        .journal_rows()
        .into_iter()
        .map(|r| (r.seq, r.op))
        .collect();
    println!(
        "[insert behind insert+undo] journal {rows:?}, row {:?}",
        observer.account(7)
    );
    match result {
        Ok(_) | Err(Error::Retryable(_) | Error::AlreadyExists { .. }) => {}
        Err(e) => panic!("insert behind a concurrent insert and undo: {e} ({e:?})"),
    }
    assert_no_problems(&journal_problems(observer).0);
}

#[cfg(feature = "postgres")]
fn pg_meeting(
    test: &str,
    body: fn(
        &mut diesel::pg::PgConnection,
        &mut diesel::pg::PgConnection,
        &mut diesel::pg::PgConnection,
        &str,
    ),
) {
    use diesel::sql_types::Integer;
    let mut fresh = common::postgres(test, true);
    let schema = pg_schema(&mut fresh.conn);
    let setup = format!("SET search_path TO {schema}");
    let open = || {
        let mut conn = diesel::pg::PgConnection::establish(&pg_url()).unwrap();
        conn.batch_execute(&setup).unwrap();
        conn
    };
    let (mut a, mut b) = (open(), open());
    let pid: i32 = diesel::select(diesel::dsl::sql::<Integer>("pg_backend_pid()"))
        .get_result(&mut b)
        .unwrap();
    let waits = format!(
        "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE pid = {pid} AND wait_event_type = 'Lock'"
    );
    body(&mut a, &mut b, &mut fresh.conn, &waits);
}

#[cfg(feature = "mysql")]
fn mysql_meeting(
    test: &str,
    body: fn(
        &mut diesel::mysql::MysqlConnection,
        &mut diesel::mysql::MysqlConnection,
        &mut diesel::mysql::MysqlConnection,
        &str,
    ),
) {
    use diesel::sql_types::BigInt;
    let mut fresh = common::mysql(test, true);
    let database = mysql_database(&mut fresh.conn);
    let setup = format!("USE {database}");
    let open = || {
        let mut conn = diesel::mysql::MysqlConnection::establish(&mysql_url()).unwrap();
        conn.batch_execute(&setup).unwrap();
        conn
    };
    let (mut a, mut b) = (open(), open());
    let id: i64 = diesel::select(diesel::dsl::sql::<BigInt>(
        "CAST(CONNECTION_ID() AS SIGNED)",
    ))
    .get_result(&mut b)
    .unwrap();
    // MariaDB does not list a lock wait of the optimizer's primary-key lookup in
    // INNODB_TRX (the transaction shows as RUNNING), so look for the blocked statement: the
    // row's locking read, or the entity's head row (`lock_entity`, `next_seq`).
    let waits = format!(
        "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST \
         WHERE ID = {id} AND (INFO LIKE '%FOR UPDATE%' OR INFO LIKE '%recover_heads%')"
    );
    body(&mut a, &mut b, &mut fresh.conn, &waits);
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_undo_behind_a_concurrent_update() {
    pg_meeting("conc_undo_race", undo_behind_a_concurrent_update);
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_insert_behind_a_concurrent_insert() {
    pg_meeting("conc_insert_race", insert_behind_a_concurrent_insert);
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_insert_behind_a_concurrent_insert_and_undo() {
    pg_meeting(
        "conc_reinsert_race",
        insert_behind_a_concurrent_insert_and_undo,
    );
}

#[cfg(feature = "mysql")]
#[test]
fn mysql_insert_behind_a_concurrent_insert_and_undo() {
    mysql_meeting(
        "conc_reinsert_race",
        insert_behind_a_concurrent_insert_and_undo,
    );
}

#[cfg(feature = "mysql")]
#[test]
fn mysql_undo_behind_a_concurrent_update() {
    mysql_meeting("conc_undo_race", undo_behind_a_concurrent_update);
}

#[cfg(feature = "mysql")]
#[test]
fn mysql_insert_behind_a_concurrent_insert() {
    mysql_meeting("conc_insert_race", insert_behind_a_concurrent_insert);
}

// ---------------------------------------------------------------------------------------------
// 4. On a pooled connection, inside the user's own transaction.

fn pooled_and_inside_user_transaction<C>(pool: &Pool<ConnectionManager<C>>)
where
    C: Db + R2D2Connection,
{
    let journal = Journal::new().actor("pooled");
    let a = Account::new(1, "ann", 100);
    let b = Account::new(2, "bob", 200);
    let mut pooled = pool.get().unwrap();
    let pooled: &mut C = &mut pooled;
    journal.insert(pooled, &a).unwrap();

    // Committed together; a refused call inside rolls back its own savepoint only.
    pooled
        .transaction::<_, Error, _>(|conn| {
            journal.update(
                conn,
                &Account {
                    balance: 50,
                    ..a.clone()
                },
            )?;
            let dup = journal.insert(conn, &a).unwrap_err();
            assert!(matches!(dup, Error::AlreadyExists { .. }), "{dup:?}");
            let nothing = journal.redo::<Account>(conn, &1).unwrap_err();
            assert!(
                matches!(nothing, Error::NothingToRedo { .. }),
                "{nothing:?}"
            );
            journal.insert(conn, &b)?;
            journal.undo::<Account>(conn, &1)?;
            Ok(())
        })
        .unwrap();
    // Seen from another pooled connection: committed.
    {
        let mut other = pool.get().unwrap();
        assert_eq!(other.accounts(), vec![a.clone(), b.clone()]);
        let ops: Vec<String> = other.journal_rows().into_iter().map(|r| r.op).collect();
        assert_eq!(ops, ["insert", "update", "insert", "undo"]);
    }

    // A changeset inside the user's transaction, undone in another one.
    let cs = pooled
        .transaction::<_, Error, _>(|conn| {
            journal.changeset(conn, |tx| {
                tx.delete(&a)?;
                tx.update(&Account {
                    note: Some("moved".into()),
                    ..b.clone()
                })?;
                Ok(())
            })
        })
        .unwrap();
    assert_eq!(pool.get().unwrap().accounts().len(), 1);
    pooled
        .transaction::<_, Error, _>(|conn| journal.undo_changeset(conn, cs).map(drop))
        .unwrap();
    assert_eq!(pool.get().unwrap().accounts(), vec![a.clone(), b.clone()]);

    // The user's transaction fails after recorded changes: none of them is kept.
    let journal_before = pooled.journal_rows();
    let result = pooled.transaction::<(), Error, _>(|conn| {
        journal.update(
            conn,
            &Account {
                balance: 7,
                ..a.clone()
            },
        )?;
        journal.delete(conn, &b)?;
        Err(Error::from(diesel::result::Error::RollbackTransaction))
    });
    assert!(result.is_err());
    let mut other = pool.get().unwrap();
    assert_eq!(other.accounts(), vec![a.clone(), b.clone()]);
    assert_eq!(other.journal_rows(), journal_before);
    // The pooled connection is still usable after the rollback.
    journal.undo::<Account>(pooled, &2).unwrap();
    assert_eq!(other.accounts(), vec![a]);
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_pooled_connection_inside_user_transaction() {
    let mut fresh = common::postgres("conc_pooled", true);
    let schema = pg_schema(&mut fresh.conn);
    pooled_and_inside_user_transaction(&pg_pool(&schema, 3));
}

#[cfg(feature = "mysql")]
#[test]
fn mysql_pooled_connection_inside_user_transaction() {
    let mut fresh = common::mysql("conc_pooled", true);
    let database = mysql_database(&mut fresh.conn);
    pooled_and_inside_user_transaction(&mysql_pool(&database, 3));
}

#[test]
fn sqlite_file_pooled_connection_inside_user_transaction() {
    let mut fresh = common::sqlite_file("conc_pooled", true);
    let path = sqlite_path(&mut fresh.conn);
    pooled_and_inside_user_transaction(&pool::<SqliteConnection>(
        &path,
        3,
        "PRAGMA busy_timeout = 5000;".into(),
    ));
}

// ---------------------------------------------------------------------------------------------
// 5. A multi-primary MariaDB Galera cluster (opt-in: RECOVER_GALERA_URLS).

/// The Galera nodes, from `RECOVER_GALERA_URLS` (comma-separated `mysql://` URLs); `None` when
/// it is unset or empty.
fn galera_urls() -> Option<Vec<String>> {
    let urls: Vec<String> = std::env::var("RECOVER_GALERA_URLS")
        .ok()?
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .collect();
    (!urls.is_empty()).then_some(urls)
}

/// A fresh database `{prefix}_{pid}` with the accounts table and the journal, made through the
/// first node (DDL reaches every node); returns the connection that made it, and its name.
#[cfg(feature = "mysql")]
fn galera_database(urls: &[String], prefix: &str) -> (diesel::mysql::MysqlConnection, String) {
    let database = format!("{prefix}_{}", std::process::id());
    let mut setup = diesel::mysql::MysqlConnection::establish(&urls[0])
        .unwrap_or_else(|e| panic!("Galera node {}: {e}", urls[0]));
    setup
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {database}; CREATE DATABASE {database}; USE {database};
             CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT NOT NULL,
                 balance BIGINT NOT NULL, status TEXT NOT NULL, note LONGTEXT)
                 ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;"
        ))
        .unwrap();
    recover::install(&mut setup).unwrap();
    (setup, database)
}

/// One pool per node, sized for the threads that run on it (thread t on node t % nodes),
/// keeping no idle connections (see `watchdog`); every connection uses `database` and waits
/// for what the other nodes committed before it reads (`wsrep_sync_wait = 1`).
#[cfg(feature = "mysql")]
fn galera_pools(
    urls: &[String],
    database: &str,
) -> Vec<Pool<ConnectionManager<diesel::mysql::MysqlConnection>>> {
    let on_node = |node: usize| {
        (0..SERVER_THREADS)
            .filter(|t| t % urls.len() == node)
            .count()
    };
    urls.iter()
        .enumerate()
        .map(|(node, url)| {
            Pool::builder()
                .max_size(on_node(node).max(1) as u32)
                .min_idle(Some(0))
                .connection_timeout(Duration::from_secs(10))
                .connection_customizer(Box::new(OnAcquire(format!(
                    "USE {database}; SET SESSION wsrep_sync_wait = 1"
                ))))
                .build(ConnectionManager::new(url))
                .unwrap()
        })
        .collect()
}

/// The rows the transfers move money between (ids TRANSFER_IDS), each seeded with
/// TRANSFER_SEED; they are apart from the workload's rows 1..=ROWS, so their sum is conserved.
const TRANSFER_IDS: std::ops::RangeInclusive<i32> = 101..=105;
const TRANSFER_SEED: i64 = 1000;
/// Operations per thread of the workloads on Galera (`RECOVER_GALERA_OPS`, default 100), and
/// transfers per thread.
fn galera_ops() -> usize {
    std::env::var("RECOVER_GALERA_OPS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100)
}
const TRANSFER_OPS: usize = 50;
/// How long the Galera run may take before the watchdog ends the test binary
/// (`RECOVER_GALERA_TIMEOUT`, in seconds, default 900).
fn galera_timeout() -> Duration {
    Duration::from_secs(
        std::env::var("RECOVER_GALERA_TIMEOUT")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(900),
    )
}

/// Watches the Galera run. Statements a node never answers were seen on MariaDB 10.11.19 with
/// Galera 26.4.23: the connection is shown as `Killed` (a victim of a brute-force abort) or
/// as `Sleep` in the node's processlist, and its client waits for the reply forever, where no
/// client-side timeout reaches it. Every second this kills such connections to `database` on
/// every node (`Killed` for 5 s or more, `Sleep` for 30 s or more: the workers never pause that
/// long, and the pools hold no spare connections), so that their clients see "Server has gone
/// away" (counted as unexpected, and so is every later operation of that thread, whose
/// connection is gone) instead of hanging; it returns how many it killed once `done`
/// is set. If the run is still not done after `limit`, it prints every node's connections and
/// ends the test binary.
#[cfg(feature = "mysql")]
fn watchdog(
    urls: &[String],
    database: &str,
    limit: Duration,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<usize> {
    use diesel::mysql::MysqlConnection;
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
        #[diesel(sql_type = diesel::sql_types::Text)]
        command: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        time: i64,
    }
    let (urls, database) = (urls.to_vec(), database.to_owned());
    std::thread::spawn(move || {
        let mut conns: Vec<MysqlConnection> = urls
            .iter()
            .map(|url| MysqlConnection::establish(url).unwrap())
            .collect();
        let start = Instant::now();
        let mut killed = 0;
        while start.elapsed() < limit {
            if done.load(std::sync::atomic::Ordering::SeqCst) {
                return killed;
            }
            for (node, conn) in conns.iter_mut().enumerate() {
                let hung = diesel::sql_query(format!(
                    "SELECT CAST(id AS SIGNED) AS id, command, CAST(time AS SIGNED) AS time \
                     FROM information_schema.processlist \
                     WHERE db = '{database}' AND (command = 'Killed' AND time >= 5 \
                     OR command = 'Sleep' AND time >= 30)"
                ))
                .load::<Id>(conn)
                .unwrap_or_default();
                for Id { id, command, time } in hung {
                    println!(
                        "[galera] {:.1?}: node {node}: connection {id} is {command} for {time} s; \
                         killing it",
                        start.elapsed()
                    );
                    let _ = conn.batch_execute(&format!("KILL {id}"));
                    killed += 1;
                }
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        for (node, conn) in conns.iter_mut().enumerate() {
            let list = diesel::sql_query(format!(
                "SELECT COALESCE(GROUP_CONCAT(CONCAT_WS(' ', id, command, time, state, \
                 LEFT(info, 60)) SEPARATOR '\n  '), '') AS name \
                 FROM information_schema.processlist WHERE db = '{database}'"
            ))
            .get_result::<Name>(conn);
            match list {
                Ok(list) => eprintln!("[galera] node {node} connections:\n  {}", list.name),
                Err(e) => eprintln!("[galera] node {node}: {e}"),
            }
        }
        eprintln!("[galera] the run did not end in {limit:?}: a statement hangs, see above");
        std::process::exit(2);
    })
}

/// Moves `amount` from `from` to `to` in one changeset, both rows read `FOR UPDATE` inside it.
#[cfg(feature = "mysql")]
fn transfer(
    conn: &mut diesel::mysql::MysqlConnection,
    journal: &Journal,
    (from, to, amount): (i32, i32, i64),
) -> Result<(u64, recover::ChangesetId), Error> {
    journal
        .changeset(conn, |tx| {
            let mut a: Account = accounts::table.find(from).for_update().first(tx.conn())?;
            let mut b: Account = accounts::table.find(to).for_update().first(tx.conn())?;
            a.balance -= amount;
            b.balance += amount;
            tx.update(&a)?;
            tx.update(&b)?;
            Ok(())
        })
        .map(|cs| (2, cs))
}

/// Writers spread round-robin over the nodes of a MariaDB Galera cluster (multi-primary, each
/// write set certified at commit on every node): the MariaDB stress workload, then transfers
/// between five other rows; afterwards, on every node, the journal checks of `verify`, the
/// transferred money conserved, and the same journal and rows as on the first node.
///
/// Only when `RECOVER_GALERA_URLS` is set (comma-separated, e.g.
/// `mysql://root@127.0.0.1:4306/test,mysql://root@127.0.0.1:4307/test,mysql://root@127.0.0.1:4308/test`;
/// `scripts/galera-start` starts such a cluster on loopback, `scripts/galera-stop` removes it);
/// without it the test returns at once and passes. CI runs it.
///
/// Writers of the same rows on different nodes: the node applying another's write set aborts a
/// local transaction holding those rows (a brute-force abort), and MariaDB 10.11 does not always
/// tell the client (docs/distributed-engines.md, "Diesel on a MariaDB Galera cluster"); its
/// later statements then committed on their own under autocommit, which forked chains and lost
/// money before recover's MySQL transactions ran with autocommit off and a mark
/// (`backend::mysql::Mark`). Every fourth transfer is undone at once by `undo_changeset`.
/// Every connection sets `wsrep_sync_wait = 1`, so that its reads wait for the write sets other
/// nodes have committed. Run it with `--nocapture` to see the figures (operations, retries, the
/// journal found).
#[cfg(feature = "mysql")]
#[test]
fn galera_writers_on_three_nodes_keep_the_journal_consistent() {
    let Some(urls) = galera_urls() else {
        println!("RECOVER_GALERA_URLS is not set: no Galera cluster to test, nothing done");
        return;
    };
    let started = Instant::now();
    let (mut setup, database) = galera_database(&urls, "rt_conc_galera");
    // Out of the database while it waits, so that the watchdog does not take it for hung.
    setup.batch_execute("USE test").unwrap();
    let pools = galera_pools(&urls, &database);
    let backend = format!("galera x{}", urls.len());
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watching = watchdog(&urls, &database, galera_timeout(), done.clone());

    // The MariaDB workload, thread t on node t % nodes.
    let mut stats = stress_pools(&pools, galera_ops(), &backend);

    // Transfers, the same way spread.
    let seed_journal = Journal::new().actor("seed");
    for id in TRANSFER_IDS {
        let mut conn = pools[0].get().unwrap();
        seed_journal
            .insert(&mut *conn, &Account::new(id, "bank", TRANSFER_SEED))
            .unwrap();
        stats.ops += 1;
        stats.entries += 1;
        *stats.ok.entry("insert").or_default() += 1;
    }
    let start = Instant::now();
    let barrier = Barrier::new(SERVER_THREADS);
    let mut transfers = Stats::default();
    let conns = take_connections(&pools, &backend);
    std::thread::scope(|s| {
        let handles: Vec<_> = conns
            .into_iter()
            .enumerate()
            .map(|(t, mut conn)| {
                let barrier = &barrier;
                s.spawn(move || {
                    let journal = Journal::new().actor(format!("bank-{t}"));
                    let mut rng = Rng::new(0xBA2C + t as u64);
                    let mut stats = Stats::default();
                    barrier.wait();
                    let (lo, n) = (*TRANSFER_IDS.start(), TRANSFER_IDS.count() as u64);
                    for i in 0..TRANSFER_OPS {
                        let from = lo + rng.below(n) as i32;
                        let to = lo + (from - lo + 1 + rng.below(n - 1) as i32) % n as i32;
                        let amount = 1 + rng.below(100) as i64;
                        let op = (from, to, amount);
                        let mut done = None;
                        attempt(&mut stats, "transfer", &op, || {
                            let (entries, cs) = transfer(&mut conn, &journal, op)?;
                            done = Some(cs);
                            Ok(entries)
                        });
                        // Every fourth transfer is taken back at once, by undoing its changeset
                        // (refused as a conflict when another writer touched either account in
                        // between: the semantics of undo_changeset, not a fault).
                        if let Some(cs) = done.filter(|_| i % 4 == 3) {
                            let mut changed_since = false;
                            attempt(&mut stats, "undo_changeset", &cs, || {
                                match journal.undo_changeset(&mut *conn, cs) {
                                    Ok(_) => Ok(2),
                                    Err(Error::Conflict { .. }) => {
                                        changed_since = true;
                                        Ok(0)
                                    }
                                    Err(e) => Err(e),
                                }
                            });
                            if changed_since {
                                *stats.ok.entry("undo_changeset").or_default() -= 1;
                                *stats
                                    .refused
                                    .entry("Conflict (changed since)".into())
                                    .or_default() += 1;
                            }
                        }
                    }
                    stats
                })
            })
            .collect();
        for h in handles {
            transfers.merge(h.join().unwrap());
        }
    });
    transfers.print(&format!("{backend} transfers"), start.elapsed());
    stats.merge(transfers);
    stats.print(&format!("{backend} all"), started.elapsed());

    // Every node: the journal checks, the money, and the same contents as the first node.
    let expected_money = TRANSFER_SEED * TRANSFER_IDS.count() as i64;
    let (lo, hi) = (*TRANSFER_IDS.start(), *TRANSFER_IDS.end());
    let mut problems = Vec::new();
    let mut first: Option<(Vec<JournalRow>, Vec<Account>)> = None;
    for (node, pool) in pools.iter().enumerate() {
        let mut conn = pool.get().unwrap();
        let (node_problems, entries, entities) = journal_problems(&mut *conn);
        let changesets = changeset_rows(&mut *conn);
        let money = conn.count(&format!(
            "SELECT CAST(COALESCE(SUM(balance), 0) AS SIGNED) AS n FROM accounts \
             WHERE id BETWEEN {lo} AND {hi}"
        ));
        println!(
            "[{backend}] node {node}: {entries} entries of {entities} entities, {changesets} \
             changeset rows, {} problems, money {money} (expected {expected_money})",
            node_problems.len()
        );
        problems.extend(
            node_problems
                .into_iter()
                .map(|p| format!("node {node}: {p}")),
        );
        if entries as u64 != stats.entries {
            problems.push(format!(
                "node {node}: the journal holds {entries} entries, the successful operations \
                 reported {}",
                stats.entries
            ));
        }
        if changesets as u64 != stats.changesets {
            problems.push(format!(
                "node {node}: recover_changesets holds {changesets} rows, {} calls of several \
                 entries succeeded",
                stats.changesets
            ));
        }
        if money != expected_money {
            problems.push(format!(
                "node {node}: the transfer rows hold {money}, not {expected_money}"
            ));
        }
        let contents = (conn.journal_rows(), conn.accounts());
        match &first {
            None => first = Some(contents),
            Some(first) if *first != contents => problems.push(format!(
                "node {node}: journal or rows differ from node 0's ({} vs {} entries)",
                contents.0.len(),
                first.0.len()
            )),
            Some(_) => {}
        }
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let killed = watching.join().unwrap();
    println!(
        "[{backend}] {killed} hung connections killed; in all {:.2?}",
        started.elapsed()
    );
    let _ = setup.batch_execute(&format!("DROP DATABASE IF EXISTS {database}"));
    assert_no_problems(&problems);
    assert_no_bug(&stats, &backend);
}

/// Writers spread round-robin over the three nodes of a Galera cluster, each on rows of its own
/// (ids `100·(t+1) + 1..=ROWS`, set apart by a row no one changes; inserted, updated, deleted, undone, redone, in changesets and
/// bulk calls): the multi-primary case a journal must never serialise. With the one counter
/// row of the earlier layout every pair of concurrent writers on two nodes conflicted at
/// certification; now no writer's journal rows are another's, so collisions are rare: at most
/// one call in a hundred may be retried (runs here saw 0 or 1 in 2,400; the 1 was a bulk call's
/// commit failing certification, a cause not found yet), and afterwards every node holds the
/// same journal and rows, which `verify` finds sound: no lost entry, no forked chain, every row
/// equal to its newest image.
///
/// Opt-in like the test above (`RECOVER_GALERA_URLS`); `.ci/run` starts a cluster and runs it.
#[cfg(feature = "mysql")]
#[test]
fn galera_writers_on_their_own_rows_never_conflict_across_nodes() {
    let Some(urls) = galera_urls() else {
        println!("RECOVER_GALERA_URLS is not set: no Galera cluster to test, nothing done");
        return;
    };
    let started = Instant::now();
    let (mut setup, database) = galera_database(&urls, "rt_conc_galera_own");
    let own = |t: usize| 100 * (t as i32 + 1);
    let mut stats = Stats::default();
    let seed = Journal::new().actor("seed");
    // A row no writer touches between two writers' rows: InnoDB's gap locks (a locking read of
    // an absent row, a bulk call's range) end there, so no two writers share a gap.
    for t in 0..SERVER_THREADS {
        for id in (1..=ROWS).chain([50]) {
            seed.insert(&mut setup, &Account::new(own(t) + id, "seed", 1000))
                .unwrap();
            stats.ops += 1;
            stats.entries += 1;
            *stats.ok.entry("insert").or_default() += 1;
        }
    }
    setup.batch_execute("USE test").unwrap();
    let pools = galera_pools(&urls, &database);
    let backend = format!("galera x{}, own rows", urls.len());
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watching = watchdog(&urls, &database, galera_timeout(), done.clone());
    stats.merge(run_workers(&pools, galera_ops(), &backend, own));
    let mut first: Option<(Vec<JournalRow>, Vec<Account>)> = None;
    for (node, pool) in pools.iter().enumerate() {
        let mut conn = pool.get().unwrap();
        println!("[{backend}] node {node}:");
        verify(&mut *conn, &stats);
        let contents = (conn.journal_rows(), conn.accounts());
        match &first {
            None => first = Some(contents),
            Some(first) => assert!(
                *first == contents,
                "node {node}: journal or rows differ from node 0's"
            ),
        }
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let killed = watching.join().unwrap();
    let _ = setup.batch_execute(&format!("DROP DATABASE IF EXISTS {database}"));
    println!(
        "[{backend}] {killed} hung connections killed; in all {:.2?}",
        started.elapsed()
    );
    assert_no_bug(&stats, &backend);
    let retries: u64 = stats.retries.values().sum();
    assert!(
        retries * 100 <= stats.ops,
        "[{backend}] writers of different rows collided {retries} times in {} operations: {:?}",
        stats.ops,
        stats.retries
    );
    assert_eq!(killed, 0, "[{backend}] connections hung");
}

/// A bulk call refused inside `journal.changeset` inside the caller's own transaction (two
/// nested savepoints, both rolled back before anything was written), then a write and the
/// commit, on a session that has committed a write before: MariaDB 10.11 with Galera 26.4 sends
/// that transaction as a write set no other node can read, and both leave the cluster
/// ("Inconsistency detected"), unless the transaction holds a replicated event before the
/// savepoints (`backend::mysql::fill_write_set`). Every node stays synced, with the row.
#[cfg(feature = "mysql")]
#[test]
fn galera_a_refusal_inside_nested_savepoints_keeps_the_cluster() {
    use diesel::mysql::MysqlConnection;
    let Some(urls) = galera_urls() else {
        println!("RECOVER_GALERA_URLS is not set: no Galera cluster to test, nothing done");
        return;
    };
    let (mut conn, database) = galera_database(&urls, "rt_conc_galera_nested");
    let journal = Journal::new();
    journal
        .insert(&mut conn, &Account::new(1, "ann", 5))
        .unwrap();
    conn.transaction::<_, Error, _>(|conn| {
        // Its savepoint, then update_where's own inside it: a locking read that matches
        // nothing, refused, and both rolled back.
        let refused = journal.changeset(conn, |tx| {
            tx.update_where::<Account>(accounts::id.between(3, 2), accounts::balance.eq(0_i64))
                .map(drop)
        });
        assert!(matches!(refused, Err(Error::NoMatch { .. })), "{refused:?}");
        journal.update(conn, &Account::new(1, "ann", 6))
    })
    .unwrap();
    for (node, url) in urls.iter().enumerate() {
        let mut other = MysqlConnection::establish(url).unwrap();
        let state = diesel::sql_query(
            "SELECT variable_value AS name FROM information_schema.global_status \
             WHERE variable_name = 'wsrep_local_state_comment'",
        )
        .get_result::<Name>(&mut other)
        .map(|s| s.name);
        assert_eq!(
            state.as_deref().ok(),
            Some("Synced"),
            "node {node}: {state:?}"
        );
        other
            .batch_execute(&format!("SET SESSION wsrep_sync_wait = 1; USE {database}"))
            .unwrap();
        assert_eq!(other.accounts(), [Account::new(1, "ann", 6)], "node {node}");
    }
    conn.batch_execute(&format!("DROP DATABASE IF EXISTS {database}"))
        .unwrap();
}
