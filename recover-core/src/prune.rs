//! Retention: removing old journal entries, never what keeps an entity restorable.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use crate::backend::{JournalConn, Scope};
use crate::error::Error;

/// What [`Journal::prune`](crate::Journal::prune) keeps. An entry is removed only when every
/// rule given lets it go; the newest entry of every entity is always kept, so every entity stays
/// restorable to its current state and `undo` of its newest change still works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    keep_last: Option<usize>,
    keep_since: Option<DateTime<Utc>>,
    batch: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            keep_last: None,
            keep_since: None,
            batch: 1_000,
        }
    }
}

impl Retention {
    /// A policy that keeps everything until told what may go.
    pub fn new() -> Self {
        Retention::default()
    }

    /// Keep the newest `n` entries of every entity (at least one).
    pub fn keep_last(mut self, n: usize) -> Self {
        self.keep_last = Some(n.max(1));
        self
    }

    /// Keep every entry recorded at or after `t`.
    pub fn keep_since(mut self, t: DateTime<Utc>) -> Self {
        self.keep_since = Some(t);
        self
    }

    /// Remove at most `n` entries per transaction (default 1,000), so that pruning never holds
    /// a long lock.
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch = n.max(1);
        self
    }
}

/// What [`Journal::prune`](crate::Journal::prune) did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Entities (distinct table and key) examined.
    pub entities: usize,
    /// Journal entries removed.
    pub removed: usize,
    /// Transactions it took.
    pub batches: usize,
}

/// Removes what `policy` lets go. A changeset of several entries goes whole or not at all, so
/// that `undo_changeset` never reverts part of one.
pub(crate) fn prune<C: JournalConn>(
    conn: &mut C,
    policy: &Retention,
) -> Result<PruneReport, Error> {
    if policy.keep_last.is_none() && policy.keep_since.is_none() {
        return Err(Error::Unsupported(
            "a retention policy needs keep_last(n) or keep_since(t): this one keeps everything",
        ));
    }
    let since = policy.keep_since.map(|t| t.timestamp_micros());
    let mut report = PruneReport::default();
    let mut batch = Vec::new();
    // Candidates from changesets of several entries, by changeset: decided once all are seen.
    let mut grouped: BTreeMap<i64, BTreeSet<i64>> = BTreeMap::new();
    for (entity, key) in conn.entities()? {
        report.entities += 1;
        let entries = conn.entry_times(&entity, &key)?;
        let keep = policy.keep_last.unwrap_or(1);
        for &(seq, changeset_id, recorded_at) in entries.iter().skip(keep) {
            if since.is_some_and(|since| recorded_at >= since) {
                continue;
            }
            if changeset_id == seq && conn.changeset_last_seq(seq)?.is_none() {
                batch.push(seq);
                if batch.len() >= policy.batch {
                    flush(conn, &mut batch, &[], &mut report)?;
                }
            } else {
                grouped.entry(changeset_id).or_default().insert(seq);
            }
        }
    }
    flush(conn, &mut batch, &[], &mut report)?;
    for (id, candidates) in grouped {
        let last = conn.changeset_last_seq(id)?.unwrap_or(id);
        let all = conn.changeset_entries(id, last)?;
        if all.iter().all(|e| candidates.contains(&e.seq)) {
            let mut seqs: Vec<i64> = all.iter().map(|e| e.seq).collect();
            flush(conn, &mut seqs, &[id], &mut report)?;
        }
    }
    Ok(report)
}

fn flush<C: JournalConn>(
    conn: &mut C,
    seqs: &mut Vec<i64>,
    changesets: &[i64],
    report: &mut PruneReport,
) -> Result<(), Error> {
    if seqs.is_empty() {
        return Ok(());
    }
    report.removed += conn.atomically(Scope::Many, |conn| {
        Ok(conn.remove_entries(seqs, changesets)?)
    })?;
    report.batches += 1;
    seqs.clear();
    Ok(())
}
