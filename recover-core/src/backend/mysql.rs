//! MySQL and MariaDB: rows locked with `SELECT .. FOR UPDATE`, absent ones through their entity's
//! row in `recover_heads`; seqs are AUTO_INCREMENT tickets of `recover_tickets`.

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::mysql::MysqlConnection;
use diesel::prelude::*;

use diesel::sql_types::{BigInt, Bool, Nullable, Text};

use super::{shared_journal_queries, Bind, CachedSql, JournalConn, PerBackend, Scope};
use crate::error::Error;
use crate::schema::{ChangesetRow, NewEntryRow};
use crate::triggers::{self, Context, TriggerSpec};

#[derive(QueryableByName)]
struct TableColumn {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Bool)]
    nullable: bool,
}

#[derive(QueryableByName)]
struct NamedText {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    text: String,
}

#[derive(QueryableByName)]
struct ContextRow {
    #[diesel(sql_type = Nullable<BigInt>)]
    changeset_id: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    last_seq: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    actor: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    reason: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    recorded_at: Option<i64>,
}

/// The first ticket an insert into `recover_tickets` handed out, and the server's
/// AUTO_INCREMENT step.
const LAST_TICKET: &str = "SELECT LAST_INSERT_ID() AS seq, @@auto_increment_increment AS step";

/// `LAST_INSERT_ID()` after an insert into `recover_tickets`, and the server's AUTO_INCREMENT
/// step.
#[derive(QueryableByName)]
struct Ticket {
    #[diesel(sql_type = diesel::sql_types::Unsigned<BigInt>)]
    seq: u64,
    #[diesel(sql_type = diesel::sql_types::Unsigned<BigInt>)]
    step: u64,
}

impl Ticket {
    fn first(&self) -> QueryResult<i64> {
        i64::try_from(self.seq).map_err(|e| diesel::result::Error::DeserializationError(e.into()))
    }

    fn step(&self) -> QueryResult<i64> {
        i64::try_from(self.step).map_err(|e| diesel::result::Error::DeserializationError(e.into()))
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// The guard of a transaction recover begins, against a Galera node that rolls it back without
/// telling: when a brute-force abort (another node's write set won) lands while the server runs
/// a command whose reply is already sent (the prepare of a `SELECT`, a text `SELECT` returning
/// rows, a statement's close), the client never sees the deadlock error, and with autocommit
/// on every later statement of the "transaction" commits on its own: part of a change, an
/// entry without its row. So recover's own transactions run with autocommit off (the
/// statements after a silent rollback then wait in a new transaction, uncommitted), and write a
/// mark first, a row of `recover_marks`, removed last: if it is gone, the transaction that
/// wrote it was rolled back, and the call rolls back everything since as `Error::Retryable`.
/// See docs/distributed-engines.md ("Diesel on a MariaDB Galera cluster").
///
/// The mark is a row of an ordinary table, not of a session's temporary one: its insert is the
/// transaction's first replicated event, and a transaction that replicates nothing before two
/// nested savepoints are rolled back makes MariaDB 10.11 (with Galera 26.4) send a write set
/// that no other node can read, which throws them out of the cluster ([`fill_write_set`]).
///
/// Each mark is a number of its own, random per process and counted within it: unique across
/// the cluster's writers (no two transactions certify the same mark), and a statement that
/// commits implicitly (capture's DDL) keeps its transaction's mark, which must not pass for a
/// later transaction's.
struct Mark(i64);

/// The number of the next [`Mark`]: a random start per process, counted up.
fn next_mark() -> i64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicI64, Ordering};
    static NEXT: AtomicI64 = AtomicI64::new(0);
    static START: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| {
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        // Positive, with room for 2^40 marks after it.
        (random >> 24) as i64
    });
    start + NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The mark's insert, and the table's DDL (`sql/mysql.sql` has it too).
const MARK_INSERT: &str = "INSERT INTO recover_marks (id) VALUES (?)";
const MARK_DELETE: &str = "DELETE FROM recover_marks WHERE id = ?";
const MARKS_DDL: &str =
    "CREATE TABLE IF NOT EXISTS recover_marks (id BIGINT NOT NULL PRIMARY KEY) ENGINE=InnoDB";

impl Mark {
    fn set(conn: &mut MysqlConnection) -> Result<Self, Error> {
        CachedSql::new("SET autocommit = 0", &[]).execute(conn)?;
        let mark = Mark(next_mark());
        let binds = [Bind::BigInt(mark.0)];
        match CachedSql::new(MARK_INSERT, &binds).execute(conn) {
            Ok(_) => {}
            // A journal installed before the table existed: nothing is done in this
            // transaction yet, so the implicit commit of the DDL ends nothing.
            Err(diesel::result::Error::DatabaseError(_, info))
                if info.message().contains("doesn't exist") =>
            {
                conn.batch_execute(MARKS_DDL)?;
                CachedSql::new(MARK_INSERT, &binds).execute(conn)?;
            }
            Err(e) => return Err(e.into()),
        }
        Ok(mark)
    }

    fn check(self, conn: &mut MysqlConnection) -> Result<(), Error> {
        let removed = CachedSql::new(MARK_DELETE, &[Bind::BigInt(self.0)]).execute(conn)?;
        if removed == 1 {
            return Ok(());
        }
        Err(Self::rolled_back(&"its mark is gone"))
    }

    /// The retryable error of a transaction the server rolled back without reporting it;
    /// `what` is what gave it away.
    fn rolled_back(what: &dyn std::fmt::Display) -> Error {
        Error::Retryable(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::SerializationFailure,
            Box::new(format!(
                "the server rolled this transaction back without reporting it (a Galera \
                 brute-force abort; {what}); nothing of it was committed"
            )),
        ))
    }
}

/// Writes a mark and removes it at once, inside the caller's transaction, before recover's
/// savepoint there: the transaction then holds a replicated event before any savepoint.
/// MariaDB 10.11 with Galera 26.4 builds a write set that the other nodes cannot read
/// ("applier could not read binlog event", then "Inconsistency detected": they leave the
/// cluster) when a transaction rolls back to two nested savepoints before it has written
/// anything, then writes and commits, on a session that has committed a write before: what a
/// recover call refused inside `journal.changeset` inside a caller's transaction does. One
/// event first and the write set is sound (`tests/concurrency.rs`,
/// `galera_a_refusal_inside_nested_savepoints_keeps_the_cluster`).
fn fill_write_set(conn: &mut MysqlConnection) -> Result<(), Error> {
    let binds = [Bind::BigInt(next_mark())];
    CachedSql::new(MARK_INSERT, &binds).execute(conn)?;
    CachedSql::new(MARK_DELETE, &binds).execute(conn)?;
    Ok(())
}

/// Drops every cached statement of the connection. After an error from a statement that
/// returns rows (a deadlock in a locking read, say), the C client can leave that prepared
/// statement waiting for rows that never come, and its next run from Diesel's cache would hang
/// forever; the statements are prepared again as they are used.
fn forget_statements(conn: &mut MysqlConnection) {
    use diesel::connection::CacheSize;
    conn.set_prepared_statement_cache_size(CacheSize::Disabled);
    conn.set_prepared_statement_cache_size(CacheSize::Unbounded);
}

thread_local! {
    /// The connections (by address) on which this thread runs a transaction of recover's own,
    /// begun with its [`Mark`]: a savepoint inside one needs no [`fill_write_set`].
    static OWN_TRANSACTIONS: std::cell::RefCell<Vec<usize>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A connection listed in [`OWN_TRANSACTIONS`] while this value lives.
struct OwnTransaction(usize);

impl OwnTransaction {
    fn enter(conn: &MysqlConnection) -> Self {
        let address = conn as *const MysqlConnection as usize;
        OWN_TRANSACTIONS.with(|own| own.borrow_mut().push(address));
        OwnTransaction(address)
    }
}

impl Drop for OwnTransaction {
    fn drop(&mut self) {
        OWN_TRANSACTIONS.with(|own| {
            let mut own = own.borrow_mut();
            if let Some(at) = own.iter().rposition(|&a| a == self.0) {
                own.remove(at);
            }
        });
    }
}

/// Numbers recover's savepoints (see `atomically`), so that nested ones never share a name.
static SAVEPOINTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Tickets per multi-row insert (two binds each).
const TICKET_BATCH: usize = 1000;

/// Every this many tickets (in the server's AUTO_INCREMENT steps) the call that draws one trims
/// `recover_tickets`, of the rows older than `TICKETS_KEPT` tickets: long committed, their
/// entries written.
const TRIM_EVERY: i64 = 1024;
const TICKETS_KEPT: i64 = 100_000;

impl JournalConn for MysqlConnection {
    const INSTALL_SQL: &'static str = include_str!("../../sql/mysql.sql");

    fn atomically<R>(
        &mut self,
        _scope: Scope,
        f: impl FnOnce(&mut Self) -> Result<R, Error>,
    ) -> Result<R, Error> {
        // A transaction at top level, a savepoint inside the caller's: the entry's insert can
        // still fail after the row write (a key longer than the indexed column).
        let depth =
            AnsiTransactionManager::transaction_manager_status_mut(self).transaction_depth()?;
        if depth.is_none() {
            let result = self.transaction(|conn| {
                let mark = Mark::set(conn)?;
                let _own = OwnTransaction::enter(conn);
                match f(conn) {
                    Ok(value) => mark.check(conn).map(|()| value),
                    // On a Galera node another node's write set can commit under this
                    // transaction's locks (they are local): its reads then see a row that
                    // appeared or changed, and the call fails for it (a duplicate key, a
                    // conflict) while the node has already rolled it back. A mark gone says so:
                    // then the failure is the collision's, and retryable.
                    Err(error) if !error.is_retryable() => match mark.check(conn) {
                        Err(Error::Retryable(_)) => Err(Mark::rolled_back(&error)),
                        _ => Err(error),
                    },
                    Err(error) => Err(error),
                }
            });
            // Only a database's error can leave a statement mid-result; a refusal of recover's
            // own (NothingToUndo, Conflict, ...) keeps the warm cache.
            if let Err(Error::Database(_) | Error::Retryable(_)) = &result {
                forget_statements(self);
            }
            let manager = AnsiTransactionManager::transaction_manager_status_mut(self);
            if manager.transaction_depth().is_err() {
                // A Galera node that aborts a transaction for a write set of another node
                // (a brute-force abort) answers the transaction's next statement, its
                // ROLLBACK included, with the deadlock error; Diesel then takes the
                // connection for broken, though the server has rolled the transaction back.
                // Once a ROLLBACK of our own succeeds, no transaction is open on either side:
                // the call fails with the (retryable) error and the connection stays usable.
                if self.batch_execute("ROLLBACK").is_ok() {
                    *AnsiTransactionManager::transaction_manager_status_mut(self) =
                        Default::default();
                }
            }
            // Back to autocommit, as the caller's connection was: with the transaction ended,
            // this commits nothing. Should it fail, the connection must not be left without
            // autocommit (the caller's plain statements would never commit): say so.
            CachedSql::new("SET autocommit = 1", &[]).execute(self)?;
            return result;
        }
        // The savepoint is recover's own, not Diesel's nested transaction. A deadlock, or a
        // cluster's failed certification, rolls the whole transaction back on the server, and
        // may be reported by any statement, `RELEASE SAVEPOINT` included; Diesel, told of it
        // by a savepoint release, keeps counting a transaction the server no longer has, and
        // the caller's next statements would commit one by one. Here the error goes to the
        // caller's transaction as it is, whose rollback then ends it on both sides.
        if !OWN_TRANSACTIONS.with(|own| own.borrow().contains(&(self as *const Self as usize))) {
            fill_write_set(self)?;
        }
        let name = format!(
            "recover_savepoint_{}",
            SAVEPOINTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        self.batch_execute(&format!("SAVEPOINT {name}"))?;
        match f(self) {
            Ok(value) => {
                self.batch_execute(&format!("RELEASE SAVEPOINT {name}"))?;
                Ok(value)
            }
            Err(error) => {
                // Fails only when the server has ended the transaction already: the error
                // stands either way.
                let _ = self.batch_execute(&format!("ROLLBACK TO SAVEPOINT {name}"));
                Err(error)
            }
        }
    }

    fn lock_entity(&mut self, entity: &str, key: &str) -> QueryResult<()> {
        // The entity's head row, written (and created when missing): concurrent recover calls
        // on this entity wait here until this transaction ends, whether its row exists or not;
        // on a Galera cluster the write is certified, so writers on two nodes conflict too. A
        // duplicate primary key takes a lock on that one record, no gap: other entities never
        // wait. (A row that exists is locked by its own `SELECT .. FOR UPDATE` and write.)
        CachedSql::new(
            "INSERT INTO recover_heads (entity, entity_key, claims) VALUES (?, ?, 1) \
             ON DUPLICATE KEY UPDATE claims = claims + 1",
            &[Bind::Text(entity), Bind::Text(key)],
        )
        .execute(self)
        .map(drop)
    }

    fn next_seq(
        &mut self,
        _previous: Option<i64>,
        entity: &str,
        key: &str,
    ) -> QueryResult<Option<i64>> {
        // A fresh AUTO_INCREMENT ticket: unique, drawn after the entity is locked (so that its
        // entries follow each other in seq order, across a Galera cluster's nodes too: a node
        // applying another's write set moves its counter past the other's tickets), and no row
        // shared by unrelated writers. It sets LAST_INSERT_ID: a capture trigger fired by this
        // call's row write recognises the seq as reserved for the row's entity, with no entry
        // yet, and writes its entry there (see `triggers::mysql`).
        CachedSql::new(
            "INSERT INTO recover_tickets (entity, entity_key) VALUES (?, ?)",
            &[Bind::Text(entity), Bind::Text(key)],
        )
        .execute(self)?;
        let ticket: Ticket = CachedSql::new(LAST_TICKET, &[]).get_result(self)?;
        let (seq, step) = (ticket.first()?, ticket.step()?);
        if (seq / step.max(1)) % TRIM_EVERY == 0 {
            // The rows far below are committed reservations whose entries exist: the range
            // ends long before the tickets being inserted, whose gap it never locks.
            CachedSql::new(
                "DELETE FROM recover_tickets WHERE seq < ?",
                &[Bind::BigInt(seq - TICKETS_KEPT * step.max(1))],
            )
            .execute(self)?;
        }
        Ok(Some(seq))
    }

    fn take_seqs(
        &mut self,
        _previous: Option<i64>,
        entity: &str,
        keys: &[&str],
    ) -> QueryResult<Vec<i64>> {
        // One multi-row insert per batch: its tickets are handed out together, consecutive in
        // the server's AUTO_INCREMENT series (a step of `auto_increment_increment`, as a
        // Galera node interleaves with the others), in the order of the rows.
        let mut seqs = Vec::with_capacity(keys.len());
        for batch in keys.chunks(TICKET_BATCH) {
            let rows = vec!["(?, ?)"; batch.len()].join(", ");
            let mut insert = diesel::sql_query(format!(
                "INSERT INTO recover_tickets (entity, entity_key) VALUES {rows}"
            ))
            .into_boxed();
            for key in batch {
                insert = insert.bind::<Text, _>(entity).bind::<Text, _>(*key);
            }
            insert.execute(self)?;
            let ticket: Ticket = CachedSql::new(LAST_TICKET, &[]).get_result(self)?;
            let (first, step) = (ticket.first()?, ticket.step()?);
            seqs.extend((0..).take(batch.len()).map(|i: i64| first + i * step));
        }
        Ok(seqs)
    }

    fn migrate(&mut self) -> QueryResult<()> {
        // A journal of the counter-row layout (`recover_seq`): its seqs continue from the
        // counter in the tickets, its captured tables' triggers (calling the previous
        // procedure) are pointed at the current one, and the counter goes, so that a process
        // of the previous version fails loudly instead of handing out seqs twice.
        #[derive(QueryableByName)]
        struct Floor {
            #[diesel(sql_type = Nullable<BigInt>)]
            next: Option<i64>,
        }
        let counter: i64 = diesel::sql_query(
            "SELECT COUNT(*) AS count FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name = 'recover_seq'",
        )
        .get_result::<Count>(self)?
        .count;
        if counter == 0 {
            return Ok(());
        }
        let floor: Floor = diesel::sql_query(
            "SELECT GREATEST((SELECT COALESCE(MAX(next_seq), 0) FROM recover_seq), \
             (SELECT COALESCE(MAX(seq), 0) FROM recover_journal)) + 1 AS next",
        )
        .get_result(self)?;
        diesel::sql_query(format!(
            "ALTER TABLE recover_tickets AUTO_INCREMENT = {}",
            floor.next.unwrap_or(1)
        ))
        .execute(self)?;
        self.batch_execute(&triggers::mysql::migrate_procedures_ddl())?;
        diesel::sql_query("DROP TABLE recover_seq").execute(self)?;
        Ok(())
    }

    fn append_entry(&mut self, entry: &NewEntryRow<'_>) -> QueryResult<i64> {
        let seq = entry.seq.ok_or_else(|| {
            diesel::result::Error::QueryBuilderError("an entry without its seq taken".into())
        })?;
        use diesel::result::{DatabaseErrorKind, Error as DieselError};
        // The seq was reserved before the row write. If the table is captured, its trigger
        // wrote the change's entry at that same seq: the insert then meets it, and this entry
        // completes it (one entry, recover's op and stack pointers) — that entry, of this
        // entity and key, and no other: any other duplicate seq stays an error.
        let duplicate = match self.insert_entry(seq, entry) {
            Err(e @ DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => e,
            inserted => return inserted,
        };
        let (changeset_id, undo_next, redo_next) = entry.links(seq);
        let completed = CachedSql::new(
            "UPDATE recover_journal SET changeset_id = ?, op = ?, before_image = ?, \
             after_image = ?, undoes = ?, undo_next = ?, redo_next = ?, actor = ?, reason = ?, \
             recorded_at = ? WHERE seq = ? AND entity = ? AND entity_key = ?",
            &[
                Bind::BigInt(changeset_id),
                Bind::Text(entry.op),
                Bind::NullableText(entry.before_image),
                Bind::NullableText(entry.after_image),
                Bind::NullableBigInt(entry.undoes),
                Bind::NullableBigInt(undo_next),
                Bind::NullableBigInt(redo_next),
                Bind::NullableText(entry.actor),
                Bind::NullableText(entry.reason),
                Bind::BigInt(entry.recorded_at),
                Bind::BigInt(seq),
                Bind::Text(entry.entity),
                Bind::Text(entry.entity_key),
            ],
        )
        .execute(self)?;
        match completed {
            1 => Ok(seq),
            _ => Err(duplicate),
        }
    }

    fn append_changeset(&mut self, changeset: &ChangesetRow) -> QueryResult<()> {
        use crate::schema::recover_changesets as c;
        diesel::replace_into(c::table)
            .values((
                c::id.eq(changeset.id),
                c::last_seq.eq(changeset.last_seq),
                c::actor.eq(&changeset.actor),
                c::reason.eq(&changeset.reason),
                c::recorded_at.eq(changeset.recorded_at),
            ))
            .execute(self)
            .map(drop)
    }

    const LOCKING_READ: &'static str = " FOR UPDATE";
    const CAPTURE_TRIGGERS: usize = 3;
    const CAPTURE_VERSION: u32 = triggers::mysql::VERSION;

    fn capture_ddl(spec: &TriggerSpec) -> String {
        triggers::mysql::capture_ddl(spec)
    }

    fn release_ddl(entity: &str) -> String {
        triggers::mysql::release_ddl(entity)
    }

    fn table_columns(&mut self, table: &str) -> QueryResult<Vec<(String, bool)>> {
        let columns: Vec<TableColumn> = diesel::sql_query(
            "SELECT CAST(column_name AS CHAR) AS name, is_nullable = 'YES' AS nullable \
             FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position",
        )
        .bind::<Text, _>(table)
        .load(self)?;
        Ok(columns.into_iter().map(|c| (c.name, c.nullable)).collect())
    }

    fn capture_triggers(&mut self, table: &str) -> QueryResult<Vec<(String, String)>> {
        let [a, b, c] = triggers::mysql::trigger_names(table);
        let rows: Vec<NamedText> = diesel::sql_query(
            "SELECT CAST(trigger_name AS CHAR) AS name, CAST(action_statement AS CHAR) AS text \
             FROM information_schema.triggers \
             WHERE trigger_schema = DATABASE() AND trigger_name IN (?, ?, ?) ORDER BY trigger_name",
        )
        .bind::<Text, _>(a)
        .bind::<Text, _>(b)
        .bind::<Text, _>(c)
        .load(self)?;
        Ok(rows.into_iter().map(|t| (t.name, t.text)).collect())
    }

    fn uncaptured_cascades(&mut self, table: &str) -> QueryResult<Vec<String>> {
        let rows: Vec<NamedText> = diesel::sql_query(
            "SELECT CAST(constraint_name AS CHAR) AS name, \
             CAST(CONCAT(update_rule, ' ', delete_rule) AS CHAR) AS text \
             FROM information_schema.referential_constraints \
             WHERE constraint_schema = DATABASE() AND table_name = ? \
             AND (update_rule <> 'RESTRICT' AND update_rule <> 'NO ACTION' \
                  OR delete_rule <> 'RESTRICT' AND delete_rule <> 'NO ACTION') \
             ORDER BY constraint_name",
        )
        .bind::<Text, _>(table)
        .load(self)?;
        Ok(rows.into_iter().map(|r| r.name).collect())
    }

    fn read_context(&mut self) -> QueryResult<Context> {
        let row: Option<ContextRow> = CachedSql::new(
            "SELECT changeset_id, last_seq, actor, reason, recorded_at FROM recover_context \
             WHERE conn = CONNECTION_ID()",
            &[],
        )
        .get_result(self)
        .optional()?;
        Ok(row.map_or_else(Context::default, |row| Context {
            active: true,
            changeset_id: row.changeset_id,
            last_seq: row.last_seq,
            actor: row.actor,
            reason: row.reason,
            recorded_at: row.recorded_at,
        }))
    }

    fn write_context(&mut self, context: &Context) -> QueryResult<()> {
        if !context.active {
            return CachedSql::new(
                "DELETE FROM recover_context WHERE conn = CONNECTION_ID()",
                &[],
            )
            .execute(self)
            .map(drop);
        }
        CachedSql::new(
            "REPLACE INTO recover_context (conn, changeset_id, last_seq, actor, reason, recorded_at) \
             VALUES (CONNECTION_ID(), ?, ?, ?, ?, ?)",
            &[
                Bind::NullableBigInt(context.changeset_id),
                Bind::NullableBigInt(context.last_seq),
                Bind::NullableText(context.actor.as_deref()),
                Bind::NullableText(context.reason.as_deref()),
                Bind::NullableBigInt(context.recorded_at),
            ],
        )
        .execute(self)
        .map(drop)
    }

    fn pick<P: PerBackend>() -> P::Of<Self> {
        P::mysql()
    }

    shared_journal_queries!();
}
