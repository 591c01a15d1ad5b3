//! MySQL and MariaDB: rows locked with `SELECT .. FOR UPDATE`, seqs from a counter row.

use diesel::mysql::MysqlConnection;
use diesel::prelude::*;

use super::{seq_range, shared_journal_queries, JournalConn, Registration, Scope};
use crate::error::Error;
use crate::schema::{ChangesetRow, NewEntryRow};
use crate::triggers::{Context, TriggerSpec};

inventory::collect!(Registration<MysqlConnection>);

#[derive(QueryableByName)]
struct Seq {
    #[diesel(sql_type = diesel::sql_types::Unsigned<diesel::sql_types::BigInt>)]
    seq: u64,
}

impl JournalConn for MysqlConnection {
    const INSTALL_SQL: &'static str = include_str!("../../sql/mysql.sql");

    fn atomically<R>(
        &mut self,
        _scope: Scope,
        f: impl FnOnce(&mut Self) -> Result<R, Error>,
    ) -> Result<R, Error> {
        // A transaction at top level, a savepoint inside the caller's: the entry's insert can
        // still fail after the row write (a key longer than the indexed column).
        self.transaction(f)
    }

    fn lock_entity(&mut self, _entity: &str, _key: &str) -> QueryResult<()> {
        // The counter row that hands out seqs: every journal writer locks it anyway before its
        // first entry, so taking it first serialises recover's writers as SQLite does, with
        // no gap locks to deadlock on, whether the entity's row exists or not. Reads after it
        // see what the previous holder committed.
        diesel::sql_query("SELECT next_seq FROM recover_seq WHERE id = 1 FOR UPDATE")
            .execute(self)
            .map(drop)
    }

    fn next_seq(&mut self, previous: Option<i64>) -> QueryResult<Option<i64>> {
        // MySQL has no sequences (MariaDB's are not in MySQL): one counter row, locked until
        // the transaction ends (see `lock_entity`), so the seqs of one call are contiguous.
        if let Some(seq) = previous {
            diesel::sql_query("UPDATE recover_seq SET next_seq = ? WHERE id = 1")
                .bind::<diesel::sql_types::BigInt, _>(seq + 1)
                .execute(self)?;
            return Ok(Some(seq + 1));
        }
        diesel::sql_query(
            "UPDATE recover_seq SET next_seq = LAST_INSERT_ID(next_seq + 1) WHERE id = 1",
        )
        .execute(self)?;
        let row: Seq = diesel::sql_query("SELECT LAST_INSERT_ID() AS seq").get_result(self)?;
        i64::try_from(row.seq)
            .map(Some)
            .map_err(|e| diesel::result::Error::DeserializationError(e.into()))
    }

    fn take_seqs(&mut self, previous: Option<i64>, n: usize) -> QueryResult<Vec<i64>> {
        let Ok(count) = i64::try_from(n) else {
            return Err(diesel::result::Error::QueryBuilderError(
                "too many entries for one call".into(),
            ));
        };
        if count == 0 {
            return Ok(Vec::new());
        }
        let last = match previous {
            Some(seq) => {
                diesel::sql_query("UPDATE recover_seq SET next_seq = ? WHERE id = 1")
                    .bind::<diesel::sql_types::BigInt, _>(seq + count)
                    .execute(self)?;
                seq + count
            }
            None => {
                diesel::sql_query(
                    "UPDATE recover_seq SET next_seq = LAST_INSERT_ID(next_seq + ?) WHERE id = 1",
                )
                .bind::<diesel::sql_types::BigInt, _>(count)
                .execute(self)?;
                let row: Seq =
                    diesel::sql_query("SELECT LAST_INSERT_ID() AS seq").get_result(self)?;
                i64::try_from(row.seq)
                    .map_err(|e| diesel::result::Error::DeserializationError(e.into()))?
            }
        };
        Ok(seq_range(last - count + 1, n))
    }

    fn append_entry(&mut self, entry: &NewEntryRow<'_>) -> QueryResult<i64> {
        let seq = entry.seq.ok_or_else(|| {
            diesel::result::Error::QueryBuilderError("an entry without its seq taken".into())
        })?;
        self.insert_entry(seq, entry)
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

    // Capture mode is not built for MySQL and MariaDB yet: `capture` refuses with
    // `Error::Unsupported`, and there is no context for triggers to read.
    const CAPTURE_TRIGGERS: usize = 0;

    fn capture_ddl(_spec: &TriggerSpec) -> Option<String> {
        None
    }

    fn release_ddl(_entity: &str) -> String {
        String::new()
    }

    fn table_columns(&mut self, _table: &str) -> QueryResult<Vec<(String, bool)>> {
        Ok(Vec::new())
    }

    fn capture_triggers(&mut self, _table: &str) -> QueryResult<Vec<(String, String)>> {
        Ok(Vec::new())
    }

    fn enter_context(&mut self, _context: &Context) -> QueryResult<Context> {
        Ok(Context::default())
    }

    fn leave_context(&mut self, _previous: &Context) -> QueryResult<Context> {
        Ok(Context::default())
    }

    shared_journal_queries!();
}
