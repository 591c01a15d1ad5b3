//! Compare: does the live journal still hold every exported entry and changeset unchanged?

use std::io::Read;

use serde_json::{Map, Value};

use crate::backend::JournalConn;
use crate::error::Error;
use crate::export::{ExportReader, Line};
use crate::export_sql::Carry;
use crate::image;
use crate::schema::{ChangesetRow, EntryRow};

/// Entries looked up per query.
const BATCH: usize = 500;

/// What [`compare`] found, by seq. Retention (`prune`) records nothing, so an entry it removed
/// since the export is reported as missing, like one deleted by hand: tell them apart by your
/// retention policy (prune keeps every entity's newest entry).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompareReport {
    /// Exported entries compared.
    pub entries: u64,
    /// Exported changeset rows compared.
    pub changesets: u64,
    /// Entries whose live row differs from the export, with the columns that differ.
    pub altered: Vec<(i64, Vec<String>)>,
    /// Entries no longer in the live journal.
    pub missing: Vec<i64>,
    /// Entries whose images differ only by values a recorded `redact` erased since the export.
    pub redacted: Vec<i64>,
    /// Changeset rows (by id) that differ from the export or are gone.
    pub changesets_altered: Vec<i64>,
}

impl CompareReport {
    /// Whether nothing was altered or removed (redactions are not tampering).
    pub fn is_clean(&self) -> bool {
        self.altered.is_empty() && self.missing.is_empty() && self.changesets_altered.is_empty()
    }
}

/// Checks that the live journal still holds every entry and changeset row of an export (its
/// chain verified as it is read), and reports by seq each one altered or missing since. A
/// `redact` recorded since the export is reported in [`CompareReport::redacted`], not as
/// tampering: the images differ only where the redaction marker replaced a column that a
/// `recover_redactions` row of that entity names.
///
/// ```no_run
/// # use diesel::{Connection, SqliteConnection};
/// let mut conn = SqliteConnection::establish("bank.db")?;
/// let report = recover_core::compare(&mut conn, std::fs::File::open("journal.jsonl")?)?;
/// for (seq, columns) in &report.altered {
///     println!("entry {seq} was altered: {}", columns.join(", "));
/// }
/// assert!(report.is_clean(), "missing: {:?}", report.missing);
/// # Ok::<(), recover_core::Error>(())
/// ```
pub fn compare<C: JournalConn>(conn: &mut C, reader: impl Read) -> Result<CompareReport, Error> {
    let mut lines = ExportReader::new(reader);
    let mut report = CompareReport::default();
    let mut entries = Vec::new();
    let mut changesets = Vec::new();
    while let Some(line) = lines.next_line()? {
        match line {
            Line::Entry(entry) => entries.push(EntryRow::from(entry)),
            Line::Changeset(changeset) => changesets.push(ChangesetRow::from(changeset)),
            _ => {}
        }
        if entries.len() >= BATCH {
            compare_entries(conn, &mut entries, &mut report)?;
        }
        if changesets.len() >= BATCH {
            compare_changesets(conn, &mut changesets, &mut report)?;
        }
    }
    compare_entries(conn, &mut entries, &mut report)?;
    compare_changesets(conn, &mut changesets, &mut report)?;
    Ok(report)
}

fn compare_entries<C: JournalConn>(
    conn: &mut C,
    exported: &mut Vec<EntryRow>,
    report: &mut CompareReport,
) -> Result<(), Error> {
    let sql = C::pick::<Carry>();
    let seqs: Vec<i64> = exported.iter().map(|e| e.seq).collect();
    let mut live = (sql.entries_in)(conn, &seqs)?;
    live.sort_by_key(|e| e.seq);
    for old in exported.drain(..) {
        report.entries += 1;
        let Ok(at) = live.binary_search_by_key(&old.seq, |e| e.seq) else {
            report.missing.push(old.seq);
            continue;
        };
        let now = &live[at];
        if *now == old {
            continue;
        }
        let mut columns = differing(&old, now);
        let images = ["before_image", "after_image"];
        if columns.iter().all(|c| images.contains(&c.as_str())) {
            let erased = erased_columns(conn, &old.entity, &old.entity_key)?;
            if redacted_only(&old.before_image, &now.before_image, &erased)
                && redacted_only(&old.after_image, &now.after_image, &erased)
            {
                report.redacted.push(old.seq);
                continue;
            }
        }
        columns.sort();
        report.altered.push((old.seq, columns));
    }
    Ok(())
}

fn compare_changesets<C: JournalConn>(
    conn: &mut C,
    exported: &mut Vec<ChangesetRow>,
    report: &mut CompareReport,
) -> Result<(), Error> {
    let ids: Vec<i64> = exported.iter().map(|c| c.id).collect();
    let live = (C::pick::<Carry>().changesets_in)(conn, &ids)?;
    for old in exported.drain(..) {
        report.changesets += 1;
        if !live.contains(&old) {
            report.changesets_altered.push(old.id);
        }
    }
    Ok(())
}

/// The names of the journal columns that differ between two rows of one seq.
fn differing(old: &EntryRow, now: &EntryRow) -> Vec<String> {
    let mut columns = Vec::new();
    let mut check = |name: &str, same: bool| {
        if !same {
            columns.push(name.to_owned());
        }
    };
    check("changeset_id", old.changeset_id == now.changeset_id);
    check("entity", old.entity == now.entity);
    check("entity_key", old.entity_key == now.entity_key);
    check("op", old.op == now.op);
    check(
        "before_image",
        same_image(&old.before_image, &now.before_image),
    );
    check(
        "after_image",
        same_image(&old.after_image, &now.after_image),
    );
    check("undoes", old.undoes == now.undoes);
    check("undo_next", old.undo_next == now.undo_next);
    check("redo_next", old.redo_next == now.redo_next);
    check("actor", old.actor == now.actor);
    check("reason", old.reason == now.reason);
    check("recorded_at", old.recorded_at == now.recorded_at);
    columns
}

/// Two images are the same text, or the same JSON (a database may store JSON text respaced).
fn same_image(old: &Option<String>, now: &Option<String>) -> bool {
    match (old, now) {
        (Some(old), Some(now)) => old == now || parsed(old).is_some_and(|o| parsed(now) == Some(o)),
        (None, None) => true,
        _ => false,
    }
}

fn parsed(text: &str) -> Option<Map<String, Value>> {
    image::parse(0, text).ok()
}

/// Every column any redaction of the entity erased.
fn erased_columns<C: JournalConn>(
    conn: &mut C,
    entity: &str,
    key: &str,
) -> Result<Vec<String>, Error> {
    let mut erased = Vec::new();
    for text in (C::pick::<Carry>().redacted_columns)(conn, entity, key)? {
        // A row that is not a JSON array of names erases nothing it can vouch for.
        erased.extend(serde_json::from_str::<Vec<String>>(&text).unwrap_or_default());
    }
    Ok(erased)
}

/// The live image differs from the exported one only by the redaction marker in columns a
/// recorded redaction erased.
fn redacted_only(old: &Option<String>, now: &Option<String>, erased: &[String]) -> bool {
    let (old, now) = match (old, now) {
        (None, None) => return true,
        (Some(old), Some(now)) => match (parsed(old), parsed(now)) {
            (Some(old), Some(now)) => (old, now),
            _ => return false,
        },
        _ => return false,
    };
    old.len() == now.len()
        && old.iter().all(|(column, value)| match now.get(column) {
            Some(live) if live == value => true,
            Some(live) => image::is_redacted(live) && erased.iter().any(|e| e == column),
            None => false,
        })
}
