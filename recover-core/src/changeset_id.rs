//! The id of a changeset, as every recording call returns it.

/// The id of a changeset: every recording call gets one, and `Journal::undo_changeset` takes it.
///
/// It is the seq of the changeset's first journal entry (`recover_journal.changeset_id`), so it
/// can be stored and turned back into an id with [`ChangesetId::from`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChangesetId(pub(crate) i64);

impl ChangesetId {
    /// The id of a changeset block that recorded nothing; undoing it does nothing.
    pub const EMPTY: ChangesetId = ChangesetId(0);

    /// The id as stored in `recover_journal.changeset_id`.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl From<i64> for ChangesetId {
    fn from(id: i64) -> Self {
        ChangesetId(id)
    }
}
