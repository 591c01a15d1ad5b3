//! The rows that are gone: entities whose newest entry removed their row.

use chrono::{DateTime, Utc};

use crate::backend::JournalConn;
use crate::error::Error;
use crate::model::Recoverable;
use crate::row_image;

/// An entity whose newest journal entry removed its row (a delete, an undone insert, a restore
/// to a time before it existed), with the row as it was last.
#[derive(Debug, Clone, PartialEq)]
pub struct Deleted<T: Recoverable> {
    /// The entity's key; `journal.undo::<T>(conn, &key)` brings the row back.
    pub key: T::Key,
    /// The row as it was when it was removed.
    pub last: T,
    /// The removing entry.
    pub seq: i64,
    /// When it was removed.
    pub deleted_at: DateTime<Utc>,
    /// Who removed it.
    pub actor: Option<String>,
    /// Why.
    pub reason: Option<String>,
}

/// Up to `limit` removed entities of `T` whose removing entry is older than `before_seq`,
/// newest first.
pub(crate) fn page<T: Recoverable, C: JournalConn>(
    conn: &mut C,
    before_seq: i64,
    limit: usize,
) -> Result<Vec<Deleted<T>>, Error> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    conn.removals_page(T::ENTITY, before_seq, limit)?
        .into_iter()
        .map(|row| {
            let text = row.before_image.as_deref().unwrap_or_default();
            let last = row_image::decode::<T>(row.seq, text, &row.entity_key)?;
            let deleted_at = DateTime::from_timestamp_micros(row.recorded_at).ok_or_else(|| {
                Error::CorruptJournal {
                    seq: row.seq,
                    problem: format!("recorded_at {} is out of range", row.recorded_at),
                }
            })?;
            Ok(Deleted {
                key: last.key(),
                last,
                seq: row.seq,
                deleted_at,
                actor: row.actor,
                reason: row.reason,
            })
        })
        .collect()
}
