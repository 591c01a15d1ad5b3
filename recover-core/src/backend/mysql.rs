//! MySQL and MariaDB: rows locked with `SELECT .. FOR UPDATE`, seqs from a counter row.

use diesel::mysql::MysqlConnection;
use diesel::prelude::*;

use diesel::sql_types::{BigInt, Bool, Nullable, Text};

use super::{seq_range, shared_journal_queries, JournalConn, PerBackend, Scope};
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
        // Taken through LAST_INSERT_ID: a capture trigger fired by this call's row write
        // recognises the seq as reserved and writes its entry there (see `triggers::mysql`).
        if let Some(seq) = previous {
            diesel::sql_query("UPDATE recover_seq SET next_seq = LAST_INSERT_ID(?) WHERE id = 1")
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
        use crate::schema::recover_journal as j;
        use diesel::result::{DatabaseErrorKind, Error as DieselError};
        // The seq was reserved before the row write. If the table is captured, its trigger
        // wrote the change's entry at that same seq: the insert then meets it, and this entry
        // completes it (one entry, recover's op and stack pointers) — that entry, of this
        // entity and key, and no other: any other duplicate seq stays an error.
        let duplicate = match self.insert_entry(seq, entry) {
            Err(e @ DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => e,
            inserted => return inserted,
        };
        let completed = diesel::update(
            j::table
                .filter(j::seq.eq(seq))
                .filter(j::entity.eq(entry.entity))
                .filter(j::entity_key.eq(entry.entity_key)),
        )
        .set(super::entry_fields!(seq, entry))
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

    const CAPTURE_TRIGGERS: usize = 3;

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
        let row: Option<ContextRow> = diesel::sql_query(
            "SELECT changeset_id, last_seq, actor, reason, recorded_at FROM recover_context \
             WHERE conn = CONNECTION_ID()",
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
            return diesel::sql_query("DELETE FROM recover_context WHERE conn = CONNECTION_ID()")
                .execute(self)
                .map(drop);
        }
        diesel::sql_query(
            "REPLACE INTO recover_context (conn, changeset_id, last_seq, actor, reason, recorded_at) \
             VALUES (CONNECTION_ID(), ?, ?, ?, ?, ?)",
        )
        .bind::<Nullable<BigInt>, _>(context.changeset_id)
        .bind::<Nullable<BigInt>, _>(context.last_seq)
        .bind::<Nullable<Text>, _>(context.actor.as_deref())
        .bind::<Nullable<Text>, _>(context.reason.as_deref())
        .bind::<Nullable<BigInt>, _>(context.recorded_at)
        .execute(self)
        .map(drop)
    }

    fn pick<P: PerBackend>() -> P::Of<Self> {
        P::mysql()
    }

    shared_journal_queries!();
}
