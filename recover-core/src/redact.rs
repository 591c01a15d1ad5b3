//! Erasure: a column's values removed from every image of one entity, for privacy requests.

use serde_json::{Map, Value};

use crate::backend::JournalConn;
use crate::clock::now_micros;
use crate::error::Error;
use crate::image::{self, ImageColumn};
use crate::model::Recoverable;
use crate::record::Settings;
use crate::row_image;

/// What [`Journal::redact`](crate::Journal::redact) erased.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RedactReport {
    /// Journal entries whose images changed.
    pub entries: usize,
    /// Values erased (one column of one image each).
    pub values: usize,
}

/// Replaces the named columns' values in every image of the entity with the redaction marker,
/// and records who did it, when, and which columns (not the values).
pub(crate) fn redact<T: Recoverable, C: JournalConn>(
    conn: &mut C,
    settings: Settings<'_>,
    key: &T::Key,
    columns: &[&str],
) -> Result<RedactReport, Error> {
    let targets = columns
        .iter()
        .map(|&name| {
            let invalid = |problem| Error::InvalidColumn {
                entity: T::ENTITY,
                column: name.to_owned(),
                problem,
            };
            match T::COLUMNS.iter().find(|c| c.name == name) {
                Some(c) if c.key => Err(invalid(
                    "is a key column: the journal finds the entity by it, it cannot be redacted",
                )),
                Some(c) => Ok(c),
                None => Err(invalid("is not a column of the entity's images")),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    if targets.is_empty() {
        return Err(Error::Unsupported("redact needs at least one column"));
    }
    let key_text = row_image::encode_key::<T>(key)?;
    let mut report = RedactReport::default();
    let mut after = i64::MIN;
    loop {
        let page = conn.entries_page(T::ENTITY, &key_text, after, 1_000)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for entry in &page {
            let erase = |text: &Option<String>, count: &mut usize| {
                text.as_deref()
                    .map(|text| {
                        let mut map = image::parse(entry.seq, text)?;
                        *count += erase_columns(&mut map, &targets);
                        Ok::<_, Error>(Value::Object(map).to_string())
                    })
                    .transpose()
            };
            let mut values = 0;
            let before = erase(&entry.before_image, &mut values)?;
            let after_image = erase(&entry.after_image, &mut values)?;
            if values > 0 {
                conn.rewrite_images(entry.seq, before.as_deref(), after_image.as_deref())?;
                report.entries += 1;
                report.values += values;
            }
        }
    }
    let names: Vec<&str> = targets.iter().map(|c| c.name).collect();
    let names = serde_json::to_string(&names).unwrap_or_default();
    conn.append_redaction(
        T::ENTITY,
        &key_text,
        &names,
        settings.actor,
        settings.reason,
        now_micros(),
    )?;
    Ok(report)
}

/// Erases the columns (under their current or old names) from one image; how many it erased.
fn erase_columns(map: &mut Map<String, Value>, columns: &[&ImageColumn]) -> usize {
    let mut erased = 0;
    for column in columns {
        for name in std::iter::once(column.name).chain(column.renamed_from.iter().copied()) {
            if let Some(value) = map.get_mut(name) {
                if !image::is_redacted(value) {
                    *value = image::redacted_marker();
                    erased += 1;
                }
            }
        }
    }
    erased
}
