//! PostgreSQL: rows locked with `SELECT .. FOR UPDATE`, seqs from a sequence.

use diesel::pg::PgConnection;
use diesel::prelude::*;

use super::{shared_journal_queries, JournalConn, Registration, Scope};
use crate::error::Error;

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

    fn next_seq(&mut self, _previous: Option<i64>) -> QueryResult<i64> {
        // Concurrent writers interleave: every entry draws from the sequence. The entries of
        // one entity stay ordered, because its row is locked while they are written.
        diesel::select(nextval("recover_journal_seq")).get_result(self)
    }

    shared_journal_queries!();
}
