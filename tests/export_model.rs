//! Carrying the journal, as a property (issue 19): random histories — recorded changes,
//! changesets, undo, redactions, prunes, and plain writes and key changes in capture mode — are
//! exported in random incremental slices appended to one file (always before a prune), which
//! verifies, and rebuilt as
//! of a random point on an empty database: its rows are the source's rows at that point (or the
//! rebuild refuses a point before the export's horizon). Tampering with a random exported entry
//! in the live journal is always reported by `compare`.
//!
//! Rebuilt on SQLite in every case; with the `postgres` and `mysql` features, every 8th case is
//! also rebuilt on PostgreSQL and on MariaDB. Cases: `RECOVER_EXPORT_CASES` (default 48; every
//! run prints its count).

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use proptest::prelude::*;
use recover::{At, Error, ExportFrom, ExportPosition, Journal, Retention};

#[derive(Debug, Clone)]
enum Step {
    Insert(i32, i64),
    Update(i32, i64),
    Delete(i32),
    Undo(i32),
    /// Two updates as one changeset.
    Changeset(i32, i32, i64),
    UserUpsert(i32, f64),
    RedactUser(i32),
    /// An export, then a prune (prune records nothing: what it removes before an export is
    /// missing from the file, so an operator exports first).
    Prune(usize),
    /// A plain Diesel update (journaled only in capture mode).
    Plain(i32, i64),
    /// A plain update of a key (capture mode: a removal and a creation).
    Rekey(i32, i32),
    /// An incremental export, appended to the file.
    Export,
}

fn step() -> impl Strategy<Value = Step> {
    let id = 1..=4i32;
    prop_oneof![
        3 => (id.clone(), any::<i64>()).prop_map(|(i, b)| Step::Insert(i, b)),
        4 => (id.clone(), any::<i64>()).prop_map(|(i, b)| Step::Update(i, b)),
        1 => id.clone().prop_map(Step::Delete),
        2 => id.clone().prop_map(Step::Undo),
        1 => (id.clone(), id.clone(), any::<i64>()).prop_map(|(a, b, v)| Step::Changeset(a, b, v)),
        2 => (1..=2i32, any::<f64>()).prop_map(|(i, s)| Step::UserUpsert(i, s)),
        1 => (1..=2i32).prop_map(Step::RedactUser),
        1 => (1..=3usize).prop_map(Step::Prune),
        2 => (id.clone(), any::<i64>()).prop_map(|(i, b)| Step::Plain(i, b)),
        1 => (id.clone(), 5..=8i32).prop_map(|(a, b)| Step::Rekey(a, b)),
        2 => Just(Step::Export),
    ]
}

/// The rows of the models a rebuild fills, as it can fill them: a skipped column
/// (`password_hash`) is in no image, and a redacted one (`plan`) rebuilds with the field's
/// default, not with what was erased; both are blanked.
type Rows = (Vec<Account>, Vec<User>);

fn rows<C: TestDb>(conn: &mut C, redacted: &BTreeSet<i32>) -> Rows {
    let mut users = conn.users();
    blank(&mut users, redacted);
    (conn.accounts(), users)
}

fn blank(users: &mut [User], redacted: &BTreeSet<i32>) {
    for user in users {
        user.password_hash = String::new();
        if redacted.contains(&user.id) {
            user.plan = String::new();
        }
    }
}

fn newest_seq<C: TestDb>(conn: &mut C) -> i64 {
    conn.journal_rows().last().map_or(0, |r| r.seq)
}

/// Runs one step on the source; errors a user meets (nothing to undo, a key taken, a row
/// changed outside recover) leave it as it was.
fn apply<C: TestDb>(conn: &mut C, step: &Step, captured: bool, redacted: &mut BTreeSet<i32>) {
    let journal = Journal::new().actor("prop");
    let ok = |r: Result<_, Error>| match r {
        Ok(_)
        | Err(
            Error::NotFound { .. }
            | Error::AlreadyExists { .. }
            | Error::NothingToUndo { .. }
            | Error::Conflict { .. },
        ) => {}
        Err(e) => panic!("{step:?}: {e}"),
    };
    match *step {
        Step::Insert(id, b) => ok(journal.insert(conn, &Account::new(id, "ann", b)).map(drop)),
        Step::Update(id, b) => ok(journal.update(conn, &Account::new(id, "upd", b)).map(drop)),
        Step::Delete(id) => ok(journal.delete(conn, &Account::new(id, "", 0)).map(drop)),
        Step::Undo(id) => ok(journal.undo::<Account>(conn, &id).map(drop)),
        Step::Changeset(a, b, v) => ok(journal
            .changeset(conn, |tx| {
                tx.update(&Account::new(a, "cs", v))?;
                tx.update(&Account::new(b, "cs", v.wrapping_add(1)))
            })
            .map(drop)),
        Step::UserUpsert(id, score) => {
            let mut user = User::new(id, "una");
            user.score = score;
            match conn.user(id) {
                Some(_) => ok(journal.update(conn, &user).map(drop)),
                None => ok(journal.insert(conn, &user).map(drop)),
            }
        }
        Step::RedactUser(id) => {
            if conn.user(id).is_some() {
                journal.redact::<User>(conn, &id, &["plan"]).unwrap();
                redacted.insert(id);
            }
        }
        Step::Prune(keep) => {
            journal
                .prune(conn, &Retention::new().keep_last(keep))
                .unwrap();
        }
        Step::Plain(id, b) if captured => {
            conn.exec(&format!(
                "UPDATE accounts SET balance = {b} WHERE id = {id}"
            ));
        }
        Step::Rekey(from, to) if captured && conn.account(to).is_none() => {
            conn.exec(&format!("UPDATE accounts SET id = {to} WHERE id = {from}"));
        }
        Step::Plain(..) | Step::Rekey(..) | Step::Export => {}
    }
}

fn export<C: TestDb>(conn: &mut C, file: &mut Vec<u8>, from: &mut Option<ExportPosition>) {
    let start = from.map_or(ExportFrom::Start, ExportFrom::After);
    let summary = recover::export(conn, &mut *file, start).unwrap();
    *from = Some(summary.position);
}

/// Rebuilds `file` as of `seq` on `target` and checks it against the source's rows then.
fn rebuilt_as_of<C: TestDb>(
    target: &mut C,
    file: &[u8],
    seq: i64,
    expected: &Rows,
    redacted: &BTreeSet<i32>,
) {
    let at = At::Version(usize::try_from(seq).unwrap());
    match recover::rebuild(target, file, at) {
        Ok(_) => {
            let rebuilt = rows(target, redacted);
            if &rebuilt != expected {
                let exported = String::from_utf8_lossy(file);
                panic!("as of seq {seq}: rebuilt {rebuilt:?}, expected {expected:?}; export:\n{exported}");
            }
        }
        Err(Error::BeforeHorizon { earliest_seq, .. }) => {
            assert!(earliest_seq > seq, "refused {seq}, earliest {earliest_seq}");
        }
        Err(e) => panic!("rebuild as of {seq}: {e}"),
    }
}

static CASE: AtomicUsize = AtomicUsize::new(0);

fn run(steps: &[Step], captured: bool, pick: usize, tamper: usize) {
    let case = CASE.fetch_add(1, Ordering::Relaxed);
    let mut source = sqlite_memory("export_model", true);
    let conn = &mut source.conn;
    if captured {
        recover::capture::<Account>(conn).unwrap();
    }
    let (mut file, mut from, mut redacted) = (Vec::new(), None, BTreeSet::new());
    // The source's rows after each step that wrote an entry, by the newest seq then.
    let mut points: Vec<(i64, Rows)> = Vec::new();
    for step in steps {
        let before = newest_seq(conn);
        if matches!(step, Step::Export | Step::Prune(_)) {
            export(conn, &mut file, &mut from);
        }
        apply(conn, step, captured, &mut redacted);
        let after = newest_seq(conn);
        if after > before {
            points.push((after, rows(conn, &redacted)));
        }
    }
    export(conn, &mut file, &mut from);
    recover::verify_export(&file[..]).unwrap();
    let Some((seq, expected)) = points.get(pick % points.len().max(1)).cloned() else {
        return;
    };
    // A redaction after that point erased the value it had there too.
    let expected = {
        let (accounts, mut users) = expected;
        blank(&mut users, &redacted);
        (accounts, users)
    };
    rebuilt_as_of(
        &mut sqlite_memory("export_model_target", false).conn,
        &file,
        seq,
        &expected,
        &redacted,
    );
    if case % 8 == 0 {
        #[cfg(feature = "postgres")]
        rebuilt_as_of(
            &mut postgres("export_model_pg", false).conn,
            &file,
            seq,
            &expected,
            &redacted,
        );
        #[cfg(feature = "mysql")]
        rebuilt_as_of(
            &mut mysql("export_model_my", false).conn,
            &file,
            seq,
            &expected,
            &redacted,
        );
    }

    // A hand edit of any exported entry still in the journal is reported by its seq.
    let live = conn.journal_rows();
    if let Some(row) = live.get(tamper % live.len().max(1)) {
        conn.exec(&format!(
            "UPDATE recover_journal SET actor = 'mallory' WHERE seq = {}",
            row.seq
        ));
        let report = recover::compare(conn, &file[..]).unwrap();
        assert!(
            report.altered.iter().any(|(seq, _)| *seq == row.seq),
            "seq {} altered, not reported: {report:?}",
            row.seq
        );
    }
}

fn cases() -> u32 {
    let cases = std::env::var("RECOVER_EXPORT_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48);
    println!("export_model: {cases} cases");
    cases
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn exported_journals_rebuild_as_of_any_point(
        steps in proptest::collection::vec(step(), 1..40),
        captured in any::<bool>(),
        pick in any::<usize>(),
        tamper in any::<usize>(),
    ) {
        run(&steps, captured, pick, tamper);
    }
}
