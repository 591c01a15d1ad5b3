//! Table restore: every entity of a table back to its state at an instant, as one changeset.

use chrono::{DateTime, Utc};

use crate::backend::JournalConn;
use crate::error::Error;
use crate::model_ops::ModelOps;
use crate::record::Recording;
use crate::revert::{self, At};

/// How far a table restore has got: called after each entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Entities restored so far.
    pub done: usize,
    /// Entities to restore: those with a journal entry after the instant.
    pub total: usize,
}

/// Restores every entity of a model changed since `t` to its state at `t`. Time and memory
/// grow with the entries recorded since `t`, not with the table or the journal.
pub(crate) fn restore_table<C: JournalConn>(
    conn: &mut C,
    rec: &mut Recording<'_>,
    model: &ModelOps<C>,
    t: DateTime<Utc>,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), Error> {
    let micros = t.timestamp_micros();
    let Some(from_seq) = first_seq_after(conn, micros)? else {
        return Ok(()); // nothing recorded since t
    };
    let keys = conn.keys_since(model.entity, from_seq)?;
    let total = keys.len();
    let mut conflicts = Vec::new();
    for (done, key_text) in keys.iter().enumerate() {
        // A key text of the journal that is not a key of the model: corrupt.
        model.check_key(from_seq, key_text)?;
        match revert::restore(conn, rec, model, key_text, At::Time(t)) {
            // A conflict is found before anything of that entity is written: go on, to report
            // every conflicting entity at once.
            Err(Error::Conflict { key, columns, .. }) => conflicts.push((key, columns)),
            other => other?,
        }
        progress(Progress {
            done: done + 1,
            total,
        });
    }
    if conflicts.is_empty() {
        Ok(())
    } else {
        Err(Error::TableConflict {
            entity: model.entity,
            conflicts,
        })
    }
}

/// The seq of the journal's first entry recorded after `micros` (`None`: there is none), found
/// by reading the journal backwards from its end; `Error::BeforeJournal` when the journal holds
/// nothing as old as `micros`.
fn first_seq_after<C: JournalConn>(conn: &mut C, micros: i64) -> Result<Option<i64>, Error> {
    const PAGE: i64 = 1_000;
    let mut first_after = None;
    let mut before = i64::MAX;
    loop {
        let page = conn.times_before(before, PAGE)?;
        for &(seq, recorded_at) in &page {
            if recorded_at <= micros {
                return Ok(first_after);
            }
            first_after = Some(seq);
        }
        match page.last() {
            Some(&(seq, _)) if page.len() as i64 == PAGE => before = seq,
            // The whole journal is younger than t: t is before the journal began.
            _ if first_after.is_some() => {
                return Err(Error::BeforeJournal {
                    at: DateTime::from_timestamp_micros(micros).unwrap_or_default(),
                })
            }
            _ => return Ok(None),
        }
    }
}
