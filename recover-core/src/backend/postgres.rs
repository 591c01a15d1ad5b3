//! PostgreSQL: rows locked with `SELECT .. FOR UPDATE`, seqs from a sequence.

use diesel::pg::{Pg, PgConnection};
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Bool, Nullable, Text};

use super::{shared_journal_queries, Bind, CachedSql, JournalConn, PerBackend, Scope};
use crate::error::Error;
use crate::schema::{ChangesetRow, NewEntryRow, Stack};
use crate::triggers::{self, Context, TriggerSpec};

/// The insert of an entry that draws its seq: a statement of its own so that it has a static
/// query id and is prepared once per connection (one round trip per entry, not three).
struct AppendEntry<'a> {
    entry: &'a NewEntryRow<'a>,
    undo_own: bool,
    undo_next: Option<i64>,
    redo_own: bool,
    redo_next: Option<i64>,
}

impl QueryId for AppendEntry<'_> {
    type QueryId = AppendEntry<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for AppendEntry<'_> {
    type SqlType = BigInt;
}

impl<Conn> RunQueryDsl<Conn> for AppendEntry<'_> {}

impl QueryFragment<Pg> for AppendEntry<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let e = self.entry;
        // After a row write on a captured table, its trigger wrote the change's entry and left
        // its seq in `recover.entry`: this entry completes that one (one entry, recover's op and
        // stack pointers) instead of adding a second. The setting is cleared either way.
        out.push_sql("WITH s AS (SELECT COALESCE((SELECT t.seq FROM recover_journal t WHERE ");
        out.push_bind_param::<Bool, _>(&e.after_write)?;
        out.push_sql(
            " AND t.seq = nullif(current_setting('recover.entry', true), '')::bigint \
             AND t.entity = ",
        );
        out.push_bind_param::<Text, _>(e.entity)?;
        out.push_sql(" AND t.entity_key = ");
        out.push_bind_param::<Text, _>(e.entity_key)?;
        out.push_sql(
            "), nextval('recover_journal_seq')) AS v, \
             set_config('recover.entry', '', true) AS cleared) \
             INSERT INTO recover_journal (seq, changeset_id, entity, entity_key, op, \
             before_image, after_image, undoes, undo_next, redo_next, actor, reason, recorded_at) \
             SELECT v, COALESCE(",
        );
        out.push_bind_param::<Nullable<BigInt>, _>(&e.changeset_id)?;
        out.push_sql(", v), ");
        out.push_bind_param::<Text, _>(e.entity)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(e.entity_key)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(e.op)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&e.before_image)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&e.after_image)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<BigInt>, _>(&e.undoes)?;
        out.push_sql(", CASE WHEN ");
        out.push_bind_param::<Bool, _>(&self.undo_own)?;
        out.push_sql(" THEN v ELSE ");
        out.push_bind_param::<Nullable<BigInt>, _>(&self.undo_next)?;
        out.push_sql(" END, CASE WHEN ");
        out.push_bind_param::<Bool, _>(&self.redo_own)?;
        out.push_sql(" THEN v ELSE ");
        out.push_bind_param::<Nullable<BigInt>, _>(&self.redo_next)?;
        out.push_sql(" END, ");
        out.push_bind_param::<Nullable<Text>, _>(&e.actor)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&e.reason)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&e.recorded_at)?;
        out.push_sql(
            " FROM s ON CONFLICT (seq) DO UPDATE SET changeset_id = excluded.changeset_id, \
             op = excluded.op, before_image = excluded.before_image, \
             after_image = excluded.after_image, undoes = excluded.undoes, \
             undo_next = excluded.undo_next, redo_next = excluded.redo_next, \
             actor = excluded.actor, reason = excluded.reason, \
             recorded_at = excluded.recorded_at RETURNING seq",
        );
        Ok(())
    }
}

#[derive(QueryableByName)]
struct TableColumn {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Bool)]
    nullable: bool,
}

#[derive(QueryableByName)]
struct TriggerRow {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    source: String,
}

/// The capture context as transaction-local settings (see `triggers::postgres`).
#[derive(QueryableByName)]
struct ContextRow {
    #[diesel(sql_type = Text)]
    active: String,
    #[diesel(sql_type = Text)]
    changeset_id: String,
    #[diesel(sql_type = Text)]
    last_seq: String,
    #[diesel(sql_type = Text)]
    actor: String,
    #[diesel(sql_type = Text)]
    reason: String,
    #[diesel(sql_type = Text)]
    recorded_at: String,
}

#[derive(QueryableByName)]
struct Seq {
    #[diesel(sql_type = BigInt)]
    seq: i64,
}

diesel::define_sql_function! {
    /// PostgreSQL's `nextval(regclass)`.
    fn nextval(sequence: diesel::sql_types::Text) -> diesel::sql_types::BigInt;
}

diesel::define_sql_function! {
    /// PostgreSQL's `hashtextextended(text, seed)`.
    fn hashtextextended(text: diesel::sql_types::Text, seed: diesel::sql_types::BigInt) -> diesel::sql_types::BigInt;
}

diesel::define_sql_function! {
    /// PostgreSQL's `current_schema()`.
    fn current_schema() -> diesel::sql_types::Text;
}

diesel::define_sql_function! {
    /// PostgreSQL's `pg_advisory_xact_lock(bigint)` (it returns void; its result is never read).
    fn pg_advisory_xact_lock(key: diesel::sql_types::BigInt) -> diesel::sql_types::Bool;
}

impl JournalConn for PgConnection {
    const INSTALL_SQL: &'static str = include_str!("../../sql/postgres.sql");

    fn atomically<R>(
        &mut self,
        _scope: Scope,
        f: impl FnOnce(&mut Self) -> Result<R, Error>,
    ) -> Result<R, Error> {
        // A transaction at top level, a savepoint inside the caller's: any error aborts a
        // PostgreSQL transaction, and the savepoint keeps the caller's usable after one.
        self.transaction(f)
    }

    fn lock_entity(&mut self, entity: &str, key: &str) -> QueryResult<()> {
        // A transaction-scoped advisory lock on the entity's name, within its schema (advisory
        // locks are per database, and two schemas may hold tables of the same name): it exists
        // whether the row does or not, and is released at commit or rollback. Hash collisions
        // only make two entities wait for each other.
        let name = format!(":recover:{entity}:{key}");
        let lock = hashtextextended(current_schema().concat(name), 0_i64);
        diesel::select(pg_advisory_xact_lock(lock))
            .execute(self)
            .map(drop)
    }

    fn next_seq(
        &mut self,
        _previous: Option<i64>,
        _entity: &str,
        _key: &str,
    ) -> QueryResult<Option<i64>> {
        // Drawn by the entry's insert, which saves a round trip. Concurrent writers interleave
        // in the sequence; the entries of one entity stay in order because the entity is locked
        // (row lock or `lock_entity`) before its entry is written.
        Ok(None)
    }

    fn take_seqs(
        &mut self,
        _previous: Option<i64>,
        _entity: &str,
        keys: &[&str],
    ) -> QueryResult<Vec<i64>> {
        let n = keys.len();
        // Drawn in one statement, after the rows are locked; concurrent writers may interleave
        // in the sequence, which a changeset allows (its entries carry its id).
        let count =
            i64::try_from(n).map_err(|e| diesel::result::Error::QueryBuilderError(e.into()))?;
        let mut seqs: Vec<i64> = diesel::sql_query(
            "SELECT nextval('recover_journal_seq') AS seq FROM generate_series(1, $1)",
        )
        .bind::<BigInt, _>(count)
        .load::<Seq>(self)?
        .into_iter()
        .map(|row| row.seq)
        .collect();
        seqs.sort_unstable();
        Ok(seqs)
    }

    fn append_entry(&mut self, entry: &NewEntryRow<'_>) -> QueryResult<i64> {
        if let Some(seq) = entry.seq {
            return self.insert_entry(seq, entry);
        }
        // One round trip: the seq is drawn in a CTE, and the columns that name the entry's own
        // seq (the first entry's changeset_id, the stack pointers) take it from there.
        let (undo_own, undo_next) = match entry.stack {
            Stack::Undo { undo_next } => (false, undo_next),
            Stack::Push | Stack::Redo { .. } => (true, None),
        };
        let (redo_own, redo_next) = match entry.stack {
            Stack::Push => (false, None),
            Stack::Undo { .. } => (true, None),
            Stack::Redo { redo_next } => (false, redo_next),
        };
        AppendEntry {
            entry,
            undo_own,
            undo_next,
            redo_own,
            redo_next,
        }
        .get_result(self)
    }

    fn append_changeset(&mut self, changeset: &ChangesetRow) -> QueryResult<()> {
        use crate::schema::recover_changesets as c;
        // A capture trigger may have written the row already: the range is the same or wider.
        diesel::insert_into(c::table)
            .values((
                c::id.eq(changeset.id),
                c::last_seq.eq(changeset.last_seq),
                c::actor.eq(&changeset.actor),
                c::reason.eq(&changeset.reason),
                c::recorded_at.eq(changeset.recorded_at),
            ))
            .on_conflict(c::id)
            .do_update()
            .set(c::last_seq.eq(changeset.last_seq))
            .execute(self)
            .map(drop)
    }

    const LOCKING_READ: &'static str = " FOR UPDATE";
    const CAPTURE_TRIGGERS: usize = 2;
    const CAPTURE_VERSION: u32 = triggers::postgres::VERSION;

    fn capture_ddl(spec: &TriggerSpec) -> String {
        triggers::postgres::capture_ddl(spec)
    }

    fn release_ddl(entity: &str) -> String {
        triggers::postgres::release_ddl(entity)
    }

    fn table_columns(&mut self, table: &str) -> QueryResult<Vec<(String, bool)>> {
        let columns: Vec<TableColumn> = diesel::sql_query(
            "SELECT column_name::text AS name, is_nullable = 'YES' AS nullable \
             FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind::<Text, _>(table)
        .load(self)?;
        Ok(columns.into_iter().map(|c| (c.name, c.nullable)).collect())
    }

    fn capture_triggers(&mut self, table: &str) -> QueryResult<Vec<(String, String)>> {
        let rows: Vec<TriggerRow> = diesel::sql_query(
            "SELECT t.tgname::text AS name, coalesce(p.prosrc, '') AS source \
             FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
             JOIN pg_proc p ON p.oid = t.tgfoid \
             WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace \
             AND t.tgname IN ($2, $3) ORDER BY t.tgname",
        )
        .bind::<Text, _>(table)
        .bind::<Text, _>(triggers::postgres::TRIGGER)
        .bind::<Text, _>(triggers::postgres::CLOSE_TRIGGER)
        .load(self)?;
        Ok(rows.into_iter().map(|t| (t.name, t.source)).collect())
    }

    fn read_context(&mut self) -> QueryResult<Context> {
        let row: ContextRow = CachedSql::new(
            "SELECT coalesce(current_setting('recover.context', true), '') AS active, \
             coalesce(current_setting('recover.changeset', true), '') AS changeset_id, \
             coalesce(current_setting('recover.last', true), '') AS last_seq, \
             coalesce(current_setting('recover.actor', true), '') AS actor, \
             coalesce(current_setting('recover.reason', true), '') AS reason, \
             coalesce(current_setting('recover.at', true), '') AS recorded_at",
            &[],
        )
        .get_result(self)?;
        let number = |text: &str| text.parse::<i64>().ok();
        let text = |text: String| (!text.is_empty()).then_some(text);
        Ok(Context {
            active: row.active == "1",
            changeset_id: number(&row.changeset_id),
            last_seq: number(&row.last_seq),
            actor: text(row.actor),
            reason: text(row.reason),
            recorded_at: number(&row.recorded_at),
        })
    }

    fn write_context(&mut self, context: &Context) -> QueryResult<()> {
        let number = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
        let (changeset_id, last_seq, recorded_at) = (
            number(context.changeset_id),
            number(context.last_seq),
            number(context.recorded_at),
        );
        CachedSql::new(
            "SELECT set_config('recover.context', ?, true), \
             set_config('recover.changeset', ?, true), set_config('recover.last', ?, true), \
             set_config('recover.actor', ?, true), set_config('recover.reason', ?, true), \
             set_config('recover.at', ?, true)",
            &[
                Bind::Text(if context.active { "1" } else { "" }),
                Bind::Text(&changeset_id),
                Bind::Text(&last_seq),
                Bind::Text(context.actor.as_deref().unwrap_or("")),
                Bind::Text(context.reason.as_deref().unwrap_or("")),
                Bind::Text(&recorded_at),
            ],
        )
        .execute(self)
        .map(drop)
    }

    fn pick<P: PerBackend>() -> P::Of<Self> {
        P::postgres()
    }

    shared_journal_queries!();
}
