//! Rebuild: a database's rows and journal as of a point, from an export, on any backend.

use std::collections::BTreeSet;
use std::io::Read;

use chrono::DateTime;

use crate::backend::{install, JournalConn, Scope};
use crate::error::Error;
use crate::export::{ExportReader, Horizon, Line};
use crate::export_sql::{Carry, RedactionRow};
use crate::image;
use crate::registry;
use crate::revert::At;
use crate::schema::{ChangesetRow, EntryRow};

/// Rows written per transaction.
const BATCH: usize = 500;

/// What [`rebuild`] wrote. A run after an interrupted one counts only what it wrote itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RebuildSummary {
    /// Journal entries written.
    pub entries: u64,
    /// Journal entries up to the point that were stored already (an earlier, interrupted run).
    pub skipped: u64,
    /// Changeset rows written.
    pub changesets: u64,
    /// Redactions applied and recorded.
    pub redactions: u64,
    /// Model rows written.
    pub rows: u64,
}

/// Rebuilds a database from an export as of `at`: the journal up to that point (entries,
/// changeset rows) and every redaction in the export, then every linked model's rows as the
/// journal says they were then, so that history, undo and restore work there as they did at
/// the source. `At::Version(seq)` is the state right after journal entry `seq` (a journal seq
/// here, not an entity's version); `At::Time(t)` the state of the entries recorded up to `t`.
///
/// The target's tables exist (your migrations) and hold none of the export's rows; `rebuild`
/// installs the journal itself. It writes in batches of one transaction each and can be run
/// again after an interruption: entries, changesets, redactions and rows already stored are
/// skipped. The export's chain is verified as it is read. Any backend rebuilds an export of
/// any other: images are decoded through each model's codec, value for value.
///
/// Errors: [`Error::BeforeHorizon`] for a point before the export's first entry or before an
/// entity's history begins in it (naming the earliest point it can rebuild);
/// [`Error::UnknownEntity`] for an entity no linked model maps; [`Error::Redacted`] for a
/// row whose image at the point had a column erased; [`Error::BadExport`] for a line that
/// does not verify.
///
/// ```no_run
/// # use diesel::{Connection, PgConnection};
/// # fn run() -> Result<(), recover_core::Error> {
/// let mut target = PgConnection::establish("postgres://localhost/restored")?;
/// let file = std::io::BufReader::new(std::fs::File::open("journal.jsonl")?);
/// let at = chrono::DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z").unwrap().to_utc();
/// let summary = recover_core::rebuild(&mut target, file, recover_core::At::Time(at))?;
/// println!("{} rows, {} entries", summary.rows, summary.entries);
/// # Ok(()) }
/// ```
pub fn rebuild<C: JournalConn>(
    conn: &mut C,
    reader: impl Read,
    at: At,
) -> Result<RebuildSummary, Error> {
    rebuild_with_progress(conn, reader, at, |_| {})
}

/// [`rebuild`], calling `progress` with what it has written so far after each batch (each
/// transaction): for a progress bar.
pub fn rebuild_with_progress<C: JournalConn>(
    conn: &mut C,
    reader: impl Read,
    at: At,
    mut progress: impl FnMut(&RebuildSummary),
) -> Result<RebuildSummary, Error> {
    install(conn)?;
    let sql = C::pick::<Carry>();
    let mut lines = ExportReader::new(reader);
    let mut summary = RebuildSummary::default();
    let mut earliest: Option<Horizon> = None;
    let mut first_header = true;
    let mut known = BTreeSet::new();
    let mut entries = Vec::new();
    let mut changesets = Vec::new();
    let mut redactions = Vec::new();
    while let Some(line) = lines.next_line()? {
        match line {
            Line::Header(header) if first_header => {
                first_header = false;
                if header.after.is_some() {
                    return Err(Error::Unsupported(
                        "rebuild needs an export that begins at the journal's start \
                         (ExportFrom::Start), with the incremental ones after it",
                    ));
                }
                earliest = header.horizon;
            }
            Line::Entry(entry) => {
                let horizon = *earliest.get_or_insert(Horizon {
                    seq: entry.seq,
                    recorded_at: entry.recorded_at,
                });
                check_horizon(at, horizon)?;
                if !includes(at, entry.seq, entry.recorded_at) {
                    continue;
                }
                if !known.contains(&entry.entity) {
                    if registry::registered::<C>(&entry.entity, None).is_none() {
                        return Err(Error::UnknownEntity(entry.entity));
                    }
                    known.insert(entry.entity.clone());
                }
                entries.push(EntryRow::from(entry));
                if entries.len() >= BATCH {
                    write_entries(conn, &mut entries, &mut summary)?;
                    progress(&summary);
                }
            }
            Line::Changeset(changeset) if includes(at, changeset.id, changeset.recorded_at) => {
                changesets.push(ChangesetRow::from(changeset));
            }
            Line::Redaction(redaction) => redactions.push(RedactionRow::from(redaction)),
            _ => {}
        }
        if changesets.len() >= BATCH {
            write_changesets(conn, &mut changesets, &mut summary)?;
            progress(&summary);
        }
    }
    write_entries(conn, &mut entries, &mut summary)?;
    write_changesets(conn, &mut changesets, &mut summary)?;
    progress(&summary);
    // The rows: each entity's newest entry up to the point, as the rebuilt journal holds it.
    let mut after = i64::MIN;
    loop {
        let page = (sql.newest_entries)(conn, after, BATCH as i64)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        summary.rows += conn.atomically(Scope::Many, |conn| {
            let mut written = 0;
            for entry in &page {
                let registration = registry::registered::<C>(&entry.entity, None)
                    .ok_or_else(|| Error::UnknownEntity(entry.entity.clone()))?;
                written += u64::from(registration.rebuild_row(conn, entry)?);
            }
            Ok(written)
        })?;
        progress(&summary);
    }
    // Redactions last: the rows are written from the images as exported.
    for redaction in redactions {
        summary.redactions +=
            conn.atomically(Scope::Many, |conn| apply_redaction(conn, &redaction))?;
    }
    (sql.after_rebuild)(conn)?;
    progress(&summary);
    Ok(summary)
}

/// Whether the journal as of `at` holds a row of this seq and time.
fn includes(at: At, seq: i64, recorded_at: i64) -> bool {
    match at {
        At::Version(n) => i64::try_from(n).map_or(true, |n| seq <= n),
        At::Time(t) => recorded_at <= t.timestamp_micros(),
    }
}

fn check_horizon(at: At, horizon: Horizon) -> Result<(), Error> {
    let (before, requested) = match at {
        At::Version(n) => (
            i64::try_from(n).is_ok_and(|n| n < horizon.seq),
            format!("journal entry {n}"),
        ),
        At::Time(t) => (t.timestamp_micros() < horizon.recorded_at, t.to_rfc3339()),
    };
    if before {
        return Err(Error::BeforeHorizon {
            requested,
            earliest_seq: horizon.seq,
            earliest_time: DateTime::from_timestamp_micros(horizon.recorded_at).unwrap_or_default(),
        });
    }
    Ok(())
}

/// Writes the entries not stored yet, in one transaction.
fn write_entries<C: JournalConn>(
    conn: &mut C,
    entries: &mut Vec<EntryRow>,
    summary: &mut RebuildSummary,
) -> Result<(), Error> {
    if entries.is_empty() {
        return Ok(());
    }
    let sql = C::pick::<Carry>();
    let (written, skipped) = conn.atomically(Scope::Many, |conn| {
        let seqs: Vec<i64> = entries.iter().map(|e| e.seq).collect();
        let stored: BTreeSet<i64> = (sql.entries_in)(conn, &seqs)?
            .into_iter()
            .map(|e| e.seq)
            .collect();
        let new: Vec<&EntryRow> = entries
            .iter()
            .filter(|e| !stored.contains(&e.seq))
            .collect();
        (sql.insert_entries)(conn, &new)?;
        Ok(((entries.len() - stored.len()) as u64, stored.len() as u64))
    })?;
    summary.entries += written;
    summary.skipped += skipped;
    entries.clear();
    Ok(())
}

/// Writes the changeset rows not stored yet, in one transaction.
fn write_changesets<C: JournalConn>(
    conn: &mut C,
    changesets: &mut Vec<ChangesetRow>,
    summary: &mut RebuildSummary,
) -> Result<(), Error> {
    if changesets.is_empty() {
        return Ok(());
    }
    let sql = C::pick::<Carry>();
    summary.changesets += conn.atomically(Scope::Many, |conn| {
        let ids: Vec<i64> = changesets.iter().map(|c| c.id).collect();
        let stored: BTreeSet<i64> = (sql.changesets_in)(conn, &ids)?
            .into_iter()
            .map(|c| c.id)
            .collect();
        let mut written = 0;
        for changeset in changesets.iter().filter(|c| !stored.contains(&c.id)) {
            (sql.insert_changeset)(conn, changeset)?;
            written += 1;
        }
        Ok(written)
    })?;
    changesets.clear();
    Ok(())
}

/// Erases the redaction's columns from the rebuilt entries of its entity and records it,
/// unless it is recorded already; whether it applied it.
fn apply_redaction<C: JournalConn>(conn: &mut C, redaction: &RedactionRow) -> Result<u64, Error> {
    let sql = C::pick::<Carry>();
    if (sql.redaction_exists)(conn, redaction.id)? {
        return Ok(0);
    }
    let columns: Vec<String> =
        serde_json::from_str(&redaction.erased_columns).map_err(|e| Error::CorruptJournal {
            seq: 0,
            problem: format!(
                "redaction {} erased_columns {:?} is not a JSON array of names: {e}",
                redaction.id, redaction.erased_columns
            ),
        })?;
    let mut after = i64::MIN;
    loop {
        let page = conn.entries_page(&redaction.entity, &redaction.entity_key, after, 1_000)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for entry in &page {
            let erase = |text: &Option<String>, changed: &mut bool| {
                text.as_deref()
                    .map(|text| {
                        let mut map = image::parse(entry.seq, text)?;
                        for column in &columns {
                            if let Some(value) = map.get_mut(column) {
                                if !image::is_redacted(value) {
                                    *value = image::redacted_marker();
                                    *changed = true;
                                }
                            }
                        }
                        Ok::<_, Error>(serde_json::Value::Object(map).to_string())
                    })
                    .transpose()
            };
            let mut changed = false;
            let before = erase(&entry.before_image, &mut changed)?;
            let after_image = erase(&entry.after_image, &mut changed)?;
            if changed {
                conn.rewrite_images(entry.seq, before.as_deref(), after_image.as_deref())?;
            }
        }
    }
    (sql.insert_redaction)(conn, redaction)?;
    Ok(1)
}
