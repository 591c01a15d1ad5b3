//! PostgreSQL: rows locked with `SELECT .. FOR UPDATE`, seqs from a sequence.

use diesel::pg::PgConnection;
use diesel::prelude::*;

use super::{shared_journal_queries, JournalConn, Registration, Scope};
use crate::error::Error;
use crate::record::Stack;
use crate::schema::NewEntryRow;

#[derive(QueryableByName)]
struct DrawnSeq {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    seq: i64,
}

inventory::collect!(Registration<PgConnection>);

diesel::define_sql_function! {
    /// PostgreSQL's `nextval(regclass)`.
    fn nextval(sequence: diesel::sql_types::Text) -> diesel::sql_types::BigInt;
}

diesel::define_sql_function! {
    /// PostgreSQL's `hashtextextended(text, seed)`.
    fn hashtextextended(text: diesel::sql_types::Text, seed: diesel::sql_types::BigInt) -> diesel::sql_types::BigInt;
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
        // A transaction-scoped advisory lock on the entity's name: it exists whether the row
        // does or not, and is released at commit or rollback. Hash collisions only make two
        // entities wait for each other.
        let name = format!("recover:{entity}:{key}");
        diesel::select(pg_advisory_xact_lock(hashtextextended(name, 0_i64)))
            .execute(self)
            .map(drop)
    }

    fn next_seq(&mut self, _previous: Option<i64>) -> QueryResult<Option<i64>> {
        // Drawn by the entry's insert, which saves a round trip. Concurrent writers interleave
        // in the sequence; the entries of one entity stay in order because the entity is locked
        // (row lock or `lock_entity`) before its entry is written.
        Ok(None)
    }

    fn append_entry(&mut self, entry: &NewEntryRow<'_>) -> QueryResult<i64> {
        use diesel::sql_types::{BigInt, Bool, Nullable, Text};
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
        let row: DrawnSeq = diesel::sql_query(
            "WITH s AS (SELECT nextval('recover_journal_seq') AS v) \
             INSERT INTO recover_journal (seq, changeset_id, entity, entity_key, op, \
                 before_image, after_image, undoes, undo_next, redo_next, actor, reason, recorded_at) \
             SELECT v, COALESCE($1, v), $2, $3, $4, $5, $6, $7, \
                 CASE WHEN $8 THEN v ELSE $9 END, CASE WHEN $10 THEN v ELSE $11 END, $12, $13, $14 \
             FROM s RETURNING seq",
        )
        .bind::<Nullable<BigInt>, _>(entry.changeset_id)
        .bind::<Text, _>(entry.entity)
        .bind::<Text, _>(entry.entity_key)
        .bind::<Text, _>(entry.op)
        .bind::<Nullable<Text>, _>(entry.before_image)
        .bind::<Nullable<Text>, _>(entry.after_image)
        .bind::<Nullable<BigInt>, _>(entry.undoes)
        .bind::<Bool, _>(undo_own)
        .bind::<Nullable<BigInt>, _>(undo_next)
        .bind::<Bool, _>(redo_own)
        .bind::<Nullable<BigInt>, _>(redo_next)
        .bind::<Nullable<Text>, _>(entry.actor)
        .bind::<Nullable<Text>, _>(entry.reason)
        .bind::<BigInt, _>(entry.recorded_at)
        .get_result(self)?;
        Ok(row.seq)
    }

    shared_journal_queries!();
}
