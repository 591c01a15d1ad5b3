//! The SQL of export, compare and rebuild, per backend: the read snapshot an export runs in and
//! the watermark it may export up to, and the journal reads and writes of the three, each
//! checked against its concrete connection type (as `dynamic`'s reads are).
//!
//! The watermark is the highest seq below which no entry can still commit: seqs are unique but
//! are not taken in commit order on PostgreSQL (a sequence) and MySQL (tickets), so an export
//! that went up to the largest committed seq could pass over a lower seq whose transaction
//! commits later. Each backend finds its own (see [`Window`]).

use diesel::QueryResult;

use crate::backend::{JournalConn, PerBackend};
use crate::error::Error;
use crate::schema::{ChangesetRow, EntryRow};

/// What one export may write: the entries after the previous position up to `upto`, stopping
/// before the first seq above `settled` that is missing from the snapshot (a seq at or below
/// `settled` that is missing will never commit: rolled back, or removed by retention).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub upto: i64,
    pub settled: i64,
}

/// What an export leaves for the next one beside its watermark: on PostgreSQL, the sequence's
/// value and the next transaction id when it ran; once every transaction older than `xid` has
/// ended, every seq up to `seq` is settled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Fence {
    pub seq: i64,
    pub xid: i64,
}

/// One `recover_redactions` row.
#[derive(Debug, Clone, PartialEq, Eq, diesel::Queryable)]
pub(crate) struct RedactionRow {
    pub id: i64,
    pub entity: String,
    pub entity_key: String,
    pub erased_columns: String,
    pub actor: Option<String>,
    pub reason: Option<String>,
    pub recorded_at: i64,
}

/// (seq, recorded_at) of one entry, if there is one.
type Point = QueryResult<Option<(i64, i64)>>;

/// Runs the export's body inside one read snapshot.
pub(crate) type Body<'a, C> = &'a mut dyn FnMut(&mut C, Window) -> Result<(), Error>;

/// The export's SQL on one connection type.
pub(crate) struct CarryOf<C> {
    /// The backend's name in an export's header.
    pub backend: &'static str,
    /// Opens the export's read snapshot after the previous position's seq and fence, finds its
    /// window, runs the body in it; the fence for the next export.
    pub snapshot: fn(&mut C, i64, Fence, Body<'_, C>) -> Result<Fence, Error>,
    /// Up to `limit` entries with a seq in (after, upto], oldest first.
    pub entries: fn(&mut C, i64, i64, i64) -> QueryResult<Vec<EntryRow>>,
    /// The changeset rows with an id in (after, upto].
    pub changesets: fn(&mut C, i64, i64) -> QueryResult<Vec<ChangesetRow>>,
    /// Up to `limit` redactions with an id above the given one, oldest first.
    pub redactions: fn(&mut C, i64, i64) -> QueryResult<Vec<RedactionRow>>,
    /// (seq, recorded_at) of the newest entry up to `upto` that begins its entity's history
    /// with a before-image: before it, that entity's state is not in the journal.
    pub horizon: fn(&mut C, i64) -> Point,
    /// (seq, recorded_at) of the first entry.
    pub first: fn(&mut C) -> Point,
    /// The entries with these seqs.
    pub entries_in: fn(&mut C, &[i64]) -> QueryResult<Vec<EntryRow>>,
    /// The changeset rows with these ids.
    pub changesets_in: fn(&mut C, &[i64]) -> QueryResult<Vec<ChangesetRow>>,
    /// The `erased_columns` of every redaction of one entity.
    pub redacted_columns: fn(&mut C, &str, &str) -> QueryResult<Vec<String>>,
    /// Whether a redaction with this id is stored.
    pub redaction_exists: fn(&mut C, i64) -> QueryResult<bool>,
    /// Inserts entries as they are (seqs included), in multi-row statements.
    pub insert_entries: fn(&mut C, &[&EntryRow]) -> QueryResult<()>,
    pub insert_changeset: fn(&mut C, &ChangesetRow) -> QueryResult<()>,
    pub insert_redaction: fn(&mut C, &RedactionRow) -> QueryResult<()>,
    /// Up to `limit` entries with a seq above the given one that are their entity's newest and
    /// hold an after-image (the rows the journal says exist), oldest first.
    pub newest_entries: fn(&mut C, i64, i64) -> QueryResult<Vec<EntryRow>>,
    /// After a rebuild wrote seqs and redaction ids itself: moves the backend's counters past
    /// them, so that new entries do not take them again.
    pub after_rebuild: fn(&mut C) -> QueryResult<()>,
}

/// The export's SQL, per connection type.
pub(crate) struct Carry;

/// The SQL of `CarryOf` every backend runs as it is.
macro_rules! shared {
    ($conn:ty, $backend:literal, $snapshot:expr, $after_rebuild:expr) => {{
        use diesel::prelude::*;

        use crate::schema::{
            journal_inner, recover_changesets as c, recover_journal as j, recover_redactions as r,
        };

        type ChangesetTuple = (i64, i64, Option<String>, Option<String>, i64);

        fn changeset_of(
            (id, last_seq, actor, reason, recorded_at): ChangesetTuple,
        ) -> ChangesetRow {
            ChangesetRow {
                id,
                last_seq,
                actor,
                reason,
                recorded_at,
            }
        }

        fn entries(
            conn: &mut $conn,
            after: i64,
            upto: i64,
            limit: i64,
        ) -> QueryResult<Vec<EntryRow>> {
            j::table
                .filter(j::seq.gt(after))
                .filter(j::seq.le(upto))
                .order(j::seq.asc())
                .limit(limit)
                .load(conn)
        }

        fn changesets(conn: &mut $conn, after: i64, upto: i64) -> QueryResult<Vec<ChangesetRow>> {
            let rows: Vec<ChangesetTuple> = c::table
                .filter(c::id.gt(after))
                .filter(c::id.le(upto))
                .order(c::id.asc())
                .load(conn)?;
            Ok(rows.into_iter().map(changeset_of).collect())
        }

        fn redactions(conn: &mut $conn, after: i64, limit: i64) -> QueryResult<Vec<RedactionRow>> {
            r::table
                .filter(r::id.gt(after))
                .order(r::id.asc())
                .limit(limit)
                .load(conn)
        }

        fn horizon(conn: &mut $conn, upto: i64) -> QueryResult<Option<(i64, i64)>> {
            let i = journal_inner;
            j::table
                .filter(j::seq.le(upto))
                .filter(j::before_image.is_not_null())
                .filter(diesel::dsl::not(diesel::dsl::exists(
                    i.filter(i.field(j::entity).eq(j::entity))
                        .filter(i.field(j::entity_key).eq(j::entity_key))
                        .filter(i.field(j::seq).lt(j::seq)),
                )))
                .select((j::seq, j::recorded_at))
                .order(j::seq.desc())
                .first(conn)
                .optional()
        }

        fn first(conn: &mut $conn) -> QueryResult<Option<(i64, i64)>> {
            j::table
                .select((j::seq, j::recorded_at))
                .order(j::seq.asc())
                .first(conn)
                .optional()
        }

        fn entries_in(conn: &mut $conn, seqs: &[i64]) -> QueryResult<Vec<EntryRow>> {
            j::table.filter(j::seq.eq_any(seqs)).load(conn)
        }

        fn changesets_in(conn: &mut $conn, ids: &[i64]) -> QueryResult<Vec<ChangesetRow>> {
            let rows: Vec<ChangesetTuple> = c::table.filter(c::id.eq_any(ids)).load(conn)?;
            Ok(rows.into_iter().map(changeset_of).collect())
        }

        fn redacted_columns(conn: &mut $conn, entity: &str, key: &str) -> QueryResult<Vec<String>> {
            r::table
                .filter(r::entity.eq(entity))
                .filter(r::entity_key.eq(key))
                .select(r::erased_columns)
                .load(conn)
        }

        fn redaction_exists(conn: &mut $conn, id: i64) -> QueryResult<bool> {
            diesel::select(diesel::dsl::exists(r::table.find(id))).get_result(conn)
        }

        fn insert_entries(conn: &mut $conn, entries: &[&EntryRow]) -> QueryResult<()> {
            // 13 bind parameters a row: 500 rows stay under every backend's limit.
            for chunk in entries.chunks(500) {
                let rows: Vec<_> = chunk
                    .iter()
                    .map(|e| {
                        (
                            j::seq.eq(e.seq),
                            j::changeset_id.eq(e.changeset_id),
                            j::entity.eq(&e.entity),
                            (
                                j::entity_key.eq(&e.entity_key),
                                j::op.eq(&e.op),
                                j::before_image.eq(e.before_image.as_deref()),
                                j::after_image.eq(e.after_image.as_deref()),
                                j::undoes.eq(e.undoes),
                                j::undo_next.eq(e.undo_next),
                                j::redo_next.eq(e.redo_next),
                                j::actor.eq(e.actor.as_deref()),
                                j::reason.eq(e.reason.as_deref()),
                                j::recorded_at.eq(e.recorded_at),
                            ),
                        )
                    })
                    .collect();
                diesel::insert_into(j::table).values(rows).execute(conn)?;
            }
            Ok(())
        }

        fn insert_changeset(conn: &mut $conn, row: &ChangesetRow) -> QueryResult<()> {
            diesel::insert_into(c::table)
                .values((
                    c::id.eq(row.id),
                    c::last_seq.eq(row.last_seq),
                    c::actor.eq(row.actor.as_deref()),
                    c::reason.eq(row.reason.as_deref()),
                    c::recorded_at.eq(row.recorded_at),
                ))
                .execute(conn)
                .map(drop)
        }

        fn insert_redaction(conn: &mut $conn, row: &RedactionRow) -> QueryResult<()> {
            diesel::insert_into(r::table)
                .values((
                    r::id.eq(row.id),
                    r::entity.eq(&row.entity),
                    r::entity_key.eq(&row.entity_key),
                    r::erased_columns.eq(&row.erased_columns),
                    r::actor.eq(row.actor.as_deref()),
                    r::reason.eq(row.reason.as_deref()),
                    r::recorded_at.eq(row.recorded_at),
                ))
                .execute(conn)
                .map(drop)
        }

        fn newest_entries(conn: &mut $conn, after: i64, limit: i64) -> QueryResult<Vec<EntryRow>> {
            let i = journal_inner;
            j::table
                .filter(j::seq.gt(after))
                .filter(j::after_image.is_not_null())
                .filter(diesel::dsl::not(diesel::dsl::exists(
                    i.filter(i.field(j::entity).eq(j::entity))
                        .filter(i.field(j::entity_key).eq(j::entity_key))
                        .filter(i.field(j::seq).gt(j::seq)),
                )))
                .order(j::seq.asc())
                .limit(limit)
                .load(conn)
        }

        CarryOf {
            backend: $backend,
            snapshot: $snapshot,
            entries,
            changesets,
            redactions,
            horizon,
            first,
            entries_in,
            changesets_in,
            redacted_columns,
            redaction_exists,
            insert_entries,
            insert_changeset,
            insert_redaction,
            newest_entries,
            after_rebuild: $after_rebuild,
        }
    }};
}

/// SQLite: one writer at a time, and a writer takes `max(seq) + 1` under the write lock, so
/// seqs commit in order: every seq up to the snapshot's largest is settled.
#[cfg(feature = "sqlite")]
mod sqlite {
    use diesel::prelude::*;
    use diesel::sqlite::SqliteConnection;

    use super::{Body, Fence, Window};
    use crate::error::Error;
    use crate::schema::recover_journal as j;

    pub(super) fn snapshot(
        conn: &mut SqliteConnection,
        after: i64,
        _fence: Fence,
        body: Body<'_, SqliteConnection>,
    ) -> Result<Fence, Error> {
        // A deferred transaction: its first read fixes the snapshot (WAL), writers go on.
        conn.transaction(|conn| {
            let max: Option<i64> = j::table.select(diesel::dsl::max(j::seq)).get_result(conn)?;
            let upto = max.unwrap_or(0).max(after);
            body(
                conn,
                Window {
                    upto,
                    settled: upto,
                },
            )
        })?;
        Ok(Fence::default())
    }

    pub(super) fn after_rebuild(_conn: &mut SqliteConnection) -> diesel::QueryResult<()> {
        Ok(()) // the next seq is max(seq) + 1, the next redaction id the rowid's next
    }
}

/// PostgreSQL: seqs come from `recover_journal_seq`, and a transaction that drew one holds a
/// `RowExclusiveLock` on the sequence until it ends (`nextval` takes it). So: read the
/// sequence's value `v`, then whether another transaction holds that lock; if none does, every
/// seq up to `v` is settled (committed before the snapshot that follows, or never will be).
/// If some do, a seq missing from the snapshot may be theirs: the export stops before it,
/// unless the previous export's fence has passed (every transaction older than its next
/// transaction id has ended: its seqs up to its `v` are settled).
#[cfg(feature = "postgres")]
mod postgres {
    use diesel::connection::SimpleConnection;
    use diesel::pg::PgConnection;
    use diesel::prelude::*;
    use diesel::sql_types::{BigInt, Bool};

    use super::{Body, Fence, Window};
    use crate::error::Error;

    #[derive(QueryableByName)]
    struct Value {
        #[diesel(sql_type = BigInt)]
        v: i64,
    }

    #[derive(QueryableByName)]
    struct Busy {
        #[diesel(sql_type = Bool)]
        busy: bool,
    }

    fn value(conn: &mut PgConnection, sql: &str) -> QueryResult<i64> {
        diesel::sql_query(sql)
            .get_result::<Value>(conn)
            .map(|r| r.v)
    }

    pub(super) fn snapshot(
        conn: &mut PgConnection,
        after: i64,
        fence: Fence,
        body: Body<'_, PgConnection>,
    ) -> Result<Fence, Error> {
        // First the sequence, then its lock holders: a transaction that drew a seq up to `v`
        // and has not ended holds the lock when it is read.
        let v = value(
            conn,
            "SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END AS v \
             FROM recover_journal_seq",
        )?;
        let busy = diesel::sql_query(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'relation' \
             AND relation = 'recover_journal_seq'::regclass AND pid <> pg_backend_pid()) AS busy",
        )
        .get_result::<Busy>(conn)?
        .busy;
        let mut passed = false;
        conn.build_transaction()
            .repeatable_read()
            .read_only()
            .run(|conn| {
                // The snapshot is taken by this first statement.
                let xmin = value(
                    conn,
                    "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS v",
                )?;
                passed = fence.xid > 0 && xmin >= fence.xid;
                let settled = if !busy {
                    v
                } else if passed {
                    fence.seq.max(after)
                } else {
                    after
                };
                body(
                    conn,
                    Window {
                        upto: v.max(after),
                        settled,
                    },
                )
            })?;
        if busy && fence.xid > 0 && !passed {
            return Ok(fence); // not passed yet: keep the older fence, it passes first
        }
        // Read after the export's snapshot ended: every transaction that held a seq up to `v`
        // had its id by now.
        let xid = value(
            conn,
            "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS v",
        )?;
        Ok(Fence { seq: v, xid })
    }

    pub(super) fn after_rebuild(conn: &mut PgConnection) -> QueryResult<()> {
        conn.batch_execute(
            "SELECT setval('recover_journal_seq', GREATEST((SELECT MAX(seq) FROM recover_journal), \
             (SELECT last_value FROM recover_journal_seq))) \
             WHERE EXISTS (SELECT 1 FROM recover_journal); \
             SELECT setval(pg_get_serial_sequence('recover_redactions', 'id'), \
             (SELECT MAX(id) FROM recover_redactions)) \
             WHERE EXISTS (SELECT 1 FROM recover_redactions);",
        )
    }
}

/// MySQL and MariaDB: a seq is a ticket, a row of `recover_tickets` inserted in the writer's
/// transaction before its entry. A ticket read without isolation (READ UNCOMMITTED) that the
/// export's snapshot does not hold as committed belongs to a transaction in flight: the export
/// stops below the lowest such ticket. Tickets handed out later are higher (one server's
/// AUTO_INCREMENT), so the export also stops at the highest ticket (or entry) read then.
#[cfg(feature = "mysql")]
mod mysql {
    use diesel::connection::SimpleConnection;
    use diesel::mysql::MysqlConnection;
    use diesel::prelude::*;

    use super::{Body, Fence, Window};
    use crate::error::Error;
    use crate::schema::recover_journal as j;

    diesel::table! {
        recover_tickets (seq) {
            seq -> BigInt,
        }
    }

    pub(super) fn snapshot(
        conn: &mut MysqlConnection,
        after: i64,
        _fence: Fence,
        body: Body<'_, MysqlConnection>,
    ) -> Result<Fence, Error> {
        use recover_tickets as t;
        // Each SET TRANSACTION applies to the next transaction only: here the one statement.
        // The journal's largest seq first: every entry up to it has its ticket by then.
        conn.batch_execute("SET TRANSACTION ISOLATION LEVEL READ UNCOMMITTED")?;
        let newest: Option<i64> = j::table.select(diesel::dsl::max(j::seq)).get_result(conn)?;
        conn.batch_execute("SET TRANSACTION ISOLATION LEVEL READ UNCOMMITTED")?;
        // Memory: 8 bytes per ticket handed out since the previous export.
        let reserved: Vec<i64> = t::table
            .filter(t::seq.gt(after))
            .select(t::seq)
            .order(t::seq.asc())
            .load(conn)?;
        let highest = reserved
            .last()
            .copied()
            .unwrap_or(after)
            .max(newest.unwrap_or(0))
            .max(after);
        conn.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")?;
        conn.transaction(|conn| {
            let committed: Vec<i64> = t::table
                .filter(t::seq.gt(after))
                .filter(t::seq.le(highest))
                .select(t::seq)
                .order(t::seq.asc())
                .load(conn)?;
            let mut committed = committed.into_iter().peekable();
            let in_flight = reserved.iter().copied().find(|&seq| {
                while committed.next_if(|&c| c < seq).is_some() {}
                committed.next_if_eq(&seq).is_none()
            });
            let upto = in_flight.map_or(highest, |seq| (seq - 1).min(highest));
            body(
                conn,
                Window {
                    upto,
                    settled: upto,
                },
            )
        })?;
        Ok(Fence::default())
    }

    pub(super) fn after_rebuild(conn: &mut MysqlConnection) -> QueryResult<()> {
        let max: Option<i64> = j::table.select(diesel::dsl::max(j::seq)).get_result(conn)?;
        match max {
            // InnoDB keeps the counter where it is if it is higher already.
            Some(max) => conn.batch_execute(&format!(
                "ALTER TABLE recover_tickets AUTO_INCREMENT = {}",
                max + 1
            )),
            None => Ok(()),
        }
    }
}

impl PerBackend for Carry {
    type Of<C: JournalConn> = CarryOf<C>;

    #[cfg(feature = "sqlite")]
    fn sqlite() -> Self::Of<diesel::sqlite::SqliteConnection> {
        shared!(
            diesel::sqlite::SqliteConnection,
            "sqlite",
            sqlite::snapshot,
            sqlite::after_rebuild
        )
    }

    #[cfg(feature = "postgres")]
    fn postgres() -> Self::Of<diesel::pg::PgConnection> {
        shared!(
            diesel::pg::PgConnection,
            "postgres",
            postgres::snapshot,
            postgres::after_rebuild
        )
    }

    #[cfg(feature = "mysql")]
    fn mysql() -> Self::Of<diesel::mysql::MysqlConnection> {
        shared!(
            diesel::mysql::MysqlConnection,
            "mysql",
            mysql::snapshot,
            mysql::after_rebuild
        )
    }
}
