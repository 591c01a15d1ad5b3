//! PostgreSQL: rows locked with `SELECT .. FOR UPDATE`, seqs from a sequence.

use diesel::pg::{Pg, PgConnection};
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Bool, Nullable, Text};

use super::{shared_journal_queries, JournalConn, Registration, Scope};
use crate::error::Error;
use crate::record::Stack;
use crate::schema::NewEntryRow;

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
        out.push_sql(
            "WITH s AS (SELECT nextval('recover_journal_seq') AS v) \
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
        out.push_sql(" FROM s RETURNING seq");
        Ok(())
    }
}

inventory::collect!(Registration<PgConnection>);

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

    fn next_seq(&mut self, _previous: Option<i64>) -> QueryResult<Option<i64>> {
        // Drawn by the entry's insert, which saves a round trip. Concurrent writers interleave
        // in the sequence; the entries of one entity stay in order because the entity is locked
        // (row lock or `lock_entity`) before its entry is written.
        Ok(None)
    }

    fn take_seqs(&mut self, _previous: Option<i64>, n: usize) -> QueryResult<Vec<i64>> {
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

    shared_journal_queries!();
}
