//! `check`: the journal against itself and against the stored rows, changing nothing.

use std::collections::BTreeSet;
use std::fmt;

use crate::backend::{JournalConn, Scope};
use crate::capture::check_captures;
use crate::entity_check::{check_raw, Problem};
use crate::error::Error;
use crate::registry;

/// What [`check`] looked at and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Entities (distinct table and key) in the journal.
    pub entities: usize,
    /// Journal entries read.
    pub entries: usize,
    /// Everything found wrong, by entity.
    pub problems: Vec<Problem>,
}

impl Report {
    /// `true` when nothing was found wrong.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "checked {} entries of {} entities: {} problems",
            self.entries,
            self.entities,
            self.problems.len()
        )?;
        self.problems.iter().try_for_each(|p| writeln!(f, "- {p}"))
    }
}

/// Checks the whole journal, changing nothing: every entity whose stored row disagrees with its
/// newest entry, every broken chain (an entry that does not start where the previous one of its
/// entity ended), and every unreadable journal row or image.
///
/// It reads the journal one entity at a time, in one transaction so that rows and journal are
/// seen at one instant.
pub fn check<C: JournalConn>(conn: &mut C) -> Result<Report, Error> {
    conn.atomically(Scope::Many, |conn| {
        let mut report = Report::default();
        let mut unknown = BTreeSet::new();
        for (entity, key) in conn.entities()? {
            let entries = conn.entries_page(&entity, &key, i64::MIN, i64::MAX)?;
            report.entities += 1;
            report.entries += entries.len();
            match registry::registered::<C>(&entity, None) {
                Some(registration) => report.problems.extend(registration.check(conn, &entries)?),
                None => {
                    report.problems.extend(check_raw(&entries));
                    unknown.insert(entity);
                }
            }
        }
        report.problems.extend(check_captures(conn)?);
        report.problems.extend(
            unknown
                .into_iter()
                .map(|entity| Problem::UnknownEntity { entity }),
        );
        Ok(report)
    })
}
