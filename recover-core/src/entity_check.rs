//! One entity's journal entries checked against each other and against its stored row, and
//! the problems [`check`](crate::check) reports.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::{Map, Value};

use crate::backend::JournalConn;
use crate::error::Error;
use crate::history::Op;
use crate::image;
use crate::model_ops::ModelOps;
use crate::row_image;
use crate::schema::EntryRow;

/// One thing [`check`](crate::check) found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The stored row differs from the after-image of the entity's newest entry: it was
    /// changed outside recover (undo and restore of it will report a conflict).
    RowDiffers {
        /// The entity's table.
        entity: String,
        /// The key, as canonical JSON text.
        key: String,
        /// The entity's newest entry.
        seq: i64,
        /// The SQL names of the columns that differ.
        columns: Vec<String>,
    },
    /// An entry's before-image differs from the after-image of the entity's previous entry:
    /// the row was changed outside recover in between.
    BrokenChain {
        /// The entity's table.
        entity: String,
        /// The key, as canonical JSON text.
        key: String,
        /// The entry whose before-image does not follow.
        seq: i64,
        /// The entity's previous entry.
        previous: i64,
        /// The SQL names of the columns that differ.
        columns: Vec<String>,
    },
    /// A journal row or image that cannot be read back into the model.
    Unreadable {
        /// The entity's table.
        entity: String,
        /// The key, as canonical JSON text.
        key: String,
        /// The entry.
        seq: i64,
        /// Why.
        error: String,
    },
    /// A table in capture mode whose triggers are gone: changes to it are not journaled. Run
    /// `recover::capture` again.
    CaptureMissing {
        /// The table.
        entity: String,
    },
    /// A table in capture mode whose triggers were generated for other columns than its model
    /// has now (a migration since): run `recover::capture` again.
    CaptureStale {
        /// The table.
        entity: String,
        /// The trigger that differs.
        trigger: String,
        /// What the model's triggers would say now.
        expected: String,
    },
    /// Entries of a table that no `Recoverable` type in this program maps: their images were
    /// checked as JSON only, and the stored rows not at all.
    UnknownEntity {
        /// The table.
        entity: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::RowDiffers { entity, key, seq, columns } => write!(
                f,
                "{entity} {key}: the stored row differs from journal entry {seq} in {}",
                columns.join(", ")
            ),
            Problem::BrokenChain { entity, key, seq, previous, columns } => write!(
                f,
                "{entity} {key}: entry {seq} does not start where entry {previous} ended ({}): changed outside recover in between",
                columns.join(", ")
            ),
            Problem::Unreadable { entity, key, seq, error } => {
                write!(f, "{entity} {key}: entry {seq} is unreadable: {error}")
            }
            Problem::CaptureMissing { entity } => write!(
                f,
                "{entity}: captured, but its capture triggers are missing; run recover::capture again"
            ),
            Problem::CaptureStale { entity, trigger, .. } => write!(
                f,
                "{entity}: trigger {trigger} was generated for other columns than the model has; run recover::capture again"
            ),
            Problem::UnknownEntity { entity } => write!(
                f,
                "{entity}: no #[derive(Recoverable)] type in this program; checked as JSON only"
            ),
        }
    }
}

/// The check of one entity's entries against its model (known through the registry).
pub(crate) fn check_entity<C: JournalConn>(
    conn: &mut C,
    model: &ModelOps<C>,
    entries: &[EntryRow],
) -> Result<Vec<Problem>, Error> {
    let Some(newest) = entries.last() else {
        return Ok(Vec::new());
    };
    let mut problems = Vec::new();
    let unreadable = |seq, error: Error| Problem::Unreadable {
        entity: newest.entity.clone(),
        key: newest.entity_key.clone(),
        seq,
        error: error.to_string(),
    };
    let mut previous: Option<(i64, Option<Map<String, Value>>)> = None;
    for entry in entries {
        let images = read_images(entry).and_then(|(before, after)| {
            for image in [&before, &after].into_iter().flatten() {
                model.decodes(entry.seq, image, &entry.entity_key)?;
            }
            // Compared in recover's own encoding, whoever wrote them (a capture trigger).
            let canonical = |text: &Option<String>| {
                text.as_deref()
                    .map(|text| model.canonical(entry.seq, text))
                    .transpose()
            };
            Ok((
                canonical(&entry.before_image)?,
                canonical(&entry.after_image)?,
            ))
        });
        let (before, after) = match images {
            Ok(images) => images,
            Err(error) => {
                problems.push(unreadable(entry.seq, error));
                previous = None;
                continue;
            }
        };
        if let Some((previous_seq, previous_after)) = &previous {
            let columns =
                row_image::changed_columns(model.columns, previous_after.as_ref(), before.as_ref());
            if !columns.is_empty() {
                problems.push(Problem::BrokenChain {
                    entity: entry.entity.clone(),
                    key: entry.entity_key.clone(),
                    seq: entry.seq,
                    previous: *previous_seq,
                    columns: columns.into_iter().map(str::to_owned).collect(),
                });
            }
        }
        previous = Some((entry.seq, after));
    }
    let Some((seq, newest_after)) = previous.filter(|(seq, _)| *seq == newest.seq) else {
        return Ok(problems);
    };
    let stored = match model.load(conn, seq, &newest.entity_key) {
        Ok(stored) => stored,
        // The key text is not a key of the model.
        Err(error @ Error::CorruptJournal { .. }) => {
            problems.push(unreadable(seq, error));
            return Ok(problems);
        }
        Err(error) => return Err(error),
    };
    let stored = stored.map(|text| image::parse(seq, &text)).transpose()?;
    let columns =
        row_image::conflicting_columns(model.columns, newest_after.as_ref(), stored.as_ref());
    if !columns.is_empty() {
        problems.push(Problem::RowDiffers {
            entity: newest.entity.clone(),
            key: newest.entity_key.clone(),
            seq,
            columns,
        });
    }
    Ok(problems)
}

type Images = (Option<Map<String, Value>>, Option<Map<String, Value>>);

fn read_images(entry: &EntryRow) -> Result<Images, Error> {
    Op::parse(entry.seq, &entry.op)?;
    let parse = |text: &Option<String>| {
        text.as_deref()
            .map(|text| image::parse(entry.seq, text))
            .transpose()
    };
    Ok((parse(&entry.before_image)?, parse(&entry.after_image)?))
}

/// The check of an entity no type maps: readable JSON, and a chain of equal raw images.
pub(crate) fn check_raw(entries: &[EntryRow]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut previous: Option<(i64, Option<Map<String, Value>>)> = None;
    for entry in entries {
        match read_images(entry) {
            Ok((before, after)) => {
                if let Some((previous_seq, previous_after)) = &previous {
                    if *previous_after != before {
                        problems.push(Problem::BrokenChain {
                            entity: entry.entity.clone(),
                            key: entry.entity_key.clone(),
                            seq: entry.seq,
                            previous: *previous_seq,
                            columns: raw_difference(previous_after.as_ref(), before.as_ref()),
                        });
                    }
                }
                previous = Some((entry.seq, after));
            }
            Err(error) => {
                problems.push(Problem::Unreadable {
                    entity: entry.entity.clone(),
                    key: entry.entity_key.clone(),
                    seq: entry.seq,
                    error: error.to_string(),
                });
                previous = None;
            }
        }
    }
    problems
}

/// The keys whose values differ between two raw images (an absent image: none of its keys).
pub(crate) fn raw_difference(
    a: Option<&Map<String, Value>>,
    b: Option<&Map<String, Value>>,
) -> Vec<String> {
    let empty = Map::new();
    let (a, b) = (a.unwrap_or(&empty), b.unwrap_or(&empty));
    a.keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}
