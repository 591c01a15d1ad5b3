//! `recover::cli` run as a real process against a real database: a SQLite file, and PostgreSQL
//! and MariaDB when their features are on (`RECOVER_PG_URL`, `RECOVER_MYSQL_URL`).
//!
//! This test target has no libtest harness (`harness = false`, `required-features = ["cli"]`):
//! its binary is also the command line under test. Started with `RECOVER_CLI_CHILD` naming a
//! backend, `main` is exactly the user's three lines, `recover::cli::main::<Connection>()`,
//! linking the test models. So the process under test is always built from the current source
//! with the test's own models — `CARGO_BIN_EXE_<name>` exists only for `[[bin]]` targets (a
//! binary of the library's package, linking demo models, would be installed by every
//! `cargo install`), and an example is not rebuilt by `cargo test --test cli`, so it could be
//! stale.
//!
//! Run one case with `cargo test --features cli --test cli -- <part of its name>`.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::{Command, ExitCode, Stdio};

use common::{Account, Fresh, Membership, TestDb};
use diesel::prelude::*;
use recover::Journal;
use serde_json::{json, Value};

/// The exit statuses of the module docs.
const OK: i32 = 0;
const FAILED: i32 = 1;
const BAD_INPUT: i32 = 2;
const CONFLICT: i32 = 3;
const NOT_CONFIRMED: i32 = 4;
const PROBLEMS: i32 = 5;

fn main() -> ExitCode {
    match std::env::var("RECOVER_CLI_CHILD").as_deref() {
        Ok("sqlite") => return recover::cli::main::<diesel::SqliteConnection>(),
        #[cfg(feature = "postgres")]
        Ok("postgres") => return recover::cli::main::<diesel::PgConnection>(),
        #[cfg(feature = "mysql")]
        Ok("mysql") => return recover::cli::main::<diesel::MysqlConnection>(),
        _ => {}
    }
    let mut cases: Vec<(String, Box<dyn Fn()>)> = Vec::new();
    macro_rules! cases {
        ($backend:literal, $open:path, $url:path, $($name:ident),*) => {
            $(cases.push((
                format!("{}::{}", $backend, stringify!($name)),
                Box::new(|| $name(&mut Db::new($backend, $open(stringify!($name), true), $url))),
            ));)*
        };
    }
    macro_rules! every_backend {
        ($($name:ident),* $(,)?) => {
            cases!("sqlite", common::sqlite_file, sqlite_url, $($name),*);
            #[cfg(feature = "postgres")]
            cases!("postgres", common::postgres, postgres_url, $($name),*);
            #[cfg(feature = "mysql")]
            cases!("mysql", common::mysql, mysql_url, $($name),*);
        };
    }
    every_backend!(
        reads_as_json,
        writes_ask_and_dry_run_writes_nothing,
        undo_redo_restore_undelete_changeset,
        conflict_writes_nothing,
        bad_input_writes_nothing,
        check_and_prune,
        table_output,
        terminal_asks_and_colours,
        restore_table_after_a_mass_update,
    );
    // Carrying the journal, and keys that name nothing: on SQLite (the rebuild case makes a
    // second SQLite file as its target).
    cases!(
        "sqlite",
        common::sqlite_file,
        sqlite_url,
        export_then_verify,
        verify_names_a_tampered_line,
        compare_reports_hand_edits_by_seq,
        rebuild_into_an_empty_database,
        export_since_takes_only_new_entries,
        keys_naming_nothing_are_bad_input,
        a_write_without_actor_records_the_os_user
    );

    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _) in &cases {
            println!("{name}: test");
        }
        return ExitCode::SUCCESS;
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let chosen: Vec<_> = cases
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(*f)))
        .collect();
    println!("\nrunning {} tests", chosen.len());
    let mut failed = Vec::new();
    for (name, case) in &chosen {
        let ok = catch_unwind(AssertUnwindSafe(case)).is_ok();
        println!("test {name} ... {}", if ok { "ok" } else { "FAILED" });
        if !ok {
            failed.push(name);
        }
    }
    println!(
        "\ntest result: {}. {} passed; {} failed\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        chosen.len() - failed.len(),
        failed.len()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// A test database and the URL the command line reaches it by.
struct Db<C> {
    fresh: Fresh<C>,
    backend: &'static str,
    url: String,
}

/// One run of the command line.
struct Run {
    status: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Each line of standard output as JSON.
    fn json(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}\n{self:?}"))
            })
            .collect()
    }

    /// The one line of standard output, as JSON.
    fn one(&self) -> Value {
        let mut lines = self.json();
        assert_eq!(lines.len(), 1, "{self:?}");
        lines.remove(0)
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "status {}\n--- stdout\n{}--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

impl<C: TestDb> Db<C> {
    fn new(backend: &'static str, mut fresh: Fresh<C>, url: fn(&mut Fresh<C>) -> String) -> Self {
        let url = url(&mut fresh);
        Db {
            fresh,
            backend,
            url,
        }
    }

    fn conn(&mut self) -> &mut C {
        &mut self.fresh.conn
    }

    /// Runs the command line on this database, with no terminal.
    fn cli(&self, args: &[&str]) -> Run {
        cli(self.backend, Some(&self.url), args)
    }

    /// The rows and the journal, to check that nothing was written.
    fn state(&mut self) -> (Vec<Account>, usize) {
        (self.conn().accounts(), self.conn().journal_rows().len())
    }

    /// Accounts 1 (ann, 100 then 50) and 2 (ben, 250, deleted); membership [7,"acme"].
    fn bank(&mut self) {
        let alice = Journal::new().actor("alice");
        let bob = Journal::new().actor("bob").reason("ticket 42");
        let conn = self.conn();
        let mut ann = Account::new(1, "ann", 100);
        alice.insert(conn, &ann).unwrap();
        alice.insert(conn, &Account::new(2, "ben", 250)).unwrap();
        ann.balance = 50;
        ann.note = Some("withdrew 50".into());
        bob.update(conn, &ann).unwrap();
        bob.delete(conn, &Account::new(2, "ben", 250)).unwrap();
        let membership = Membership {
            org: "acme".into(),
            user_id: 7,
            role: "admin".into(),
            since: None,
        };
        alice.insert(conn, &membership).unwrap();
    }

    /// The seq of the newest entry of `table` `key` with this op.
    fn seq_of(&self, table: &str, key: &str, op: &str) -> i64 {
        self.cli(&["--format", "json", "log", table, key, "--limit", "100"])
            .json()
            .into_iter()
            .find(|e| e["op"] == op)
            .and_then(|e| e["seq"].as_i64())
            .unwrap_or_else(|| panic!("no {op} entry of {table} {key}"))
    }
}

/// Runs the command line on the database at `url` (none: no `--database-url`, no
/// `DATABASE_URL`), with no terminal.
fn cli(backend: &str, url: Option<&str>, args: &[&str]) -> Run {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .env("RECOVER_CLI_CHILD", backend)
        .env_remove("DATABASE_URL")
        // No operating-system user: a write without --actor records none (see
        // `a_write_without_actor_records_the_os_user`).
        .env_remove("USER")
        .env_remove("LOGNAME")
        .env_remove("USERNAME");
    if let Some(url) = url {
        command.args(["--database-url", url]);
    }
    command.args(args);
    run(command)
}

/// A file in the temporary directory (an export), removed when the test ends.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("rt_{name}_{}.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&path);
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.0).unwrap()
    }

    /// Each line, as JSON.
    fn lines(&self) -> Vec<Value> {
        self.text()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
            .collect()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The lines of an export of one type.
fn of_type<'a>(lines: &'a [Value], kind: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["type"] == kind).collect()
}

/// The position a table-format `export` printed to resume from.
fn next_position(printed: &str) -> String {
    printed
        .lines()
        .find_map(|l| l.strip_prefix("next: export --since "))
        .unwrap_or_else(|| panic!("no position in {printed:?}"))
        .to_owned()
}

fn run(mut command: Command) -> Run {
    let output = command
        .stdin(Stdio::null())
        .output()
        .expect("the test binary runs as the command line");
    Run {
        status: output.status.code().expect("exited"),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

fn sqlite_url(fresh: &mut Fresh<diesel::SqliteConnection>) -> String {
    fresh.path.clone().expect("a SQLite file")
}

/// The test's schema, as the connection's search path.
#[cfg(feature = "postgres")]
fn postgres_url(fresh: &mut Fresh<diesel::PgConnection>) -> String {
    let schema: String = diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(
        "current_schema()",
    ))
    .get_result(&mut fresh.conn)
    .unwrap();
    let base = std::env::var("RECOVER_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let join = if base.contains('?') { '&' } else { '?' };
    format!("{base}{join}options=-csearch_path%3D{schema}")
}

/// The test's database.
#[cfg(feature = "mysql")]
fn mysql_url(fresh: &mut Fresh<diesel::MysqlConnection>) -> String {
    let database: String =
        diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>("DATABASE()"))
            .get_result(&mut fresh.conn)
            .unwrap();
    let base = std::env::var("RECOVER_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
    let base = base.split('?').next().unwrap_or_default();
    let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
    format!("{server}/{database}")
}

fn reads_as_json<C: TestDb>(db: &mut Db<C>) {
    db.bank();
    let models = db.cli(&["--format", "json", "models"]);
    assert_eq!(models.status, OK, "{models:?}");
    let models = models.json();
    let tables: Vec<&Value> = models.iter().map(|m| &m["entity"]).collect();
    assert_eq!(
        tables,
        [&json!("accounts"), &json!("memberships"), &json!("users")]
    );
    assert_eq!(models[0]["entities"], 2);
    assert_eq!(models[0]["entries"], 4);
    assert_eq!(models[1]["key_columns"], json!(["user_id", "org"]));

    // A table's entries, newest first, with the real row values before and after.
    let log = db.cli(&["--format", "json", "log", "accounts"]);
    assert_eq!(log.status, OK, "{log:?}");
    let log = log.json();
    let ops: Vec<&Value> = log.iter().map(|e| &e["op"]).collect();
    assert_eq!(ops, ["delete", "update", "insert", "insert"]);
    assert!(log
        .windows(2)
        .all(|w| w[0]["seq"].as_i64() > w[1]["seq"].as_i64()));
    let update = &log[1];
    let keys: Vec<&String> = update.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "actor",
            "after",
            "before",
            "changed",
            "changeset",
            "entity",
            "key",
            "op",
            "reason",
            "recorded_at",
            "seq",
            "undoes"
        ],
        "stable keys"
    );
    assert_eq!(update["key"], "1");
    assert_eq!(update["actor"], "bob");
    assert_eq!(update["reason"], "ticket 42");
    assert_eq!(update["changed"], json!(["balance", "note"]));
    assert_eq!(
        update["before"],
        json!({"id": 1, "owner": "ann", "balance": 100, "status": "open", "note": null})
    );
    assert_eq!(
        update["after"],
        json!({"id": 1, "owner": "ann", "balance": 50, "status": "open", "note": "withdrew 50"})
    );
    assert_eq!(log[0]["after"], Value::Null, "a delete has no after-image");
    assert_eq!(log[0]["before"]["owner"], "ben");

    // One entity; the whole journal; filters; paging.
    assert_eq!(
        db.cli(&["--format", "json", "log", "accounts", "1"])
            .json()
            .len(),
        2
    );
    let composite = db.cli(&["--format", "json", "log", "memberships", r#"[7, "acme"]"#]);
    assert_eq!(composite.one()["key"], r#"[7,"acme"]"#, "{composite:?}");
    let all = db.cli(&["--format", "json", "log"]).json();
    assert_eq!(all.len(), 5);
    assert_eq!(all[0]["entity"], "memberships");
    let by_bob = db
        .cli(&["--format", "json", "log", "--actor", "bob"])
        .json();
    assert_eq!(by_bob.len(), 2);
    let first = db.cli(&["--format", "json", "log", "--limit", "2"]).json();
    assert_eq!(first, all[..2]);
    let before = first[1]["seq"].to_string();
    let next = db.cli(&[
        "--format", "json", "log", "--limit", "2", "--before", &before,
    ]);
    assert_eq!(next.json(), all[2..4]);
    let future = db.cli(&["--format", "json", "log", "--since", "2999-01-01"]);
    assert_eq!((future.status, future.stdout.as_str()), (OK, ""));
    assert_eq!(
        db.cli(&["--format", "json", "log", "--since", "1h"])
            .json()
            .len(),
        5
    );

    // One entry; its diff; the deleted rows; a changeset.
    let seq = update["seq"].to_string();
    assert_eq!(db.cli(&["--format", "json", "show", &seq]).one(), *update);
    let diff = db.cli(&["--format", "json", "diff", &seq]).one();
    assert_eq!(
        diff["changes"],
        json!([
            {"column": "balance", "old": 100, "new": 50},
            {"column": "note", "old": null, "new": "withdrew 50"},
        ])
    );
    let deleted = db.cli(&["--format", "json", "deleted", "accounts"]).one();
    assert_eq!(
        (&deleted["key"], &deleted["before"]["balance"]),
        (&json!("2"), &json!(250))
    );
    let changeset = update["changeset"].to_string();
    assert_eq!(
        db.cli(&["--format", "json", "changeset", &changeset]).one(),
        *update
    );
}

fn writes_ask_and_dry_run_writes_nothing<C: TestDb>(db: &mut Db<C>) {
    db.bank();
    Journal::new().undo::<Account>(db.conn(), &2).unwrap(); // something to redo
    let update = db.cli(&["--format", "json", "log", "accounts", "1", "--limit", "1"]);
    let changeset = update.one()["changeset"].to_string();
    let state = db.state();
    for write in [
        &["undo", "accounts", "1"][..],
        &["redo", "accounts", "2"],
        &["restore", "accounts", "1", "--version", "1"],
        &["undo-changeset", &changeset],
        &["prune", "--keep-last", "1"],
    ] {
        // No terminal to ask, no --yes: refused, nothing written.
        let refused = db.cli(write);
        assert_eq!(refused.status, NOT_CONFIRMED, "{write:?}: {refused:?}");
        assert!(refused.stderr.contains("--yes"), "{refused:?}");
        assert_eq!(db.state(), state, "{write:?} wrote nothing");
    }

    // --dry-run shows the change, and writes nothing.
    let dry = db.cli(&["--format", "json", "undo", "accounts", "1", "--dry-run"]);
    assert_eq!(dry.status, OK, "{dry:?}");
    let dry = dry.one();
    assert_eq!(
        (&dry["dry_run"], &dry["applied"]),
        (&json!(true), &json!(false))
    );
    let entry = &dry["entries"][0];
    assert_eq!(entry["op"], "undo");
    assert_eq!(
        (&entry["before"]["balance"], &entry["after"]["balance"]),
        (&json!(50), &json!(100))
    );
    let dry = db.cli(&["restore", "accounts", "1", "--version", "1", "--dry-run"]);
    assert_eq!(dry.status, OK, "{dry:?}");
    assert!(
        dry.stdout.contains("would restore accounts 1 to version 1"),
        "{dry:?}"
    );
    assert!(dry.stdout.contains("balance: 50 -> 100"), "{dry:?}");
    let dry = db.cli(&["--format", "json", "prune", "--keep-last", "1", "--dry-run"]);
    assert_eq!(dry.one()["removed"], 3, "{dry:?}");
    assert_eq!(db.state(), state, "dry runs wrote nothing");
}

fn undo_redo_restore_undelete_changeset<C: TestDb>(db: &mut Db<C>) {
    db.bank();
    let undo = db.cli(&[
        "--format",
        "json",
        "undo",
        "accounts",
        "1",
        "--yes",
        "--actor",
        "carol",
        "--reason",
        "ticket 43",
    ]);
    assert_eq!(undo.status, OK, "{undo:?}");
    let undo = undo.one();
    assert_eq!(
        (&undo["applied"], &undo["dry_run"]),
        (&json!(true), &json!(false))
    );
    let entry = &undo["entries"][0];
    assert_eq!(
        (&entry["actor"], &entry["reason"]),
        (&json!("carol"), &json!("ticket 43"))
    );
    assert_eq!(undo["changeset"], entry["changeset"]);
    assert_eq!(db.conn().account(1).unwrap().balance, 100);
    let newest = db.cli(&["--format", "json", "log", "--limit", "1"]).one();
    assert_eq!(
        (&newest["op"], &newest["actor"]),
        (&json!("undo"), &json!("carol"))
    );

    assert_eq!(db.cli(&["redo", "accounts", "1", "--yes"]).status, OK);
    assert_eq!(db.conn().account(1).unwrap().balance, 50);
    let restore = db.cli(&["restore", "accounts", "1", "--version", "1", "--yes"]);
    assert_eq!(restore.status, OK, "{restore:?}");
    assert_eq!(db.conn().account(1).unwrap().balance, 100);
    let update = db.seq_of("accounts", "1", "update").to_string();
    let restore = db.cli(&["restore", "accounts", "1", "--entry", &update, "--yes"]);
    assert_eq!(restore.status, OK, "{restore:?}");
    assert_eq!(db.conn().account(1).unwrap().balance, 50);
    let at = db.cli(&["restore", "accounts", "1", "--at", "2000-01-01", "--yes"]);
    assert_eq!(at.status, OK, "{at:?}");
    assert_eq!(db.conn().account(1), None, "it did not exist then");
    assert_eq!(db.cli(&["undo", "accounts", "1", "--yes"]).status, OK);
    assert_eq!(db.conn().account(1).unwrap().balance, 50);

    // Undelete ben.
    assert_eq!(db.cli(&["undo", "accounts", "2", "--yes"]).status, OK);
    assert_eq!(db.conn().account(2), Some(Account::new(2, "ben", 250)));
    assert_eq!(db.cli(&["redo", "accounts", "2", "--yes"]).status, OK);
    assert_eq!(db.conn().account(2), None, "deleted again");
    let nothing = db.cli(&["redo", "accounts", "2", "--yes"]);
    assert_eq!(nothing.status, FAILED, "{nothing:?}");
    assert!(nothing.stderr.contains("nothing to redo"), "{nothing:?}");
    assert_eq!(db.cli(&["undo", "accounts", "2", "--yes"]).status, OK);

    // A changeset of two changes, undone as one.
    let journal = Journal::new().actor("batch");
    let cs = journal
        .changeset(db.conn(), |tx| {
            tx.update(&Account::new(1, "ann", 0))?;
            tx.update(&Account::new(2, "ben", 0))?;
            Ok(())
        })
        .unwrap();
    let id = cs.get().to_string();
    assert_eq!(
        db.cli(&["--format", "json", "changeset", &id]).json().len(),
        2
    );
    let undone = db.cli(&["--format", "json", "undo-changeset", &id, "--yes"]);
    assert_eq!(undone.status, OK, "{undone:?}");
    assert_eq!(undone.one()["entries"].as_array().unwrap().len(), 2);
    assert_eq!(db.conn().account(1).unwrap().balance, 50);
    assert_eq!(db.conn().account(2).unwrap().balance, 250);
}

fn restore_table_after_a_mass_update<C: TestDb>(db: &mut Db<C>) {
    db.bank();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let before_the_mistake = chrono::Utc::now();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let before = db.conn().accounts();
    let batch = Journal::new().actor("batch");
    batch.update(db.conn(), &Account::new(1, "ann", 0)).unwrap();
    batch
        .insert(db.conn(), &Account::new(7, "gus", 70))
        .unwrap();
    let at = before_the_mistake.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);

    let state = db.state();
    let dry = db.cli(&[
        "--format",
        "json",
        "restore-table",
        "accounts",
        "--at",
        &at,
        "--dry-run",
    ]);
    assert_eq!(dry.status, OK, "{dry:?}");
    let dry = dry.one();
    assert_eq!(
        (&dry["dry_run"], &dry["applied"]),
        (&json!(true), &json!(false))
    );
    assert_eq!(dry["entries"].as_array().unwrap().len(), 2, "{dry}");
    assert_eq!(db.state(), state, "a dry run writes nothing");
    let unconfirmed = db.cli(&["restore-table", "accounts", "--at", &at]);
    assert_eq!(unconfirmed.status, NOT_CONFIRMED, "{unconfirmed:?}");
    assert_eq!(db.state(), state);

    let done = db.cli(&[
        "--format",
        "json",
        "restore-table",
        "accounts",
        "--at",
        &at,
        "--yes",
        "--actor",
        "ops",
    ]);
    assert_eq!(done.status, OK, "{done:?}");
    let done = done.one();
    let entries = done["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{done}");
    assert!(entries.iter().all(|e| e["actor"] == json!("ops")), "{done}");
    assert_eq!(db.conn().accounts(), before, "every row as it was");

    // One changeset: undone as one.
    let id = done["changeset"].to_string();
    assert_eq!(db.cli(&["undo-changeset", &id, "--yes"]).status, OK);
    assert_eq!(db.conn().account(1).unwrap().balance, 0);
    assert_eq!(db.conn().account(7).unwrap().balance, 70);

    let unknown = db.cli(&["restore-table", "nosuch", "--at", &at, "--yes"]);
    assert_eq!(unknown.status, BAD_INPUT, "{unknown:?}");
    let no_time = db.cli(&["restore-table", "accounts", "--yes"]);
    assert_eq!(no_time.status, BAD_INPUT, "{no_time:?}");
}

fn conflict_writes_nothing<C: TestDb>(db: &mut Db<C>) {
    db.bank();
    db.conn()
        .exec("UPDATE accounts SET balance = 7 WHERE id = 1");
    let state = db.state();

    let conflict = db.cli(&["--format", "json", "undo", "accounts", "1", "--yes"]);
    assert_eq!(conflict.status, CONFLICT, "{conflict:?}");
    let error = conflict.one();
    assert_eq!(error["error"], "conflict");
    assert_eq!(
        (&error["entity"], &error["key"]),
        (&json!("accounts"), &json!("1"))
    );
    assert_eq!(error["columns"], json!(["balance"]));
    assert_eq!(error["journal"]["balance"], 50);
    assert_eq!(error["stored"]["balance"], 7);
    assert_eq!(db.state(), state, "nothing written");

    // In a table: both images, the differing column marked.
    let conflict = db.cli(&["restore", "accounts", "1", "--version", "1", "--yes"]);
    assert_eq!(conflict.status, CONFLICT, "{conflict:?}");
    assert!(conflict.stdout.contains("JOURNAL") && conflict.stdout.contains("STORED"));
    let balance = conflict
        .stdout
        .lines()
        .find(|l| l.starts_with("balance"))
        .unwrap();
    let cells: Vec<&str> = balance.split_whitespace().collect();
    assert_eq!(cells, ["balance", "50", "7", "differs"], "{conflict:?}");
    assert!(conflict.stderr.contains("--force"), "{conflict:?}");
    // A dry run finds it too.
    let dry = db.cli(&["undo", "accounts", "1", "--dry-run"]);
    assert_eq!(dry.status, CONFLICT, "{dry:?}");
    assert_eq!(db.state(), state, "nothing written");

    let forced = db.cli(&["undo", "accounts", "1", "--yes", "--force"]);
    assert_eq!(forced.status, OK, "{forced:?}");
    assert_eq!(db.conn().account(1).unwrap().balance, 100);
}

fn bad_input_writes_nothing<C: TestDb>(db: &mut Db<C>) {
    db.bank();
    let state = db.state();
    let other = db.seq_of("accounts", "2", "insert").to_string();
    for (args, message) in [
        (
            &["undo", "nope", "1", "--yes"][..],
            "no model for table `nope`",
        ),
        (&["log", "nope"], "(models: accounts, memberships, users)"),
        (&["undo", "accounts", "abc", "--yes"], "is not a key"),
        (&["undo", "accounts", "1.5", "--yes"], "is not a key"),
        (
            &["undo", "memberships", r#"["acme",7]"#, "--yes"],
            "user_id, org",
        ),
        (
            &["restore", "accounts", "1", "--version", "99", "--yes"],
            "no version 99",
        ),
        (
            &["restore", "accounts", "1", "--entry", &other, "--yes"],
            "is an entry of accounts 2",
        ),
        (
            &["restore", "accounts", "1", "--entry", "99999", "--yes"],
            "entry 99999 not found",
        ),
        (
            &["restore", "accounts", "9", "--version", "1", "--yes"],
            "no such row",
        ),
        (&["show", "99999"], "entry 99999 not found"),
        (
            &["undo-changeset", "99999", "--yes"],
            "changeset 99999 not found",
        ),
        (&["restore", "accounts", "1", "--yes"], "--version"),
        (
            &["restore", "accounts", "1", "--version", "1", "--at", "1h"],
            "cannot be used",
        ),
        (&["log", "--since", "yesterday"], "is not a time"),
        (&["frobnicate"], "unrecognized subcommand"),
    ] {
        let run = db.cli(args);
        assert_eq!(run.status, BAD_INPUT, "{args:?}: {run:?}");
        assert!(run.stderr.contains(message), "{args:?}: {run:?}");
    }
    let json = db.cli(&["--format", "json", "undo", "accounts", "x", "--yes"]);
    assert_eq!(json.status, BAD_INPUT);
    assert_eq!(json.one()["error"], "invalid_key");

    // No database, or a missing file.
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .env("RECOVER_CLI_CHILD", db.backend)
        .env_remove("DATABASE_URL")
        .args(["log"]);
    let none = run(command);
    assert_eq!(none.status, BAD_INPUT, "{none:?}");
    assert!(none.stderr.contains("DATABASE_URL"), "{none:?}");
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .env("RECOVER_CLI_CHILD", db.backend)
        .env("DATABASE_URL", "/nonexistent/bank.db")
        .args(["log"]);
    let missing = run(command);
    assert_eq!(missing.status, BAD_INPUT, "{missing:?}");
    assert!(!std::path::Path::new("/nonexistent/bank.db").exists());
    assert_eq!(db.state(), state, "nothing written");
}

fn check_and_prune<C: TestDb>(db: &mut Db<C>) {
    db.bank();
    let check = db.cli(&["--format", "json", "check"]);
    assert_eq!(check.status, OK, "{check:?}");
    assert_eq!(check.one()["ok"], true);
    db.conn()
        .exec("UPDATE accounts SET balance = 7 WHERE id = 1");
    let check = db.cli(&["check"]);
    assert_eq!(check.status, PROBLEMS, "{check:?}");
    assert!(check.stdout.contains("accounts 1"), "{check:?}");

    // Which tables lose how many, shown before anything is removed.
    let dry = db.cli(&["prune", "--keep-last", "1", "--dry-run"]);
    assert_eq!(dry.status, OK, "{dry:?}");
    assert!(
        dry.stdout
            .contains("would remove 2 journal entries\n  accounts: 2\n"),
        "{dry:?}"
    );
    let prune = db.cli(&["--format", "json", "prune", "--keep-last", "1", "--yes"]);
    assert_eq!(prune.status, OK, "{prune:?}");
    let prune = prune.one();
    assert_eq!(
        (&prune["applied"], &prune["removed"], &prune["by_table"]),
        (&json!(true), &json!(2), &json!({"accounts": 2}))
    );
    assert_eq!(db.conn().journal_rows().len(), 3);
    let keeps_all = db.cli(&["prune", "--yes"]);
    assert_eq!(keeps_all.status, BAD_INPUT, "{keeps_all:?}");
    assert!(keeps_all.stderr.contains("keep_last"), "{keeps_all:?}");
}

fn table_output<C: TestDb>(db: &mut Db<C>) {
    db.bank();
    let log = db.cli(&["log", "accounts", "--limit", "3"]);
    assert_eq!(log.status, OK, "{log:?}");
    assert!(!log.stdout.contains('\x1b'), "no colour when piped");
    let lines: Vec<&str> = log.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{log:?}");
    assert!(lines[0].starts_with("SEQ"));
    assert!(lines[2].contains("update") && lines[2].contains("balance, note"));
    assert!(log.stderr.contains("more: --before"), "{log:?}");
    let update = db.seq_of("accounts", "1", "update").to_string();
    let diff = db.cli(&["diff", &update]);
    let rows: Vec<Vec<&str>> = diff
        .stdout
        .lines()
        .skip(3)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec!["balance", "100", "50"],
            vec!["note", "null", "\"withdrew", "50\""]
        ],
        "{diff:?}"
    );
    let show = db.cli(&["show", &update]);
    assert!(show.stdout.contains("by bob: ticket 42"), "{show:?}");
    assert_eq!(show.stdout.lines().count(), 3 + 5, "{show:?}");
    // What a deleted row held, to pick one to restore.
    let deleted = db.cli(&["deleted", "accounts"]);
    assert_eq!(deleted.status, OK, "{deleted:?}");
    let lines: Vec<&str> = deleted.stdout.lines().collect();
    assert!(
        lines[0].starts_with("SEQ") && lines[0].contains("ROW"),
        "{deleted:?}"
    );
    assert_eq!(lines.len(), 2, "{deleted:?}");
    assert!(
        lines[1].contains("bob")
            && lines[1].contains("ticket 42")
            && lines[1].contains(r#"owner="ben""#)
            && lines[1].contains("balance=250"),
        "{deleted:?}"
    );
}

/// On a terminal (a pseudo-terminal from util-linux's `script`): a write asks, and does nothing
/// unless the answer is yes; output is coloured.
fn terminal_asks_and_colours<C: TestDb>(db: &mut Db<C>) {
    if !std::path::Path::new("/usr/bin/script").exists() {
        println!("(no /usr/bin/script: the terminal case is skipped)");
        return;
    }
    db.bank();
    let (url, backend) = (db.url.clone(), db.backend);
    let on_terminal = |args: &str, input: &str| {
        let exe = std::env::current_exe().unwrap();
        let line = format!("'{}' --database-url '{url}' {args}", exe.display());
        let mut child = Command::new("/usr/bin/script")
            .args(["-qec", &line, "/dev/null"])
            .env("RECOVER_CLI_CHILD", backend)
            .env_remove("DATABASE_URL")
            .env_remove("NO_COLOR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        Run {
            status: output.status.code().expect("exited"),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    };
    let state = db.state();
    let no = on_terminal("undo accounts 1", "n\n");
    assert_eq!(no.status, NOT_CONFIRMED, "{no:?}");
    assert!(no.stdout.contains("[y/N]"), "{no:?}");
    assert_eq!(db.state(), state, "nothing written");

    let yes = on_terminal("undo accounts 1", "y\n");
    assert_eq!(yes.status, OK, "{yes:?}");
    assert!(yes.stdout.contains("done: changeset"), "{yes:?}");
    assert_eq!(db.conn().account(1).unwrap().balance, 100);

    let update = db.seq_of("accounts", "1", "update");
    let diff = on_terminal(&format!("diff {update}"), "");
    assert!(diff.stdout.contains("\x1b[31m100\x1b[0m"), "{diff:?}");
    assert!(diff.stdout.contains("\x1b[32m50\x1b[0m"), "{diff:?}");
}

/// `export` writes every entry to a file with the position to resume from; `verify` (no
/// database needed) finds its chain whole; to standard output, the summary goes to stderr.
fn export_then_verify<C: TestDb>(db: &mut Db<C>) {
    db.bank();
    let file = TempFile::new("export_then_verify");
    let export = db.cli(&["export", "--output", file.path()]);
    assert_eq!(export.status, OK, "{export:?}");
    let lines = file.lines();
    assert_eq!(lines[0]["type"], "header", "{lines:?}");
    assert_eq!(lines[0]["after"], Value::Null);
    let end = lines.last().unwrap();
    assert_eq!(end["type"], "end");
    let journal = db.conn().journal_rows();
    let entries = of_type(&lines, "entry");
    let seqs: Vec<i64> = entries.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, journal.iter().map(|r| r.seq).collect::<Vec<_>>());
    let update = journal.iter().find(|r| r.op == "update").unwrap();
    let exported = entries.iter().find(|e| e["seq"] == update.seq).unwrap();
    assert_eq!(
        (&exported["actor"], &exported["reason"]),
        (&json!("bob"), &json!("ticket 42"))
    );
    assert_eq!(
        exported["after_image"]
            .as_str()
            .map(|t| serde_json::from_str(t).unwrap()),
        update.after()
    );
    let position = end["position"].as_str().unwrap();
    assert!(
        position.starts_with(&format!("v1:{}:", db.backend)),
        "{end}"
    );
    assert!(export.stdout.contains("exported 5 entries"), "{export:?}");
    assert_eq!(next_position(&export.stdout), position, "{export:?}");
    assert_eq!(export.stderr, "", "{export:?}");

    // The chain holds; no database is needed to say so.
    let verify = cli(db.backend, None, &["verify", file.path()]);
    assert_eq!(verify.status, OK, "{verify:?}");
    assert!(verify.stdout.contains("the hash chain holds"), "{verify:?}");
    assert!(verify.stdout.contains("5 entries"), "{verify:?}");
    let verify = db.cli(&["--format", "json", "verify", file.path()]).one();
    assert_eq!(
        (&verify["ok"], &verify["exports"], &verify["entries"]),
        (&json!(true), &json!(1), &json!(5))
    );
    assert_eq!(verify["head"], end["hash"]);
    assert_eq!(verify["start"], "0".repeat(64));
    assert_eq!(verify["position"], position);

    // The JSON summary, the file replaced by a new export.
    let summary = db.cli(&["--format", "json", "export", "--output", file.path()]);
    assert_eq!(summary.status, OK, "{summary:?}");
    let summary = summary.one();
    let lines = file.lines();
    assert_eq!(
        (
            &summary["entries"],
            &summary["changesets"],
            &summary["redactions"]
        ),
        (
            &json!(5),
            &json!(of_type(&lines, "changeset").len()),
            &json!(0)
        )
    );
    assert_eq!(summary["lines"], lines.len());
    assert_eq!(summary["position"], lines.last().unwrap()["position"]);
    assert_eq!(summary["seq"], *seqs.last().unwrap());
    assert_eq!(of_type(&lines, "header").len(), 1, "replaced, not appended");

    // To standard output: the export alone there, the position on standard error.
    let out = db.cli(&["export"]);
    assert_eq!(out.status, OK, "{out:?}");
    let lines = out.json();
    assert_eq!(of_type(&lines, "entry").len(), 5);
    assert_eq!(lines.last().unwrap()["type"], "end");
    assert_eq!(
        next_position(&out.stderr),
        lines.last().unwrap()["position"],
        "{out:?}"
    );
    std::fs::write(&file.0, &out.stdout).unwrap();
    assert_eq!(db.cli(&["verify", file.path()]).status, OK);
    let out = db.cli(&["--format", "json", "export"]);
    let summary: Value = serde_json::from_str(out.stderr.trim()).unwrap();
    assert_eq!(summary["position"], out.json().last().unwrap()["position"]);
}

/// An export edited after the fact: `verify` names the first line that does not hold.
fn verify_names_a_tampered_line<C: TestDb>(db: &mut Db<C>) {
    db.bank();
    let file = TempFile::new("verify_names_a_tampered_line");
    assert_eq!(db.cli(&["export", "--output", file.path()]).status, OK);
    let text = file.text();
    let (at, line) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains(r#""type":"entry""#) && l.contains(r#""actor":"bob""#))
        .unwrap();
    let seq = serde_json::from_str::<Value>(line).unwrap()["seq"].clone();
    let tampered = line.replace(r#""actor":"bob""#, r#""actor":"eve""#);
    std::fs::write(&file.0, text.replacen(line, &tampered, 1)).unwrap();

    let verify = db.cli(&["verify", file.path()]);
    assert_eq!(verify.status, PROBLEMS, "{verify:?}");
    let named = format!("export line {} (journal entry {seq})", at + 1);
    assert!(verify.stdout.contains(&named), "{named}: {verify:?}");
    assert!(
        verify.stdout.contains("the hash does not match"),
        "{verify:?}"
    );
    let verify = db.cli(&["--format", "json", "verify", file.path()]);
    assert_eq!(verify.status, PROBLEMS, "{verify:?}");
    let verify = verify.one();
    assert_eq!(
        (&verify["ok"], &verify["line"], &verify["seq"]),
        (&json!(false), &json!(at + 1), &seq)
    );

    // Cut before its end line: the line after the last is named.
    let cut: Vec<&str> = text.lines().collect();
    std::fs::write(&file.0, cut[..cut.len() - 1].join("\n") + "\n").unwrap();
    let verify = db.cli(&["verify", file.path()]);
    assert_eq!(verify.status, PROBLEMS, "{verify:?}");
    assert!(
        verify
            .stdout
            .contains(&format!("export line {}", cut.len())),
        "{verify:?}"
    );
    assert!(verify.stdout.contains("cut"), "{verify:?}");

    // No such file: bad input.
    let missing = db.cli(&["verify", "/nonexistent/journal.jsonl"]);
    assert_eq!(missing.status, BAD_INPUT, "{missing:?}");
    assert!(missing.stderr.contains("no export file"), "{missing:?}");
}

/// The live journal edited by hand after an export: `compare` names the entries by seq; a
/// recorded redaction is reported as one, and is not tampering.
fn compare_reports_hand_edits_by_seq<C: TestDb>(db: &mut Db<C>) {
    db.bank();
    let file = TempFile::new("compare_reports_hand_edits_by_seq");
    assert_eq!(db.cli(&["export", "--output", file.path()]).status, OK);
    let clean = db.cli(&["compare", file.path()]);
    assert_eq!(clean.status, OK, "{clean:?}");
    assert!(clean.stdout.contains("compared 5 entries"), "{clean:?}");
    assert!(clean.stdout.contains("clean"), "{clean:?}");

    let update = db.seq_of("accounts", "1", "update");
    let delete = db.seq_of("accounts", "2", "delete");
    db.conn().exec(&format!(
        "UPDATE recover_journal SET actor = 'mallory' WHERE seq = {update}"
    ));
    db.conn()
        .exec(&format!("DELETE FROM recover_journal WHERE seq = {delete}"));
    let compare = db.cli(&["--format", "json", "compare", file.path()]);
    assert_eq!(compare.status, PROBLEMS, "{compare:?}");
    let report = compare.one();
    assert_eq!(report["clean"], false);
    assert_eq!(
        report["altered"],
        json!([{"seq": update, "columns": ["actor"]}])
    );
    assert_eq!(report["missing"], json!([delete]));
    assert_eq!(report["redacted"], json!([]));
    let compare = db.cli(&["compare", file.path()]);
    assert_eq!(compare.status, PROBLEMS, "{compare:?}");
    let rows: Vec<Vec<&str>> = compare
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .filter(|cells: &Vec<&str>| cells.len() > 1 && cells[1] != "entries")
        .collect();
    assert!(
        rows.contains(&vec![&update.to_string()[..], "altered", "actor"]),
        "{compare:?}"
    );
    assert!(
        rows.contains(&vec![&delete.to_string()[..], "missing"]),
        "{compare:?}"
    );

    // A redaction since a new export: reported by seq, and clean.
    assert_eq!(db.cli(&["export", "--output", file.path()]).status, OK);
    Journal::new()
        .redact::<Account>(db.conn(), &1, &["note"])
        .unwrap();
    let compare = db.cli(&["--format", "json", "compare", file.path()]);
    assert_eq!(compare.status, OK, "{compare:?}");
    let report = compare.one();
    assert_eq!(report["clean"], true);
    assert!(
        report["redacted"]
            .as_array()
            .unwrap()
            .contains(&json!(update)),
        "{report}"
    );
    assert_eq!(
        (&report["altered"], &report["missing"]),
        (&json!([]), &json!([]))
    );
}

/// `rebuild` fills a database whose tables the test created (empty, no journal) with the
/// source's rows and journal, as of a seq or a time; it asks first, refuses a point before the
/// export, and a second run writes nothing.
fn rebuild_into_an_empty_database(db: &mut Db<diesel::SqliteConnection>) {
    db.bank();
    let update = db.seq_of("accounts", "1", "update").to_string();
    // A changeset of two changes (recover_changesets holds a row for it).
    Journal::new()
        .actor("batch")
        .changeset(db.conn(), |tx| {
            tx.update(&Account::new(1, "ann", 60))?;
            tx.insert(&Account::new(3, "cat", 30))?;
            Ok(())
        })
        .unwrap();
    let file = TempFile::new("rebuild_into_an_empty_database");
    assert_eq!(db.cli(&["export", "--output", file.path()]).status, OK);
    let mut target = common::sqlite_file("rebuild_into_an_empty_database_target", false);
    let url = target.path.clone().unwrap();
    let rebuild = |args: &[&str]| cli("sqlite", Some(&url), args);
    let installed = |conn: &mut diesel::SqliteConnection| {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "(SELECT count(*) FROM sqlite_master WHERE name = 'recover_journal')",
        ))
        .get_result::<i64>(conn)
        .unwrap()
            == 1
    };

    // No terminal, no --yes: refused, nothing written.
    let refused = rebuild(&["rebuild", file.path(), "--at", "2999-01-01"]);
    assert_eq!(refused.status, NOT_CONFIRMED, "{refused:?}");
    assert!(refused.stderr.contains("--yes"), "{refused:?}");
    assert!(!installed(&mut target.conn), "nothing written");
    // A tampered file: refused before anything is written.
    let tampered = TempFile::new("rebuild_into_an_empty_database_tampered");
    std::fs::write(&tampered.0, file.text().replacen("ann", "eve", 1)).unwrap();
    let bad = rebuild(&["rebuild", tampered.path(), "--at", "2999-01-01", "--yes"]);
    assert_eq!(bad.status, BAD_INPUT, "{bad:?}");
    assert!(bad.stderr.contains("export line 2"), "{bad:?}");
    assert!(!installed(&mut target.conn), "nothing written");

    // Everything, as of a time after the last change.
    let done = rebuild(&[
        "--format",
        "json",
        "rebuild",
        file.path(),
        "--at",
        "2999-01-01",
        "--yes",
    ]);
    assert_eq!(done.status, OK, "{done:?}");
    let summary = done.one();
    assert_eq!(
        (
            &summary["rows"],
            &summary["entries"],
            &summary["changesets"]
        ),
        (&json!(3), &json!(7), &json!(1)),
        "ann, cat and the membership (ben is deleted); one changeset row"
    );
    assert_eq!(target.conn.account(3), Some(Account::new(3, "cat", 30)));
    assert_eq!(target.conn.accounts(), db.conn().accounts());
    assert_eq!(target.conn.memberships(), db.conn().memberships());
    assert_eq!(target.conn.journal_rows(), db.conn().journal_rows());
    // Resumable: a second run writes nothing.
    let again = rebuild(&[
        "--format",
        "json",
        "rebuild",
        file.path(),
        "--at",
        "2999-01-01",
        "-y",
    ]);
    assert_eq!(again.status, OK, "{again:?}");
    let again = again.one();
    assert_eq!(
        (&again["rows"], &again["entries"], &again["skipped"]),
        (&json!(0), &json!(0), &json!(7))
    );

    // As of bob's update (a journal seq), in a table: ben is still there, ann has 50.
    let mut earlier = common::sqlite_file("rebuild_into_an_empty_database_earlier", false);
    let url = earlier.path.clone().unwrap();
    let done = cli(
        "sqlite",
        Some(&url),
        &["rebuild", file.path(), "--seq", &update, "--yes"],
    );
    assert_eq!(done.status, OK, "{done:?}");
    assert!(
        done.stdout
            .contains(&format!("as of its state after journal entry {update}")),
        "{done:?}"
    );
    assert!(
        done.stdout
            .contains("done: 2 rows, 3 journal entries, 0 changesets and 0 redactions written"),
        "{done:?}"
    );
    let mut ann = Account::new(1, "ann", 50);
    ann.note = Some("withdrew 50".into());
    assert_eq!(earlier.conn.accounts(), [ann, Account::new(2, "ben", 250)]);
    assert_eq!(earlier.conn.journal_rows(), db.conn().journal_rows()[..3]);

    // Before the export's first entry: bad input naming the earliest point.
    let mut empty = common::sqlite_file("rebuild_into_an_empty_database_empty", false);
    let url = empty.path.clone().unwrap();
    let early = cli(
        "sqlite",
        Some(&url),
        &["rebuild", file.path(), "--at", "2000-01-01", "--yes"],
    );
    assert_eq!(early.status, BAD_INPUT, "{early:?}");
    assert!(early.stderr.contains("earliest point"), "{early:?}");
    assert_eq!(empty.conn.accounts(), []);
    let neither = cli("sqlite", Some(&url), &["rebuild", file.path(), "--yes"]);
    assert_eq!(neither.status, BAD_INPUT, "{neither:?}");
}

/// `export --since` the printed position: only the entries recorded since, continuing the
/// chain, to a file of its own, to standard output, or appended to the first file.
fn export_since_takes_only_new_entries<C: TestDb>(db: &mut Db<C>) {
    db.bank();
    let file = TempFile::new("export_since_takes_only_new_entries");
    let first = db.cli(&["--format", "json", "export", "--output", file.path()]);
    assert_eq!(first.status, OK, "{first:?}");
    let first = first.one();
    let position = first["position"].as_str().unwrap().to_owned();
    let journal = Journal::new().actor("dan");
    journal
        .insert(db.conn(), &Account::new(3, "cat", 30))
        .unwrap();
    journal
        .update(db.conn(), &Account::new(3, "cat", 35))
        .unwrap();

    let own = TempFile::new("export_since_takes_only_new_entries_next");
    let next = db.cli(&["export", "--since", &position, "--output", own.path()]);
    assert_eq!(next.status, OK, "{next:?}");
    assert!(next.stdout.contains("exported 2 entries"), "{next:?}");
    let lines = own.lines();
    assert_eq!(
        lines[0]["after"], position,
        "its header names where it continues"
    );
    let entries = of_type(&lines, "entry");
    assert_eq!(entries.len(), 2, "{lines:?}");
    assert!(entries
        .iter()
        .all(|e| e["actor"] == "dan" && e["seq"].as_i64() > first["seq"].as_i64()));

    let out = db.cli(&["export", "--since", &position]);
    assert_eq!(out.status, OK, "{out:?}");
    assert_eq!(of_type(&out.json(), "entry").len(), 2);
    assert!(out.stderr.contains("exported 2 entries"), "{out:?}");

    // Appended to the first file: one chain of two exports.
    let appended = db.cli(&["export", "--since", &position, "--output", file.path()]);
    assert_eq!(appended.status, OK, "{appended:?}");
    let verify = db.cli(&["--format", "json", "verify", file.path()]).one();
    assert_eq!(
        (&verify["ok"], &verify["exports"], &verify["entries"]),
        (&json!(true), &json!(2), &json!(7))
    );
    // Nothing new since: an empty export, the chain still whole.
    let last = next_position(&appended.stdout);
    let none = db.cli(&[
        "--format",
        "json",
        "export",
        "--since",
        &last,
        "-o",
        file.path(),
    ]);
    assert_eq!(none.one()["entries"], 0, "{none:?}");
    let verify = db.cli(&["--format", "json", "verify", file.path()]).one();
    assert_eq!(
        (&verify["ok"], &verify["exports"]),
        (&json!(true), &json!(3))
    );

    // A position that is not one: bad input, nothing written.
    let before = file.text();
    let bad = db.cli(&["export", "--since", "v1:sqlite:x", "-o", file.path()]);
    assert_eq!(bad.status, BAD_INPUT, "{bad:?}");
    assert!(bad.stderr.contains("export position"), "{bad:?}");
    assert_eq!(file.text(), before);
}

/// `log`, `undo`, `redo` and `restore` of a key with no journal entries: bad input, each
/// saying so; an empty page or nothing left to undo of a key that has entries is not.
fn keys_naming_nothing_are_bad_input<C: TestDb>(db: &mut Db<C>) {
    db.bank();
    let state = db.state();
    for (args, message) in [
        (
            &["log", "accounts", "99"][..],
            "nothing matched: accounts 99 has no journal entries",
        ),
        (
            &["log", "memberships", r#"[8, "acme"]"#, "--since", "1h"],
            r#"nothing matched: memberships [8,"acme"]"#,
        ),
        (
            &["undo", "accounts", "99", "--yes"],
            "accounts 99: no such row",
        ),
        (
            &["undo", "accounts", "99", "--dry-run"],
            "accounts 99: no such row",
        ),
        (
            &["redo", "accounts", "99", "--yes"],
            "accounts 99: no such row",
        ),
        (
            &["restore", "accounts", "99", "--version", "1", "--yes"],
            "accounts 99: no such row",
        ),
    ] {
        let run = db.cli(args);
        assert_eq!(run.status, BAD_INPUT, "{args:?}: {run:?}");
        assert!(run.stderr.contains(message), "{args:?}: {run:?}");
        assert_eq!(run.stdout, "", "{args:?}: {run:?}");
        let mut json = vec!["--format", "json"];
        json.extend_from_slice(args);
        let run = db.cli(&json);
        assert_eq!(run.status, BAD_INPUT, "{args:?}: {run:?}");
        assert_eq!(run.one()["error"], "not_found", "{args:?}: {run:?}");
    }
    assert_eq!(db.state(), state, "nothing written");

    // A key with entries: an empty page is no error; nothing left to undo is a failure.
    let future = db.cli(&[
        "--format",
        "json",
        "log",
        "accounts",
        "1",
        "--since",
        "2999-01-01",
    ]);
    assert_eq!(
        (future.status, future.stdout.as_str()),
        (OK, ""),
        "{future:?}"
    );
    let first = db.seq_of("accounts", "1", "insert").to_string();
    let past = db.cli(&["log", "accounts", "1", "--before", &first]);
    assert_eq!(past.status, OK, "{past:?}");
    let membership = r#"[7,"acme"]"#;
    assert_eq!(
        db.cli(&["undo", "memberships", membership, "--yes"]).status,
        OK
    );
    let nothing = db.cli(&["undo", "memberships", membership, "--yes"]);
    assert_eq!(nothing.status, FAILED, "{nothing:?}");
    assert!(nothing.stderr.contains("nothing to undo"), "{nothing:?}");
}

/// A write without `--actor` records the operating-system user (`$USER`), and its output shows
/// it; with `--actor`, that name; with no user in the environment, none.
fn a_write_without_actor_records_the_os_user<C: TestDb>(db: &mut Db<C>) {
    db.bank();
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .env("RECOVER_CLI_CHILD", db.backend)
        .env("USER", "opsuser")
        .args(["--database-url", &db.url])
        .args(["--format", "json", "undo", "accounts", "1", "--yes"]);
    let undo = run(command);
    assert_eq!(undo.status, OK, "{undo:?}");
    assert_eq!(undo.one()["entries"][0]["actor"], json!("opsuser"));
    let newest = db.cli(&["--format", "json", "log", "--limit", "1"]).one();
    assert_eq!(
        (&newest["op"], &newest["actor"]),
        (&json!("undo"), &json!("opsuser"))
    );
    // No user in the environment (the helper removes it): no actor, as before.
    assert_eq!(db.cli(&["redo", "accounts", "1", "--yes"]).status, OK);
    let newest = db.cli(&["--format", "json", "log", "--limit", "1"]).one();
    assert_eq!(
        (&newest["op"], &newest["actor"]),
        (&json!("redo"), &json!(null))
    );
}
