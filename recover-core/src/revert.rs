//! Undo, redo and restore: writing a recorded image back, journaled.

use chrono::{DateTime, Utc};

use crate::backend::JournalConn;
use crate::error::Error;
use crate::history::Op;
use crate::image;
use crate::model_ops::ModelOps;
use crate::record::{NewEntry, Recording};
use crate::row_image;
use crate::schema::{EntryRow, Stack};

/// The state `restore` brings an entity to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// The state right after the entity's n-th journal entry (1-based, counting every entry:
    /// undo, redo and restore entries too).
    Version(usize),
    /// The state as of this instant; if the entity did not exist then, the row is deleted.
    Time(DateTime<Utc>),
}

/// Undoes the entity's newest change that is not undone yet.
pub(crate) fn undo<C: JournalConn>(
    conn: &mut C,
    rec: &mut Recording<'_>,
    model: &ModelOps<C>,
    key_text: &str,
) -> Result<(), Error> {
    let nothing = || Error::NothingToUndo {
        entity: model.entity,
        key: key_text.to_owned(),
    };
    let (stored, newest) = lock_and_read(conn, model, 0, key_text)?;
    let newest = newest.ok_or_else(nothing)?;
    let target = newest.undo_next.ok_or_else(nothing)?;
    let target = entry_of(conn, &newest, target)?.ok_or_else(nothing)?;
    revert(conn, rec, model, stored, &newest, &target, Some(&newest))
}

/// Re-applies the most recently undone change, unless a new change was recorded since.
pub(crate) fn redo<C: JournalConn>(
    conn: &mut C,
    rec: &mut Recording<'_>,
    model: &ModelOps<C>,
    key_text: &str,
) -> Result<(), Error> {
    let nothing = || Error::NothingToRedo {
        entity: model.entity,
        key: key_text.to_owned(),
    };
    let (stored, newest) = lock_and_read(conn, model, 0, key_text)?;
    let newest = newest.ok_or_else(nothing)?;
    let target = newest.redo_next.ok_or_else(nothing)?;
    let target = entry_of(conn, &newest, target)?.ok_or_else(nothing)?;
    revert(conn, rec, model, stored, &newest, &target, Some(&newest))
}

/// Brings the entity to a recorded state; the restore is a new change (it clears redo).
pub(crate) fn restore<C: JournalConn>(
    conn: &mut C,
    rec: &mut Recording<'_>,
    model: &ModelOps<C>,
    key_text: &str,
    at: At,
) -> Result<(), Error> {
    let entity = model.entity;
    let (stored, newest) = lock_and_read(conn, model, 0, key_text)?;
    let newest = newest.ok_or_else(|| Error::NotFound {
        entity,
        key: key_text.to_owned(),
    })?;
    let source = match at {
        At::Version(n) => {
            let entry = match i64::try_from(n) {
                Ok(n) if n >= 1 => conn.nth_entry(entity, key_text, n)?,
                _ => None,
            };
            let Some(entry) = entry else {
                let latest = conn.count_entries(entity, key_text)?;
                return Err(Error::VersionOutOfRange {
                    entity,
                    key: key_text.to_owned(),
                    requested: n,
                    latest: usize::try_from(latest).unwrap_or(usize::MAX),
                });
            };
            Some(entry)
        }
        At::Time(t) => conn.entry_as_of(entity, key_text, t.timestamp_micros())?,
    };
    let (image, image_seq) = match &source {
        Some(entry) => (entry.after_image.as_deref(), entry.seq),
        None => (None, newest.seq),
    };
    let (before, after) = write(
        conn,
        rec,
        model,
        key_text,
        stored,
        Some(&newest),
        image,
        image_seq,
    )?;
    let after_write = before.is_some() || after.is_some();
    let entry = NewEntry {
        after_write,
        ..NewEntry::change(entity, key_text, Op::Restore, before, after)
    };
    rec.append(conn, entry)?;
    Ok(())
}

/// Reverts one entry of a changeset (its entity known by name only, through the registry).
pub(crate) fn revert_entry<C: JournalConn>(
    conn: &mut C,
    rec: &mut Recording<'_>,
    model: &ModelOps<C>,
    target: &EntryRow,
    check_conflict: bool,
) -> Result<(), Error> {
    let (stored, newest) = lock_and_read(conn, model, target.seq, &target.entity_key)?;
    let newest = newest.ok_or_else(|| Error::CorruptJournal {
        seq: target.seq,
        problem: "the entity has no newest entry".to_owned(),
    })?;
    let baseline = check_conflict.then_some(target);
    revert(conn, rec, model, stored, &newest, target, baseline)
}

/// Locks the entity against concurrent recover calls, then reads its stored row (locking it on
/// PostgreSQL and MySQL) and only then its newest entry: an entry read before the row lock could
/// be older than the row, and look like a change made outside recover. The row comes back as
/// its image; `seq` names the entry the key text came from (0: the caller's key), in errors.
fn lock_and_read<C: JournalConn>(
    conn: &mut C,
    model: &ModelOps<C>,
    seq: i64,
    key_text: &str,
) -> Result<(Option<String>, Option<EntryRow>), Error> {
    conn.lock_entity(model.entity, key_text)?;
    let stored = model.load(conn, seq, key_text)?;
    let newest = conn.newest_entry(model.entity, key_text)?;
    if let Some(newest) = &newest {
        check_pointers(newest)?;
    }
    Ok((stored, newest))
}

/// The stack pointers an entry can hold: a change (and a redo) is what undo reverts next while
/// it is the newest; an undo points at or below itself.
fn check_pointers(entry: &EntryRow) -> Result<(), Error> {
    let op = Op::parse(entry.seq, &entry.op)?;
    let at_or_below = |pointer: Option<i64>| pointer.is_none_or(|p| p <= entry.seq);
    let sound = match op {
        Op::Undo => at_or_below(entry.undo_next),
        _ => entry.undo_next == Some(entry.seq),
    } && at_or_below(entry.redo_next);
    if sound {
        Ok(())
    } else {
        Err(Error::CorruptJournal {
            seq: entry.seq,
            problem: format!(
                "impossible stack pointers for a {op} entry (undo_next {:?}, redo_next {:?})",
                entry.undo_next, entry.redo_next
            ),
        })
    }
}

/// Loads entry `seq`, which `newest` points to, checking it is of the same entity; `None` when
/// retention removed it (it is older than the entity's oldest remaining entry).
fn entry_of<C: JournalConn>(
    conn: &mut C,
    newest: &EntryRow,
    seq: i64,
) -> Result<Option<EntryRow>, Error> {
    if seq == newest.seq {
        return Ok(Some(newest.clone()));
    }
    let corrupt = || Error::CorruptJournal {
        seq: newest.seq,
        problem: format!("points to entry {seq}, which is not an entry of this entity"),
    };
    match conn.entry(seq)? {
        Some(entry) if entry.entity == newest.entity && entry.entity_key == newest.entity_key => {
            Ok(Some(entry))
        }
        Some(_) => Err(corrupt()),
        None => match conn.nth_entry(&newest.entity, &newest.entity_key, 1)? {
            Some(oldest) if oldest.seq > seq => Ok(None),
            _ => Err(corrupt()),
        },
    }
}

/// Writes `target`'s before-image back and journals it as an undo or a redo (or, when the
/// target is not on top of either stack, as a new change that reverts it).
fn revert<C: JournalConn>(
    conn: &mut C,
    rec: &mut Recording<'_>,
    model: &ModelOps<C>,
    stored: Option<String>,
    newest: &EntryRow,
    target: &EntryRow,
    baseline: Option<&EntryRow>,
) -> Result<(), Error> {
    let key_text = &target.entity_key;
    let target_op = Op::parse(target.seq, &target.op)?;
    let (op, stack) = if newest.undo_next == Some(target.seq) {
        let below = conn.entry_before(model.entity, key_text, target.seq)?;
        let undo_next = below.and_then(|e| e.undo_next);
        (Op::Undo, Stack::Undo { undo_next })
    } else if newest.redo_next == Some(target.seq) {
        let below = conn.entry_before(model.entity, key_text, target.seq)?;
        let redo_next = below.and_then(|e| e.redo_next);
        (Op::Redo, Stack::Redo { redo_next })
    } else if target_op == Op::Undo {
        (Op::Redo, Stack::Push)
    } else {
        (Op::Undo, Stack::Push)
    };
    let image = target.before_image.as_deref();
    let (before, after) = write(
        conn, rec, model, key_text, stored, baseline, image, target.seq,
    )?;
    let entry = NewEntry {
        entity: model.entity,
        key: key_text,
        op,
        after_write: before.is_some() || after.is_some(),
        before,
        after,
        undoes: Some(target.seq),
        stack,
    };
    rec.append(conn, entry)?;
    Ok(())
}

/// Checks the stored row (its image) against `baseline`'s after-image (unless forced), then
/// makes the row hold `image` (absent: deleted). Returns the before- and after-images of the
/// change.
#[allow(clippy::too_many_arguments)]
fn write<C: JournalConn>(
    conn: &mut C,
    rec: &mut Recording<'_>,
    model: &ModelOps<C>,
    key_text: &str,
    stored: Option<String>,
    baseline: Option<&EntryRow>,
    image: Option<&str>,
    image_seq: i64,
) -> Result<(Option<String>, Option<String>), Error> {
    if let (Some(baseline), false) = (baseline, rec.settings.force) {
        check_conflict(model, baseline, stored.as_deref(), key_text)?;
    }
    let entity = model.entity;
    let after = model.apply(
        conn,
        key_text,
        stored.is_some(),
        image.map(|text| (text, image_seq)),
        &mut |conn| rec.reserve(conn, entity, key_text),
    )?;
    Ok((stored, after))
}

/// `Conflict` unless the stored row (its image) equals `baseline`'s after-image.
fn check_conflict<C>(
    model: &ModelOps<C>,
    baseline: &EntryRow,
    stored: Option<&str>,
    key_text: &str,
) -> Result<(), Error> {
    let expected = baseline
        .after_image
        .as_deref()
        .map(|text| model.canonical(baseline.seq, text))
        .transpose()?;
    let actual = stored.map(|text| image::parse(0, text)).transpose()?;
    let columns = row_image::conflicting_columns(model.columns, expected.as_ref(), actual.as_ref());
    if columns.is_empty() {
        return Ok(());
    }
    Err(Error::Conflict {
        entity: model.entity,
        key: key_text.to_owned(),
        expected: expected.map(|m| Box::new(serde_json::Value::Object(m))),
        actual: actual.map(|m| Box::new(serde_json::Value::Object(m))),
        columns,
    })
}
