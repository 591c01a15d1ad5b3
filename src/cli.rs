//! A command line for the journal: see and undo changes without writing code
//! (feature `cli`).
//!
//! Your own binary, linking your models, becomes the tool:
//!
//! ```no_run
//! // src/bin/recover.rs of your application (your models are linked through your crate)
//! fn main() -> std::process::ExitCode {
//!     recover::cli::main::<diesel::SqliteConnection>()
//! }
//! ```
//!
//! It acts on every `#[derive(Recoverable)]` model linked into the binary, known by its table
//! name. A key is written as the journal stores it in `entity_key`: the JSON of the key — `1`,
//! `'"abc"'`, or `'[7,"acme"]'` for a composite key in `primary_key(..)` order (quote it for
//! the shell).
//!
//! ```text
//! recover --database-url bank.db models
//! recover --database-url bank.db log accounts            # a table's entries, newest first
//! recover log accounts 2 --limit 5 --before 17           # one entity, next page
//! recover log --since 2h --actor bob                     # the whole journal
//! recover show 9                                         # an entry with both images
//! recover diff 9                                         # old and new of the changed columns
//! recover deleted accounts
//! recover changeset 12
//! recover undo accounts 2 --actor carol --reason "ticket 43"
//! recover redo accounts 2 --yes
//! recover restore accounts 2 --version 1 --dry-run       # or --at TIME, or --entry SEQ
//! recover restore-table accounts --at 2026-11-30T14:00:00Z --dry-run   # after a bad mass update
//! recover undo-changeset 12 --yes
//! recover check
//! recover prune --keep-last 10 --keep-since 30d --yes
//! recover export --output journal.jsonl                 # the journal as hash-chained JSON Lines
//! recover export --since v1:sqlite:… >> journal.jsonl   # what is new since the last export
//! recover verify journal.jsonl                           # the hash chain (no database needed)
//! recover compare journal.jsonl                          # exported entries altered or missing since
//! recover --database-url restored.db rebuild journal.jsonl --at 2026-11-30T14:00:00Z --yes
//! ```
//!
//! The database comes from `--database-url`, else from the environment variable
//! `DATABASE_URL` (as with the diesel CLI). Times (`--since`, `--at`, `--keep-since`) are
//! RFC 3339 (`2026-11-30T14:00:00Z`), a UTC date and time (`2026-11-30 14:00:00`), a UTC date
//! (`2026-11-30`), or an age: `90s`, `30m`, `2h`, `7d`, `2w` ago.
//!
//! Writes (`undo`, `redo`, `restore`, `restore-table`, `undo-changeset`, `prune`) first work out what they would
//! change, in a transaction that is rolled back, and show it; `--dry-run` stops there. Then
//! they ask for confirmation on a terminal, unless given `--yes`; without a terminal and without
//! `--yes` they refuse. They are recorded with `--actor` (by default the operating-system user:
//! `$USER`, else `$LOGNAME`, else `%USERNAME%`; each written entry shows it) and `--reason`. A
//! row changed outside
//! recover is a conflict: both images and the differing columns are shown, and nothing is
//! written unless given `--force`.
//!
//! `export`, `verify`, `compare` and `rebuild` carry the journal (see `recover::export`):
//! `export` writes it as JSON Lines to `--output FILE` (created or replaced; appended to with
//! `--since`, so that the exports make one hash chain) or to standard output, and prints the
//! position the next export continues from (`--since POS`; on standard error when the export
//! goes to standard output). `verify` checks a file's hash chain and names the first line that
//! does not hold; `compare` lists by seq the exported entries altered, missing or redacted in
//! the live journal since; `rebuild` fills the database of `--database-url` (its tables created
//! by your migrations, empty) with every linked model's rows and the journal as of `--at TIME`
//! or `--seq N` (journal entry `N`), after checking the whole file, and asks for confirmation
//! as the other writes do.
//!
//! `--format json` prints one JSON object per line with stable keys, for scripts: an entry is
//! `{"seq", "changeset", "entity", "key", "op", "undoes", "actor", "reason", "recorded_at",
//! "changed", "before", "after"}` (images as objects keyed by column name, `null` when absent);
//! a write is `{"command", "dry_run", "applied", "changeset", "entries"}`; an error is
//! `{"error", "message", ..}`, on standard output. Table output is coloured on a terminal
//! (not when piped, nor with `NO_COLOR` set).
//!
//! # Exit statuses
//!
//! | status | meaning |
//! | ---: | --- |
//! | 0 | done (`check`: no problem found) |
//! | 1 | failed: a database error, nothing to undo or redo, a journal that cannot be read |
//! | 2 | bad input: usage, unknown model, malformed key, a key with no journal entries, no such entry or changeset, version out of range, an entry of another entity, a retention that keeps everything, no such export file, an export that does not verify (`compare`, `rebuild`) or is of a later format version, a malformed export position, a point before an export's horizon; nothing written |
//! | 3 | conflict: a row was changed outside recover; nothing written (`--force` overwrites) |
//! | 4 | not confirmed: no terminal to ask and no `--yes`, or the answer was no; nothing written |
//! | 5 | `check` found problems; `verify`: the hash chain breaks; `compare`: an entry or changeset was altered or is missing |

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::{json, Map, Value};

use recover_core::dynamic::{self, JournalEntry, Log, Model, RestoreTo};
use recover_core::{
    At, ChangesetId, Error, ExportFrom, ExportPosition, Journal, JournalConn, Retention,
};

/// How the command ended: its process exit status (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    /// Done.
    Ok = 0,
    /// Failed (a database error, nothing to undo or redo, an unreadable journal).
    Failed = 1,
    /// Bad input: usage, unknown model, malformed key, a key with no journal entries, no such
    /// entry or changeset, version out of range, an entry of another entity, no such export
    /// file, an export that does not verify, a malformed export position. Nothing was written.
    BadInput = 2,
    /// A row was changed outside recover. Nothing was written.
    Conflict = 3,
    /// A write was not confirmed. Nothing was written.
    NotConfirmed = 4,
    /// `check` found problems, `verify` a broken hash chain, `compare` an altered or missing
    /// entry.
    Problems = 5,
}

impl From<Status> for ExitCode {
    fn from(status: Status) -> Self {
        ExitCode::from(status as u8)
    }
}

/// Runs the command line with the process's arguments, on connection type `C`, acting on every
/// `Recoverable` model linked into the program.
pub fn main<C: JournalConn>() -> ExitCode {
    run::<C, _, _>(std::env::args_os()).into()
}

/// Runs the command line with these arguments (the first is the program's name).
pub fn run<C, I, A>(args: I) -> Status
where
    C: JournalConn,
    I: IntoIterator<Item = A>,
    A: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Status::BadInput
            } else {
                Status::Ok
            };
        }
    };
    let stdout = io::stdout();
    let mut ui = Ui {
        json: cli.format == Format::Json,
        color: cli.format == Format::Table
            && stdout.is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        out: stdout.lock(),
    };
    match execute::<C>(&cli, &mut ui) {
        Ok(status) => status,
        Err(Fail::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => Status::Ok,
        Err(fail) => ui.fail::<C>(fail),
    }
}

#[derive(Parser)]
#[command(
    about = "See and undo the changes recover journaled, for every model linked into this program",
    long_about = None
)]
struct Cli {
    /// The database: a SQLite file, postgres://.. or mysql://.. [env: DATABASE_URL]
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Output: a table for people, or one JSON object per line for scripts
    #[arg(long, value_enum, default_value_t = Format::Table, global = true)]
    format: Format,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// The models linked into this program, with their entities and entries in the journal
    Models,
    /// Journal entries, newest first: of the whole journal, a table, or one entity
    Log(LogArgs),
    /// One entry, with its before- and after-image
    Show {
        /// The entry's seq
        seq: i64,
    },
    /// The columns one entry changed, old and new side by side
    Diff {
        /// The entry's seq
        seq: i64,
    },
    /// The rows of a table whose newest entry removed them, newest first
    Deleted {
        /// The table
        table: String,
        #[command(flatten)]
        page: Page,
    },
    /// The entries of one changeset
    Changeset {
        /// The changeset's id
        id: i64,
    },
    /// Undo the newest change of a row
    Undo {
        /// The table
        table: String,
        /// The key, as JSON
        key: String,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Redo the most recently undone change of a row
    Redo {
        /// The table
        table: String,
        /// The key, as JSON
        key: String,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Bring a row to an earlier state
    Restore {
        /// The table
        table: String,
        /// The key, as JSON
        key: String,
        #[command(flatten)]
        to: RestoreArgs,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Bring every row of a table changed since a time back to its state then, as one
    /// changeset (after a bad mass update)
    RestoreTable {
        /// The table
        table: String,
        /// The time to go back to
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        at: DateTime<Utc>,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Undo every change of a changeset, atomically
    UndoChangeset {
        /// The changeset's id
        id: i64,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Check the journal against itself and the stored rows, changing nothing
    Check,
    /// Remove old journal entries (never an entity's newest one)
    Prune(PruneArgs),
    /// Write the journal as hash-chained JSON Lines: all of it, or what is new since a position
    Export(ExportArgs),
    /// Check an export's hash chain, line by line (no database needed)
    Verify {
        /// The export file
        file: PathBuf,
    },
    /// Check that the live journal still holds every entry of an export, unchanged
    Compare {
        /// The export file
        file: PathBuf,
    },
    /// Fill this database's empty tables and journal from an export, as of a point
    Rebuild(RebuildArgs),
}

#[derive(Args)]
struct LogArgs {
    /// The table (omit for the whole journal)
    table: Option<String>,
    /// The key, as JSON (omit for the whole table)
    key: Option<String>,
    #[command(flatten)]
    page: Page,
    /// Only entries recorded at or after this time
    #[arg(long, value_parser = parse_time)]
    since: Option<DateTime<Utc>>,
    /// Only entries recorded by this actor
    #[arg(long)]
    actor: Option<String>,
}

#[derive(Args)]
struct PruneArgs {
    /// Keep the newest N entries of every entity
    #[arg(long, value_name = "N")]
    keep_last: Option<usize>,
    /// Keep every entry recorded at or after this time
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    keep_since: Option<DateTime<Utc>>,
    /// Remove at most N entries per transaction
    #[arg(long, value_name = "N", default_value_t = 1_000)]
    batch_size: usize,
    #[command(flatten)]
    confirm: Confirm,
}

#[derive(Args)]
struct ExportArgs {
    /// Only what is new since this position (printed by the previous export, and the
    /// `position` of its end line), continuing that export's hash chain
    #[arg(long, value_name = "POS", value_parser = parse_position)]
    since: Option<ExportPosition>,
    /// Write to this file, not standard output: created or replaced, or appended to with
    /// --since (the exports of one file make one chain)
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Args)]
struct RebuildArgs {
    /// The export file: an export from the journal's start, incremental ones appended after it
    file: PathBuf,
    #[command(flatten)]
    to: RebuildPoint,
    /// Do not ask for confirmation
    #[arg(long, short)]
    yes: bool,
}

#[derive(Args)]
#[group(required = true, multiple = false)]
struct RebuildPoint {
    /// The state as of this time: the entries recorded up to it
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    at: Option<DateTime<Utc>>,
    /// The state right after journal entry N (a journal seq)
    #[arg(long, value_name = "N")]
    seq: Option<usize>,
}

#[derive(Args)]
struct Page {
    /// At most this many
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Only entries older than this seq (the next page)
    #[arg(long, value_name = "SEQ")]
    before: Option<i64>,
}

#[derive(Args)]
#[group(required = true, multiple = false)]
struct RestoreArgs {
    /// The state after the row's N-th entry (1-based)
    #[arg(long, value_name = "N")]
    version: Option<usize>,
    /// The state as of this time (deleted if the row did not exist then)
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    at: Option<DateTime<Utc>>,
    /// The state after this entry of the row
    #[arg(long, value_name = "SEQ")]
    entry: Option<i64>,
}

#[derive(Args)]
struct WriteArgs {
    /// Who makes the change (stored in the journal); default: the operating-system user
    /// ($USER, else $LOGNAME, else %USERNAME%)
    #[arg(long)]
    actor: Option<String>,
    /// Why (stored in the journal)
    #[arg(long)]
    reason: Option<String>,
    /// Overwrite rows changed outside recover
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    confirm: Confirm,
}

#[derive(Args)]
struct Confirm {
    /// Do not ask for confirmation
    #[arg(long, short)]
    yes: bool,
    /// Show what would change, and write nothing
    #[arg(long)]
    dry_run: bool,
}

/// The operating-system user running the command, for a write's actor: `$USER`, else
/// `$LOGNAME`, else `%USERNAME%`; none when none is set (or set empty).
fn os_user() -> Option<String> {
    ["USER", "LOGNAME", "USERNAME"]
        .into_iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|user| !user.is_empty())
}

impl WriteArgs {
    fn journal(&self) -> Journal {
        let mut journal = Journal::new();
        if let Some(actor) = self.actor.clone().or_else(os_user) {
            journal = journal.actor(actor);
        }
        if let Some(reason) = &self.reason {
            journal = journal.reason(reason.as_str());
        }
        if self.force {
            journal = journal.force();
        }
        journal
    }
}

/// Why a command stopped.
enum Fail {
    Recover(Error),
    Io(io::Error),
    /// Bad input found by the command line itself.
    Input(String),
    /// Bad input: a key that names nothing in the journal.
    NotFound(String),
    /// A write not confirmed.
    NotConfirmed(String),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Recover(e)
    }
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Self {
        Fail::Io(e)
    }
}

impl From<diesel::ConnectionError> for Fail {
    fn from(e: diesel::ConnectionError) -> Self {
        Fail::Recover(e.into())
    }
}

fn execute<C: JournalConn>(cli: &Cli, ui: &mut Ui<'_>) -> Result<Status, Fail> {
    // A file alone: no database to open.
    if let Command::Verify { file } = &cli.command {
        return verify(ui, file);
    }
    let url = match &cli.database_url {
        Some(url) => url.clone(),
        None => std::env::var("DATABASE_URL").map_err(|_| {
            Fail::Input("no database: give --database-url, or set DATABASE_URL".to_owned())
        })?,
    };
    // A plain path names a SQLite file: opening a missing one would create it.
    if !url.contains(':') && !std::path::Path::new(&url).exists() {
        return Err(Fail::Input(format!("no database file {url}")));
    }
    let mut conn = C::establish(&url)?;
    let conn = &mut conn;
    match &cli.command {
        Command::Models => models(ui, conn),
        Command::Log(args) => log(ui, conn, args),
        Command::Show { seq } => {
            let entry = dynamic::entry(conn, *seq)?;
            ui.show::<C>(&entry, false)?;
            Ok(Status::Ok)
        }
        Command::Diff { seq } => {
            let entry = dynamic::entry(conn, *seq)?;
            ui.show::<C>(&entry, true)?;
            Ok(Status::Ok)
        }
        Command::Deleted { table, page } => {
            let entries = model::<C>(table)?.deleted(conn, page.before, page.limit)?;
            ui.deleted(&entries)?;
            Ok(Status::Ok)
        }
        Command::Changeset { id } => {
            let entries = dynamic::changeset(conn, ChangesetId::from(*id))?;
            ui.entries(&entries)?;
            Ok(Status::Ok)
        }
        Command::Undo { table, key, write } => {
            let key = model::<C>(table)?.key(key)?;
            let journal = write.journal();
            let what = format!("undo the newest change of {} {}", key.entity(), key.text());
            let done = apply(ui, conn, "undo", &what, &write.confirm, |conn| {
                journal.undo_key(conn, &key)
            });
            names_nothing(conn, &key, done)
        }
        Command::Redo { table, key, write } => {
            let key = model::<C>(table)?.key(key)?;
            let journal = write.journal();
            let what = format!(
                "redo the last undone change of {} {}",
                key.entity(),
                key.text()
            );
            let done = apply(ui, conn, "redo", &what, &write.confirm, |conn| {
                journal.redo_key(conn, &key)
            });
            names_nothing(conn, &key, done)
        }
        Command::Restore {
            table,
            key,
            to,
            write,
        } => {
            let key = model::<C>(table)?.key(key)?;
            let journal = write.journal();
            let (to, label) = match (to.version, to.at, to.entry) {
                (Some(n), _, _) => (RestoreTo::Version(n), format!("version {n}")),
                (_, Some(t), _) => (RestoreTo::Time(t), format!("its state at {}", time(t))),
                (_, _, Some(seq)) => (
                    RestoreTo::Entry(seq),
                    format!("its state after entry {seq}"),
                ),
                (None, None, None) => {
                    return Err(Fail::Input(
                        "restore needs --version, --at or --entry".to_owned(),
                    ))
                }
            };
            let what = format!("restore {} {} to {label}", key.entity(), key.text());
            apply(ui, conn, "restore", &what, &write.confirm, |conn| {
                journal.restore_key(conn, &key, to)
            })
        }
        Command::RestoreTable { table, at, write } => {
            let model = model::<C>(table)?;
            let journal = write.journal();
            let what = format!(
                "restore every row of {} changed since {} to its state then",
                model.entity(),
                time(*at)
            );
            let show = !ui.json && io::stderr().is_terminal();
            apply(ui, conn, "restore-table", &what, &write.confirm, |conn| {
                let done = journal.restore_table_of(conn, model, At::Time(*at), |p| {
                    if show {
                        eprint!("\r{} of {} rows", p.done, p.total);
                    }
                });
                if show {
                    eprintln!();
                }
                done
            })
        }
        Command::UndoChangeset { id, write } => {
            let journal = write.journal();
            let id = ChangesetId::from(*id);
            // An id naming no entries is bad input, not an empty undo.
            dynamic::changeset(conn, id)?;
            let what = format!("undo changeset {}", id.get());
            apply(ui, conn, "undo-changeset", &what, &write.confirm, |conn| {
                journal.undo_changeset(conn, id)
            })
        }
        Command::Check => check(ui, conn),
        Command::Prune(args) => prune(ui, conn, args),
        Command::Export(args) => export(ui, conn, args),
        Command::Verify { file } => verify(ui, file),
        Command::Compare { file } => compare(ui, conn, file),
        Command::Rebuild(args) => rebuild(ui, conn, args),
    }
}

/// Nothing to undo or redo for a key with no journal entries is bad input, as `restore` of
/// one is ([`Error::NotFound`]): the key names nothing.
fn names_nothing<C: JournalConn>(
    conn: &mut C,
    key: &dynamic::Key<C>,
    done: Result<Status, Fail>,
) -> Result<Status, Fail> {
    match done {
        Err(Fail::Recover(Error::NothingToUndo { .. } | Error::NothingToRedo { .. }))
            if key.versions(conn)? == 0 =>
        {
            Err(Fail::Recover(Error::NotFound {
                entity: key.entity(),
                key: key.text().to_owned(),
            }))
        }
        done => done,
    }
}

/// `models`: the linked models, with their entities and entries in the journal.
fn models<C: JournalConn>(ui: &mut Ui<'_>, conn: &mut C) -> Result<Status, Fail> {
    let models = dynamic::models::<C>();
    let mut rows = Vec::new();
    for model in models {
        let counts = model.counts(conn)?;
        if ui.json {
            ui.line(&json!({
                "entity": model.entity(),
                "model": model.type_name(),
                "columns": model.columns().iter().map(|c| c.name).collect::<Vec<_>>(),
                "key_columns": model.key_columns(),
                "entities": counts.entities,
                "entries": counts.entries,
            }))?;
        } else {
            rows.push(vec![
                model.entity().to_owned(),
                model.type_name().to_owned(),
                model.key_columns().join(", "),
                counts.entities.to_string(),
                counts.entries.to_string(),
            ]);
        }
    }
    if !ui.json {
        let header = ["TABLE", "MODEL", "KEY", "ENTITIES", "ENTRIES"];
        ui.table(&header, rows)?;
    }
    Ok(Status::Ok)
}

/// `log`: a page of entries, newest first.
fn log<C: JournalConn>(ui: &mut Ui<'_>, conn: &mut C, args: &LogArgs) -> Result<Status, Fail> {
    let LogArgs {
        table,
        key,
        page,
        since,
        actor,
    } = args;
    let mut filter = Log::new().limit(page.limit);
    let mut entity = None;
    if let Some(table) = table {
        let model = model::<C>(table)?;
        filter = match key {
            Some(key) => {
                let key = model.key(key)?;
                let filter = filter.entity(&key);
                entity = Some(key);
                filter
            }
            None => filter.table(model),
        };
    }
    if let Some(before) = page.before {
        filter = filter.before(before);
    }
    if let Some(since) = since {
        filter = filter.since(*since);
    }
    if let Some(actor) = actor {
        filter = filter.actor(actor.as_str());
    }
    let entries = dynamic::log(conn, &filter)?;
    // A key with no entries at all names nothing (an empty page of a key that has some is not).
    if let Some(key) = entity.filter(|_| entries.is_empty()) {
        if key.versions(conn)? == 0 {
            return Err(Fail::NotFound(format!(
                "nothing matched: {} {} has no journal entries",
                key.entity(),
                key.text()
            )));
        }
    }
    ui.entries(&entries)?;
    if entries.len() >= page.limit.max(1) && !ui.json {
        if let Some(last) = entries.last() {
            eprintln!("(more: --before {})", last.seq);
        }
    }
    Ok(Status::Ok)
}

/// `check`: the journal against itself and the stored rows.
fn check<C: JournalConn>(ui: &mut Ui<'_>, conn: &mut C) -> Result<Status, Fail> {
    let report = recover_core::check(conn)?;
    if ui.json {
        ui.line(&json!({
            "ok": report.is_ok(),
            "entities": report.entities,
            "entries": report.entries,
            "problems": report.problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
        }))?;
    } else {
        write!(ui.out, "{report}")?;
    }
    Ok(if report.is_ok() {
        Status::Ok
    } else {
        Status::Problems
    })
}

/// `prune`: old entries removed, as the policy lets go.
fn prune<C: JournalConn>(ui: &mut Ui<'_>, conn: &mut C, args: &PruneArgs) -> Result<Status, Fail> {
    let PruneArgs {
        keep_last,
        keep_since,
        batch_size,
        confirm,
    } = args;
    let mut policy = Retention::new().batch_size(*batch_size);
    if let Some(n) = keep_last {
        policy = policy.keep_last(*n);
    }
    if let Some(t) = keep_since {
        policy = policy.keep_since(*t);
    }
    let journal = Journal::new();
    // The entries each linked table loses: counted before and after, in the dry run's
    // transaction, which is rolled back.
    let would = dynamic::dry_run(conn, |conn| {
        let before = table_entries(conn)?;
        let report = journal.prune(conn, &policy)?;
        let after = table_entries(conn)?;
        let tables: Vec<(&str, i64)> = before
            .iter()
            .zip(&after)
            .map(|(&(table, b), &(_, a))| (table, b - a))
            .filter(|&(_, removed)| removed > 0)
            .collect();
        Ok((report.removed, tables))
    })?;
    let report = |ui: &mut Ui<'_>, dry_run: bool, applied: bool, removed: usize| {
        let tables = &would.1;
        if ui.json {
            let by_table: Map<String, Value> = tables
                .iter()
                .map(|&(table, n)| (table.to_owned(), json!(n)))
                .collect();
            ui.line(&json!({
                "command": "prune",
                "dry_run": dry_run,
                "applied": applied,
                "removed": removed,
                "by_table": by_table,
            }))
        } else {
            let verb = if applied { "removed" } else { "would remove" };
            writeln!(ui.out, "{verb} {removed} journal entries")?;
            for (table, n) in tables {
                writeln!(ui.out, "  {table}: {n}")?;
            }
            Ok(())
        }
    };
    if confirm.dry_run {
        report(ui, true, false, would.0)?;
        return Ok(Status::Ok);
    }
    if !ui.json {
        report(ui, false, false, would.0)?;
    }
    confirmed(confirm.yes, &format!("remove {} journal entries", would.0))?;
    let done = journal.prune(conn, &policy)?;
    report(ui, false, true, done.removed)?;
    Ok(Status::Ok)
}

/// The journal entries of each linked table, by table name.
fn table_entries<C: JournalConn>(conn: &mut C) -> Result<Vec<(&'static str, i64)>, Error> {
    dynamic::models::<C>()
        .into_iter()
        .map(|model| Ok((model.entity(), model.counts(conn)?.entries)))
        .collect()
}

/// `export`: the journal as JSON Lines, to a file or standard output, and the position the
/// next export continues from.
fn export<C: JournalConn>(
    ui: &mut Ui<'_>,
    conn: &mut C,
    args: &ExportArgs,
) -> Result<Status, Fail> {
    let from = args.since.map_or(ExportFrom::Start, ExportFrom::After);
    let summary = match &args.output {
        None => {
            let summary = recover_core::export(conn, &mut ui.out, from)?;
            ui.out.flush()?;
            summary
        }
        Some(path) => {
            let mut options = OpenOptions::new();
            if args.since.is_some() {
                options.append(true).create(true);
            } else {
                options.write(true).create(true).truncate(true);
            }
            let mut file = options.open(path).map_err(|e| in_file(path, e))?;
            let start = file.metadata()?.len();
            match recover_core::export(conn, &mut file, from) {
                Ok(summary) => {
                    file.sync_all()?;
                    summary
                }
                Err(e) => {
                    // Leave the file as it was: a cut export would break its chain.
                    let _ = file.set_len(start);
                    return Err(e.into());
                }
            }
        }
    };
    let position = summary.position.to_string();
    // With the export on standard output, the summary goes to standard error.
    if ui.json {
        let line = json!({
            "command": "export",
            "output": args.output.as_deref().map(|p| p.display().to_string()),
            "entries": summary.entries,
            "changesets": summary.changesets,
            "redactions": summary.redactions,
            "lines": summary.lines,
            "seq": summary.position.seq,
            "head": summary.position.head_hex(),
            "position": position,
        });
        if args.output.is_some() {
            ui.line(&line)?;
        } else {
            eprintln!("{line}");
        }
    } else {
        let to = match &args.output {
            Some(path) => format!(" to {}", path.display()),
            None => String::new(),
        };
        let text = format!(
            "exported {}, {} and {}{to} ({}), up to journal entry {}\n\
             next: export --since {position}",
            counted(summary.entries, "entry", "entries"),
            counted(summary.changesets, "changeset", "changesets"),
            counted(summary.redactions, "redaction", "redactions"),
            counted(summary.lines, "line", "lines"),
            summary.position.seq
        );
        if args.output.is_some() {
            writeln!(ui.out, "{text}")?;
        } else {
            eprintln!("{text}");
        }
    }
    Ok(Status::Ok)
}

/// `verify`: an export's hash chain and format, line by line; the first line that does not
/// hold is a problem found (status 5), as `check` reports one.
fn verify(ui: &mut Ui<'_>, path: &Path) -> Result<Status, Fail> {
    let file = open_export(path)?;
    let name = path.display().to_string();
    match recover_core::verify_export(file) {
        Ok(summary) => {
            let position = summary.position.map(|p| p.to_string());
            if ui.json {
                ui.line(&json!({
                    "ok": true,
                    "file": name,
                    "lines": summary.lines,
                    "exports": summary.exports,
                    "entries": summary.entries,
                    "start": summary.start,
                    "head": summary.head,
                    "position": position,
                }))?;
            } else {
                writeln!(
                    ui.out,
                    "{name}: the hash chain holds: {}, {}, {}",
                    counted(summary.lines, "line", "lines"),
                    counted(summary.exports, "export", "exports"),
                    counted(summary.entries, "entry", "entries")
                )?;
                writeln!(ui.out, "starts from  {}", summary.start)?;
                writeln!(ui.out, "chain head   {}", summary.head)?;
                if let Some(position) = position {
                    writeln!(ui.out, "next: export --since {position}")?;
                }
            }
            Ok(Status::Ok)
        }
        Err(e) => {
            let Error::BadExport { line, seq, problem } = &e else {
                return Err(e.into());
            };
            if ui.json {
                ui.line(&json!({
                    "ok": false,
                    "file": name,
                    "line": line,
                    "seq": seq,
                    "problem": problem,
                    "message": e.to_string(),
                }))?;
            } else {
                writeln!(ui.out, "{name}: the hash chain breaks: {e}")?;
            }
            Ok(Status::Problems)
        }
    }
}

/// `compare`: the exported entries the live journal no longer holds unchanged, by seq.
fn compare<C: JournalConn>(ui: &mut Ui<'_>, conn: &mut C, path: &Path) -> Result<Status, Fail> {
    let report = recover_core::compare(conn, open_export(path)?)?;
    let status = if report.is_clean() {
        Status::Ok
    } else {
        Status::Problems
    };
    if ui.json {
        let altered: Vec<Value> = report
            .altered
            .iter()
            .map(|(seq, columns)| json!({"seq": seq, "columns": columns}))
            .collect();
        ui.line(&json!({
            "clean": report.is_clean(),
            "entries": report.entries,
            "changesets": report.changesets,
            "altered": altered,
            "missing": report.missing,
            "redacted": report.redacted,
            "changesets_altered": report.changesets_altered,
        }))?;
        return Ok(status);
    }
    let mut found: Vec<(i64, &str, String)> = report
        .altered
        .iter()
        .map(|(seq, columns)| (*seq, "altered", columns.join(", ")))
        .chain(
            report
                .missing
                .iter()
                .map(|seq| (*seq, "missing", String::new())),
        )
        .chain(
            report
                .redacted
                .iter()
                .map(|seq| (*seq, "redacted", String::new())),
        )
        .collect();
    found.sort_by_key(|(seq, _, _)| *seq);
    writeln!(
        ui.out,
        "compared {} and {} of {} with the live journal",
        counted(report.entries, "entry", "entries"),
        counted(report.changesets, "changeset", "changesets"),
        path.display()
    )?;
    if !found.is_empty() {
        let rows = found
            .into_iter()
            .map(|(seq, what, columns)| {
                let style = if what == "redacted" { DIM } else { RED };
                (
                    vec![seq.to_string(), what.to_owned(), columns],
                    vec![(1, style)],
                )
            })
            .collect();
        ui.styled_table(&["SEQ", "FOUND", "COLUMNS"], rows)?;
    }
    for id in &report.changesets_altered {
        writeln!(ui.out, "changeset {id}: altered or missing")?;
    }
    let summary = if report.is_clean() {
        "clean: no exported entry or changeset was altered or removed".to_owned()
    } else {
        format!(
            "{} altered, {} missing, {} altered or missing since the export",
            counted(report.altered.len() as u64, "entry", "entries"),
            report.missing.len(),
            counted(
                report.changesets_altered.len() as u64,
                "changeset",
                "changesets"
            ),
        )
    };
    let summary = match report.redacted.len() {
        0 => summary,
        n => format!(
            "{summary}; {} by a recorded redaction since (not tampering)",
            counted(n as u64, "entry redacted", "entries redacted")
        ),
    };
    writeln!(ui.out, "{summary}")?;
    Ok(status)
}

/// `rebuild`: this database's rows and journal from an export, as of a point. The whole file
/// is verified first, so that a line that does not hold stops it before anything is written.
fn rebuild<C: JournalConn>(
    ui: &mut Ui<'_>,
    conn: &mut C,
    args: &RebuildArgs,
) -> Result<Status, Fail> {
    let (at, label) = match (args.to.at, args.to.seq) {
        (Some(t), _) => (At::Time(t), format!("its state at {}", time(t))),
        (_, Some(n)) => (At::Version(n), format!("its state after journal entry {n}")),
        (None, None) => return Err(Fail::Input("rebuild needs --at or --seq".to_owned())),
    };
    let checked = recover_core::verify_export(open_export(&args.file)?)?;
    let what = format!(
        "rebuild this database from {} ({}, its hash chain verified) as of {label}",
        args.file.display(),
        counted(checked.entries, "entry", "entries")
    );
    if !ui.json {
        writeln!(ui.out, "{what}")?;
    }
    confirmed(args.yes, &what)?;
    let show = !ui.json && io::stderr().is_terminal();
    let total = checked.entries;
    let summary =
        recover_core::rebuild_with_progress(conn, open_export(&args.file)?, at, |so_far| {
            if show {
                eprint!(
                    "\r{} of at most {total} entries, {} rows written",
                    so_far.entries + so_far.skipped,
                    so_far.rows
                );
            }
        })?;
    if show {
        eprintln!();
    }
    if ui.json {
        ui.line(&json!({
            "command": "rebuild",
            "applied": true,
            "rows": summary.rows,
            "entries": summary.entries,
            "skipped": summary.skipped,
            "changesets": summary.changesets,
            "redactions": summary.redactions,
        }))?;
    } else {
        write!(
            ui.out,
            "done: {}, {}, {} and {} written",
            counted(summary.rows, "row", "rows"),
            counted(summary.entries, "journal entry", "journal entries"),
            counted(summary.changesets, "changeset", "changesets"),
            counted(summary.redactions, "redaction", "redactions")
        )?;
        if summary.skipped > 0 {
            write!(
                ui.out,
                " ({} stored already, by an earlier run)",
                counted(summary.skipped, "entry", "entries")
            )?;
        }
        writeln!(ui.out)?;
    }
    Ok(Status::Ok)
}

/// An export file to read; a missing one is bad input.
fn open_export(path: &Path) -> Result<File, Fail> {
    if path.is_dir() {
        return Err(Fail::Input(format!(
            "{} is a directory, not an export file",
            path.display()
        )));
    }
    File::open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => Fail::Input(format!("no export file {}", path.display())),
        _ => Fail::Io(in_file(path, e)),
    })
}

/// An I/O error naming its file.
fn in_file(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// `n` and a noun, singular for one.
fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Parses an export position, as `export` prints it (`v1:sqlite:…`).
fn parse_position(text: &str) -> Result<ExportPosition, String> {
    text.trim().parse().map_err(|e: Error| e.to_string())
}

/// The model of `table`, or a message listing the models there are.
fn model<C: JournalConn>(table: &str) -> Result<Model<C>, Fail> {
    dynamic::model::<C>(table).map_err(|_| {
        let known: Vec<_> = dynamic::models::<C>().iter().map(|m| m.entity()).collect();
        Fail::Input(format!(
            "no model for table `{table}` in this program (models: {})",
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        ))
    })
}

/// A write: what it would change (rolled back), then, unless `--dry-run`, confirmed and done.
fn apply<C: JournalConn>(
    ui: &mut Ui<'_>,
    conn: &mut C,
    command: &str,
    what: &str,
    confirm: &Confirm,
    write: impl Fn(&mut C) -> Result<ChangesetId, Error>,
) -> Result<Status, Fail> {
    let would = dynamic::dry_run(conn, |conn| {
        let id = write(conn)?;
        Ok((id, dynamic::changeset(conn, id)?))
    })?;
    if confirm.dry_run {
        ui.written(command, true, None, &would.1, &format!("would {what}:"))?;
        return Ok(Status::Ok);
    }
    if !ui.json {
        ui.written(command, false, None, &would.1, &format!("{what}:"))?;
    }
    confirmed(confirm.yes, what)?;
    let id = write(conn)?;
    let entries = dynamic::changeset(conn, id)?;
    let title = format!("done: changeset {}", id.get());
    ui.written(command, false, Some(id), &entries, &title)?;
    Ok(Status::Ok)
}

/// Asks on the terminal unless `--yes`; refuses without a terminal.
fn confirmed(yes: bool, what: &str) -> Result<(), Fail> {
    if yes {
        return Ok(());
    }
    let stdin = io::stdin();
    if !stdin.is_terminal() {
        return Err(Fail::NotConfirmed(format!(
            "not confirmed: {what} needs --yes when there is no terminal to ask; nothing was written"
        )));
    }
    eprint!("{what}? [y/N] ");
    io::stderr().flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(Fail::NotConfirmed(
            "not confirmed; nothing was written".to_owned(),
        ))
    }
}

/// Parses a time: RFC 3339, a UTC date and time, a UTC date, or an age (`30m`, `2h`, `7d`).
fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(day.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    let unit = |c: char| match c {
        's' => Some(1),
        'm' => Some(60),
        'h' => Some(3_600),
        'd' => Some(86_400),
        'w' => Some(604_800),
        _ => None,
    };
    let age = text
        .char_indices()
        .last()
        .and_then(|(at, c)| Some((text[..at].parse::<u64>().ok()?, unit(c)?)))
        .and_then(|(n, unit)| n.checked_mul(unit))
        .and_then(|secs| SystemTime::now().checked_sub(Duration::from_secs(secs)))
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .and_then(|d| DateTime::from_timestamp_micros(i64::try_from(d.as_micros()).ok()?));
    age.ok_or_else(|| {
        format!(
            "{text:?} is not a time: write RFC 3339 (2026-11-30T14:00:00Z), a UTC date and time \
             (2026-11-30 14:00:00), a UTC date (2026-11-30), or an age (90s, 30m, 2h, 7d, 2w)"
        )
    })
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A table row: its cells, and the style of some of them (by column).
type StyledRow = (Vec<String>, Vec<(usize, &'static str)>);

/// Where the output goes, and how.
struct Ui<'a> {
    json: bool,
    color: bool,
    out: io::StdoutLock<'a>,
}

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

impl Ui<'_> {
    fn line(&mut self, value: &Value) -> io::Result<()> {
        writeln!(self.out, "{value}")
    }

    fn paint(&self, text: &str, style: &str) -> String {
        if self.color && !text.is_empty() {
            format!("{style}{text}{RESET}")
        } else {
            text.to_owned()
        }
    }

    /// Rows under a header, each column as wide as its widest cell (styles applied after
    /// padding, so that escape codes do not count).
    fn table(&mut self, header: &[&str], rows: Vec<Vec<String>>) -> io::Result<()> {
        self.styled_table(header, rows.into_iter().map(|r| (r, Vec::new())).collect())
    }

    fn styled_table(&mut self, header: &[&str], rows: Vec<StyledRow>) -> io::Result<()> {
        let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
        for (row, _) in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let render = |cells: &[String], styles: &[(usize, &'static str)]| {
            let mut line = String::new();
            for (i, (cell, width)) in cells.iter().zip(&widths).enumerate() {
                let last = i + 1 == cells.len();
                let padded = if last {
                    cell.clone()
                } else {
                    format!("{cell:width$}  ")
                };
                match styles.iter().find(|(column, _)| *column == i) {
                    Some((_, style)) => {
                        let (text, pad) = padded.split_at(cell.len());
                        line.push_str(&self.paint(text, style));
                        line.push_str(pad);
                    }
                    None => line.push_str(&padded),
                }
            }
            line.trim_end().to_owned()
        };
        let head: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
        let head = self.paint(&render(&head, &[]), BOLD);
        let lines: Vec<String> = rows
            .iter()
            .map(|(row, styles)| render(row, styles))
            .collect();
        writeln!(self.out, "{head}")?;
        lines
            .iter()
            .try_for_each(|line| writeln!(self.out, "{line}"))
    }

    /// Entries, one line each.
    fn entries(&mut self, entries: &[JournalEntry]) -> io::Result<()> {
        if self.json {
            return entries.iter().try_for_each(|e| self.line(&entry_json(e)));
        }
        let rows = entries
            .iter()
            .map(|e| {
                vec![
                    e.seq.to_string(),
                    e.recorded_at.format("%Y-%m-%d %H:%M:%SZ").to_string(),
                    e.entity.clone(),
                    e.key.clone(),
                    match e.undoes {
                        Some(seq) => format!("{} {seq}", e.op),
                        None => e.op.to_string(),
                    },
                    e.changeset.get().to_string(),
                    e.actor.clone().unwrap_or_default(),
                    e.changed_columns.join(", "),
                    e.reason.clone().unwrap_or_default(),
                ]
            })
            .collect();
        let header = [
            "SEQ",
            "TIME",
            "TABLE",
            "KEY",
            "OP",
            "CHANGESET",
            "ACTOR",
            "CHANGED",
            "REASON",
        ];
        self.table(&header, rows)
    }

    /// The removals `deleted` lists, each with what the row held (`column=value, ..`), so
    /// that one can be picked to restore.
    fn deleted(&mut self, entries: &[JournalEntry]) -> io::Result<()> {
        if self.json {
            return entries.iter().try_for_each(|e| self.line(&entry_json(e)));
        }
        let rows = entries
            .iter()
            .map(|e| {
                let held = e.before.as_ref().map(|row| {
                    row.iter()
                        .map(|(column, value)| format!("{column}={value}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                });
                vec![
                    e.seq.to_string(),
                    e.recorded_at.format("%Y-%m-%d %H:%M:%SZ").to_string(),
                    e.key.clone(),
                    e.actor.clone().unwrap_or_default(),
                    e.reason.clone().unwrap_or_default(),
                    held.unwrap_or_default(),
                ]
            })
            .collect();
        self.table(&["SEQ", "TIME", "KEY", "ACTOR", "REASON", "ROW"], rows)
    }

    /// One entry: every column before and after (`show`), or the changed ones (`diff`).
    fn show<C: JournalConn>(&mut self, entry: &JournalEntry, changed_only: bool) -> io::Result<()> {
        let columns = columns_of::<C>(entry);
        if self.json {
            if !changed_only {
                return self.line(&entry_json(entry));
            }
            let changes: Vec<Value> = entry
                .changed_columns
                .iter()
                .map(|c| {
                    json!({
                        "column": c,
                        "old": entry.before.as_ref().and_then(|m| m.get(c)),
                        "new": entry.after.as_ref().and_then(|m| m.get(c)),
                    })
                })
                .collect();
            return self.line(&json!({
                "seq": entry.seq,
                "entity": entry.entity,
                "key": entry.key,
                "op": entry.op.as_str(),
                "changes": changes,
            }));
        }
        self.entry_heading(entry)?;
        let rows = columns
            .iter()
            .filter(|c| !changed_only || entry.changed_columns.contains(c))
            .map(|c| {
                let changed = entry.changed_columns.contains(c);
                let styles = if changed {
                    vec![(0, BOLD), (1, RED), (2, GREEN), (3, BOLD)]
                } else {
                    Vec::new()
                };
                let mut row = vec![
                    c.clone(),
                    cell(entry.before.as_ref(), c),
                    cell(entry.after.as_ref(), c),
                ];
                if !changed_only {
                    row.push(if changed { "changed" } else { "" }.to_owned());
                }
                (row, styles)
            })
            .collect();
        if changed_only {
            self.styled_table(&["COLUMN", "OLD", "NEW"], rows)
        } else {
            self.styled_table(&["COLUMN", "BEFORE", "AFTER", ""], rows)
        }
    }

    fn entry_heading(&mut self, entry: &JournalEntry) -> io::Result<()> {
        let mut head = format!(
            "entry {}: {} of {} {}",
            entry.seq, entry.op, entry.entity, entry.key
        );
        if let Some(undoes) = entry.undoes {
            let _ = write!(head, " (reverts entry {undoes})");
        }
        let mut meta = format!(
            "changeset {}, {}",
            entry.changeset.get(),
            time(entry.recorded_at)
        );
        if let Some(actor) = &entry.actor {
            let _ = write!(meta, ", by {actor}");
        }
        if let Some(reason) = &entry.reason {
            let _ = write!(meta, ": {reason}");
        }
        writeln!(self.out, "{}", self.paint(&head, BOLD))?;
        writeln!(self.out, "{}", self.paint(&meta, DIM))
    }

    /// What a write did, or would do.
    fn written(
        &mut self,
        command: &str,
        dry_run: bool,
        changeset: Option<ChangesetId>,
        entries: &[JournalEntry],
        title: &str,
    ) -> io::Result<()> {
        if self.json {
            return self.line(&json!({
                "command": command,
                "dry_run": dry_run,
                "applied": changeset.is_some(),
                "changeset": changeset.map(ChangesetId::get),
                "entries": entries.iter().map(entry_json).collect::<Vec<_>>(),
            }));
        }
        writeln!(self.out, "{title}")?;
        if entries.is_empty() {
            return writeln!(self.out, "  nothing to change");
        }
        for entry in entries {
            let image = |image: &Option<Map<String, Value>>| {
                Value::Object(image.clone().unwrap_or_default()).to_string()
            };
            let columns = if entry.after.is_none() {
                format!("removes the row {}", self.paint(&image(&entry.before), RED))
            } else if entry.before.is_none() {
                format!(
                    "creates the row {}",
                    self.paint(&image(&entry.after), GREEN)
                )
            } else if entry.changed_columns.is_empty() {
                "no change".to_owned()
            } else {
                entry
                    .changed_columns
                    .iter()
                    .map(|c| {
                        format!(
                            "{c}: {} -> {}",
                            self.paint(&cell(entry.before.as_ref(), c), RED),
                            self.paint(&cell(entry.after.as_ref(), c), GREEN)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            writeln!(
                self.out,
                "  {} {} {}: {columns}",
                entry.op, entry.entity, entry.key
            )?;
        }
        Ok(())
    }

    /// Reports why a command stopped; its exit status.
    fn fail<C: JournalConn>(&mut self, fail: Fail) -> Status {
        let (status, kind, message, extra) = match fail {
            Fail::Io(e) => (Status::Failed, "io", e.to_string(), Map::new()),
            Fail::Input(message) => (Status::BadInput, "bad_input", message, Map::new()),
            Fail::NotFound(message) => (Status::BadInput, "not_found", message, Map::new()),
            Fail::NotConfirmed(message) => {
                (Status::NotConfirmed, "not_confirmed", message, Map::new())
            }
            Fail::Recover(e) => {
                let mut extra = Map::new();
                let (status, kind) = match &e {
                    Error::Conflict {
                        entity,
                        key,
                        expected,
                        actual,
                        columns,
                    } => {
                        extra.insert("entity".into(), json!(entity));
                        extra.insert("key".into(), json!(key));
                        extra.insert("columns".into(), json!(columns));
                        extra.insert("journal".into(), json!(expected));
                        extra.insert("stored".into(), json!(actual));
                        if !self.json {
                            let _ = self.conflict::<C>(entity, expected, actual, columns);
                        }
                        (Status::Conflict, "conflict")
                    }
                    Error::UnknownEntity(_) => (Status::BadInput, "unknown_model"),
                    Error::InvalidKey { .. } => (Status::BadInput, "invalid_key"),
                    Error::EntryNotFound(_) => (Status::BadInput, "entry_not_found"),
                    Error::EntryOfOtherEntity { .. } => (Status::BadInput, "entry_of_other_entity"),
                    Error::ChangesetNotFound(_) => (Status::BadInput, "changeset_not_found"),
                    Error::VersionOutOfRange { .. } => (Status::BadInput, "version_out_of_range"),
                    Error::NotFound { .. } => (Status::BadInput, "not_found"),
                    Error::Unsupported(_) => (Status::BadInput, "unsupported"),
                    Error::BadPosition { .. } => (Status::BadInput, "bad_position"),
                    Error::BeforeHorizon { .. } => (Status::BadInput, "before_horizon"),
                    Error::BadExport { .. } => (Status::BadInput, "bad_export"),
                    Error::ExportVersion { .. } => (Status::BadInput, "export_version"),
                    Error::Io(_) => (Status::Failed, "io"),
                    Error::NothingToUndo { .. } => (Status::Failed, "nothing_to_undo"),
                    Error::NothingToRedo { .. } => (Status::Failed, "nothing_to_redo"),
                    Error::NotInstalled(_) => (Status::Failed, "not_installed"),
                    Error::Connection(_) => (Status::Failed, "connection"),
                    _ => (Status::Failed, "failed"),
                };
                let message = match &e {
                    Error::Conflict { entity, key, .. } => format!(
                        "conflict: {entity} {key} was changed outside recover; nothing was written (--force overwrites it)"
                    ),
                    e => e.to_string(),
                };
                (status, kind, message, extra)
            }
        };
        if self.json {
            let mut object = Map::new();
            object.insert("error".into(), json!(kind));
            object.insert("message".into(), json!(message));
            object.extend(extra);
            let _ = self.line(&Value::Object(object));
        } else {
            let _ = self.out.flush();
            eprintln!("error: {message}");
        }
        status
    }

    /// Both images of a conflict, the differing columns marked.
    fn conflict<C: JournalConn>(
        &mut self,
        entity: &str,
        expected: &Option<Box<Value>>,
        actual: &Option<Box<Value>>,
        columns: &[String],
    ) -> io::Result<()> {
        let object = |v: &Option<Box<Value>>| v.as_deref().and_then(Value::as_object).cloned();
        let (journal, stored) = (object(expected), object(actual));
        let mut names: Vec<String> = match dynamic::model::<C>(entity) {
            Ok(model) => model.columns().iter().map(|c| c.name.to_owned()).collect(),
            Err(_) => Vec::new(),
        };
        for image in [&journal, &stored].into_iter().flatten() {
            for name in image.keys() {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
        }
        let rows = names
            .iter()
            .map(|c| {
                let differs = columns.contains(c);
                let styles = if differs {
                    vec![(0, BOLD), (1, RED), (2, GREEN), (3, BOLD)]
                } else {
                    Vec::new()
                };
                let row = vec![
                    c.clone(),
                    cell(journal.as_ref(), c),
                    cell(stored.as_ref(), c),
                    if differs { "differs" } else { "" }.to_owned(),
                ];
                (row, styles)
            })
            .collect();
        self.styled_table(&["COLUMN", "JOURNAL", "STORED", ""], rows)?;
        self.out.flush()
    }
}

/// The columns to show for an entry: its model's, in order, then any other the images hold.
fn columns_of<C: JournalConn>(entry: &JournalEntry) -> Vec<String> {
    let mut names: Vec<String> = match dynamic::model::<C>(&entry.entity) {
        Ok(model) => model.columns().iter().map(|c| c.name.to_owned()).collect(),
        Err(_) => Vec::new(),
    };
    for image in [&entry.before, &entry.after].into_iter().flatten() {
        for name in image.keys() {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    names
}

/// A value of an image as compact JSON; empty when the image is absent.
fn cell(image: Option<&Map<String, Value>>, column: &str) -> String {
    match image {
        None => String::new(),
        Some(image) => image
            .get(column)
            .map_or_else(|| "(absent)".to_owned(), Value::to_string),
    }
}

/// An entry as one JSON object with stable keys.
fn entry_json(entry: &JournalEntry) -> Value {
    json!({
        "seq": entry.seq,
        "changeset": entry.changeset.get(),
        "entity": entry.entity,
        "key": entry.key,
        "op": entry.op.as_str(),
        "undoes": entry.undoes,
        "actor": entry.actor,
        "reason": entry.reason,
        "recorded_at": time(entry.recorded_at),
        "changed": entry.changed_columns,
        "before": entry.before,
        "after": entry.after,
    })
}
