//! Carrying the journal (DESIGN §8): export and its hash chain, verify, compare, incremental
//! exports while writers commit out of seq order, and rebuild as of a point on the same backend
//! and across backends.

mod common;

use common::*;
use recover::{At, Error, ExportFrom, Journal};

/// Some history of every model: inserts, updates, a delete, a changeset, unicode text, f64
/// extremes, NULLs.
fn history<C: TestDb>(conn: &mut C) {
    let journal = Journal::new().actor("ann").reason("setup");
    let mut a = Account::new(1, "Zoë ✓ 北京", 100);
    journal.insert(conn, &a).unwrap();
    a.balance = i64::MAX;
    a.note = Some("a \"quoted\"\nline".into());
    journal.update(conn, &a).unwrap();
    journal
        .insert(conn, &Account::new(2, "bob", i64::MIN))
        .unwrap();
    let mut u = User::new(7, "ünïcode");
    u.score = f64::MAX;
    journal.insert(conn, &u).unwrap();
    u.score = f64::MIN_POSITIVE;
    u.active = false;
    journal.update(conn, &u).unwrap();
    let m = Membership {
        org: "acme".into(),
        user_id: 7,
        role: "admin".into(),
        since: None,
    };
    journal.insert(conn, &m).unwrap();
    journal
        .changeset(conn, |tx| {
            tx.insert(&Account::new(3, "carl", 5))?;
            tx.delete(&Account::new(2, "bob", i64::MIN))?;
            Ok(())
        })
        .unwrap();
}

fn export_all<C: TestDb>(conn: &mut C) -> (Vec<u8>, recover::ExportSummary) {
    let mut out = Vec::new();
    let summary = recover::export(conn, &mut out, ExportFrom::Start).unwrap();
    (out, summary)
}

fn lines(file: &[u8]) -> Vec<String> {
    String::from_utf8(file.to_vec())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn entry_seqs(file: &[u8]) -> Vec<i64> {
    lines(file)
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "entry")
        .map(|v| v["seq"].as_i64().unwrap())
        .collect()
}

fn bad_line(result: Result<impl std::fmt::Debug, Error>) -> (u64, Option<i64>) {
    match result {
        Err(Error::BadExport { line, seq, .. }) => (line, seq),
        other => panic!("expected BadExport, got {other:?}"),
    }
}

fn round_trip<C: TestDb>(conn: &mut C) {
    history(conn);
    let (mut file, first) = export_all(conn);
    let journal_seqs: Vec<i64> = conn.journal_rows().iter().map(|r| r.seq).collect();
    assert_eq!(entry_seqs(&file), journal_seqs);
    assert_eq!(first.entries as usize, journal_seqs.len());
    assert_eq!(first.changesets, 1);
    let verified = recover::verify_export(&file[..]).unwrap();
    assert_eq!(verified.entries, first.entries);
    assert_eq!(verified.position, Some(first.position));
    assert_eq!(verified.start, "0".repeat(64));
    // The header, then the entries, each line JSON with its columns.
    let header: serde_json::Value = serde_json::from_str(&lines(&file)[0]).unwrap();
    assert_eq!(header["format"], "recover-journal");
    assert_eq!(header["version"], 1);
    assert!(recover::compare(conn, &file[..]).unwrap().is_clean());

    // Incremental: only what is new, appended to the same file, one chain.
    let journal = Journal::new();
    journal.update(conn, &Account::new(3, "carl", 6)).unwrap();
    journal.redact::<User>(conn, &7, &["display_name"]).unwrap();
    let position: recover::ExportPosition = first.position.to_string().parse().unwrap();
    assert_eq!(position, first.position);
    let next = recover::export(conn, &mut file, ExportFrom::After(position)).unwrap();
    assert_eq!(next.entries, 1);
    assert_eq!(next.redactions, 1);
    let verified = recover::verify_export(&file[..]).unwrap();
    assert_eq!(verified.exports, 2);
    assert_eq!(verified.position, Some(next.position));
    // Nothing new: an empty export that still chains on.
    let last = recover::export(conn, &mut file, ExportFrom::After(next.position)).unwrap();
    assert_eq!((last.entries, last.position.seq), (0, next.position.seq));
    recover::verify_export(&mut &file[..]).unwrap();
}

fn tampering_is_found_by_line<C: TestDb>(conn: &mut C) {
    history(conn);
    let (file, _) = export_all(conn);
    let original = lines(&file);
    let join = |lines: &[String]| lines.join("\n") + "\n";
    // Line 3 is the second entry: an edited balance inside its image.
    let mut edited = original.clone();
    assert!(edited[2].contains("9223372036854775807"), "{}", edited[2]);
    edited[2] = edited[2].replace("9223372036854775807", "9223372036854775806");
    let seq = entry_seqs(&file)[1];
    assert_eq!(
        bad_line(recover::verify_export(join(&edited).as_bytes())),
        (3, Some(seq))
    );
    // A line removed: the next one does not chain.
    let mut removed = original.clone();
    removed.remove(2);
    assert_eq!(
        bad_line(recover::verify_export(join(&removed).as_bytes())).0,
        3
    );
    // Two lines swapped.
    let mut swapped = original.clone();
    swapped.swap(2, 3);
    assert_eq!(
        bad_line(recover::verify_export(join(&swapped).as_bytes())).0,
        3
    );
    // Cut before the end line.
    let cut = &original[..original.len() - 1];
    assert_eq!(
        bad_line(recover::verify_export(join(cut).as_bytes())).0,
        original.len() as u64
    );
    // Not JSON, not an export, a later format version.
    assert_eq!(bad_line(recover::verify_export(&b"{\"a\":1}\n"[..])).0, 1);
    let mut later = original.clone();
    later[0] = later[0].replace("\"version\":1", "\"version\":2");
    assert!(matches!(
        recover::verify_export(join(&later).as_bytes()),
        Err(Error::ExportVersion { found: 2, .. })
    ));
    assert!(recover::verify_export(&b""[..]).is_err());
}

fn compare_reports_tampering_and_redaction<C: TestDb>(conn: &mut C) {
    history(conn);
    let (file, _) = export_all(conn);
    let rows = conn.journal_rows();
    let (edited, deleted) = (rows[1].seq, rows[2].seq);
    conn.exec(&format!(
        "UPDATE recover_journal SET actor = 'mallory' WHERE seq = {edited}"
    ));
    conn.exec(&format!(
        "DELETE FROM recover_journal WHERE seq = {deleted}"
    ));
    Journal::new()
        .redact::<User>(conn, &7, &["display_name"])
        .unwrap();
    let user_seqs: Vec<i64> = rows
        .iter()
        .filter(|r| r.entity == "users")
        .map(|r| r.seq)
        .collect();
    let report = recover::compare(conn, &file[..]).unwrap();
    assert_eq!(report.altered, vec![(edited, vec!["actor".to_owned()])]);
    assert_eq!(report.missing, vec![deleted]);
    assert_eq!(report.redacted, user_seqs);
    assert!(!report.is_clean());
    // An image edited to look redacted without a redaction recorded is tampering.
    let account = rows[0].seq;
    conn.exec(&format!(
        "UPDATE recover_journal SET after_image = '{{\"id\":1,\"owner\":{{\"$recover\":\"redacted\"}},\"balance\":100,\"status\":\"open\",\"note\":null}}' WHERE seq = {account}"
    ));
    let report = recover::compare(conn, &file[..]).unwrap();
    assert!(report
        .altered
        .iter()
        .any(|(seq, columns)| *seq == account && columns == &["after_image".to_owned()]));
}

/// The rows of every model, for comparing databases. A skipped column is not in the images: a
/// rebuilt row takes its default, so it is left out of the comparison.
fn rows<C: TestDb>(conn: &mut C) -> (Vec<Account>, Vec<User>, Vec<Membership>) {
    let mut users = conn.users();
    for user in &mut users {
        user.password_hash = redacted();
    }
    (conn.accounts(), users, conn.memberships())
}

fn rebuild_as_of_a_point<C: TestDb>(conn: &mut C) {
    let journal = Journal::new();
    journal.insert(conn, &Account::new(10, "ann", 1)).unwrap();
    let at_first = rows(conn);
    let first_seq = conn.journal_rows()[0].seq;
    std::thread::sleep(std::time::Duration::from_millis(2));
    history(conn);
    let middle = rows(conn);
    let middle_seq = conn.journal_rows().last().unwrap().seq;
    std::thread::sleep(std::time::Duration::from_millis(2));
    let middle_time = chrono::Utc::now();
    std::thread::sleep(std::time::Duration::from_millis(2));
    let one = conn.account(1).unwrap();
    journal.delete(conn, &one).unwrap();
    journal.update(conn, &Account::new(3, "carla", 9)).unwrap();
    let (file, _) = export_all(conn);

    let mut target = sqlite_memory("target", false);
    let summary = recover::rebuild(
        &mut target.conn,
        &file[..],
        At::Version(middle_seq as usize),
    )
    .unwrap();
    assert_eq!(rows(&mut target.conn), middle);
    assert!(summary.rows > 0);
    // Again: nothing written twice.
    let again = recover::rebuild(
        &mut target.conn,
        &file[..],
        At::Version(middle_seq as usize),
    )
    .unwrap();
    assert_eq!((again.entries, again.rows), (0, 0));
    assert_eq!(again.skipped, summary.entries);
    assert_eq!(rows(&mut target.conn), middle);
    // Undo works there: the changeset's delete of account 2 is undone.
    Journal::new()
        .undo::<Account>(&mut target.conn, &2)
        .unwrap();
    assert_eq!(target.conn.account(2).unwrap().balance, i64::MIN);

    let mut by_time = sqlite_memory("by_time", false);
    recover::rebuild(&mut by_time.conn, &file[..], At::Time(middle_time)).unwrap();
    assert_eq!(rows(&mut by_time.conn), middle);

    let mut first = sqlite_memory("first", false);
    recover::rebuild(&mut first.conn, &file[..], At::Version(first_seq as usize)).unwrap();
    assert_eq!(rows(&mut first.conn), at_first);

    let mut before = sqlite_memory("before", false);
    match recover::rebuild(
        &mut before.conn,
        &file[..],
        At::Version(first_seq as usize - 1),
    ) {
        Err(Error::BeforeHorizon { earliest_seq, .. }) => assert_eq!(earliest_seq, first_seq),
        other => panic!("expected BeforeHorizon, got {other:?}"),
    }
    let long_ago = chrono::DateTime::from_timestamp(1_000_000, 0).unwrap();
    assert!(matches!(
        recover::rebuild(&mut before.conn, &file[..], At::Time(long_ago)),
        Err(Error::BeforeHorizon { .. })
    ));
}

fn pruned_journal_has_a_later_horizon<C: TestDb>(conn: &mut C) {
    let journal = Journal::new();
    let mut a = Account::new(1, "ann", 1);
    journal.insert(conn, &a).unwrap();
    for balance in 2..5 {
        a.balance = balance;
        journal.update(conn, &a).unwrap();
    }
    journal
        .prune(conn, &recover::Retention::new().keep_last(1))
        .unwrap();
    let newest = conn.journal_rows()[0].seq;
    let (file, _) = export_all(conn);
    let mut target = sqlite_memory("pruned", false);
    match recover::rebuild(
        &mut target.conn,
        &file[..],
        At::Version(newest as usize - 1),
    ) {
        Err(Error::BeforeHorizon { earliest_seq, .. }) => assert_eq!(earliest_seq, newest),
        other => panic!("expected BeforeHorizon, got {other:?}"),
    }
    recover::rebuild(&mut target.conn, &file[..], At::Version(newest as usize)).unwrap();
    assert_eq!(target.conn.accounts(), vec![a]);
}

on_every_backend!(
    round_trip,
    tampering_is_found_by_line,
    compare_reports_tampering_and_redaction,
    rebuild_as_of_a_point,
    pruned_journal_has_a_later_horizon,
);

#[test]
fn an_entity_without_a_model_is_named() {
    let mut source = sqlite_memory("ghosts", true);
    source.conn.exec(
        "INSERT INTO recover_journal (seq, changeset_id, entity, entity_key, op, after_image, \
         undo_next, recorded_at) VALUES (1, 1, 'ghosts', '1', 'insert', '{\"id\":1}', 1, 1)",
    );
    let (file, _) = export_all(&mut source.conn);
    let mut target = sqlite_memory("ghost_target", false);
    match recover::rebuild(&mut target.conn, &file[..], At::Version(1)) {
        Err(Error::UnknownEntity(entity)) => assert_eq!(entity, "ghosts"),
        other => panic!("expected UnknownEntity, got {other:?}"),
    }
}

#[test]
fn a_position_of_another_backend_is_refused() {
    let mut conn = sqlite_memory("position", true);
    let text = "v1:postgres:5:0:0:0:".to_owned() + &"0".repeat(64);
    let position: recover::ExportPosition = text.parse().unwrap();
    assert!(matches!(
        recover::export(&mut conn.conn, Vec::new(), ExportFrom::After(position)),
        Err(Error::BadPosition { .. })
    ));
    assert!("v1:sqlite:x".parse::<recover::ExportPosition>().is_err());
}

/// Export from one backend, rebuild into the next, export that, and so on round the ring:
/// every hop holds the source's rows value for value, and undo works at the end.
#[cfg(all(feature = "postgres", feature = "mysql"))]
#[test]
fn rebuild_across_backends() {
    let mut source = sqlite_file("across", true);
    history(&mut source.conn);
    let expected = rows(&mut source.conn);
    let (file, _) = export_all(&mut source.conn);

    let mut pg = postgres("across_pg", false);
    let last = source.conn.journal_rows().last().unwrap().seq as usize;
    recover::rebuild(&mut pg.conn, &file[..], At::Version(last)).unwrap();
    assert_eq!(rows(&mut pg.conn), expected);
    assert_eq!(pg.conn.journal_rows(), source.conn.journal_rows());
    let (file, _) = export_all(&mut pg.conn);

    let mut my = mysql("across_my", false);
    recover::rebuild(&mut my.conn, &file[..], At::Version(last)).unwrap();
    assert_eq!(rows(&mut my.conn), expected);
    let (file, _) = export_all(&mut my.conn);

    let mut back = sqlite_memory("across_back", false);
    recover::rebuild(&mut back.conn, &file[..], At::Version(last)).unwrap();
    assert_eq!(rows(&mut back.conn), expected);
    assert_eq!(
        back.conn.user(7).unwrap().score.to_bits(),
        f64::MIN_POSITIVE.to_bits()
    );

    // The rebuilt journals go on: new entries take new seqs, and undo works.
    let journal = Journal::new();
    journal
        .update(&mut pg.conn, &Account::new(3, "carl", 7))
        .unwrap();
    journal.undo::<Account>(&mut pg.conn, &3).unwrap();
    journal.undo::<Account>(&mut pg.conn, &3).unwrap();
    assert!(pg.conn.account(3).is_none());
    journal
        .update(&mut my.conn, &Account::new(3, "carl", 7))
        .unwrap();
    journal.undo::<Account>(&mut my.conn, &3).unwrap();
    assert_eq!(my.conn.account(3).unwrap().balance, 5);
}

/// A writer holds a lower seq in an open transaction while another commits a higher one: the
/// export in between must not pass the lower seq, and the next export must carry it.
fn out_of_order<C>(mut first: C, mut second: C, mut exporter: C)
where
    C: TestDb + diesel::Connection<TransactionManager = diesel::connection::AnsiTransactionManager>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let journal = Journal::new();
    journal
        .insert(&mut exporter, &Account::new(1, "early", 1))
        .unwrap();
    AnsiTransactionManager::begin_transaction(&mut first).unwrap();
    journal
        .insert(&mut first, &Account::new(2, "slow", 2))
        .unwrap();
    // Another table: on MySQL the slow writer's insert locks the gap after its key.
    journal.insert(&mut second, &User::new(3, "fast")).unwrap();
    let mut file = Vec::new();
    let one = recover::export(&mut exporter, &mut file, ExportFrom::Start).unwrap();
    let seqs_one = entry_seqs(&file);
    AnsiTransactionManager::commit_transaction(&mut first).unwrap();
    let all: Vec<(i64, String)> = exporter
        .journal_rows()
        .into_iter()
        .map(|r| (r.seq, r.entity_key))
        .collect();
    let slow = all.iter().find(|(_, key)| key == "2").unwrap().0;
    let fast = all.iter().find(|(_, key)| key == "3").unwrap().0;
    assert!(slow < fast, "the slow writer took the lower seq: {all:?}");
    assert!(!seqs_one.contains(&slow));
    assert!(
        one.position.seq < slow,
        "{} passed {slow}",
        one.position.seq
    );
    let mut next = Vec::new();
    recover::export(&mut exporter, &mut next, ExportFrom::After(one.position)).unwrap();
    let seqs_two = entry_seqs(&next);
    assert!(seqs_two.contains(&slow), "{seqs_two:?}");
    let mut every: Vec<i64> = seqs_one.iter().chain(&seqs_two).copied().collect();
    every.sort();
    assert_eq!(every, all.iter().map(|(seq, _)| *seq).collect::<Vec<_>>());
    file.extend_from_slice(&next);
    recover::verify_export(&file[..]).unwrap();
}

#[cfg(feature = "postgres")]
#[test]
fn out_of_order_commits_on_postgres() {
    let fresh = postgres("out_of_order", true);
    let reopen = fresh.reopen.as_ref().unwrap();
    out_of_order(reopen(), reopen(), reopen());
}

#[cfg(feature = "mysql")]
#[test]
fn out_of_order_commits_on_mysql() {
    let fresh = mysql("out_of_order", true);
    let reopen = fresh.reopen.as_ref().unwrap();
    out_of_order(reopen(), reopen(), reopen());
}

/// `rebuild_with_progress` reports what it has written after each batch, ending with the
/// summary it returns.
#[test]
fn rebuild_reports_its_progress() {
    let mut source = sqlite_memory("progress", true);
    history(&mut source.conn);
    let (file, exported) = export_all(&mut source.conn);
    let mut target = sqlite_memory("progress_target", false);
    let mut seen = Vec::new();
    let last = source.conn.journal_rows().last().unwrap().seq as usize;
    let summary =
        recover::rebuild_with_progress(&mut target.conn, &file[..], At::Version(last), |s| {
            seen.push(*s)
        })
        .unwrap();
    assert_eq!(seen.last(), Some(&summary));
    assert_eq!(summary.entries, exported.entries);
    assert!(seen
        .windows(2)
        .all(|w| w[0].entries <= w[1].entries && w[0].rows <= w[1].rows));
    assert_eq!(rows(&mut target.conn), rows(&mut source.conn));
}
