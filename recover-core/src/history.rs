//! Reading an entity's journal back as typed entries.

use chrono::{DateTime, Utc};

use crate::backend::JournalConn;
use crate::changeset_id::ChangesetId;
use crate::error::Error;
use crate::model::Recoverable;
use crate::row_image;
use crate::schema::EntryRow;

/// What a journal entry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// The row was inserted.
    Insert,
    /// The row was updated.
    Update,
    /// The row was deleted.
    Delete,
    /// An earlier entry was undone (its before-image written back).
    Undo,
    /// An undone entry was re-applied.
    Redo,
    /// The entity was brought to a recorded state.
    Restore,
}

impl Op {
    /// The text stored in `recover_journal.op`.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Insert => "insert",
            Op::Update => "update",
            Op::Delete => "delete",
            Op::Undo => "undo",
            Op::Redo => "redo",
            Op::Restore => "restore",
        }
    }

    pub(crate) fn parse(seq: i64, text: &str) -> Result<Op, Error> {
        Ok(match text {
            "insert" => Op::Insert,
            "update" => Op::Update,
            "delete" => Op::Delete,
            "undo" => Op::Undo,
            "redo" => Op::Redo,
            "restore" => Op::Restore,
            _ => {
                return Err(Error::CorruptJournal {
                    seq,
                    problem: format!("unknown op {text:?}"),
                })
            }
        })
    }
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One journal entry of an entity, with its images decoded into the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry<T> {
    /// The entry's position in the journal (strictly increasing).
    pub seq: i64,
    /// What the entry did.
    pub op: Op,
    /// The row before the change (`None`: it did not exist).
    pub before: Option<T>,
    /// The row after the change (`None`: it no longer exists).
    pub after: Option<T>,
    /// The changeset the entry belongs to.
    pub changeset: ChangesetId,
    /// For an undo or redo: the seq of the entry it reverts.
    pub undoes: Option<i64>,
    /// Who made the change (`Journal::actor`).
    pub actor: Option<String>,
    /// Why (`Journal::reason`).
    pub reason: Option<String>,
    /// When, from the application's clock, microsecond precision.
    pub recorded_at: DateTime<Utc>,
    changed: Vec<&'static str>,
}

impl<T> Entry<T> {
    /// The SQL names of the columns whose values differ between `before` and `after` (every
    /// image column for an insert or a delete), in the model's field order.
    pub fn changed_columns(&self) -> &[&'static str] {
        &self.changed
    }
}

impl<T: Recoverable> Entry<T> {
    pub(crate) fn decode(row: EntryRow) -> Result<Self, Error> {
        let op = Op::parse(row.seq, &row.op)?;
        let parse = |text: &Option<String>| {
            text.as_deref()
                .map(|text| row_image::Codec::of::<T>().parse_canonical(row.seq, text))
                .transpose()
        };
        let before_map = parse(&row.before_image)?;
        let after_map = parse(&row.after_image)?;
        let decode = |map: &Option<serde_json::Map<String, serde_json::Value>>| {
            map.as_ref()
                .map(|map| row_image::decode_map::<T>(row.seq, map, &row.entity_key))
                .transpose()
        };
        let before = decode(&before_map)?;
        let after = decode(&after_map)?;
        let recorded_at = DateTime::from_timestamp_micros(row.recorded_at).ok_or_else(|| {
            Error::CorruptJournal {
                seq: row.seq,
                problem: format!("recorded_at {} is out of range", row.recorded_at),
            }
        })?;
        Ok(Entry {
            seq: row.seq,
            op,
            before,
            after,
            changeset: ChangesetId(row.changeset_id),
            undoes: row.undoes,
            actor: row.actor,
            reason: row.reason,
            recorded_at,
            changed: row_image::changed_columns(
                T::COLUMNS,
                before_map.as_ref(),
                after_map.as_ref(),
            ),
        })
    }
}

/// Up to `limit` entries of the entity after `after_seq`, oldest first.
pub(crate) fn page<T: Recoverable, C: JournalConn>(
    conn: &mut C,
    key: &T::Key,
    after_seq: i64,
    limit: usize,
) -> Result<Vec<Entry<T>>, Error> {
    let key_text = row_image::encode_key::<T>(key)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    conn.entries_page(T::ENTITY, &key_text, after_seq, limit)?
        .into_iter()
        .map(Entry::decode)
        .collect()
}
