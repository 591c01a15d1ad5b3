//! Carrying the journal: [`export`] writes it as JSON Lines with a hash chain, [`verify_export`]
//! checks the chain; `compare` and `rebuild` read the same format.
//!
//! # The format (version 1)
//!
//! UTF-8 JSON Lines, one object per line, its members in a fixed order, `type` first and `hash`
//! last:
//!
//! - `{"type":"header","format":"recover-journal","version":1,"recover":"0.1.0",
//!   "backend":"sqlite","exported_at":"2026-01-02T03:04:05.123456Z","after":null,
//!   "horizon":{"seq":1,"recorded_at":1767322800000000},"prev":"000…0","hash":"…"}`:
//!   `after` is the position the export continued from (`null`: the journal's start);
//!   `horizon` (exports from the start only) is the earliest seq and time it can rebuild;
//!   `prev` is the chain head the export continues (64 zeros at the start).
//! - `{"type":"entry", ...every column of recover_journal: "seq", "changeset_id", "entity",
//!   "entity_key", "op", "before_image", "after_image", "undoes", "undo_next", "redo_next",
//!   "actor", "reason", "recorded_at", "hash"}`: the images are the stored JSON text as strings
//!   (`jq '.after_image | fromjson'`), `recorded_at` microseconds since 1970 UTC; ascending seq.
//! - `{"type":"changeset","id","last_seq","actor","reason","recorded_at","hash"}`: a row of
//!   recover_changesets, after the entries of the page holding its first entry.
//! - `{"type":"redaction","id","entity","entity_key","erased_columns","actor","reason",
//!   "recorded_at","hash"}`: a row of recover_redactions (`erased_columns` a JSON array as text).
//! - `{"type":"checkpoint","entries":1000,"seq":1000,"head":"…","hash":"…"}` every
//!   [`CHECKPOINT_EVERY`] entries: `head` is the chain's head before the line.
//! - `{"type":"end","entries":…,"changesets":…,"redactions":…,"position":"…","hash":"…"}`:
//!   the last line; `position` is what `ExportFrom::After` takes next ([`ExportPosition`]),
//!   its chain head the hash of the line before the end line.
//!
//! Each `hash` is the lowercase hex SHA-256 of the previous line's `hash` (as its 64 ASCII
//! characters; the header's `prev` for the header) followed by the line's canonical bytes: the
//! line as written, without its final `,"hash":"…"` member (so the canonical bytes end in `}`).
//! An incremental export's header continues the previous export's chain (its `prev` is the
//! head in the previous end line's position), so exports appended to one file verify as one
//! chain. A reader of version `n` reads every version up to `n`.

use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::backend::JournalConn;
use crate::clock::now_micros;
use crate::error::Error;
use crate::export_sql::{Carry, Fence, RedactionRow, Window};
use crate::schema::{ChangesetRow, EntryRow};

/// The format's name in the header.
pub const FORMAT: &str = "recover-journal";
/// The format version this release writes, and the newest it reads.
pub const FORMAT_VERSION: u64 = 1;
/// Entries between checkpoint lines.
pub const CHECKPOINT_EVERY: u64 = 1_000;

/// Entries read per query.
const PAGE: i64 = 1_000;

/// The chain head before anything: 64 zeros.
const ZERO: [u8; 32] = [0; 32];

/// Where an [`export`] starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFrom {
    /// The journal's first entry.
    Start,
    /// Right after what the export that returned this position wrote.
    After(ExportPosition),
}

/// Where an export ended: its watermark (every entry up to this seq is exported, and none
/// below it can commit later), the last exported redaction, the chain's head, and on
/// PostgreSQL the fence that settles seqs held by transactions in flight. Keep it with the
/// file (or as text: it is `Display` and `FromStr`, `v1:postgres:…`) and pass it to the next
/// [`export`] as [`ExportFrom::After`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportPosition {
    backend: &'static str,
    /// Every entry with a seq up to this one is exported (or will never commit).
    pub seq: i64,
    /// The last exported `recover_redactions` id.
    pub redaction: i64,
    fence: Fence,
    /// The chain's head the next export continues: the hash of the line before the end line.
    pub head: [u8; 32],
}

impl ExportPosition {
    /// The chain head as lowercase hex.
    pub fn head_hex(&self) -> String {
        hex(&self.head)
    }
}

impl fmt::Display for ExportPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "v1:{}:{}:{}:{}:{}:{}",
            self.backend,
            self.seq,
            self.redaction,
            self.fence.seq,
            self.fence.xid,
            hex(&self.head)
        )
    }
}

impl FromStr for ExportPosition {
    type Err = Error;

    /// Reads the text `Display` writes.
    fn from_str(text: &str) -> Result<Self, Error> {
        let bad = |problem: &str| Error::BadPosition {
            position: text.to_owned(),
            problem: problem.to_owned(),
        };
        let parts: Vec<&str> = text.split(':').collect();
        let [version, backend, seq, redaction, fence_seq, fence_xid, head] = parts[..] else {
            return Err(bad("expected v1:backend:seq:redaction:fence:xid:head"));
        };
        if version != "v1" {
            return Err(bad("unknown position version"));
        }
        let backend = ["sqlite", "postgres", "mysql"]
            .into_iter()
            .find(|b| *b == backend)
            .ok_or_else(|| bad("unknown backend"))?;
        let number = |s: &str| s.parse::<i64>().map_err(|_| bad("not a number"));
        Ok(ExportPosition {
            backend,
            seq: number(seq)?,
            redaction: number(redaction)?,
            fence: Fence {
                seq: number(fence_seq)?,
                xid: number(fence_xid)?,
            },
            head: unhex(head).ok_or_else(|| bad("the head is not 64 hex digits"))?,
        })
    }
}

/// What an [`export`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportSummary {
    /// Where it ended: pass it to the next export as [`ExportFrom::After`].
    pub position: ExportPosition,
    /// Entry lines written.
    pub entries: u64,
    /// Changeset lines written.
    pub changesets: u64,
    /// Redaction lines written.
    pub redactions: u64,
    /// Lines written, header and end included.
    pub lines: u64,
}

/// Writes the journal as JSON Lines (see the [module documentation](self) for the format):
/// every entry, changeset row and redaction after `from`, in one read snapshot, a page at a
/// time (memory does not grow with the journal). Run it outside a transaction.
///
/// An incremental export never skips an entry that commits after it with a lower seq: it
/// exports up to a watermark below which nothing can commit any more (on PostgreSQL and MySQL
/// an entry still in flight holds the watermark below its seq; the next export takes it).
///
/// ```no_run
/// # use diesel::{Connection, SqliteConnection};
/// let mut conn = SqliteConnection::establish("bank.db")?;
/// let mut file = std::fs::File::create("journal.jsonl")?;
/// let first = recover_core::export(&mut conn, &mut file, recover_core::ExportFrom::Start)?;
/// // later, appending what is new to the same file:
/// let mut file = std::fs::OpenOptions::new().append(true).open("journal.jsonl")?;
/// let next = recover_core::export(
///     &mut conn,
///     &mut file,
///     recover_core::ExportFrom::After(first.position),
/// )?;
/// println!("exported up to seq {} ({})", next.position.seq, next.position);
/// # Ok::<(), recover_core::Error>(())
/// ```
pub fn export<C: JournalConn>(
    conn: &mut C,
    writer: impl Write,
    from: ExportFrom,
) -> Result<ExportSummary, Error> {
    let sql = C::pick::<Carry>();
    let previous = match from {
        ExportFrom::Start => None,
        ExportFrom::After(position) if position.backend != sql.backend => {
            return Err(Error::BadPosition {
                position: position.to_string(),
                problem: format!(
                    "taken on {}, the connection is {}",
                    position.backend, sql.backend
                ),
            })
        }
        ExportFrom::After(position) => Some(position),
    };
    let after = previous.map_or(0, |p| p.seq);
    let mut out = Chain::new(
        std::io::BufWriter::new(writer),
        previous.map_or(ZERO, |p| p.head),
    );
    let mut summary = ExportSummary {
        position: ExportPosition {
            backend: sql.backend,
            seq: after,
            redaction: previous.map_or(0, |p| p.redaction),
            fence: Fence::default(),
            head: ZERO,
        },
        entries: 0,
        changesets: 0,
        redactions: 0,
        lines: 0,
    };
    let mut body = |conn: &mut C, window: Window| -> Result<(), Error> {
        let horizon = match previous {
            Some(_) => None,
            None => {
                let first = (sql.first)(conn)?;
                let begins = (sql.horizon)(conn, window.upto)?;
                first
                    .into_iter()
                    .chain(begins)
                    .max()
                    .map(|(seq, recorded_at)| Horizon { seq, recorded_at })
            }
        };
        let header = Header {
            kind: "header",
            format: FORMAT.to_owned(),
            version: FORMAT_VERSION,
            recover: env!("CARGO_PKG_VERSION").to_owned(),
            backend: sql.backend.to_owned(),
            exported_at: DateTime::<Utc>::from_timestamp_micros(now_micros())
                .unwrap_or_default()
                .to_rfc3339_opts(SecondsFormat::Micros, true),
            after: previous.map(|p| p.to_string()),
            horizon,
            prev: hex(&out.head),
        };
        out.line(&header)?;
        let mut last = after;
        'pages: loop {
            let page = (sql.entries)(conn, last, window.upto, PAGE)?;
            let page_start = last;
            let full = page.len() as i64 == PAGE;
            for row in page {
                // A seq missing above `settled` may still commit: stop below it.
                if row.seq - 1 > last.max(window.settled) {
                    write_changesets(conn, &sql, &mut out, page_start, last, &mut summary)?;
                    last = last.max(window.settled.min(window.upto));
                    break 'pages;
                }
                out.line(&EntryLine::from(row.clone()))?;
                last = row.seq;
                summary.entries += 1;
                if summary.entries % CHECKPOINT_EVERY == 0 {
                    let head = hex(&out.head);
                    out.line(&Checkpoint {
                        kind: "checkpoint",
                        entries: summary.entries,
                        seq: last,
                        head,
                    })?;
                }
            }
            write_changesets(conn, &sql, &mut out, page_start, last, &mut summary)?;
            if !full {
                // Missing seqs up to `upto` that are settled do not hold the watermark.
                if window.upto > last && window.settled >= window.upto {
                    last = window.upto;
                } else if window.settled > last {
                    last = window.settled.min(window.upto);
                }
                break;
            }
        }
        summary.position.seq = last;
        loop {
            let page = (sql.redactions)(conn, summary.position.redaction, PAGE)?;
            let full = page.len() as i64 == PAGE;
            for row in page {
                summary.position.redaction = row.id;
                out.line(&RedactionLine::from(row))?;
                summary.redactions += 1;
            }
            if !full {
                break;
            }
        }
        Ok(())
    };
    summary.position.fence = (sql.snapshot)(
        conn,
        after,
        previous.map_or(Fence::default(), |p| p.fence),
        &mut body,
    )?;
    // The position's head is the chain's head before the end line: the end line carries the
    // position, and the next export's header continues from it.
    summary.position.head = out.head;
    out.line(&End {
        kind: "end",
        entries: summary.entries,
        changesets: summary.changesets,
        redactions: summary.redactions,
        position: summary.position.to_string(),
    })?;
    summary.lines = out.lines;
    out.writer.flush()?;
    Ok(summary)
}

/// The changeset lines of the changesets whose first entry is in (after, upto].
fn write_changesets<C: JournalConn, W: Write>(
    conn: &mut C,
    sql: &crate::export_sql::CarryOf<C>,
    out: &mut Chain<W>,
    after: i64,
    upto: i64,
    summary: &mut ExportSummary,
) -> Result<(), Error> {
    if upto <= after {
        return Ok(());
    }
    for row in (sql.changesets)(conn, after, upto)? {
        out.line(&ChangesetLine::from(row))?;
        summary.changesets += 1;
    }
    Ok(())
}

/// What [`verify_export`] found: a chain that holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifySummary {
    /// Lines read.
    pub lines: u64,
    /// Exports in the file (header lines): incremental exports appended to one file chain on.
    pub exports: u64,
    /// Entry lines.
    pub entries: u64,
    /// The chain head the file starts from (64 zeros for an export from the journal's start):
    /// compare it with the head you kept of the export before, when the file is incremental.
    pub start: String,
    /// The chain's head: the last line's hash. Compare it with a head kept elsewhere.
    pub head: String,
    /// The position of the file's last export.
    pub position: Option<ExportPosition>,
}

/// Checks an export's hash chain and format, line by line. `Err` names the first line that
/// does not hold ([`Error::BadExport`] with its line number, and its seq for an entry line);
/// a file cut after a line, with lines removed, reordered or edited, fails.
///
/// ```no_run
/// let mut file = std::fs::File::open("journal.jsonl")?;
/// let summary = recover_core::verify_export(&mut file)?;
/// println!("{} entries, chain head {}", summary.entries, summary.head);
/// # Ok::<(), recover_core::Error>(())
/// ```
pub fn verify_export(reader: impl Read) -> Result<VerifySummary, Error> {
    let mut lines = ExportReader::new(reader);
    let mut summary = VerifySummary {
        lines: 0,
        exports: 0,
        entries: 0,
        start: String::new(),
        head: String::new(),
        position: None,
    };
    while let Some(line) = lines.next_line()? {
        match line {
            Line::Header(header) => {
                if summary.exports == 0 {
                    summary.start = header.prev.clone();
                }
                summary.exports += 1;
            }
            Line::Entry(_) => summary.entries += 1,
            Line::End(end) => summary.position = Some(end.position),
            _ => {}
        }
    }
    summary.lines = lines.line;
    summary.head = hex(&lines.head);
    Ok(summary)
}

/// The hash of a line: SHA-256 of the previous hash's hex and the line's canonical bytes.
fn chain_hash(prev: &[u8; 32], canonical: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(hex(prev).as_bytes());
    hasher.update(canonical);
    hasher.finalize().into()
}

fn hex(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// A writer that chains each line's hash.
struct Chain<W: Write> {
    writer: W,
    head: [u8; 32],
    lines: u64,
}

impl<W: Write> Chain<W> {
    fn new(writer: W, head: [u8; 32]) -> Self {
        Chain {
            writer,
            head,
            lines: 0,
        }
    }

    fn line<L: Serialize>(&mut self, line: &L) -> Result<(), Error> {
        let mut canonical = serde_json::to_vec(line).map_err(std::io::Error::other)?;
        self.head = chain_hash(&self.head, &canonical);
        canonical.pop(); // the closing brace
        canonical.extend_from_slice(b",\"hash\":\"");
        canonical.extend_from_slice(hex(&self.head).as_bytes());
        canonical.extend_from_slice(b"\"}\n");
        self.writer.write_all(&canonical)?;
        self.lines += 1;
        Ok(())
    }
}

/// The earliest point an export can rebuild.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Horizon {
    pub seq: i64,
    pub recorded_at: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Header {
    #[serde(rename = "type", skip_deserializing)]
    kind: &'static str,
    pub format: String,
    pub version: u64,
    pub recover: String,
    pub backend: String,
    pub exported_at: String,
    pub after: Option<String>,
    pub horizon: Option<Horizon>,
    pub prev: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct EntryLine {
    #[serde(rename = "type", skip_deserializing)]
    kind: &'static str,
    pub seq: i64,
    pub changeset_id: i64,
    pub entity: String,
    pub entity_key: String,
    pub op: String,
    pub before_image: Option<String>,
    pub after_image: Option<String>,
    pub undoes: Option<i64>,
    pub undo_next: Option<i64>,
    pub redo_next: Option<i64>,
    pub actor: Option<String>,
    pub reason: Option<String>,
    pub recorded_at: i64,
}

impl From<EntryRow> for EntryLine {
    fn from(r: EntryRow) -> Self {
        EntryLine {
            kind: "entry",
            seq: r.seq,
            changeset_id: r.changeset_id,
            entity: r.entity,
            entity_key: r.entity_key,
            op: r.op,
            before_image: r.before_image,
            after_image: r.after_image,
            undoes: r.undoes,
            undo_next: r.undo_next,
            redo_next: r.redo_next,
            actor: r.actor,
            reason: r.reason,
            recorded_at: r.recorded_at,
        }
    }
}

impl From<EntryLine> for EntryRow {
    fn from(l: EntryLine) -> Self {
        EntryRow {
            seq: l.seq,
            changeset_id: l.changeset_id,
            entity: l.entity,
            entity_key: l.entity_key,
            op: l.op,
            before_image: l.before_image,
            after_image: l.after_image,
            undoes: l.undoes,
            undo_next: l.undo_next,
            redo_next: l.redo_next,
            actor: l.actor,
            reason: l.reason,
            recorded_at: l.recorded_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ChangesetLine {
    #[serde(rename = "type", skip_deserializing)]
    kind: &'static str,
    pub id: i64,
    pub last_seq: i64,
    pub actor: Option<String>,
    pub reason: Option<String>,
    pub recorded_at: i64,
}

impl From<ChangesetRow> for ChangesetLine {
    fn from(r: ChangesetRow) -> Self {
        ChangesetLine {
            kind: "changeset",
            id: r.id,
            last_seq: r.last_seq,
            actor: r.actor,
            reason: r.reason,
            recorded_at: r.recorded_at,
        }
    }
}

impl From<ChangesetLine> for ChangesetRow {
    fn from(l: ChangesetLine) -> Self {
        ChangesetRow {
            id: l.id,
            last_seq: l.last_seq,
            actor: l.actor,
            reason: l.reason,
            recorded_at: l.recorded_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RedactionLine {
    #[serde(rename = "type", skip_deserializing)]
    kind: &'static str,
    pub id: i64,
    pub entity: String,
    pub entity_key: String,
    pub erased_columns: String,
    pub actor: Option<String>,
    pub reason: Option<String>,
    pub recorded_at: i64,
}

impl From<RedactionRow> for RedactionLine {
    fn from(r: RedactionRow) -> Self {
        RedactionLine {
            kind: "redaction",
            id: r.id,
            entity: r.entity,
            entity_key: r.entity_key,
            erased_columns: r.erased_columns,
            actor: r.actor,
            reason: r.reason,
            recorded_at: r.recorded_at,
        }
    }
}

impl From<RedactionLine> for RedactionRow {
    fn from(l: RedactionLine) -> Self {
        RedactionRow {
            id: l.id,
            entity: l.entity,
            entity_key: l.entity_key,
            erased_columns: l.erased_columns,
            actor: l.actor,
            reason: l.reason,
            recorded_at: l.recorded_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Checkpoint {
    #[serde(rename = "type", skip_deserializing)]
    kind: &'static str,
    entries: u64,
    seq: i64,
    head: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct End {
    #[serde(rename = "type", skip_deserializing)]
    kind: &'static str,
    entries: u64,
    changesets: u64,
    redactions: u64,
    position: String,
}

/// One line of an export, its hash checked.
#[derive(Debug)]
pub(crate) enum Line {
    Header(Header),
    Entry(EntryLine),
    Changeset(ChangesetLine),
    Redaction(RedactionLine),
    Checkpoint,
    End(EndLine),
}

/// An end line, its position parsed.
#[derive(Debug)]
pub(crate) struct EndLine {
    pub position: ExportPosition,
}

/// Reads an export line by line, checking each line's hash against the chain and the order of
/// its lines (a header first; entries in ascending seq; an end line last).
pub(crate) struct ExportReader<R: Read> {
    reader: BufReader<R>,
    buf: String,
    /// Lines read.
    pub line: u64,
    pub head: [u8; 32],
    /// The head the next export in the file continues: the previous end line's position's.
    continue_from: [u8; 32],
    /// Inside an export: after its header, before its end line.
    open: bool,
    last_seq: i64,
    entries: u64,
}

impl<R: Read> ExportReader<R> {
    pub fn new(reader: R) -> Self {
        ExportReader {
            reader: BufReader::new(reader),
            buf: String::new(),
            line: 0,
            head: ZERO,
            continue_from: ZERO,
            open: false,
            last_seq: i64::MIN,
            entries: 0,
        }
    }

    fn bad(&self, seq: Option<i64>, problem: impl Into<String>) -> Error {
        Error::BadExport {
            line: self.line,
            seq,
            problem: problem.into(),
        }
    }

    /// The next line, checked; `None` at the end of a file whose last export is complete.
    pub fn next_line(&mut self) -> Result<Option<Line>, Error> {
        self.buf.clear();
        let read = match self.reader.read_line(&mut self.buf) {
            Ok(read) => read,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                self.line += 1;
                return Err(self.bad(None, "not UTF-8"));
            }
            Err(e) => return Err(e.into()),
        };
        if read == 0 {
            return match (self.line, self.open) {
                (0, _) => Err(self.bad(None, "the export is empty")),
                (_, true) => Err(Error::BadExport {
                    line: self.line + 1,
                    seq: None,
                    problem: "the export ends before its end line: it was cut".to_owned(),
                }),
                _ => Ok(None),
            };
        }
        self.line += 1;
        let text = self.buf.strip_suffix('\n').unwrap_or(&self.buf);
        // `,"hash":"` + 64 hex digits + `"}`
        const TAIL: usize = 9 + 64 + 2;
        let split = text.len().checked_sub(TAIL).filter(|&at| {
            text.is_char_boundary(at)
                && text[at..].starts_with(",\"hash\":\"")
                && text.ends_with("\"}")
        });
        let Some(at) = split else {
            return Err(self.bad(None, "no hash at the end of the line"));
        };
        let stated = unhex(&text[at + 9..at + 9 + 64])
            .ok_or_else(|| self.bad(None, "the hash is not 64 lowercase hex digits"))?;
        let mut canonical = text.as_bytes()[..at].to_vec();
        canonical.push(b'}');
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| self.bad(None, format!("not JSON: {e}")))?;
        let seq = value.get("seq").and_then(serde_json::Value::as_i64);
        let kind = value
            .get("type")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("");
        let seq_of_entry = (kind == "entry").then_some(seq).flatten();
        // A header's format and version first: a later version may chain differently.
        if kind == "header" {
            let version = value.get("version").and_then(serde_json::Value::as_u64);
            if value.get("format").and_then(serde_json::Value::as_str) != Some(FORMAT) {
                return Err(self.bad(None, format!("not a {FORMAT} export")));
            }
            match version {
                Some(found) if found > FORMAT_VERSION => {
                    return Err(Error::ExportVersion {
                        line: self.line,
                        found,
                        supported: FORMAT_VERSION,
                    })
                }
                Some(_) => {}
                None => return Err(self.bad(None, "the header has no version")),
            }
        }
        // A header names the head it continues: the previous export's in the same file.
        let prev = if kind == "header" {
            let named = value
                .get("prev")
                .and_then(serde_json::Value::as_str)
                .and_then(unhex)
                .ok_or_else(|| self.bad(None, "the header's prev is not a hash"))?;
            if self.line > 1 && named != self.continue_from {
                return Err(self.bad(
                    None,
                    "the header does not continue the chain of the export before it",
                ));
            }
            named
        } else {
            self.head
        };
        if chain_hash(&prev, &canonical) != stated {
            return Err(self.bad(
                seq_of_entry,
                "the hash does not match: the line was altered, or a line before it was \
                 removed, added or moved",
            ));
        }
        self.head = stated;
        let parse_error = |e: serde_json::Error| self.bad(seq_of_entry, e.to_string());
        let line = match kind {
            "header" => {
                let header: Header = serde_json::from_value(value).map_err(parse_error)?;
                if self.open {
                    return Err(self.bad(None, "a header inside an export"));
                }
                self.open = true;
                self.last_seq = i64::MIN;
                self.entries = 0;
                Line::Header(header)
            }
            _ if !self.open => {
                return Err(self.bad(
                    seq_of_entry,
                    "a line outside an export (no header before it)",
                ))
            }
            "entry" => {
                let entry: EntryLine = serde_json::from_value(value).map_err(parse_error)?;
                if entry.seq <= self.last_seq {
                    return Err(self.bad(Some(entry.seq), "entries out of seq order"));
                }
                self.last_seq = entry.seq;
                self.entries += 1;
                Line::Entry(entry)
            }
            "changeset" => Line::Changeset(serde_json::from_value(value).map_err(parse_error)?),
            "redaction" => Line::Redaction(serde_json::from_value(value).map_err(parse_error)?),
            "checkpoint" => {
                let checkpoint: Checkpoint = serde_json::from_value(value).map_err(parse_error)?;
                if checkpoint.entries != self.entries || unhex(&checkpoint.head) != Some(prev) {
                    return Err(self.bad(None, "the checkpoint does not match the lines before it"));
                }
                Line::Checkpoint
            }
            "end" => {
                let end: End = serde_json::from_value(value).map_err(parse_error)?;
                let position: ExportPosition = end.position.parse()?;
                if end.entries != self.entries || position.head != prev {
                    return Err(self.bad(None, "the end line does not match the lines before it"));
                }
                self.open = false;
                self.continue_from = position.head;
                Line::End(EndLine { position })
            }
            other => return Err(self.bad(None, format!("unknown line type {other:?}"))),
        };
        Ok(Some(line))
    }
}
