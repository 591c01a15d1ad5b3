//! What differs between databases, one module per backend behind `JournalConn`; `install`; the
//! journal queries the backends share; and the bounds and query types that ask for SQL on every
//! backend recover is built with.

#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

use diesel::QueryResult;

use crate::error::Error;
use crate::schema::{ChangesetRow, EntryRow, NewEntryRow};
use crate::triggers::{Context, TriggerSpec};

/// A Diesel connection that can hold a `recover` journal: `SqliteConnection`, `PgConnection`
/// and `MysqlConnection`, each behind its cargo feature.
///
/// Its methods are the journal's storage layer and are not meant to be called directly.
pub trait JournalConn:
    diesel::connection::LoadConnection<Backend: diesel::backend::Backend<QueryBuilder: Default>>
    + Sized
    + 'static
{
    /// The DDL of the journal tables for this backend, as `install` runs it.
    const INSTALL_SQL: &'static str;

    /// Runs `f` all-or-nothing: a transaction at top level (taking the write lock up front), a
    /// savepoint inside the caller's transaction — except where `scope` says `f` writes one row
    /// and then one entry, and the backend rolls back nothing but the failed statement: there
    /// the savepoint would guard nothing.
    #[doc(hidden)]
    fn atomically<R>(
        &mut self,
        scope: Scope,
        f: impl FnOnce(&mut Self) -> Result<R, Error>,
    ) -> Result<R, Error>;

    /// Makes concurrent recover calls on this entity wait until this transaction ends, whether
    /// its row exists or not.
    #[doc(hidden)]
    fn lock_entity(&mut self, entity: &str, key: &str) -> QueryResult<()>;

    /// The seq for a new entry of `entity` and `key`, taken before its change is written and
    /// after the entity is locked (its row or `lock_entity`), so that an entity's entries
    /// follow each other in seq order; `previous` is the seq this call appended last, if any.
    /// `None`: the entry's insert draws it.
    #[doc(hidden)]
    fn next_seq(
        &mut self,
        previous: Option<i64>,
        entity: &str,
        key: &str,
    ) -> QueryResult<Option<i64>>;

    /// The seqs for the entries of a bulk change of `entity`, one per key, ascending;
    /// `previous` is the seq this call appended last, if any. Taken after the rows are locked,
    /// like `next_seq`.
    #[doc(hidden)]
    fn take_seqs(
        &mut self,
        previous: Option<i64>,
        entity: &str,
        keys: &[&str],
    ) -> QueryResult<Vec<i64>>;

    /// Brings a journal installed by an earlier version to this version's layout (run by
    /// `install` after the DDL); nothing to do on a current journal.
    #[doc(hidden)]
    fn migrate(&mut self) -> QueryResult<()> {
        Ok(())
    }

    /// The DDL that installs (or refreshes) a table's capture triggers.
    #[doc(hidden)]
    fn capture_ddl(spec: &TriggerSpec) -> String;

    /// The DDL that removes a table's capture triggers.
    #[doc(hidden)]
    fn release_ddl(entity: &str) -> String;

    /// What ends a read of a row that locks it (`" FOR UPDATE"`; nothing where the
    /// transaction holds the database's write lock, SQLite).
    #[doc(hidden)]
    const LOCKING_READ: &'static str;

    /// How many triggers `capture_ddl` creates on a table.
    #[doc(hidden)]
    const CAPTURE_TRIGGERS: usize;

    /// The shape of this backend's capture triggers, named in their fingerprint
    /// ([`TriggerSpec::fingerprint`]): it changes with the triggers, so that `check` reports an
    /// older release's triggers as stale.
    #[doc(hidden)]
    const CAPTURE_VERSION: u32;

    /// The columns of a table in the connection's schema, `(name, nullable)`; empty when the
    /// table does not exist.
    #[doc(hidden)]
    fn table_columns(&mut self, table: &str) -> QueryResult<Vec<(String, bool)>>;

    /// The triggers on `table` that carry capture's names: `(name, definition)`.
    #[doc(hidden)]
    fn capture_triggers(&mut self, table: &str) -> QueryResult<Vec<(String, String)>>;

    /// The model a table is captured for, if it is.
    #[doc(hidden)]
    fn captured_by(&mut self, entity: &str) -> QueryResult<Option<String>>;

    /// The tables in capture mode.
    #[doc(hidden)]
    fn captured_entities(&mut self) -> QueryResult<Vec<String>>;

    /// The foreign keys of `table` whose cascades change its rows without firing its triggers
    /// (MySQL); capture refuses such a table.
    #[doc(hidden)]
    fn uncaptured_cascades(&mut self, _table: &str) -> QueryResult<Vec<String>> {
        Ok(Vec::new())
    }

    /// The capture context of this transaction, as the triggers see it.
    #[doc(hidden)]
    fn read_context(&mut self) -> QueryResult<Context>;

    /// Sets the capture context of this transaction (an inactive one: none).
    #[doc(hidden)]
    fn write_context(&mut self, context: &Context) -> QueryResult<()>;

    /// Sets the capture context of this transaction; returns the one it replaces.
    #[doc(hidden)]
    fn enter_context(&mut self, context: &Context) -> QueryResult<Context> {
        let previous = self.read_context()?;
        self.write_context(context)?;
        Ok(previous)
    }

    /// Reads the capture context (with what the triggers added to it) and puts `previous` back.
    #[doc(hidden)]
    fn leave_context(&mut self, previous: &Context) -> QueryResult<Context> {
        let current = self.read_context()?;
        self.write_context(previous)?;
        Ok(current)
    }

    /// This connection type's value of `P`.
    #[doc(hidden)]
    fn pick<P: PerBackend>() -> P::Of<Self>;

    /// Inserts an entry; returns its seq.
    #[doc(hidden)]
    fn append_entry(&mut self, entry: &NewEntryRow<'_>) -> QueryResult<i64>;
    /// Inserts an entry whose seq was taken beforehand.
    #[doc(hidden)]
    fn insert_entry(&mut self, seq: i64, entry: &NewEntryRow<'_>) -> QueryResult<i64>;
    /// Inserts many entries whose seqs were taken beforehand, in multi-row inserts.
    #[doc(hidden)]
    fn insert_entries(&mut self, entries: &[(i64, NewEntryRow<'_>)]) -> QueryResult<()>;
    #[doc(hidden)]
    fn append_changeset(&mut self, changeset: &ChangesetRow) -> QueryResult<()>;
    #[doc(hidden)]
    fn entry(&mut self, seq: i64) -> QueryResult<Option<EntryRow>>;
    #[doc(hidden)]
    fn newest_entry(&mut self, entity: &str, key: &str) -> QueryResult<Option<EntryRow>>;
    #[doc(hidden)]
    fn entry_before(&mut self, entity: &str, key: &str, seq: i64) -> QueryResult<Option<EntryRow>>;
    #[doc(hidden)]
    fn entry_as_of(
        &mut self,
        entity: &str,
        key: &str,
        micros: i64,
    ) -> QueryResult<Option<EntryRow>>;
    #[doc(hidden)]
    fn nth_entry(&mut self, entity: &str, key: &str, n: i64) -> QueryResult<Option<EntryRow>>;
    #[doc(hidden)]
    fn count_entries(&mut self, entity: &str, key: &str) -> QueryResult<i64>;
    /// Up to `limit` (seq, recorded_at) of the journal's entries before `before_seq`, newest
    /// first, over every entity: the journal read backwards from its end.
    #[doc(hidden)]
    fn times_before(&mut self, before_seq: i64, limit: i64) -> QueryResult<Vec<(i64, i64)>>;
    /// (seq, changeset_id, recorded_at) of every entry of one entity, newest first.
    #[doc(hidden)]
    fn entry_times(&mut self, entity: &str, key: &str) -> QueryResult<Vec<(i64, i64, i64)>>;
    /// Removes journal entries (retention only) and the changeset rows whose entries are gone.
    #[doc(hidden)]
    fn remove_entries(&mut self, seqs: &[i64], changesets: &[i64]) -> QueryResult<usize>;
    /// Replaces an entry's images (`redact` only).
    #[doc(hidden)]
    fn rewrite_images(
        &mut self,
        seq: i64,
        before: Option<&str>,
        after: Option<&str>,
    ) -> QueryResult<()>;
    /// Records a redaction: who erased which columns of which entity.
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    fn append_redaction(
        &mut self,
        entity: &str,
        key: &str,
        columns: &str,
        actor: Option<&str>,
        reason: Option<&str>,
        recorded_at: i64,
    ) -> QueryResult<()>;
    /// The keys of `entity` with an entry at or after `from_seq`.
    #[doc(hidden)]
    fn keys_since(&mut self, entity: &str, from_seq: i64) -> QueryResult<Vec<String>>;
    /// Up to `limit` entries of `entity` older than `before_seq` that removed its row and are
    /// still its newest entry, newest first.
    #[doc(hidden)]
    fn removals_page(
        &mut self,
        entity: &str,
        before_seq: i64,
        limit: i64,
    ) -> QueryResult<Vec<EntryRow>>;
    #[doc(hidden)]
    fn entries_page(
        &mut self,
        entity: &str,
        key: &str,
        after_seq: i64,
        limit: i64,
    ) -> QueryResult<Vec<EntryRow>>;
    #[doc(hidden)]
    fn entities(&mut self) -> QueryResult<Vec<(String, String)>>;
    #[doc(hidden)]
    fn changeset_last_seq(&mut self, id: i64) -> QueryResult<Option<i64>>;
    #[doc(hidden)]
    fn changeset_entries(&mut self, id: i64, last_seq: i64) -> QueryResult<Vec<EntryRow>>;
}

/// Creates the journal tables and their index if they do not exist yet. Idempotent; run it
/// once at start-up (or run the backend's SQL, [`JournalConn::INSTALL_SQL`], in your own
/// migrations).
///
/// ```
/// use diesel::{Connection, SqliteConnection};
///
/// let mut conn = SqliteConnection::establish(":memory:")?;
/// recover_core::install(&mut conn)?;
/// recover_core::install(&mut conn)?; // a second call changes nothing
/// # Ok::<(), recover_core::Error>(())
/// ```
pub fn install<C: JournalConn>(conn: &mut C) -> Result<(), Error> {
    conn.batch_execute(C::INSTALL_SQL)?;
    conn.migrate()?;
    Ok(())
}

/// A value that a layer above keeps once per backend recover is built with, and that each
/// connection type picks out for itself with [`JournalConn::pick`]: how code generic over the
/// connection reaches what exists only per concrete connection type (the link-time registry of
/// `#[derive(Recoverable)]` types), while the backends name nothing above them.
#[doc(hidden)]
pub trait PerBackend {
    /// The value's type for connection type `C`.
    type Of<C: JournalConn>;

    /// The value for SQLite.
    #[cfg(feature = "sqlite")]
    fn sqlite() -> Self::Of<diesel::sqlite::SqliteConnection>;

    /// The value for PostgreSQL.
    #[cfg(feature = "postgres")]
    fn postgres() -> Self::Of<diesel::pg::PgConnection>;

    /// The value for MySQL.
    #[cfg(feature = "mysql")]
    fn mysql() -> Self::Of<diesel::mysql::MysqlConnection>;
}

/// A multi-row insert of exactly [`EntryBatch::ROWS`] entries whose seqs are taken: one SQL
/// text with a static query id, so it is prepared once per connection (Diesel's own batch
/// insert is prepared again on every call, and parsing it costs as much as running it).
pub(crate) struct EntryBatch<'a> {
    entries: &'a [(i64, NewEntryRow<'a>)],
    /// Each entry's `NewEntryRow::links`.
    links: Vec<(i64, Option<i64>, Option<i64>)>,
}

impl<'a> EntryBatch<'a> {
    /// Entries per statement: 1,300 binds, under every backend's limit.
    pub const ROWS: usize = 100;

    pub fn new(entries: &'a [(i64, NewEntryRow<'a>)]) -> Self {
        let links = entries.iter().map(|(seq, e)| e.links(*seq)).collect();
        EntryBatch { entries, links }
    }
}

impl diesel::query_builder::QueryId for EntryBatch<'_> {
    type QueryId = EntryBatch<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<C> diesel::RunQueryDsl<C> for EntryBatch<'_> {}

impl<DB> diesel::query_builder::QueryFragment<DB> for EntryBatch<'_>
where
    DB: diesel::backend::Backend,
    i64: diesel::serialize::ToSql<diesel::sql_types::BigInt, DB>,
    str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
    DB: diesel::sql_types::HasSqlType<diesel::sql_types::BigInt>
        + diesel::sql_types::HasSqlType<diesel::sql_types::Text>,
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> QueryResult<()> {
        use diesel::sql_types::{BigInt, Nullable, Text};
        debug_assert_eq!(self.entries.len(), Self::ROWS);
        out.push_sql(
            "INSERT INTO recover_journal (seq, changeset_id, entity, entity_key, op, \
             before_image, after_image, undoes, undo_next, redo_next, actor, reason, \
             recorded_at) VALUES ",
        );
        for (i, ((seq, entry), (changeset_id, undo_next, redo_next))) in
            self.entries.iter().zip(&self.links).enumerate()
        {
            out.push_sql(if i == 0 { "(" } else { ", (" });
            out.push_bind_param::<BigInt, _>(seq)?;
            out.push_sql(", ");
            out.push_bind_param::<BigInt, _>(changeset_id)?;
            out.push_sql(", ");
            out.push_bind_param::<Text, _>(entry.entity)?;
            out.push_sql(", ");
            out.push_bind_param::<Text, _>(entry.entity_key)?;
            out.push_sql(", ");
            out.push_bind_param::<Text, _>(entry.op)?;
            out.push_sql(", ");
            out.push_bind_param::<Nullable<Text>, _>(&entry.before_image)?;
            out.push_sql(", ");
            out.push_bind_param::<Nullable<Text>, _>(&entry.after_image)?;
            out.push_sql(", ");
            out.push_bind_param::<Nullable<BigInt>, _>(&entry.undoes)?;
            out.push_sql(", ");
            out.push_bind_param::<Nullable<BigInt>, _>(undo_next)?;
            out.push_sql(", ");
            out.push_bind_param::<Nullable<BigInt>, _>(redo_next)?;
            out.push_sql(", ");
            out.push_bind_param::<Nullable<Text>, _>(&entry.actor)?;
            out.push_sql(", ");
            out.push_bind_param::<Nullable<Text>, _>(&entry.reason)?;
            out.push_sql(", ");
            out.push_bind_param::<BigInt, _>(&entry.recorded_at)?;
            out.push_sql(")");
        }
        Ok(())
    }
}

/// A statement of constant SQL text with `?` for each bind: what `diesel::sql_query` runs, but
/// cached. Diesel prepares a `sql_query` again on every call; this one is safe to cache, so
/// Diesel's statement cache keeps it by its SQL text and a connection prepares it once.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) struct CachedSql<'a> {
    sql: &'static str,
    binds: &'a [Bind<'a>],
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
/// One bind value of a [`CachedSql`].
#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "mysql"), allow(dead_code))] // PostgreSQL binds only text.
pub(crate) enum Bind<'a> {
    Text(&'a str),
    BigInt(i64),
    NullableText(Option<&'a str>),
    NullableBigInt(Option<i64>),
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
impl<'a> CachedSql<'a> {
    /// `sql`, its `?` replaced by `binds` in order.
    pub(crate) fn new(sql: &'static str, binds: &'a [Bind<'a>]) -> Self {
        debug_assert_eq!(sql.matches('?').count(), binds.len(), "{sql}");
        CachedSql { sql, binds }
    }
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
impl diesel::query_builder::QueryId for CachedSql<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
impl diesel::query_builder::Query for CachedSql<'_> {
    type SqlType = diesel::sql_types::Untyped;
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
impl<C> diesel::RunQueryDsl<C> for CachedSql<'_> {}

#[cfg(any(feature = "postgres", feature = "mysql"))]
impl<DB> diesel::query_builder::QueryFragment<DB> for CachedSql<'_>
where
    DB: diesel::backend::Backend
        + diesel::sql_types::HasSqlType<diesel::sql_types::BigInt>
        + diesel::sql_types::HasSqlType<diesel::sql_types::Text>,
    i64: diesel::serialize::ToSql<diesel::sql_types::BigInt, DB>,
    str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> QueryResult<()> {
        use diesel::sql_types::{BigInt, Nullable, Text};
        let mut parts = self.sql.split('?');
        out.push_sql(parts.next().unwrap_or_default());
        for (bind, part) in self.binds.iter().zip(parts) {
            match bind {
                Bind::Text(value) => out.push_bind_param::<Text, _>(*value)?,
                Bind::BigInt(value) => out.push_bind_param::<BigInt, _>(value)?,
                Bind::NullableText(value) => out.push_bind_param::<Nullable<Text>, _>(value)?,
                Bind::NullableBigInt(value) => out.push_bind_param::<Nullable<BigInt>, _>(value)?,
            }
            out.push_sql(part);
        }
        Ok(())
    }
}

/// What a call inside `JournalConn::atomically` writes.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One change of one entity: every read and check comes first, then one write of the row,
    /// then the entry's insert, whose seq was taken before the row write.
    OneChange,
    /// Several changes, or a read that must see one instant.
    Many,
}

/// Declares a trait that is `QueryFragment<$backend>` when `$feature` is on, and holds for
/// every type otherwise: a bound that asks for SQL only on the backends recover is built with.
macro_rules! sql_on {
    ($name:ident, $feature:literal, $backend:ty) => {
        #[doc = concat!("Renders as SQL on ", stringify!($backend), " (when recover's `", $feature, "` feature is on).")]
        #[cfg(feature = $feature)]
        #[doc(hidden)]
        pub trait $name: diesel::query_builder::QueryFragment<$backend> {}
        #[cfg(feature = $feature)]
        impl<Q: diesel::query_builder::QueryFragment<$backend> + ?Sized> $name for Q {}

        #[doc = concat!("Renders as SQL on ", stringify!($backend), " (when recover's `", $feature, "` feature is on).")]
        #[cfg(not(feature = $feature))]
        #[doc(hidden)]
        pub trait $name {}
        #[cfg(not(feature = $feature))]
        impl<Q: ?Sized> $name for Q {}
    };
}

sql_on!(SqlOnSqlite, "sqlite", diesel::sqlite::Sqlite);
sql_on!(SqlOnPg, "postgres", diesel::pg::Pg);
sql_on!(SqlOnMysql, "mysql", diesel::mysql::Mysql);

/// Renders as SQL on every backend recover is built with.
#[doc(hidden)]
pub trait SqlOnEveryBackend: SqlOnSqlite + SqlOnPg + SqlOnMysql {}

impl<Q: SqlOnSqlite + SqlOnPg + SqlOnMysql + ?Sized> SqlOnEveryBackend for Q {}

/// A query run as a prepared statement of its own and closed after use, never cached.
///
/// MySQL reports a deadlock in a locking read of many rows after the result set's header;
/// the C client then leaves the statement waiting for rows, and the next run of a cached
/// statement hangs. The bulk read of the before-images runs through this on MySQL.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct Uncached<Q>(pub Q);

impl<Q> diesel::query_builder::QueryId for Uncached<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: diesel::query_builder::Query> diesel::query_builder::Query for Uncached<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, DB> diesel::query_builder::QueryFragment<DB> for Uncached<Q>
where
    DB: diesel::backend::Backend,
    Q: diesel::query_builder::QueryFragment<DB>,
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> diesel::QueryResult<()> {
        out.unsafe_to_cache_prepared();
        self.0.walk_ast(out)
    }
}

impl<Q, C> diesel::RunQueryDsl<C> for Uncached<Q> {}

/// The values of an entry's insert, every column bound, NULLs included: one SQL text, prepared
/// once. (An `Insertable` with `Option` fields would vary its SQL with the values and be
/// prepared each time.)
macro_rules! entry_values {
    ($seq:expr, $entry:expr) => {{
        use $crate::schema::recover_journal as j;
        let (seq, entry) = ($seq, $entry);
        let (changeset_id, undo_next, redo_next) = entry.links(seq);
        (
            j::seq.eq(seq),
            j::entity.eq(entry.entity),
            j::entity_key.eq(entry.entity_key),
            (
                j::changeset_id.eq(changeset_id),
                j::op.eq(entry.op),
                j::before_image.eq(entry.before_image),
                j::after_image.eq(entry.after_image),
                j::undoes.eq(entry.undoes),
                j::undo_next.eq(undo_next),
                j::redo_next.eq(redo_next),
                j::actor.eq(entry.actor),
                j::reason.eq(entry.reason),
                j::recorded_at.eq(entry.recorded_at),
            ),
        )
    }};
}
pub(crate) use entry_values;

/// The journal queries every backend runs as they are, expanded inside each backend's impl so
/// that they are checked against its concrete connection type and prepared once (Diesel's
/// statement cache).
macro_rules! shared_journal_queries {
    () => {
        fn entities(&mut self) -> diesel::QueryResult<Vec<(String, String)>> {
            use $crate::schema::recover_journal as j;
            j::table
                .select((j::entity, j::entity_key))
                .distinct()
                .order((j::entity, j::entity_key))
                .load(self)
        }

        fn insert_entry(
            &mut self,
            seq: i64,
            entry: &$crate::schema::NewEntryRow<'_>,
        ) -> diesel::QueryResult<i64> {
            diesel::insert_into($crate::schema::recover_journal::table)
                .values($crate::backend::entry_values!(seq, entry))
                .execute(self)
                .map(|_| seq)
        }

        fn insert_entries(
            &mut self,
            entries: &[(i64, $crate::schema::NewEntryRow<'_>)],
        ) -> diesel::QueryResult<()> {
            let mut batches = entries.chunks_exact($crate::backend::EntryBatch::ROWS);
            for batch in &mut batches {
                $crate::backend::EntryBatch::new(batch).execute(self)?;
            }
            // The last (fewer than 100) one at a time, with the single entry's insert, which
            // is prepared once too.
            for (seq, entry) in batches.remainder() {
                self.insert_entry(*seq, entry)?;
            }
            Ok(())
        }

        fn captured_by(&mut self, entity: &str) -> diesel::QueryResult<Option<String>> {
            use $crate::schema::recover_captures as c;
            c::table
                .find(entity)
                .select(c::model)
                .first(self)
                .optional()
        }

        fn captured_entities(&mut self) -> diesel::QueryResult<Vec<String>> {
            use $crate::schema::recover_captures as c;
            c::table.select(c::entity).order(c::entity).load(self)
        }

        fn entry(&mut self, seq: i64) -> diesel::QueryResult<Option<$crate::schema::EntryRow>> {
            use $crate::schema::recover_journal as j;
            j::table.find(seq).get_result(self).optional()
        }

        // The lookups below find one seq with `MAX` over the (entity, entity_key, seq) index and
        // fetch that row, rather than `ORDER BY .. LIMIT ?`: SQLite re-prepares a statement whose
        // bound LIMIT changes the plan every time it is run.

        fn newest_entry(
            &mut self,
            entity: &str,
            key: &str,
        ) -> diesel::QueryResult<Option<$crate::schema::EntryRow>> {
            use $crate::schema::recover_journal as j;
            let inner = $crate::schema::journal_inner;
            let newest = inner
                .filter(inner.field(j::entity).eq(entity))
                .filter(inner.field(j::entity_key).eq(key))
                .select(diesel::dsl::max(inner.field(j::seq)))
                .single_value();
            j::table
                .filter(j::seq.nullable().eq(newest))
                .get_result(self)
                .optional()
        }

        fn entry_before(
            &mut self,
            entity: &str,
            key: &str,
            seq: i64,
        ) -> diesel::QueryResult<Option<$crate::schema::EntryRow>> {
            use $crate::schema::recover_journal as j;
            let inner = $crate::schema::journal_inner;
            let previous = inner
                .filter(inner.field(j::entity).eq(entity))
                .filter(inner.field(j::entity_key).eq(key))
                .filter(inner.field(j::seq).lt(seq))
                .select(diesel::dsl::max(inner.field(j::seq)))
                .single_value();
            j::table
                .filter(j::seq.nullable().eq(previous))
                .get_result(self)
                .optional()
        }

        fn entry_as_of(
            &mut self,
            entity: &str,
            key: &str,
            micros: i64,
        ) -> diesel::QueryResult<Option<$crate::schema::EntryRow>> {
            use $crate::schema::recover_journal as j;
            j::table
                .filter(j::entity.eq(entity))
                .filter(j::entity_key.eq(key))
                .filter(j::recorded_at.le(micros))
                .order(j::seq.desc())
                .first(self)
                .optional()
        }

        fn nth_entry(
            &mut self,
            entity: &str,
            key: &str,
            n: i64,
        ) -> diesel::QueryResult<Option<$crate::schema::EntryRow>> {
            use $crate::schema::recover_journal as j;
            j::table
                .filter(j::entity.eq(entity))
                .filter(j::entity_key.eq(key))
                .order(j::seq.asc())
                .offset(n - 1)
                .first(self)
                .optional()
        }

        fn count_entries(&mut self, entity: &str, key: &str) -> diesel::QueryResult<i64> {
            use $crate::schema::recover_journal as j;
            j::table
                .filter(j::entity.eq(entity))
                .filter(j::entity_key.eq(key))
                .count()
                .get_result(self)
        }

        fn times_before(
            &mut self,
            before_seq: i64,
            limit: i64,
        ) -> diesel::QueryResult<Vec<(i64, i64)>> {
            use $crate::schema::recover_journal as j;
            j::table
                .filter(j::seq.lt(before_seq))
                .select((j::seq, j::recorded_at))
                .order(j::seq.desc())
                .limit(limit)
                .load(self)
        }

        fn entry_times(
            &mut self,
            entity: &str,
            key: &str,
        ) -> diesel::QueryResult<Vec<(i64, i64, i64)>> {
            use $crate::schema::recover_journal as j;
            j::table
                .filter(j::entity.eq(entity))
                .filter(j::entity_key.eq(key))
                .select((j::seq, j::changeset_id, j::recorded_at))
                .order(j::seq.desc())
                .load(self)
        }

        fn remove_entries(
            &mut self,
            seqs: &[i64],
            changesets: &[i64],
        ) -> diesel::QueryResult<usize> {
            use $crate::schema::{recover_changesets as c, recover_journal as j};
            let removed = diesel::delete(j::table.filter(j::seq.eq_any(seqs))).execute(self)?;
            if !changesets.is_empty() {
                diesel::delete(c::table.filter(c::id.eq_any(changesets))).execute(self)?;
            }
            Ok(removed)
        }

        fn rewrite_images(
            &mut self,
            seq: i64,
            before: Option<&str>,
            after: Option<&str>,
        ) -> diesel::QueryResult<()> {
            use $crate::schema::recover_journal as j;
            diesel::update(j::table.find(seq))
                .set((j::before_image.eq(before), j::after_image.eq(after)))
                .execute(self)
                .map(drop)
        }

        fn append_redaction(
            &mut self,
            entity: &str,
            key: &str,
            columns: &str,
            actor: Option<&str>,
            reason: Option<&str>,
            recorded_at: i64,
        ) -> diesel::QueryResult<()> {
            use $crate::schema::recover_redactions as r;
            diesel::insert_into(r::table)
                .values((
                    r::entity.eq(entity),
                    r::entity_key.eq(key),
                    r::erased_columns.eq(columns),
                    r::actor.eq(actor),
                    r::reason.eq(reason),
                    r::recorded_at.eq(recorded_at),
                ))
                .execute(self)
                .map(drop)
        }

        fn keys_since(&mut self, entity: &str, from_seq: i64) -> diesel::QueryResult<Vec<String>> {
            use $crate::schema::recover_journal as j;
            j::table
                .filter(j::seq.ge(from_seq))
                .filter(j::entity.eq(entity))
                .select(j::entity_key)
                .distinct()
                .order(j::entity_key)
                .load(self)
        }

        fn removals_page(
            &mut self,
            entity: &str,
            before_seq: i64,
            limit: i64,
        ) -> diesel::QueryResult<Vec<$crate::schema::EntryRow>> {
            use $crate::schema::recover_journal as j;
            let newer = $crate::schema::journal_inner;
            // Served by the partial index on removals (`after_image IS NULL`): it reads the
            // entity's removing entries, newest first, and probes each for a newer entry.
            j::table
                .filter(j::entity.eq(entity))
                .filter(j::after_image.is_null())
                .filter(j::before_image.is_not_null())
                .filter(j::seq.lt(before_seq))
                .filter(diesel::dsl::not(diesel::dsl::exists(
                    newer
                        .filter(newer.field(j::entity).eq(j::entity))
                        .filter(newer.field(j::entity_key).eq(j::entity_key))
                        .filter(newer.field(j::seq).gt(j::seq)),
                )))
                .order(j::seq.desc())
                .limit(limit)
                .load(self)
        }

        fn entries_page(
            &mut self,
            entity: &str,
            key: &str,
            after_seq: i64,
            limit: i64,
        ) -> diesel::QueryResult<Vec<$crate::schema::EntryRow>> {
            use $crate::schema::recover_journal as j;
            j::table
                .filter(j::entity.eq(entity))
                .filter(j::entity_key.eq(key))
                .filter(j::seq.gt(after_seq))
                .order(j::seq.asc())
                .limit(limit)
                .load(self)
        }

        fn changeset_last_seq(&mut self, id: i64) -> diesel::QueryResult<Option<i64>> {
            use $crate::schema::recover_changesets as c;
            c::table.find(id).select(c::last_seq).first(self).optional()
        }

        fn changeset_entries(
            &mut self,
            id: i64,
            last_seq: i64,
        ) -> diesel::QueryResult<Vec<$crate::schema::EntryRow>> {
            use $crate::schema::recover_journal as j;
            j::table
                .filter(j::seq.between(id, last_seq))
                .filter(j::changeset_id.eq(id))
                .order(j::seq.asc())
                .load(self)
        }
    };
}
pub(crate) use shared_journal_queries;
