//! Issue 20: money transfers on a MariaDB Galera cluster through Diesel alone (no recover): a
//! reproduction of statements of a brute-force-aborted transaction committing on their own, of
//! clients that wait forever, and of the guards a library can put around its own transactions.
//! Findings and figures: docs/distributed-engines.md, "Diesel on a MariaDB Galera cluster".
//!
//! `galera_transfers`: 8 threads spread round-robin over the nodes of `RECOVER_GALERA_URLS`
//! (`scripts/galera-start` starts a 3-node cluster on loopback), 10 shared accounts of 500 each.
//! A transfer is one transaction (Diesel's `conn.transaction`): both rows read `FOR UPDATE` in id
//! order, an `UPDATE` of each, an `INSERT` per row into an AUTO_INCREMENT log holding the balance
//! before and after and the attempt that wrote it; a failed attempt is retried as a whole.
//! Afterwards, on every node: the money is 5,000, every account's log entries (in id order) form
//! a chain (each one's before is the previous one's after, the first one's before is 500, the
//! last one's after is the balance), the log holds exactly 2 rows per successful attempt and
//! none of a failed one, and the nodes agree. The test fails if a variant that must hold
//! (`Variant::must_hold`) does not; the others are reported. Without the cluster it says so and
//! passes. CI: `cargo test --features mysql --test galera_transfers -- --test-threads=1
//! --nocapture` with the cluster up (one test at a time: a test's DDL aborts another's
//! transactions, and the abort counters are global).
//!
//! Environment:
//! - `GALERA_TRANSFERS_VARIANTS`: comma-separated variants, run one after the other (default
//!   `nocache,text,nocache+ac0+marker`: the broken control, then the two that must hold). A
//!   variant is a base and modifiers joined by `+`:
//!   - bases: `dsl` (Diesel's query builder: its selects and inserts are prepared once per
//!     connection, its `UPDATE` is never cached: prepared, executed and closed on every call),
//!     `nocache` (`dsl` with Diesel's statement cache off: every statement prepared inside the
//!     transaction), `sqlquery` (`diesel::sql_query`, never cached), `cached` (raw SQL with a
//!     static query id: every statement prepared once per connection), `text` (`batch_execute`,
//!     the text protocol, values as literals, reads as `SELECT .. INTO @var`);
//!   - modifiers: `ac0` (the session runs with `autocommit = 0`), `marker` (a row in a session
//!     temporary table inserted first and deleted last; a delete of 0 rows fails the attempt),
//!     `trx` (InnoDB's trx_id, from information_schema.innodb_trx, after the first update and
//!     before the commit; found not to work), `chain` (the log insert writes only if its
//!     before-image is the account's last after-image), `probe` (`SELECT @@in_transaction` after
//!     every statement: 0 fails the attempt and is counted).
//! - `GALERA_TRANSFERS_OPS`: transfers per thread (default 100).
//! - `GALERA_TRANSFERS_STALL`: seconds one attempt may take before the watchdog shuts the
//!   client's socket down (default 20; see `Watchdog`).
//! - `GALERA_TRANSFERS_TIMEOUT`: seconds a variant may take before the test ends (default 600).
//! - `GALERA_TRANSFERS_TRACE=1`: keep what Diesel sent and got back per attempt; printed for the
//!   attempts whose rows are wrong and for hung ones.
//!
//! `galera_idle_abort_is_reported`: a transaction brute-force aborted while its client is idle
//! reports the abort (ER_LOCK_DEADLOCK) to the next Diesel statement, cached or not.
//!
//! `interrupted_cached_select_is_not_reused` (any server): the client-side hang, made
//! deterministic with `KILL QUERY`, and the way out (dropping Diesel's statement cache).
//!
//! `cut_a_hung_connection` (any server): a client-side deadline for a `MysqlConnection`, which
//! has no read timeout: shutting its socket down from another thread ends a statement that waits.
//!
//! `guard_costs` (opt-in, `GALERA_TRANSFERS_COSTS=1`): one connection to the single server of
//! `RECOVER_MYSQL_URL` (default `mysql://root@127.0.0.1:3306/test`), µs per transfer for each
//! variant (`GALERA_TRANSFERS_COST_VARIANTS`); figures only, nothing asserted about time. Run it
//! with `--release --nocapture`.

#![cfg(feature = "mysql")]

use std::collections::BTreeMap;
use std::os::fd::{FromRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::{CacheSize, SimpleConnection};
use diesel::mysql::{Mysql, MysqlConnection};
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::result::Error as DieselError;
use diesel::sql_types::{BigInt, Integer, Text, Untyped};

diesel::table! {
    gt_accounts (id) {
        id -> Integer,
        balance -> BigInt,
    }
}

diesel::table! {
    gt_log (id) {
        id -> BigInt,
        account -> Integer,
        balance_before -> BigInt,
        balance_after -> BigInt,
        attempt -> BigInt,
    }
}

const THREADS: usize = 8;
const ACCOUNTS: i32 = 10;
const SEED: i64 = 500;
const DEFAULT_VARIANTS: &str = "nocache,text,nocache+ac0+marker";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

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

// ---------------------------------------------------------------------------------------------
// Raw SQL that Diesel prepares once per connection and keeps (`sql_query` is prepared, executed
// and closed on every call): `N` names the statement (Diesel's cache key is the type), each `?`
// is a BIGINT bind.

struct Cached<const N: u8> {
    sql: &'static str,
    binds: Vec<i64>,
}

fn cached<const N: u8>(sql: &'static str, binds: &[i64]) -> Cached<N> {
    Cached {
        sql,
        binds: binds.to_vec(),
    }
}

impl<const N: u8> QueryId for Cached<N> {
    type QueryId = Cached<N>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<const N: u8> QueryFragment<Mysql> for Cached<N> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Mysql>) -> QueryResult<()> {
        let mut parts = self.sql.split('?');
        out.push_sql(parts.next().unwrap_or_default());
        for (part, bind) in parts.zip(&self.binds) {
            out.push_bind_param::<BigInt, i64>(bind)?;
            out.push_sql(part);
        }
        Ok(())
    }
}

impl<const N: u8> Query for Cached<N> {
    type SqlType = Untyped;
}

impl<const N: u8, Conn> RunQueryDsl<Conn> for Cached<N> {}

#[derive(QueryableByName)]
struct Balance {
    #[diesel(sql_type = BigInt)]
    balance: i64,
}

#[derive(QueryableByName)]
struct Value {
    #[diesel(sql_type = BigInt)]
    v: i64,
}

#[derive(QueryableByName)]
struct TextValue {
    #[diesel(sql_type = Text)]
    v: String,
}

// ---------------------------------------------------------------------------------------------
// Variants.

#[derive(Clone, Copy, Debug, PartialEq)]
enum Base {
    Dsl,
    NoCache,
    SqlQuery,
    Cached,
    Text,
}

#[derive(Clone, Debug)]
struct Variant {
    name: String,
    base: Base,
    autocommit0: bool,
    marker: bool,
    trx: bool,
    chain: bool,
    probe: bool,
}

impl Variant {
    fn parse(spec: &str) -> Variant {
        let mut parts = spec.split('+');
        let base = match parts.next().unwrap_or_default() {
            "dsl" => Base::Dsl,
            "nocache" => Base::NoCache,
            "sqlquery" => Base::SqlQuery,
            "cached" => Base::Cached,
            "text" => Base::Text,
            other => panic!("unknown base {other:?} in variant {spec:?}"),
        };
        let mut v = Variant {
            name: spec.to_owned(),
            base,
            autocommit0: false,
            marker: false,
            trx: false,
            chain: false,
            probe: false,
        };
        for m in parts {
            match m {
                "ac0" => v.autocommit0 = true,
                "marker" => v.marker = true,
                "trx" => v.trx = true,
                "chain" => v.chain = true,
                "probe" => v.probe = true,
                other => panic!("unknown modifier {other:?} in variant {spec:?}"),
            }
        }
        assert!(
            !(v.chain && v.base == Base::Text),
            "chain needs the balances in the client: not with text"
        );
        v
    }

    /// The variants that must keep money and chains exact on the cluster (see
    /// docs/distributed-engines.md): `text` sends no command that loses an abort (no prepare,
    /// no statement close, no result set: its reads are `SELECT .. INTO @var`), and the marker,
    /// with autocommit off, rolls back whatever ran after an abort that was lost.
    fn must_hold(&self) -> bool {
        self.base == Base::Text || (self.marker && self.autocommit0)
    }
}

/// What ended an attempt other than success.
#[derive(Debug)]
enum TxError {
    Db(&'static str, DieselError),
    /// A guard or the probe found the transaction gone.
    Guard(&'static str, String),
}

impl From<DieselError> for TxError {
    fn from(e: DieselError) -> Self {
        TxError::Db("commit", e)
    }
}

impl TxError {
    fn label(&self) -> String {
        match self {
            TxError::Db(step, e) => format!("{step}: {}", short(e)),
            TxError::Guard(step, what) => format!("{step}: guard: {what}"),
        }
    }
    /// The connection may be unusable, or the attempt's outcome unknown.
    fn lost_connection(&self) -> bool {
        match self {
            TxError::Db(_, e) => lost(e),
            TxError::Guard(..) => false,
        }
    }
}

fn short(e: &DieselError) -> String {
    let s = e.to_string();
    s.chars().take(90).collect()
}

fn lost(e: &DieselError) -> bool {
    use diesel::result::DatabaseErrorKind::ClosedConnection;
    matches!(
        e,
        DieselError::DatabaseError(ClosedConnection, _)
            | DieselError::BrokenTransactionManager
            | DieselError::AlreadyInTransaction
            | DieselError::RollbackErrorOnCommit { .. }
    ) || {
        let s = e.to_string();
        s.contains("Lost connection")
            || s.contains("gone away")
            || s.contains("out of sync")
            || s.contains("Can't connect")
    }
}

fn at<T>(step: &'static str, r: QueryResult<T>) -> Result<T, TxError> {
    r.map_err(|e| TxError::Db(step, e))
}

/// A connection set up for `variant`: its database, autocommit, the marker's table, the cache.
fn connect(url: &str, database: &str, variant: &Variant) -> QueryResult<MysqlConnection> {
    let mut conn = MysqlConnection::establish(url)
        .map_err(|e| DieselError::QueryBuilderError(e.to_string().into()))?;
    conn.batch_execute(&format!("USE {database}"))?;
    if variant.autocommit0 {
        conn.batch_execute("SET SESSION autocommit = 0")?;
    }
    if variant.marker {
        conn.batch_execute("CREATE TEMPORARY TABLE gt_marker (x INT PRIMARY KEY) ENGINE=InnoDB")?;
        if variant.autocommit0 {
            conn.batch_execute("COMMIT")?;
        }
    }
    if variant.base == Base::NoCache {
        conn.set_prepared_statement_cache_size(CacheSize::Disabled);
    }
    Ok(conn)
}

/// `SELECT @@in_transaction` (cached) after a step, for the `probe` modifier.
fn probe(conn: &mut MysqlConnection, v: &Variant, after: &'static str) -> Result<(), TxError> {
    if !v.probe {
        return Ok(());
    }
    let r: Value = at(
        "probe",
        cached::<1>("SELECT CAST(@@in_transaction AS SIGNED) AS v", &[]).get_result(conn),
    )?;
    if r.v == 1 {
        Ok(())
    } else {
        Err(TxError::Guard(after, "in_transaction = 0".into()))
    }
}

fn read_for_update(
    conn: &mut MysqlConnection,
    v: &Variant,
    id: i32,
    var: &str,
) -> QueryResult<i64> {
    match v.base {
        Base::Dsl | Base::NoCache => gt_accounts::table
            .find(id)
            .select(gt_accounts::balance)
            .for_update()
            .first(conn),
        Base::SqlQuery => {
            diesel::sql_query("SELECT balance FROM gt_accounts WHERE id = ? FOR UPDATE")
                .bind::<Integer, _>(id)
                .get_result::<Balance>(conn)
                .map(|b| b.balance)
        }
        Base::Cached => cached::<2>(
            "SELECT balance FROM gt_accounts WHERE id = ? FOR UPDATE",
            &[id.into()],
        )
        .get_result::<Balance>(conn)
        .map(|b| b.balance),
        Base::Text => {
            conn.batch_execute(&format!(
                "SELECT balance INTO @{var} FROM gt_accounts WHERE id = {id} FOR UPDATE"
            ))?;
            Ok(0) // the text path keeps the balance in @var
        }
    }
}

fn write_balance(
    conn: &mut MysqlConnection,
    v: &Variant,
    id: i32,
    balance: i64,
    var: &str,
    delta: i64,
) -> QueryResult<usize> {
    match v.base {
        Base::Dsl | Base::NoCache => diesel::update(gt_accounts::table.find(id))
            .set(gt_accounts::balance.eq(balance))
            .execute(conn),
        Base::SqlQuery => diesel::sql_query("UPDATE gt_accounts SET balance = ? WHERE id = ?")
            .bind::<BigInt, _>(balance)
            .bind::<Integer, _>(id)
            .execute(conn),
        Base::Cached => cached::<3>(
            "UPDATE gt_accounts SET balance = ? WHERE id = ?",
            &[balance, id.into()],
        )
        .execute(conn),
        Base::Text => conn
            .batch_execute(&format!(
                "UPDATE gt_accounts SET balance = @{var} + ({delta}) WHERE id = {id}"
            ))
            .map(|()| 1),
    }
}

#[allow(clippy::too_many_arguments)]
fn write_log(
    conn: &mut MysqlConnection,
    v: &Variant,
    id: i32,
    before: i64,
    after: i64,
    tag: i64,
    var: &str,
    delta: i64,
) -> Result<(), TxError> {
    if v.chain {
        let n = at(
            "insert",
            cached::<4>(
                "INSERT INTO gt_log (account, balance_before, balance_after, attempt) \
                 SELECT ?, ?, ?, ? FROM DUAL WHERE COALESCE((SELECT l.balance_after \
                 FROM gt_log l WHERE l.account = ? ORDER BY l.id DESC LIMIT 1), ?) = ?",
                &[id.into(), before, after, tag, id.into(), SEED, before],
            )
            .execute(conn),
        )?;
        return if n == 1 {
            Ok(())
        } else {
            Err(TxError::Guard("insert", "chain".into()))
        };
    }
    let r = match v.base {
        Base::Dsl | Base::NoCache => diesel::insert_into(gt_log::table)
            .values((
                gt_log::account.eq(id),
                gt_log::balance_before.eq(before),
                gt_log::balance_after.eq(after),
                gt_log::attempt.eq(tag),
            ))
            .execute(conn),
        Base::SqlQuery => diesel::sql_query(
            "INSERT INTO gt_log (account, balance_before, balance_after, attempt) \
             VALUES (?, ?, ?, ?)",
        )
        .bind::<Integer, _>(id)
        .bind::<BigInt, _>(before)
        .bind::<BigInt, _>(after)
        .bind::<BigInt, _>(tag)
        .execute(conn),
        Base::Cached => cached::<5>(
            "INSERT INTO gt_log (account, balance_before, balance_after, attempt) \
             VALUES (?, ?, ?, ?)",
            &[id.into(), before, after, tag],
        )
        .execute(conn),
        Base::Text => conn
            .batch_execute(&format!(
                "INSERT INTO gt_log (account, balance_before, balance_after, attempt) \
                 VALUES ({id}, @{var}, @{var} + ({delta}), {tag})"
            ))
            .map(|()| 1),
    };
    at("insert", r).map(|_| ())
}

/// InnoDB's id of the session's transaction (`trx` modifier).
fn trx_id(conn: &mut MysqlConnection) -> Result<String, TxError> {
    let r: Vec<TextValue> = at(
        "trx",
        cached::<6>(
            "SELECT CAST(trx_id AS CHAR) AS v FROM information_schema.innodb_trx \
             WHERE trx_mysql_thread_id = CONNECTION_ID()",
            &[],
        )
        .load(conn),
    )?;
    Ok(r.into_iter().next().map(|t| t.v).unwrap_or_default())
}

/// One transfer of `amount` from `from` to `to`, one attempt, in one transaction.
fn transfer(
    conn: &mut MysqlConnection,
    v: &Variant,
    tag: i64,
    op: (i32, i32, i64),
) -> Result<(), TxError> {
    conn.transaction::<_, TxError, _>(|conn| transfer_steps(conn, v, tag, op))
}

/// The statements of a transfer, in order, every one followed by the probe when asked for, and
/// the guards' checks.
fn transfer_steps(
    conn: &mut MysqlConnection,
    v: &Variant,
    tag: i64,
    (from, to, amount): (i32, i32, i64),
) -> Result<(), TxError> {
    let (lo, hi) = (from.min(to), from.max(to));
    let delta = |id: i32| if id == from { -amount } else { amount };
    {
        if v.marker {
            at(
                "marker",
                cached::<7>("INSERT INTO gt_marker VALUES (1)", &[]).execute(conn),
            )?;
        }
        let lo_before = at("select", read_for_update(conn, v, lo, "gt_lo"))?;
        probe(conn, v, "select")?;
        let hi_before = at("select", read_for_update(conn, v, hi, "gt_hi"))?;
        probe(conn, v, "select")?;
        let (lo_after, hi_after) = (lo_before + delta(lo), hi_before + delta(hi));
        at(
            "update",
            write_balance(conn, v, lo, lo_after, "gt_lo", delta(lo)),
        )?;
        probe(conn, v, "update")?;
        let trx = if v.trx { trx_id(conn)? } else { String::new() };
        at(
            "update",
            write_balance(conn, v, hi, hi_after, "gt_hi", delta(hi)),
        )?;
        probe(conn, v, "update")?;
        write_log(conn, v, lo, lo_before, lo_after, tag, "gt_lo", delta(lo))?;
        probe(conn, v, "insert")?;
        write_log(conn, v, hi, hi_before, hi_after, tag, "gt_hi", delta(hi))?;
        probe(conn, v, "insert")?;
        if v.trx {
            let now = trx_id(conn)?;
            if now != trx {
                return Err(TxError::Guard("trx", format!("trx_id {trx} became {now}")));
            }
        }
        if v.marker {
            let n = at(
                "marker",
                cached::<8>("DELETE FROM gt_marker", &[]).execute(conn),
            )?;
            if n != 1 {
                return Err(TxError::Guard("marker", "marker row gone".into()));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The client side of a hung statement: a MysqlConnection has no read timeout (Diesel sets no
// MYSQL_OPT_READ_TIMEOUT and reads no option file; libmariadb waits in poll() without a limit,
// so SO_RCVTIMEO does nothing), but shutting its socket down ends the wait with "Lost
// connection" (CR_SERVER_LOST).

/// The descriptor of this process's TCP socket from `local_port` to `remote_port` (IPv4), found
/// through /proc/net/tcp and /proc/self/fd.
fn socket_fd(local_port: u16, remote_port: u16) -> Option<RawFd> {
    let tcp = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let port = |s: &str| u16::from_str_radix(s.rsplit(':').next()?, 16).ok();
    let inode = tcp.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.len() > 9 && port(f[1])? == local_port && port(f[2])? == remote_port)
            .then(|| f[9].to_owned())
    })?;
    let target = format!("socket:[{inode}]");
    std::fs::read_dir("/proc/self/fd")
        .ok()?
        .flatten()
        .find_map(|e| {
            let link = std::fs::read_link(e.path()).ok()?;
            (link.to_str()? == target).then(|| e.file_name().to_str()?.parse().ok())?
        })
}

/// The server's id for this connection and the client's socket descriptor.
fn identify(conn: &mut MysqlConnection, url: &str) -> (i64, Option<RawFd>) {
    #[derive(QueryableByName)]
    struct Me {
        #[diesel(sql_type = BigInt)]
        id: i64,
        #[diesel(sql_type = Text)]
        host: String,
    }
    let me: Me = diesel::sql_query(
        "SELECT CAST(id AS SIGNED) AS id, host FROM information_schema.processlist \
         WHERE id = CONNECTION_ID()",
    )
    .get_result(conn)
    .expect("processlist");
    let local = me.host.rsplit(':').next().and_then(|p| p.parse().ok());
    let remote = url
        .rsplit('@')
        .next()
        .and_then(|h| h.split('/').next())
        .and_then(|h| h.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or(3306);
    (me.id, local.and_then(|l| socket_fd(l, remote)))
}

/// Shuts the socket `fd` down without closing the descriptor (its owner still holds it).
fn cut(fd: RawFd) {
    // SAFETY: `fd` is an open TCP socket of a live MysqlConnection (its owner clears its
    // watchdog slot before dropping it); ManuallyDrop keeps the descriptor open.
    let stream = std::mem::ManuallyDrop::new(unsafe { std::net::TcpStream::from_raw_fd(fd) });
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// One worker's connection as the watchdog sees it.
#[derive(Default, Clone)]
struct Slot {
    node: usize,
    conn_id: i64,
    fd: Option<RawFd>,
    busy_since: Option<Instant>,
    trace: Trace,
}

/// What Diesel sent and got back on one connection during the current attempt
/// (`GALERA_TRANSFERS_TRACE=1`): statements as Diesel's instrumentation reports them.
#[derive(Default, Clone)]
struct Trace(Arc<Mutex<Vec<String>>>);

impl diesel::connection::Instrumentation for Trace {
    fn on_connection_event(&mut self, event: diesel::connection::InstrumentationEvent<'_>) {
        use diesel::connection::InstrumentationEvent as E;
        let line = match event {
            E::StartQuery { query, .. } => format!("> {query}"),
            E::CacheQuery { .. } => "  (prepared, cached)".to_owned(),
            E::FinishQuery { error, .. } => match error {
                None => "< ok".to_owned(),
                Some(e) => format!("< error: {}", short(e)),
            },
            _ => return,
        };
        let line: String = line.chars().take(200).collect();
        self.0.lock().unwrap().push(line);
    }
}

impl Trace {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// Every second: a worker whose attempt has run longer than `stall` gets its socket shut down
/// (its processlist row printed first); the whole run longer than `limit` ends the process.
struct Watchdog {
    slots: Arc<Mutex<Vec<Slot>>>,
    done: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<usize>,
}

impl Watchdog {
    fn start(urls: &[String], stall: Duration, limit: Duration) -> Watchdog {
        let slots = Arc::new(Mutex::new(vec![Slot::default(); THREADS]));
        let done = Arc::new(AtomicBool::new(false));
        let (s, d, urls) = (slots.clone(), done.clone(), urls.to_vec());
        let handle = std::thread::spawn(move || {
            let start = Instant::now();
            let mut monitors: Vec<Option<MysqlConnection>> = urls
                .iter()
                .map(|u| MysqlConnection::establish(u).ok())
                .collect();
            let mut cuts = 0;
            while !d.load(Ordering::SeqCst) {
                if start.elapsed() > limit {
                    eprintln!("[galera_transfers] the run did not end in {limit:?}; giving up");
                    std::process::exit(2);
                }
                let mut slots = s.lock().unwrap();
                for (t, slot) in slots.iter_mut().enumerate() {
                    let Some(since) = slot.busy_since else {
                        continue;
                    };
                    if since.elapsed() < stall {
                        continue;
                    }
                    let state = monitors[slot.node]
                        .as_mut()
                        .and_then(|m| {
                            diesel::sql_query(format!(
                                "SELECT CONCAT_WS(' | ', command, time, state, LEFT(info, 80)) \
                                 AS v FROM information_schema.processlist WHERE id = {}",
                                slot.conn_id
                            ))
                            .get_result::<TextValue>(m)
                            .ok()
                        })
                        .map(|t| t.v)
                        .unwrap_or_else(|| "(not in the processlist)".into());
                    println!(
                        "[galera_transfers] thread {t}: attempt running for {:.1?} on node {} \
                         connection {}: {state}; shutting its socket down",
                        since.elapsed(),
                        slot.node,
                        slot.conn_id
                    );
                    for line in slot.trace.0.lock().unwrap().iter() {
                        println!("[galera_transfers]     {line}");
                    }
                    if let Some(fd) = slot.fd.take() {
                        cut(fd);
                    }
                    slot.busy_since = None;
                    cuts += 1;
                }
                drop(slots);
                std::thread::sleep(Duration::from_secs(1));
            }
            cuts
        });
        Watchdog {
            slots,
            done,
            handle,
        }
    }

    fn stop(self) -> usize {
        self.done.store(true, Ordering::SeqCst);
        self.handle.join().unwrap()
    }
}

// ---------------------------------------------------------------------------------------------
// The workload and its checks.

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Outcome {
    Ok,
    Failed,
    /// The connection broke: committed or not, nobody knows.
    Unknown,
}

#[derive(Default)]
struct Tally {
    ok: u64,
    failed: u64,
    unknown: u64,
    reconnects: u64,
    /// A transfer failed 1,000 times in a row and the thread gave up.
    stuck: bool,
    errors: BTreeMap<String, u64>,
    /// attempt tag -> (outcome, node, connection id)
    attempts: BTreeMap<i64, (Outcome, usize, i64)>,
    /// attempt tag -> its trace (`GALERA_TRANSFERS_TRACE=1`)
    traces: BTreeMap<i64, Vec<String>>,
}

#[allow(clippy::too_many_arguments)]
fn worker(
    t: usize,
    url: &str,
    node: usize,
    database: &str,
    v: &Variant,
    ops: usize,
    barrier: &Barrier,
    slots: &Mutex<Vec<Slot>>,
) -> Tally {
    let mut tally = Tally::default();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((t as u64 + 1) * 0x1000_0001));
    let tracing = std::env::var("GALERA_TRANSFERS_TRACE").as_deref() == Ok("1");
    let trace = Trace::default();
    let open = |tally: &mut Tally| loop {
        match connect(url, database, v) {
            Ok(mut conn) => {
                let (conn_id, fd) = identify(&mut conn, url);
                if tracing {
                    conn.set_instrumentation(trace.clone());
                }
                let mut slots = slots.lock().unwrap();
                slots[t] = Slot {
                    node,
                    conn_id,
                    fd,
                    busy_since: None,
                    trace: trace.clone(),
                };
                return (conn, conn_id);
            }
            Err(e) => {
                *tally.errors.entry(format!("connect: {e}")).or_default() += 1;
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    };
    let (mut conn, mut conn_id) = open(&mut tally);
    barrier.wait();
    let mut attempt = 0i64;
    for _ in 0..ops {
        if tally.stuck {
            break;
        }
        let from = 1 + rng.below(ACCOUNTS as u64) as i32;
        let to = 1 + (from + rng.below(ACCOUNTS as u64 - 1) as i32) % ACCOUNTS;
        let amount = 1 + rng.below(50) as i64;
        let mut tries = 0;
        loop {
            attempt += 1;
            tries += 1;
            if tries > 1000 {
                // The same transfer failing a thousand times: a guard that fails forever (a
                // chain check on an account whose balance and log already disagree).
                tally.stuck = true;
                break;
            }
            let tag = (t as i64 + 1) * 1_000_000 + attempt;
            slots.lock().unwrap()[t].busy_since = Some(Instant::now());
            let r = transfer(&mut conn, v, tag, (from, to, amount));
            slots.lock().unwrap()[t].busy_since = None;
            if tracing {
                let mut lines = trace.take();
                if let Err(e) = &r {
                    lines.push(format!("= {}", e.label()));
                }
                tally.traces.insert(tag, lines);
            }
            match r {
                Ok(()) => {
                    tally.ok += 1;
                    tally.attempts.insert(tag, (Outcome::Ok, node, conn_id));
                    break;
                }
                Err(e) => {
                    *tally.errors.entry(e.label()).or_default() += 1;
                    if e.lost_connection() {
                        tally.unknown += 1;
                        tally
                            .attempts
                            .insert(tag, (Outcome::Unknown, node, conn_id));
                        tally.reconnects += 1;
                        slots.lock().unwrap()[t].fd = None;
                        drop(conn);
                        (conn, conn_id) = open(&mut tally);
                    } else {
                        tally.failed += 1;
                        tally.attempts.insert(tag, (Outcome::Failed, node, conn_id));
                    }
                }
            }
        }
    }
    slots.lock().unwrap()[t].fd = None;
    tally
}

#[derive(QueryableByName, Clone, PartialEq, Debug)]
struct LogRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Integer)]
    account: i32,
    #[diesel(sql_type = BigInt)]
    balance_before: i64,
    #[diesel(sql_type = BigInt)]
    balance_after: i64,
    #[diesel(sql_type = BigInt)]
    attempt: i64,
}

#[derive(QueryableByName, Clone, PartialEq, Debug)]
struct AccountRow {
    #[diesel(sql_type = Integer)]
    id: i32,
    #[diesel(sql_type = BigInt)]
    balance: i64,
}

/// A node's status counter.
fn status(conn: &mut MysqlConnection, name: &str) -> i64 {
    diesel::sql_query(format!(
        "SELECT CAST(variable_value AS SIGNED) AS v FROM information_schema.global_status \
         WHERE variable_name = '{name}'"
    ))
    .get_result::<Value>(conn)
    .map(|v| v.v)
    .unwrap_or(-1)
}

/// What one node holds after a run, checked against the attempts' outcomes.
struct NodeReport {
    money: i64,
    chain_breaks: Vec<String>,
    log_rows: usize,
    rows_of_failed: Vec<(i64, usize)>,
    ok_not_two: Vec<(i64, usize)>,
    unknown_committed: u64,
    contents: (Vec<AccountRow>, Vec<LogRow>),
}

fn check_node(conn: &mut MysqlConnection, tally: &Tally) -> NodeReport {
    let accounts: Vec<AccountRow> =
        diesel::sql_query("SELECT id, balance FROM gt_accounts ORDER BY id")
            .load(conn)
            .unwrap();
    let log: Vec<LogRow> = diesel::sql_query(
        "SELECT id, account, balance_before, balance_after, attempt FROM gt_log \
         ORDER BY account, id",
    )
    .load(conn)
    .unwrap();
    let money = accounts.iter().map(|a| a.balance).sum();
    let mut chain_breaks = Vec::new();
    for a in &accounts {
        let mut expect = SEED;
        for e in log.iter().filter(|e| e.account == a.id) {
            if e.balance_before != expect {
                chain_breaks.push(format!(
                    "account {}: entry {} (attempt {}) has before {}, the previous after is {}",
                    a.id, e.id, e.attempt, e.balance_before, expect
                ));
            }
            expect = e.balance_after;
        }
        if expect != a.balance {
            chain_breaks.push(format!(
                "account {}: the last after-image is {expect}, the balance {}",
                a.id, a.balance
            ));
        }
    }
    let mut per_attempt: BTreeMap<i64, usize> = BTreeMap::new();
    for e in &log {
        *per_attempt.entry(e.attempt).or_default() += 1;
    }
    let mut rows_of_failed = Vec::new();
    let mut ok_not_two = Vec::new();
    let mut unknown_committed = 0;
    for (tag, (outcome, _, _)) in &tally.attempts {
        let n = per_attempt.get(tag).copied().unwrap_or(0);
        match outcome {
            Outcome::Ok if n != 2 => ok_not_two.push((*tag, n)),
            Outcome::Failed if n != 0 => rows_of_failed.push((*tag, n)),
            Outcome::Unknown if n == 2 => unknown_committed += 1,
            Outcome::Unknown if n != 0 => rows_of_failed.push((*tag, n)),
            _ => {}
        }
    }
    NodeReport {
        money,
        chain_breaks,
        log_rows: log.len(),
        rows_of_failed,
        ok_not_two,
        unknown_committed,
        contents: (accounts, log),
    }
}

/// Runs `v` on the cluster; returns the problems found (empty: exact).
fn run_variant(urls: &[String], database: &str, v: &Variant, ops: usize) -> Vec<String> {
    let mut setup = MysqlConnection::establish(&urls[0]).unwrap();
    setup
        .batch_execute(&format!(
            "USE {database};
             DROP TABLE IF EXISTS gt_accounts, gt_log;
             CREATE TABLE gt_accounts (id INT PRIMARY KEY, balance BIGINT NOT NULL) ENGINE=InnoDB;
             CREATE TABLE gt_log (id BIGINT AUTO_INCREMENT PRIMARY KEY, account INT NOT NULL,
                 balance_before BIGINT NOT NULL, balance_after BIGINT NOT NULL,
                 attempt BIGINT NOT NULL, KEY (account, id), KEY (attempt)) ENGINE=InnoDB;"
        ))
        .unwrap();
    let values: Vec<String> = (1..=ACCOUNTS).map(|i| format!("({i}, {SEED})")).collect();
    setup
        .batch_execute(&format!(
            "INSERT INTO gt_accounts VALUES {}",
            values.join(", ")
        ))
        .unwrap();
    let mut monitors: Vec<MysqlConnection> = urls
        .iter()
        .map(|u| {
            let mut c = MysqlConnection::establish(u).unwrap();
            c.batch_execute(&format!("USE {database}; SET SESSION wsrep_sync_wait = 1"))
                .unwrap();
            c
        })
        .collect();
    let counters = |monitors: &mut Vec<MysqlConnection>| -> (i64, i64) {
        monitors.iter_mut().fold((0, 0), |(b, c), m| {
            (
                b + status(m, "wsrep_local_bf_aborts"),
                c + status(m, "wsrep_local_cert_failures"),
            )
        })
    };
    let (bf0, cert0) = counters(&mut monitors);
    let watchdog = Watchdog::start(
        urls,
        Duration::from_secs(env_or("GALERA_TRANSFERS_STALL", 20)),
        Duration::from_secs(env_or("GALERA_TRANSFERS_TIMEOUT", 600)),
    );
    let start = Instant::now();
    let barrier = Barrier::new(THREADS);
    let mut tally = Tally::default();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (barrier, slots) = (&barrier, &*watchdog.slots);
                let node = t % urls.len();
                let url = &urls[node];
                s.spawn(move || worker(t, url, node, database, v, ops, barrier, slots))
            })
            .collect();
        for h in handles {
            let t = h.join().unwrap();
            tally.ok += t.ok;
            tally.failed += t.failed;
            tally.unknown += t.unknown;
            tally.reconnects += t.reconnects;
            tally.stuck |= t.stuck;
            for (k, n) in t.errors {
                *tally.errors.entry(k).or_default() += n;
            }
            tally.attempts.extend(t.attempts);
            tally.traces.extend(t.traces);
        }
    });
    let elapsed = start.elapsed();
    let cuts = watchdog.stop();
    let (bf1, cert1) = counters(&mut monitors);
    println!(
        "[{}] {} transfers in {elapsed:.2?}: {} failed attempts (retried), {} of unknown \
         outcome, {} sockets cut by the watchdog; brute-force aborts {}, certification failures {}",
        v.name,
        tally.ok,
        tally.failed,
        tally.unknown,
        cuts,
        bf1 - bf0,
        cert1 - cert0
    );
    for (label, n) in &tally.errors {
        println!("[{}]   {n:>5} × {label}", v.name);
    }
    let mut problems = Vec::new();
    if tally.stuck {
        println!(
            "[{}] a transfer failed 1,000 times in a row: its thread gave up",
            v.name
        );
        problems.push("no progress".to_owned());
    }
    let mut first: Option<(Vec<AccountRow>, Vec<LogRow>)> = None;
    for (node, m) in monitors.iter_mut().enumerate() {
        let r = check_node(m, &tally);
        let expected_rows = 2 * (tally.ok + r.unknown_committed) as usize;
        println!(
            "[{}] node {node}: money {} (expected {}), {} chain breaks, {} log rows (expected {}), \
             {} failed attempts with rows, {} successful attempts without 2 rows",
            v.name,
            r.money,
            SEED * ACCOUNTS as i64,
            r.chain_breaks.len(),
            r.log_rows,
            expected_rows,
            r.rows_of_failed.len(),
            r.ok_not_two.len()
        );
        if node == 0 {
            for b in r.chain_breaks.iter().take(6) {
                println!("[{}]   chain: {b}", v.name);
            }
            let suspects = r.rows_of_failed.iter().chain(&r.ok_not_two);
            for (tag, _) in suspects.take(6) {
                // The attempt and the one before it on the same thread.
                for t in [tag - 1, *tag] {
                    if let Some(lines) = tally.traces.get(&t) {
                        println!("[{}]   trace of attempt {t}:", v.name);
                        for line in lines {
                            println!("[{}]     {line}", v.name);
                        }
                    }
                }
            }
            for (tag, n) in r.rows_of_failed.iter().take(6) {
                let (outcome, node, conn) = tally.attempts[tag];
                println!(
                    "[{}]   attempt {tag} ({outcome:?}, node {node}, connection {conn}) left {n} \
                     log rows",
                    v.name
                );
            }
            for (tag, n) in r.ok_not_two.iter().take(6) {
                let (_, node, conn) = tally.attempts[tag];
                println!(
                    "[{}]   attempt {tag} (Ok, node {node}, connection {conn}) left {n} log rows",
                    v.name
                );
            }
        }
        if r.money != SEED * ACCOUNTS as i64 {
            problems.push(format!("node {node}: money {}", r.money));
        }
        if !r.chain_breaks.is_empty() {
            problems.push(format!(
                "node {node}: {} chain breaks",
                r.chain_breaks.len()
            ));
        }
        if r.log_rows != expected_rows || !r.rows_of_failed.is_empty() || !r.ok_not_two.is_empty() {
            problems.push(format!(
                "node {node}: {} log rows for {} successful attempts; {} failed attempts left \
                 rows, {} successful ones not 2",
                r.log_rows,
                tally.ok,
                r.rows_of_failed.len(),
                r.ok_not_two.len()
            ));
        }
        match &first {
            None => first = Some(r.contents),
            Some(f) if *f != r.contents => {
                problems.push(format!("node {node}: rows differ from node 0's"))
            }
            Some(_) => {}
        }
    }
    problems
}

#[test]
fn galera_transfers() {
    let Some(urls) = galera_urls() else {
        println!(
            "RECOVER_GALERA_URLS is not set: this reproduction needs a Galera cluster \
             (scripts/galera-start); nothing done"
        );
        return;
    };
    let variants: Vec<Variant> = std::env::var("GALERA_TRANSFERS_VARIANTS")
        .unwrap_or_else(|_| DEFAULT_VARIANTS.into())
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Variant::parse)
        .collect();
    let ops = env_or("GALERA_TRANSFERS_OPS", 100);
    let database = format!("galera_transfers_{}", std::process::id());
    let mut setup = MysqlConnection::establish(&urls[0]).unwrap();
    setup
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {database}; CREATE DATABASE {database}"
        ))
        .unwrap();
    #[derive(QueryableByName)]
    struct Versions {
        #[diesel(sql_type = Text)]
        server: String,
        #[diesel(sql_type = Text)]
        provider: String,
    }
    if let Ok(v) = diesel::sql_query(
        "SELECT VERSION() AS server, (SELECT variable_value FROM information_schema.global_status \
         WHERE variable_name = 'wsrep_provider_version') AS provider",
    )
    .get_result::<Versions>(&mut setup)
    {
        println!(
            "[galera_transfers] {} nodes, MariaDB {}, Galera {}; {THREADS} threads × {ops} \
             transfers per variant",
            urls.len(),
            v.server,
            v.provider
        );
    }
    let mut failures = Vec::new();
    for v in &variants {
        let problems = run_variant(&urls, &database, v, ops);
        let verdict = match (problems.is_empty(), v.must_hold()) {
            (true, _) => "exact",
            (false, true) => "BROKEN (must hold)",
            (false, false) => "broken (expected of this variant)",
        };
        println!("[{}] {verdict}", v.name);
        if !problems.is_empty() && v.must_hold() {
            failures.push(format!("{}: {}", v.name, problems.join("; ")));
        }
    }
    let _ = setup.batch_execute(&format!("DROP DATABASE IF EXISTS {database}"));
    assert!(
        failures.is_empty(),
        "variants that must hold did not:\n{}",
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// A brute-force abort while the client is idle, deterministically: reported to the next
// statement, whatever its kind.

#[test]
fn galera_idle_abort_is_reported() {
    let Some(urls) = galera_urls() else {
        println!("RECOVER_GALERA_URLS is not set: nothing done");
        return;
    };
    if urls.len() < 2 {
        println!("needs two nodes: nothing done");
        return;
    }
    let database = format!("galera_idle_{}", std::process::id());
    let mut setup = MysqlConnection::establish(&urls[0]).unwrap();
    setup
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {database}; CREATE DATABASE {database}; USE {database};
             CREATE TABLE gt_accounts (id INT PRIMARY KEY, balance BIGINT NOT NULL) ENGINE=InnoDB;
             INSERT INTO gt_accounts VALUES (1, 0), (2, 0);"
        ))
        .unwrap();
    let mut other = MysqlConnection::establish(&urls[1]).unwrap();
    other
        .batch_execute(&format!("USE {database}; SET SESSION wsrep_sync_wait = 1"))
        .unwrap();
    other.batch_execute("SELECT * FROM gt_accounts").unwrap();
    // The next statement after the abort: a cached prepared one (a Diesel select), one
    // prepared anew (a Diesel update), raw SQL prepared anew, and text.
    type Next = fn(&mut MysqlConnection) -> QueryResult<()>;
    let kinds: [(&str, Next); 4] = [
        ("cached select", |c| {
            gt_accounts::table
                .find(2)
                .select(gt_accounts::balance)
                .first::<i64>(c)
                .map(|_| ())
        }),
        ("update (prepared anew)", |c| {
            diesel::update(gt_accounts::table.find(2))
                .set(gt_accounts::balance.eq(gt_accounts::balance + 1))
                .execute(c)
                .map(|_| ())
        }),
        ("sql_query", |c| {
            diesel::sql_query("UPDATE gt_accounts SET balance = balance + 1 WHERE id = 2")
                .execute(c)
                .map(|_| ())
        }),
        ("text", |c| {
            c.batch_execute("UPDATE gt_accounts SET balance = balance + 1 WHERE id = 2")
        }),
    ];
    let mut wrong = Vec::new();
    for (kind, next) in kinds {
        let mut a = MysqlConnection::establish(&urls[0]).unwrap();
        a.batch_execute(&format!("USE {database}")).unwrap();
        // Warm the cache: the cached select is prepared before the transaction.
        let _ = gt_accounts::table
            .find(2)
            .select(gt_accounts::balance)
            .first::<i64>(&mut a);
        let before = status(&mut setup, "wsrep_local_bf_aborts");
        let r = a.transaction::<_, DieselError, _>(|a| {
            diesel::update(gt_accounts::table.find(1))
                .set(gt_accounts::balance.eq(gt_accounts::balance + 1))
                .execute(a)?;
            // A conflicting write on another node, applied here: it aborts `a`'s transaction.
            other
                .batch_execute("UPDATE gt_accounts SET balance = balance + 100 WHERE id = 1")
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(5);
            while status(&mut setup, "wsrep_local_bf_aborts") == before && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            next(a)
        });
        let aborts = status(&mut setup, "wsrep_local_bf_aborts") - before;
        println!("[idle abort] next statement {kind}: {r:?} (brute-force aborts {aborts})");
        let reported = matches!(
            &r,
            Err(DieselError::DatabaseError(_, info)) if info.message().contains("Deadlock")
        );
        if aborts < 1 || !reported {
            wrong.push(kind);
        }
    }
    let rows: Vec<AccountRow> = diesel::sql_query("SELECT id, balance FROM gt_accounts")
        .load(&mut setup)
        .unwrap();
    println!("[idle abort] rows afterwards: {rows:?}");
    let _ = setup.batch_execute(&format!("DROP DATABASE IF EXISTS {database}"));
    assert!(
        wrong.is_empty(),
        "abort not reported to: {wrong:?} (rows {rows:?})"
    );
    assert!(
        rows.iter().all(|r| r.id != 2 || r.balance == 0),
        "a statement after the abort committed: {rows:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// A client-side deadline for a statement that does not return.

#[test]
fn cut_a_hung_connection() {
    let url = std::env::var("RECOVER_MYSQL_URL")
        .ok()
        .or_else(|| galera_urls().map(|u| u[0].clone()));
    let Some(url) = url else {
        println!("neither RECOVER_MYSQL_URL nor RECOVER_GALERA_URLS is set: nothing done");
        return;
    };
    let mut conn = MysqlConnection::establish(&url).unwrap();
    let (_, fd) = identify(&mut conn, &url);
    let fd = fd.expect("the connection's socket in /proc/self/fd");
    let cutter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(1));
        cut(fd);
    });
    let start = Instant::now();
    let r = conn.batch_execute("SELECT SLEEP(5)");
    let took = start.elapsed();
    cutter.join().unwrap();
    println!("[cut] SELECT SLEEP(5) with the socket shut down after 1 s: {r:?} after {took:.2?}");
    assert!(
        r.is_err() && took < Duration::from_secs(4),
        "{r:?} after {took:?}"
    );
    assert!(conn.batch_execute("SELECT 1").is_err());
}

// ---------------------------------------------------------------------------------------------
// The hang, on any server: a cached prepared SELECT whose result set was cut short by an error.

/// libmariadb (Connector/C 3.3.20 here) leaves a prepared statement whose result set ended in
/// an error after its header (`mysql_stmt_store_result` failing: a query killed, or on Galera a
/// brute-force abort landing after the column definitions were sent) in a state in which the
/// next `mysql_stmt_execute` first waits for the rest of that result set, which never comes:
/// the client waits forever, the server shows the connection as `Sleep`. Diesel keeps the
/// statement in its cache and executes it again. Here a `KILL QUERY` interrupts the SELECT; the
/// second execution is cut after 3 s if it hangs (reported, not asserted: a fixed libmariadb
/// passes), and after Diesel's statement cache is dropped and re-created the same query runs.
#[test]
fn interrupted_cached_select_is_not_reused() {
    let url = std::env::var("RECOVER_MYSQL_URL")
        .ok()
        .or_else(|| galera_urls().map(|u| u[0].clone()));
    let Some(url) = url else {
        println!("neither RECOVER_MYSQL_URL nor RECOVER_GALERA_URLS is set: nothing done");
        return;
    };
    let slow = || cached::<9>("SELECT CAST(SLEEP(1) AS SIGNED) AS v", &[]);
    let interrupt = |conn: &mut MysqlConnection| {
        let (id, _) = identify(conn, &url);
        let killer_url = url.clone();
        let killer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            let mut k = MysqlConnection::establish(&killer_url).unwrap();
            k.batch_execute(&format!("KILL QUERY {id}")).unwrap();
        });
        let r = slow().load::<Value>(conn);
        killer.join().unwrap();
        r.map(|_| ())
    };
    // 1. As Diesel does it: the same cached statement again.
    let mut conn = MysqlConnection::establish(&url).unwrap();
    let first = interrupt(&mut conn);
    let (_, fd) = identify(&mut conn, &url);
    let fd = fd.expect("the connection's socket");
    let cutter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(3));
        cut(fd);
    });
    let start = Instant::now();
    let again = slow().load::<Value>(&mut conn).map(|_| ());
    let took = start.elapsed();
    let hung = took >= Duration::from_millis(2900);
    println!(
        "[interrupted select] first: {first:?}; the same cached statement again: {again:?} after \
         {took:.2?}{}",
        if hung { " (it hung: socket cut)" } else { "" }
    );
    cutter.join().unwrap();
    // 2. With the statement cache dropped after the error (closing the statement is safe).
    let mut conn = MysqlConnection::establish(&url).unwrap();
    let first = interrupt(&mut conn);
    assert!(first.is_err(), "KILL QUERY did not interrupt: {first:?}");
    conn.set_prepared_statement_cache_size(CacheSize::Disabled);
    conn.set_prepared_statement_cache_size(CacheSize::Unbounded);
    let start = Instant::now();
    let again = slow().load::<Value>(&mut conn).map(|_| ());
    println!(
        "[interrupted select] after dropping the cache: {again:?} after {:.2?}",
        start.elapsed()
    );
    assert!(
        again.is_ok() && start.elapsed() < Duration::from_secs(2),
        "{again:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The guards' cost on one server.

#[test]
fn guard_costs() {
    if std::env::var("GALERA_TRANSFERS_COSTS").as_deref() != Ok("1") {
        println!("GALERA_TRANSFERS_COSTS is not 1: nothing measured");
        return;
    }
    let url = std::env::var("RECOVER_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
    let n: usize = env_or("GALERA_TRANSFERS_COST_OPS", 1000);
    let rounds: usize = env_or("GALERA_TRANSFERS_COST_ROUNDS", 5);
    let database = format!("galera_costs_{}", std::process::id());
    let mut setup = MysqlConnection::establish(&url).unwrap();
    setup
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {database}; CREATE DATABASE {database}; USE {database};
             CREATE TABLE gt_accounts (id INT PRIMARY KEY, balance BIGINT NOT NULL) ENGINE=InnoDB;
             CREATE TABLE gt_log (id BIGINT AUTO_INCREMENT PRIMARY KEY, account INT NOT NULL,
                 balance_before BIGINT NOT NULL, balance_after BIGINT NOT NULL,
                 attempt BIGINT NOT NULL, KEY (account, id), KEY (attempt)) ENGINE=InnoDB;"
        ))
        .unwrap();
    let specs = std::env::var("GALERA_TRANSFERS_COST_VARIANTS").unwrap_or_else(|_| {
        "dsl,dsl+ac0,dsl+ac0+marker,dsl+ac0+chain,dsl+ac0+trx,dsl+probe,cached,cached+ac0+marker,\
         nocache,nocache+ac0+marker,text"
            .into()
    });
    let variants: Vec<Variant> = specs.split(',').map(Variant::parse).collect();
    let mut best: BTreeMap<String, f64> = BTreeMap::new();
    for round in 0..rounds {
        for v in &variants {
            setup
                .batch_execute("DELETE FROM gt_log; DELETE FROM gt_accounts;")
                .unwrap();
            let values: Vec<String> = (1..=ACCOUNTS).map(|i| format!("({i}, {SEED})")).collect();
            setup
                .batch_execute(&format!(
                    "INSERT INTO gt_accounts VALUES {}",
                    values.join(", ")
                ))
                .unwrap();
            let mut conn = connect(&url, &database, v).unwrap();
            let mut rng = Rng(0x5EED + round as u64);
            // Every transaction rolled back at its end: what is measured is the statements and
            // the guards, not the commit's log flush (on this server ~1-4 ms, varying with the
            // machine's other disk traffic, which would drown differences of a few µs).
            let mut one = |tag: i64, conn: &mut MysqlConnection| {
                let from = 1 + rng.below(ACCOUNTS as u64) as i32;
                let to = 1 + (from + rng.below(ACCOUNTS as u64 - 1) as i32) % ACCOUNTS;
                let op = (from, to, 1 + rng.below(50) as i64);
                let r = conn.transaction::<(), TxError, _>(|conn| {
                    transfer_steps(conn, v, tag, op)?;
                    Err(TxError::Guard("end", "rolled back".into()))
                });
                match r {
                    Err(TxError::Guard("end", _)) => {}
                    other => panic!("{}: {other:?}", v.name),
                }
            };
            for tag in 0..200 {
                one(tag, &mut conn);
            }
            let start = Instant::now();
            for tag in 200..200 + n as i64 {
                one(tag, &mut conn);
            }
            let us = start.elapsed().as_secs_f64() * 1e6 / n as f64;
            let e = best.entry(v.name.clone()).or_insert(f64::MAX);
            *e = e.min(us);
        }
    }
    let base = best.get("dsl").copied();
    println!(
        "[costs] {url}: µs per transfer (its statements and guards, rolled back), best of \
         {rounds} rounds of {n} (one connection)"
    );
    for v in &variants {
        let us = best[&v.name];
        let diff = base.map(|b| format!("{:+.0}", us - b)).unwrap_or_default();
        println!("[costs] {:<22} {us:>8.0} µs  ({diff} vs dsl)", v.name);
    }
    let _ = setup.batch_execute(&format!("DROP DATABASE IF EXISTS {database}"));
}
