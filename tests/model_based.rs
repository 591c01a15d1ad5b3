//! Model-based property test: random sequences of recorded changes, undo, redo, restores (to a
//! version, out-of-range ones included, and to an instant), changesets that may fail halfway,
//! changeset undos (of real and made-up ids), edits made outside recover, and a few calls inside
//! the caller's own transaction (committed or rolled back), run against a real database and
//! against an in-memory model of DESIGN.md section 3. After every step the stored rows, the
//! result (ok, or which error with which details), every entity's history (op, images,
//! `undoes`, changeset, actor, `changed_columns`, `recorded_at`) and the problems
//! `recover::check` reports must agree with the model.
//!
//! The model is written from the design:
//!
//! - per entity: its entries (op, before-image, after-image, the entry it undoes, the step that
//!   recorded it, its changeset), an undo stack and a redo stack of entries, as in an editor;
//! - a new change (insert, update, delete, restore) is pushed on the undo stack and clears the
//!   redo stack; `undo` pops the undo stack, writes that entry's before-image and pushes the undo
//!   entry on the redo stack; `redo` pops the redo stack, writes that undo entry's before-image
//!   and pushes the redo entry on the undo stack (so undo can revert a redo);
//! - undo, redo and restore first compare the stored row with the after-image of the entity's
//!   newest entry (every column: `Account` has no skipped field): a difference is a `Conflict`
//!   and nothing is written, unless forced. "Nothing to undo/redo", "no history" and "no such
//!   version" are reported before a conflict;
//! - `undo_changeset` reverts the changeset's entries newest first; the conflict baseline is the
//!   changeset's own last after-image of each entity. DESIGN.md leaves the stacks open here; the
//!   model takes an entry on top of the undo stack as an undo (popped), one on top of the redo
//!   stack as a redo (popped), and reverts any other by a new change (`redo` if it was an undo,
//!   else `undo`) that clears the redo stack. `ChangesetId::EMPTY` undoes nothing;
//! - every call is all-or-nothing, inside the caller's transaction too: a failing call leaves
//!   the model as it was;
//! - `check` reports a `BrokenChain` for every entry whose before-image is not its predecessor's
//!   after-image, and a `RowDiffers` for every stored row that is not its newest after-image.
//!
//! Cases: `RECOVER_PROPTEST_CASES` (default 5,000 on SQLite, 500 on PostgreSQL and 200 on MySQL,
//! each for the recorded model and for capture mode; every test prints its count). Failing seeds
//! are persisted in `tests/regressions/model_based.txt` and replayed first on every run; the
//! minimal sequences found so far are kept at the end as plain `#[test]`s.

mod common;

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use common::{accounts, Account, TestDb};
use diesel::prelude::*;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, FileFailurePersistence, TestCaseError};
use recover::{At, ChangesetId, Error, Journal, Op, Problem};
use serde_json::{json, Value};

const COLUMNS: [&str; 5] = ["id", "owner", "balance", "status", "note"];
const IDS: [i32; 3] = [1, 2, 3];
const ACTOR: &str = "model";

// ---------------------------------------------------------------------------------------------
// The operations
// ---------------------------------------------------------------------------------------------

/// One step of a sequence, as generated. `u16` picks are reduced modulo what exists when the
/// step runs (shrinking moves them towards 0, the first choice).
#[derive(Debug, Clone)]
enum Step {
    Insert(Account),
    Update(Account),
    /// Delete by row (`false`) or by key (`true`).
    Delete(i32, bool),
    /// The bool asks for `Journal::force()`.
    Undo(i32, bool),
    Redo(i32, bool),
    /// Version `pick % (entries + 2)`: 0 and entries + 1 are out of range.
    RestoreVersion(i32, u16, bool),
    /// One of the instants captured before the first step and after each step.
    RestoreTime(i32, u16, bool),
    Changeset(Vec<Sub>),
    UndoChangeset(Pick, bool),
    /// `update_where(id BETWEEN lo AND hi, balance = ..)`.
    UpdateWhere(i32, i32, i64),
    /// `delete_where(id BETWEEN lo AND hi)`.
    DeleteWhere(i32, i32),
    /// `UPDATE accounts SET balance = .. WHERE id = ..`, outside recover.
    RawUpdate(i32, i64),
    /// `DELETE FROM accounts WHERE id = ..`, outside recover.
    RawDelete(i32),
    /// An insert outside recover, when the row does not exist.
    RawInsert(i32, i64),
    /// These steps (never another `UserTx`) inside the caller's own `conn.transaction(..)`,
    /// committed (`true`) or rolled back: recover works in savepoints, and a call that fails
    /// inside leaves the calls before it in place.
    UserTx(Vec<Step>, bool),
}

/// One operation inside `journal.changeset(..)`.
#[derive(Debug, Clone)]
enum Sub {
    Insert(Account),
    Update(Account),
    Delete(i32),
    Undo(i32),
    /// Version `pick % (entries at the start of the changeset + 2)`.
    Restore(i32, u16),
    UpdateWhere(i32, i32, i64),
    DeleteWhere(i32, i32),
}

/// Which changeset `undo_changeset` is given.
#[derive(Debug, Clone)]
enum Pick {
    /// One returned by an earlier step.
    Real(u16),
    /// 0: `ChangesetId::EMPTY`; 1: a negative id; 2: an id far beyond the journal; 3: the seq
    /// of the newest entry of a multi-entry changeset (not a changeset id).
    MadeUp(u8),
}

/// Entity ids, the first more often: longer histories per entity.
fn id() -> impl Strategy<Value = i32> {
    prop_oneof![3 => Just(1), 2 => Just(2), 1 => Just(3)]
}

fn account() -> impl Strategy<Value = Account> {
    let balance = prop_oneof![
        6 => 0..3i64,
        1 => Just(-1i64),
        1 => Just(i64::MIN),
        1 => Just(i64::MAX),
    ];
    let note = prop_oneof![
        4 => Just(None),
        1 => Just(Some(String::new())),
        1 => Just(Some("n".to_owned())),
        1 => Just(Some("it's \"q\" \\ ☃ 🎉".to_owned())),
    ];
    (
        id(),
        prop::sample::select(vec!["ann", "ben"]),
        balance,
        prop::sample::select(vec!["open", "closed"]),
        note,
    )
        .prop_map(|(id, owner, balance, status, note)| Account {
            id,
            owner: owner.into(),
            balance,
            status: status.into(),
            note,
        })
}

fn sub() -> impl Strategy<Value = Sub> {
    prop_oneof![
        3 => account().prop_map(Sub::Insert),
        4 => account().prop_map(Sub::Update),
        2 => id().prop_map(Sub::Delete),
        1 => id().prop_map(Sub::Undo),
        1 => (id(), any::<u16>()).prop_map(|(id, n)| Sub::Restore(id, n)),
        1 => (id(), id(), 0..3i64).prop_map(|(lo, hi, b)| Sub::UpdateWhere(lo, hi, b)),
        1 => (id(), id()).prop_map(|(lo, hi)| Sub::DeleteWhere(lo, hi)),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let force = || prop::bool::weighted(0.15);
    prop_oneof![
        5 => account().prop_map(Step::Insert),
        5 => account().prop_map(Step::Update),
        2 => (id(), any::<bool>()).prop_map(|(id, k)| Step::Delete(id, k)),
        5 => (id(), force()).prop_map(|(id, f)| Step::Undo(id, f)),
        4 => (id(), force()).prop_map(|(id, f)| Step::Redo(id, f)),
        2 => (id(), any::<u16>(), force()).prop_map(|(id, n, f)| Step::RestoreVersion(id, n, f)),
        2 => (id(), any::<u16>(), force()).prop_map(|(id, t, f)| Step::RestoreTime(id, t, f)),
        3 => prop::collection::vec(sub(), 1..=3).prop_map(Step::Changeset),
        3 => (
            prop_oneof![4 => any::<u16>().prop_map(Pick::Real), 1 => (0..4u8).prop_map(Pick::MadeUp)],
            force(),
        )
            .prop_map(|(p, f)| Step::UndoChangeset(p, f)),
        2 => (id(), id(), 0..3i64).prop_map(|(lo, hi, b)| Step::UpdateWhere(lo, hi, b)),
        1 => (id(), id()).prop_map(|(lo, hi)| Step::DeleteWhere(lo, hi)),
        2 => (id(), 0..3i64).prop_map(|(id, b)| Step::RawUpdate(id, b)),
        1 => id().prop_map(Step::RawDelete),
        1 => (id(), 0..3i64).prop_map(|(id, b)| Step::RawInsert(id, b)),
    ]
}

/// A step, or a few of them inside the caller's transaction.
fn top_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        20 => step(),
        1 => (prop::collection::vec(step(), 1..=4), prop::bool::weighted(0.7))
            .prop_map(|(steps, commit)| Step::UserTx(steps, commit)),
    ]
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(top_step(), 1..=40)
}

/// A step with its picks resolved against the current state.
#[derive(Debug, Clone)]
enum Act {
    Insert(Account),
    Update(Account),
    Delete(i32, bool),
    Undo(i32, bool),
    Redo(i32, bool),
    Restore(i32, Target, bool),
    Changeset(Vec<SubAct>),
    UndoChangeset(CsTarget, bool),
    UpdateWhere(i32, i32, i64),
    DeleteWhere(i32, i32),
    RawUpdate(i32, i64),
    RawDelete(i32),
    RawInsert(i32, i64),
    UserTx(Vec<Act>, bool),
}

#[derive(Debug, Clone)]
enum SubAct {
    Insert(Account),
    Update(Account),
    Delete(i32),
    Undo(i32),
    Restore(i32, usize),
    UpdateWhere(i32, i32, i64),
    DeleteWhere(i32, i32),
}

/// What a restore targets: a version, or the instant with this index (captured before the
/// step of the same index ran).
#[derive(Debug, Clone, Copy)]
enum Target {
    Version(usize),
    Time(usize, DateTime<Utc>),
}

#[derive(Debug, Clone, Copy)]
enum CsTarget {
    /// The model's changeset number (its id is the one the library returned for it).
    Known(usize),
    /// An id that names no changeset (or `EMPTY`).
    Unknown(ChangesetId),
}

// ---------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct MEntry {
    op: Op,
    before: Option<Account>,
    after: Option<Account>,
    /// Index (in the entity's entries) of the entry it reverts.
    undoes: Option<usize>,
    /// The step that recorded it.
    step: usize,
    /// The model's changeset number.
    cs: usize,
}

#[derive(Debug, Clone, Default)]
struct EntityModel {
    entries: Vec<MEntry>,
    undo: Vec<usize>,
    redo: Vec<usize>,
}

#[derive(Debug, Clone, Default)]
struct Model {
    rows: BTreeMap<i32, Account>,
    entities: BTreeMap<i32, EntityModel>,
    /// Every changeset: its entries as (entity id, index), in order.
    changesets: Vec<Vec<(i32, usize)>>,
    /// Capture mode: the raw edits are journaled by the table's triggers (each inside a
    /// `journal.transaction`, so that the harness learns its changeset's id).
    captured: bool,
}

/// An expected (or observed) failure, with the details that can be predicted.
#[derive(Debug, Clone, PartialEq)]
enum Failure {
    NotFound(String),
    AlreadyExists(String),
    NothingToUndo(String),
    NothingToRedo(String),
    Conflict {
        key: String,
        expected: Option<Value>,
        actual: Option<Value>,
        columns: Vec<String>,
    },
    VersionOutOfRange {
        key: String,
        requested: usize,
        latest: usize,
    },
    ChangesetNotFound(ChangesetId),
    NoMatch,
    Other(String),
}

fn failure(error: &Error) -> Failure {
    match error {
        Error::NotFound { entity, key } if *entity == "accounts" => Failure::NotFound(key.clone()),
        Error::AlreadyExists { entity, key } if *entity == "accounts" => {
            Failure::AlreadyExists(key.clone())
        }
        Error::NothingToUndo { entity, key } if *entity == "accounts" => {
            Failure::NothingToUndo(key.clone())
        }
        Error::NothingToRedo { entity, key } if *entity == "accounts" => {
            Failure::NothingToRedo(key.clone())
        }
        Error::Conflict {
            entity,
            key,
            expected,
            actual,
            columns,
        } if *entity == "accounts" => Failure::Conflict {
            key: key.clone(),
            expected: expected.as_deref().cloned(),
            actual: actual.as_deref().cloned(),
            columns: columns.clone(),
        },
        Error::VersionOutOfRange {
            entity,
            key,
            requested,
            latest,
        } if *entity == "accounts" => Failure::VersionOutOfRange {
            key: key.clone(),
            requested: *requested,
            latest: *latest,
        },
        Error::ChangesetNotFound(id) => Failure::ChangesetNotFound(*id),
        Error::NoMatch { entity } if *entity == "accounts" => Failure::NoMatch,
        other => Failure::Other(format!("{other:?}")),
    }
}

/// The JSON image of a row, keyed by column name.
fn image(a: &Account) -> Value {
    json!({"id": a.id, "owner": a.owner, "balance": a.balance, "status": a.status, "note": a.note})
}

/// The columns that differ between two states of a row (all of them when one is absent).
fn diff_columns(a: &Option<Account>, b: &Option<Account>) -> Vec<String> {
    let (a, b) = match (a, b) {
        (None, None) => return Vec::new(),
        (Some(a), Some(b)) => (image(a), image(b)),
        _ => return COLUMNS.iter().map(|c| c.to_string()).collect(),
    };
    COLUMNS
        .iter()
        .filter(|c| a[**c] != b[**c])
        .map(|c| c.to_string())
        .collect()
}

/// Where a new entry leaves the stacks (the entry it reverts is already popped).
enum Stack {
    /// A new change: pushed on the undo stack; the redo stack is cleared.
    Push,
    /// An undo: pushed on the redo stack.
    Undone,
    /// A redo: pushed on the undo stack.
    Redone,
}

/// One call in progress on a copy of the model: dropped on failure (all-or-nothing).
struct Call {
    m: Model,
    step: usize,
    force: bool,
    pending: Vec<(i32, usize)>,
}

impl Call {
    fn new(model: &Model, step: usize, force: bool) -> Self {
        Call {
            m: model.clone(),
            step,
            force,
            pending: Vec::new(),
        }
    }

    /// The new model, and the changeset number of the call (`None`: it recorded nothing).
    fn finish(mut self) -> (Model, Option<usize>) {
        if self.pending.is_empty() {
            return (self.m, None);
        }
        self.m.changesets.push(self.pending);
        let cs = self.m.changesets.len() - 1;
        (self.m, Some(cs))
    }

    fn stored(&self, id: i32) -> Option<Account> {
        self.m.rows.get(&id).cloned()
    }

    fn set_row(&mut self, id: i32, row: Option<Account>) {
        match row {
            Some(row) => self.m.rows.insert(id, row),
            None => self.m.rows.remove(&id),
        };
    }

    fn entity(&mut self, id: i32) -> &mut EntityModel {
        self.m.entities.entry(id).or_default()
    }

    fn entries(&self, id: i32) -> &[MEntry] {
        self.m
            .entities
            .get(&id)
            .map_or(&[][..], |e| e.entries.as_slice())
    }

    /// The after-image of the entity's newest entry (absent when it has none).
    fn newest_after(&self, id: i32) -> Option<Account> {
        self.entries(id).last().and_then(|e| e.after.clone())
    }

    fn append(
        &mut self,
        id: i32,
        op: Op,
        before: Option<Account>,
        after: Option<Account>,
        undoes: Option<usize>,
        stack: Stack,
    ) {
        let (step, cs) = (self.step, self.m.changesets.len());
        let entity = self.entity(id);
        let index = entity.entries.len();
        entity.entries.push(MEntry {
            op,
            before,
            after,
            undoes,
            step,
            cs,
        });
        match stack {
            Stack::Push => {
                entity.undo.push(index);
                entity.redo.clear();
            }
            Stack::Undone => entity.redo.push(index),
            Stack::Redone => entity.undo.push(index),
        }
        self.pending.push((id, index));
    }

    /// `Conflict` unless the stored row equals `baseline` (or the call is forced).
    fn check_conflict(&self, id: i32, baseline: &Option<Account>) -> Result<(), Failure> {
        let stored = self.stored(id);
        if self.force || stored == *baseline {
            return Ok(());
        }
        Err(Failure::Conflict {
            key: id.to_string(),
            expected: baseline.as_ref().map(image),
            actual: stored.as_ref().map(image),
            columns: diff_columns(baseline, &stored),
        })
    }

    /// Makes the row hold `image` and journals it.
    fn write(&mut self, id: i32, op: Op, image: Option<Account>, undoes: Option<usize>, s: Stack) {
        let before = self.stored(id);
        self.set_row(id, image.clone());
        self.append(id, op, before, image, undoes, s);
    }

    fn insert(&mut self, row: &Account) -> Result<(), Failure> {
        if self.stored(row.id).is_some() {
            return Err(Failure::AlreadyExists(row.id.to_string()));
        }
        self.write(row.id, Op::Insert, Some(row.clone()), None, Stack::Push);
        Ok(())
    }

    fn update(&mut self, row: &Account) -> Result<(), Failure> {
        if self.stored(row.id).is_none() {
            return Err(Failure::NotFound(row.id.to_string()));
        }
        self.write(row.id, Op::Update, Some(row.clone()), None, Stack::Push);
        Ok(())
    }

    fn delete(&mut self, id: i32) -> Result<(), Failure> {
        if self.stored(id).is_none() {
            return Err(Failure::NotFound(id.to_string()));
        }
        self.write(id, Op::Delete, None, None, Stack::Push);
        Ok(())
    }

    /// The stored rows with `lo <= id <= hi`, in key order (the order bulk entries take).
    fn matching(&self, lo: i32, hi: i32) -> Result<Vec<Account>, Failure> {
        let rows: Vec<Account> = self
            .m
            .rows
            .values()
            .filter(|a| lo <= a.id && a.id <= hi)
            .cloned()
            .collect();
        if rows.is_empty() {
            return Err(Failure::NoMatch);
        }
        Ok(rows)
    }

    fn update_where(&mut self, lo: i32, hi: i32, balance: i64) -> Result<(), Failure> {
        for mut row in self.matching(lo, hi)? {
            row.balance = balance;
            self.write(row.id, Op::Update, Some(row), None, Stack::Push);
        }
        Ok(())
    }

    fn delete_where(&mut self, lo: i32, hi: i32) -> Result<(), Failure> {
        for row in self.matching(lo, hi)? {
            self.write(row.id, Op::Delete, None, None, Stack::Push);
        }
        Ok(())
    }

    fn undo(&mut self, id: i32) -> Result<(), Failure> {
        let Some(&target) = self.entity(id).undo.last() else {
            return Err(Failure::NothingToUndo(id.to_string()));
        };
        self.check_conflict(id, &self.newest_after(id))?;
        self.entity(id).undo.pop();
        let image = self.entries(id)[target].before.clone();
        self.write(id, Op::Undo, image, Some(target), Stack::Undone);
        Ok(())
    }

    fn redo(&mut self, id: i32) -> Result<(), Failure> {
        let Some(&target) = self.entity(id).redo.last() else {
            return Err(Failure::NothingToRedo(id.to_string()));
        };
        self.check_conflict(id, &self.newest_after(id))?;
        self.entity(id).redo.pop();
        let image = self.entries(id)[target].before.clone();
        self.write(id, Op::Redo, image, Some(target), Stack::Redone);
        Ok(())
    }

    fn restore(&mut self, id: i32, target: Target) -> Result<(), Failure> {
        let entries = self.entries(id);
        if entries.is_empty() {
            return Err(Failure::NotFound(id.to_string()));
        }
        let image = match target {
            Target::Version(n) => {
                if n == 0 || n > entries.len() {
                    return Err(Failure::VersionOutOfRange {
                        key: id.to_string(),
                        requested: n,
                        latest: entries.len(),
                    });
                }
                entries[n - 1].after.clone()
            }
            // The state as of instant i: after the newest entry recorded by a step before i.
            Target::Time(i, _) => entries
                .iter()
                .rev()
                .find(|e| e.step < i)
                .and_then(|e| e.after.clone()),
        };
        self.check_conflict(id, &self.newest_after(id))?;
        self.write(id, Op::Restore, image, None, Stack::Push);
        Ok(())
    }

    fn undo_changeset(&mut self, cs: usize) -> Result<(), Failure> {
        let targets = self.m.changesets[cs].clone();
        let mut seen = HashSet::new();
        for &(id, target) in targets.iter().rev() {
            let entry = self.entries(id)[target].clone();
            if seen.insert(id) {
                // The changeset's own last after-image of this entity.
                self.check_conflict(id, &entry.after)?;
            }
            let entity = self.entity(id);
            let (op, stack) = if entity.undo.last() == Some(&target) {
                entity.undo.pop();
                (Op::Undo, Stack::Undone)
            } else if entity.redo.last() == Some(&target) {
                entity.redo.pop();
                (Op::Redo, Stack::Redone)
            } else if entry.op == Op::Undo {
                (Op::Redo, Stack::Push)
            } else {
                (Op::Undo, Stack::Push)
            };
            self.write(id, op, entry.before, Some(target), stack);
        }
        Ok(())
    }
}

impl Model {
    /// Runs one step on the model: the new changeset's number, or the failure.
    fn apply(&mut self, act: &Act, step: usize) -> Result<Option<usize>, Failure> {
        let force = match act {
            Act::Undo(_, f) | Act::Redo(_, f) | Act::Restore(_, _, f) => *f,
            Act::UndoChangeset(_, f) => *f,
            _ => false,
        };
        let mut call = Call::new(self, step, force);
        match act {
            Act::Insert(row) => call.insert(row)?,
            Act::Update(row) => call.update(row)?,
            Act::Delete(id, _) => call.delete(*id)?,
            Act::Undo(id, _) => call.undo(*id)?,
            Act::Redo(id, _) => call.redo(*id)?,
            Act::Restore(id, target, _) => call.restore(*id, *target)?,
            Act::Changeset(subs) => {
                for sub in subs {
                    match sub {
                        SubAct::Insert(row) => call.insert(row)?,
                        SubAct::Update(row) => call.update(row)?,
                        SubAct::Delete(id) => call.delete(*id)?,
                        SubAct::Undo(id) => call.undo(*id)?,
                        SubAct::Restore(id, n) => call.restore(*id, Target::Version(*n))?,
                        SubAct::UpdateWhere(lo, hi, b) => call.update_where(*lo, *hi, *b)?,
                        SubAct::DeleteWhere(lo, hi) => call.delete_where(*lo, *hi)?,
                    }
                }
            }
            Act::UndoChangeset(CsTarget::Known(cs), _) => call.undo_changeset(*cs)?,
            Act::UndoChangeset(CsTarget::Unknown(id), _) => {
                if *id != ChangesetId::EMPTY {
                    return Err(Failure::ChangesetNotFound(*id));
                }
            }
            Act::UpdateWhere(lo, hi, b) => call.update_where(*lo, *hi, *b)?,
            Act::DeleteWhere(lo, hi) => call.delete_where(*lo, *hi)?,
            Act::RawUpdate(id, balance) => match call.stored(*id) {
                // Captured: a change of value is an update entry; the same value, none.
                Some(row) if call.m.captured && row.balance != *balance => {
                    let row = Account {
                        balance: *balance,
                        ..row
                    };
                    call.write(*id, Op::Update, Some(row), None, Stack::Push);
                }
                Some(row) => call.set_row(
                    *id,
                    Some(Account {
                        balance: *balance,
                        ..row
                    }),
                ),
                None => {}
            },
            Act::RawDelete(id) => match call.stored(*id) {
                Some(_) if call.m.captured => call.write(*id, Op::Delete, None, None, Stack::Push),
                _ => call.set_row(*id, None),
            },
            Act::RawInsert(id, balance) => {
                if call.stored(*id).is_none() {
                    let row = Some(raw_row(*id, *balance));
                    if call.m.captured {
                        call.write(*id, Op::Insert, row, None, Stack::Push);
                    } else {
                        call.set_row(*id, row);
                    }
                }
            }
            Act::UserTx(..) => unreachable!("run by Harness::call"),
        }
        let (model, cs) = call.finish();
        *self = model;
        Ok(cs)
    }

    fn entries(&self, id: i32) -> &[MEntry] {
        self.entities
            .get(&id)
            .map_or(&[][..], |e| e.entries.as_slice())
    }
}

fn raw_row(id: i32, balance: i64) -> Account {
    Account {
        id,
        owner: "raw".into(),
        balance,
        status: "open".into(),
        note: None,
    }
}

// ---------------------------------------------------------------------------------------------
// The harness
// ---------------------------------------------------------------------------------------------

/// What the harness knows besides the model: the ids the library returned, the real seqs of
/// every entity's entries, the instants captured between steps.
struct Harness {
    model: Model,
    cs_ids: Vec<ChangesetId>,
    seqs: BTreeMap<i32, Vec<i64>>,
    instants: Vec<DateTime<Utc>>,
}

/// The current instant; returns once the clock has moved to the next microsecond, so that
/// every entry recorded later has a strictly later `recorded_at`.
fn instant() -> DateTime<Utc> {
    let t = Utc::now();
    while Utc::now().timestamp_micros() <= t.timestamp_micros() {
        std::hint::spin_loop();
    }
    t
}

impl Harness {
    fn resolve(&self, step: &Step) -> Act {
        let len = |id: i32| self.model.entries(id).len();
        match step {
            Step::Insert(a) => Act::Insert(a.clone()),
            Step::Update(a) => Act::Update(a.clone()),
            Step::Delete(id, k) => Act::Delete(*id, *k),
            Step::Undo(id, f) => Act::Undo(*id, *f),
            Step::Redo(id, f) => Act::Redo(*id, *f),
            Step::RestoreVersion(id, n, f) => {
                Act::Restore(*id, Target::Version(usize::from(*n) % (len(*id) + 2)), *f)
            }
            Step::RestoreTime(id, t, f) => {
                let i = usize::from(*t) % self.instants.len();
                Act::Restore(*id, Target::Time(i, self.instants[i]), *f)
            }
            Step::Changeset(subs) => Act::Changeset(
                subs.iter()
                    .map(|s| match s {
                        Sub::Insert(a) => SubAct::Insert(a.clone()),
                        Sub::Update(a) => SubAct::Update(a.clone()),
                        Sub::Delete(id) => SubAct::Delete(*id),
                        Sub::Undo(id) => SubAct::Undo(*id),
                        Sub::Restore(id, n) => {
                            SubAct::Restore(*id, usize::from(*n) % (len(*id) + 2))
                        }
                        Sub::UpdateWhere(lo, hi, b) => SubAct::UpdateWhere(*lo, *hi, *b),
                        Sub::DeleteWhere(lo, hi) => SubAct::DeleteWhere(*lo, *hi),
                    })
                    .collect(),
            ),
            Step::UndoChangeset(pick, f) => {
                let far = ChangesetId::from(1 << 40);
                let target = match pick {
                    Pick::Real(_) if self.cs_ids.is_empty() => CsTarget::Unknown(far),
                    Pick::Real(i) => CsTarget::Known(usize::from(*i) % self.cs_ids.len()),
                    Pick::MadeUp(0) => CsTarget::Unknown(ChangesetId::EMPTY),
                    Pick::MadeUp(1) => CsTarget::Unknown(ChangesetId::from(-7)),
                    Pick::MadeUp(2) => CsTarget::Unknown(far),
                    // The newest of its entries: a capture trigger writes a bulk change's
                    // entries in the order the database visits the rows, not in key order.
                    Pick::MadeUp(_) => CsTarget::Unknown(
                        self.model
                            .changesets
                            .iter()
                            .find(|cs| cs.len() > 1)
                            .and_then(|cs| cs.iter().map(|(id, i)| self.seqs[id][*i]).max())
                            .map_or(far, ChangesetId::from),
                    ),
                };
                Act::UndoChangeset(target, *f)
            }
            Step::UpdateWhere(lo, hi, b) => Act::UpdateWhere(*lo, *hi, *b),
            Step::DeleteWhere(lo, hi) => Act::DeleteWhere(*lo, *hi),
            Step::RawUpdate(id, b) => Act::RawUpdate(*id, *b),
            Step::RawDelete(id) => Act::RawDelete(*id),
            Step::RawInsert(id, b) => Act::RawInsert(*id, *b),
            Step::UserTx(steps, commit) => {
                Act::UserTx(steps.iter().map(|s| self.resolve(s)).collect(), *commit)
            }
        }
    }

    fn execute<C: TestDb>(&self, conn: &mut C, act: &Act) -> Result<ChangesetId, Error> {
        let journal = Journal::new().actor(ACTOR);
        let with = |force: bool| {
            if force {
                journal.clone().force()
            } else {
                journal.clone()
            }
        };
        match act {
            Act::Insert(a) => journal.insert(conn, a),
            Act::Update(a) => journal.update(conn, a),
            Act::Delete(id, false) => journal.delete(conn, &raw_row(*id, 0)),
            Act::Delete(id, true) => journal.delete_by_key::<Account>(conn, id),
            Act::Undo(id, f) => with(*f).undo::<Account>(conn, id),
            Act::Redo(id, f) => with(*f).redo::<Account>(conn, id),
            Act::Restore(id, target, f) => {
                let at = match target {
                    Target::Version(n) => At::Version(*n),
                    Target::Time(_, t) => At::Time(*t),
                };
                with(*f).restore::<Account>(conn, id, at)
            }
            Act::Changeset(subs) => journal.changeset(conn, |tx| {
                for sub in subs {
                    match sub {
                        SubAct::Insert(a) => tx.insert(a)?,
                        SubAct::Update(a) => tx.update(a)?,
                        SubAct::Delete(id) => tx.delete(&raw_row(*id, 0))?,
                        SubAct::Undo(id) => tx.undo::<Account>(id)?,
                        SubAct::Restore(id, n) => tx.restore::<Account>(id, At::Version(*n))?,
                        SubAct::UpdateWhere(lo, hi, b) => {
                            tx.update_where::<Account>(
                                accounts::id.between(*lo, *hi),
                                accounts::balance.eq(*b),
                            )?;
                        }
                        SubAct::DeleteWhere(lo, hi) => {
                            tx.delete_where::<Account>(accounts::id.between(*lo, *hi))?;
                        }
                    }
                }
                Ok(())
            }),
            Act::UndoChangeset(target, f) => {
                let id = match target {
                    CsTarget::Known(cs) => self.cs_ids[*cs],
                    CsTarget::Unknown(id) => *id,
                };
                with(*f).undo_changeset(conn, id)
            }
            Act::UpdateWhere(lo, hi, b) => journal.update_where::<Account>(
                conn,
                accounts::id.between(*lo, *hi),
                accounts::balance.eq(*b),
            ),
            Act::DeleteWhere(lo, hi) => {
                journal.delete_where::<Account>(conn, accounts::id.between(*lo, *hi))
            }
            Act::RawUpdate(..) | Act::RawDelete(..) | Act::RawInsert(..) => {
                let sql = match act {
                    Act::RawUpdate(id, balance) => {
                        format!("UPDATE accounts SET balance = {balance} WHERE id = {id}")
                    }
                    Act::RawDelete(id) => format!("DELETE FROM accounts WHERE id = {id}"),
                    Act::RawInsert(id, balance) => format!(
                        "INSERT INTO accounts (id, owner, balance, status, note) \
                         SELECT {id}, 'raw', {balance}, 'open', NULL \
                         WHERE NOT EXISTS (SELECT 1 FROM accounts WHERE id = {id})"
                    ),
                    _ => unreachable!(),
                };
                if self.model.captured {
                    journal.transaction(conn, |conn| {
                        conn.exec(&sql);
                        Ok(())
                    })
                } else {
                    conn.exec(&sql);
                    Ok(ChangesetId::EMPTY)
                }
            }
            Act::UserTx(..) => unreachable!("run by Harness::call"),
        }
    }

    /// Runs one step on both sides and compares everything.
    fn step<C: TestDb>(&mut self, conn: &mut C, no: usize, step: &Step) -> Result<(), String> {
        let act = self.resolve(step);
        self.call(conn, no, &act)?;
        self.instants.push(instant());
        let ctx = |what: &str| format!("step {no} {act:?}: {what}");
        let rows: Vec<Account> = self.model.rows.values().cloned().collect();
        let stored = conn.accounts();
        if stored != rows {
            return Err(ctx(&format!(
                "stored rows {stored:#?}\nmodel rows {rows:#?}"
            )));
        }
        for id in IDS {
            self.compare_history(conn, id).map_err(|e| ctx(&e))?;
        }
        if self.model.captured {
            // A capture trigger journals a bulk change's rows in the order the database visits
            // them, not in key order: the model's changesets take the journal's order.
            let seqs = &self.seqs;
            for changeset in &mut self.model.changesets {
                changeset.sort_by_key(|(id, i)| seqs[id][*i]);
            }
        }
        self.compare_check(conn).map_err(|e| ctx(&e))
    }

    /// Runs one call (or the calls of a user transaction) on both sides and compares results.
    fn call<C: TestDb>(&mut self, conn: &mut C, no: usize, act: &Act) -> Result<(), String> {
        if let Act::UserTx(acts, commit) = act {
            let (model, cs_ids) = (self.model.clone(), self.cs_ids.len());
            let mut outcome = Ok(());
            let result = conn.transaction::<(), Error, _>(|conn| {
                for act in acts {
                    outcome = self.call(conn, no, act);
                    if outcome.is_err() {
                        break;
                    }
                }
                match commit {
                    true => Ok(()),
                    false => Err(diesel::result::Error::RollbackTransaction.into()),
                }
            });
            outcome?;
            if result.is_ok() != *commit {
                return Err(format!("step {no}: user transaction: {result:?}"));
            }
            if !commit {
                self.model = model;
                self.cs_ids.truncate(cs_ids);
            }
            return Ok(());
        }
        let expected = self.model.apply(act, no);
        let actual = self.execute(conn, act);
        let ctx = |what: &str| format!("step {no} {act:?}: {what}");
        match (&expected, &actual) {
            (Ok(Some(cs)), Ok(id)) => {
                if *cs != self.cs_ids.len() || *id == ChangesetId::EMPTY {
                    return Err(ctx(&format!("returned {id:?} for changeset #{cs}")));
                }
                self.cs_ids.push(*id);
            }
            (Ok(None), Ok(id)) if *id == ChangesetId::EMPTY => {}
            (Ok(_), Err(e)) => {
                return Err(ctx(&format!("expected Ok, got {:?}", failure(e))));
            }
            (Err(f), Ok(id)) => return Err(ctx(&format!("expected {f:?}, got Ok({id:?})"))),
            (Err(f), Err(e)) if *f == failure(e) => {}
            (expected, actual) => {
                return Err(ctx(&format!(
                    "expected {expected:?}, got {:?}",
                    actual.as_ref().map_err(failure)
                )))
            }
        }
        Ok(())
    }

    fn compare_history<C: TestDb>(&mut self, conn: &mut C, id: i32) -> Result<(), String> {
        let history = Journal::new()
            .history::<Account>(conn, &id)
            .map_err(|e| format!("history of {id}: {e}"))?;
        let model = self.model.entries(id);
        let seqs: Vec<i64> = history.iter().map(|e| e.seq).collect();
        let real: Vec<_> = history
            .iter()
            .map(|e| (e.op, e.before.clone(), e.after.clone()))
            .collect();
        let expected: Vec<_> = model
            .iter()
            .map(|e| (e.op, e.before.clone(), e.after.clone()))
            .collect();
        if real != expected {
            return Err(format!(
                "history of {id} (op, before, after):\nlibrary {real:#?}\nmodel {expected:#?}"
            ));
        }
        for (i, (entry, m)) in history.iter().zip(model).enumerate() {
            let undoes = entry.undoes.map(|s| seqs.iter().position(|x| *x == s));
            let changed = diff_columns(&m.before, &m.after);
            let (at, from, to) = (
                entry.recorded_at.timestamp_micros(),
                self.instants[m.step].timestamp_micros(),
                self.instants[m.step + 1].timestamp_micros(),
            );
            let problem = if undoes != m.undoes.map(Some) {
                format!(
                    "undoes {:?} (index {undoes:?}), model {:?}",
                    entry.undoes, m.undoes
                )
            } else if entry.changeset != self.cs_ids[m.cs] {
                format!(
                    "changeset {:?}, expected {:?}",
                    entry.changeset, self.cs_ids[m.cs]
                )
            } else if entry.actor.as_deref() != Some(ACTOR) || entry.reason.is_some() {
                format!("actor {:?} reason {:?}", entry.actor, entry.reason)
            } else if entry.changed_columns() != changed {
                format!(
                    "changed_columns {:?}, expected {changed:?}",
                    entry.changed_columns()
                )
            } else if !(from < at && at <= to) {
                format!("recorded_at {at} not in ({from}, {to}]")
            } else if i > 0 && seqs[i - 1] >= entry.seq {
                "seqs not increasing".to_owned()
            } else {
                continue;
            };
            return Err(format!("history of {id}, entry {i}: {problem}"));
        }
        self.seqs.insert(id, seqs);
        Ok(())
    }

    /// `recover::check` reports exactly the rows changed outside recover since their newest
    /// entry, and the entries recorded after such a change.
    fn compare_check<C: TestDb>(&self, conn: &mut C) -> Result<(), String> {
        let report = recover::check(conn).map_err(|e| format!("check: {e}"))?;
        let mut expected = Vec::new();
        let (mut entities, mut entries) = (0, 0);
        for id in IDS {
            let model = self.model.entries(id);
            let Some(newest) = model.last() else { continue };
            let seqs = &self.seqs[&id];
            entities += 1;
            entries += model.len();
            for i in 1..model.len() {
                let columns = diff_columns(&model[i - 1].after, &model[i].before);
                if !columns.is_empty() {
                    expected.push(format!(
                        "BrokenChain {id} seq {} previous {} {columns:?}",
                        seqs[i],
                        seqs[i - 1]
                    ));
                }
            }
            let columns = diff_columns(&newest.after, &self.model.rows.get(&id).cloned());
            if !columns.is_empty() {
                expected.push(format!(
                    "RowDiffers {id} seq {} {columns:?}",
                    seqs[model.len() - 1]
                ));
            }
        }
        let actual: Vec<String> = report
            .problems
            .iter()
            .map(|p| match p {
                Problem::BrokenChain {
                    entity,
                    key,
                    seq,
                    previous,
                    columns,
                } if entity == "accounts" => {
                    format!("BrokenChain {key} seq {seq} previous {previous} {columns:?}")
                }
                Problem::RowDiffers {
                    entity,
                    key,
                    seq,
                    columns,
                } if entity == "accounts" => format!("RowDiffers {key} seq {seq} {columns:?}"),
                other => format!("{other:?}"),
            })
            .collect();
        if actual != expected || (report.entities, report.entries) != (entities, entries) {
            return Err(format!(
                "check: {} entities, {} entries, problems {actual:#?}\n\
                 model: {entities} entities, {entries} entries, problems {expected:#?}",
                report.entities, report.entries
            ));
        }
        Ok(())
    }
}

/// Runs a whole sequence on a fresh database and the model (in capture mode when the
/// database's tables are captured).
fn run<C: TestDb>(conn: &mut C, steps: &[Step]) -> Result<(), String> {
    let mut harness = Harness {
        model: Model {
            captured: common::captured(),
            ..Model::default()
        },
        cs_ids: Vec::new(),
        seqs: BTreeMap::new(),
        instants: vec![instant()],
    };
    for (no, step) in steps.iter().enumerate() {
        harness.step(conn, no, step)?;
    }
    Ok(())
}

fn config(default_cases: u32) -> ProptestConfig {
    let cases = std::env::var("RECOVER_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    // Printed (run with `--nocapture`, as CI does), so that CI's log shows how many ran.
    println!("model_based: {cases} cases");
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/regressions/model_based.txt",
        ))),
        ..ProptestConfig::default()
    }
}

fn sqlite(steps: &[Step]) -> Result<(), TestCaseError> {
    let mut db = common::sqlite_memory("model_based", true);
    run(&mut db.conn, steps).map_err(TestCaseError::fail)
}

proptest! {
    #![proptest_config(config(5000))]

    #[test]
    fn sqlite_agrees_with_the_model(steps in steps()) {
        sqlite(&steps)?;
    }
}

proptest! {
    #![proptest_config(config(5000))]

    /// Capture mode: the raw edits are journaled too, and the model records them.
    #[test]
    fn captured_sqlite_agrees_with_the_model(steps in steps()) {
        let mut db = common::captured_db(common::sqlite_memory("model_based", true));
        run(&mut db.conn, &steps).map_err(TestCaseError::fail)?;
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;

    proptest! {
        #![proptest_config(config(500))]

        #[test]
        fn postgres_agrees_with_the_model(steps in steps()) {
            let mut db = common::postgres("model_based", true);
            run(&mut db.conn, &steps).map_err(TestCaseError::fail)?;
        }
    }

    proptest! {
        #![proptest_config(config(500))]

        #[test]
        fn captured_postgres_agrees_with_the_model(steps in steps()) {
            let mut db = common::captured_db(common::postgres("model_based_captured", true));
            run(&mut db.conn, &steps).map_err(TestCaseError::fail)?;
        }
    }
}

#[cfg(feature = "mysql")]
mod mysql {
    use super::*;

    proptest! {
        #![proptest_config(config(200))]

        #[test]
        fn mysql_agrees_with_the_model(steps in steps()) {
            let mut db = common::mysql("model_based", true);
            run(&mut db.conn, &steps).map_err(TestCaseError::fail)?;
        }
    }

    proptest! {
        #![proptest_config(config(200))]

        /// Capture mode on MariaDB: its triggers, its reserved seqs and its context row.
        #[test]
        fn captured_mysql_agrees_with_the_model(steps in steps()) {
            let mut db = common::captured_db(common::mysql("model_based_captured", true));
            run(&mut db.conn, &steps).map_err(TestCaseError::fail)?;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Minimal sequences kept as regressions
// ---------------------------------------------------------------------------------------------

fn acct(id: i32, owner: &str, balance: i64) -> Account {
    Account::new(id, owner, balance)
}

/// The sequence of the README, plus an edit outside recover and a conflict.
#[test]
fn readme_sequence() {
    use Step::*;
    let steps = [
        Insert(acct(1, "ann", 100)),
        Update(acct(1, "ann", 50)),
        Delete(1, false),
        Undo(1, false),
        Undo(1, false),
        Redo(1, false),
        RestoreVersion(1, 1, false),
        Changeset(vec![Sub::Update(acct(1, "ann", 7)), Sub::Delete(1)]),
        UndoChangeset(Pick::Real(7), false),
        RawUpdate(1, 2),
        Undo(1, false),
        Undo(1, true),
        RestoreTime(1, 0, false),
    ];
    sqlite(&steps).unwrap();
}

/// undo_changeset inside the caller's transaction: the first entity is reverted, the second
/// conflicts; the call fails, and its savepoint must take the first revert back with it.
fn failed_undo_changeset_in_user_transaction() -> Vec<Step> {
    use Step::*;
    vec![
        Insert(acct(1, "ann", 0)),
        Insert(acct(2, "ann", 0)),
        Changeset(vec![Sub::Delete(2), Sub::Delete(1)]),
        Insert(acct(2, "ann", 0)),
        UserTx(vec![UndoChangeset(Pick::Real(2), false)], true),
    ]
}

#[test]
fn sqlite_failed_undo_changeset_in_user_transaction() {
    sqlite(&failed_undo_changeset_in_user_transaction()).unwrap();
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_failed_undo_changeset_in_user_transaction() {
    let mut db = common::postgres("model_based_regression", true);
    run(&mut db.conn, &failed_undo_changeset_in_user_transaction()).unwrap();
}
