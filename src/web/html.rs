//! The pages, as HTML: maud escapes every value it inserts.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use recover_core::dynamic::{self, Counts, JournalEntry, Key, Model, RestoreTo};
use recover_core::{ChangesetId, Error, JournalConn, Op};
use serde_json::{Map, Value};

use super::csrf::{self, Refused};
use super::{Action, Fail, Form};

const STYLE: &str = "
:root{color-scheme:light dark;--line:#8884;--old:#f002;--new:#0a02;--warn:#f802}
body{font:16px/1.45 system-ui,sans-serif;margin:0 auto;max-width:64rem;padding:.5rem 1rem 3rem}
nav{display:flex;gap:1rem;flex-wrap:wrap;border-bottom:1px solid var(--line);padding:.5rem 0}
h1{font-size:1.35rem;word-break:break-word}h2{font-size:1.1rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;vertical-align:top;
padding:.25rem .5rem;border-bottom:1px solid var(--line);overflow-wrap:anywhere}
th{overflow-wrap:break-word}.flag{white-space:nowrap}
.scroll{overflow-x:auto}table.diff,table.all{table-layout:fixed}
table.diff th:first-child,table.all th:first-child{width:25%}
.entry{border:1px solid var(--line);border-radius:.4rem;
padding:.5rem .75rem;margin:.75rem 0}.meta{display:flex;gap:.25rem 1rem;flex-wrap:wrap;
font-size:.9rem;opacity:.85}.op{font-weight:600}.old{background:var(--old)}
.new{background:var(--new)}.null{font-style:italic;opacity:.7}.differs td{background:var(--warn)}
.notice{border-left:4px solid #0a0;padding:.25rem .75rem}.error{border-left:4px solid #d00;
padding:.25rem .75rem}.conflict{border:2px solid #d80;border-radius:.4rem;padding:.5rem .75rem}
.actions{display:flex;gap:.5rem;flex-wrap:wrap;margin:.5rem 0}
.button,button{display:inline-block;padding:.35rem .8rem;border:1px solid currentColor;
border-radius:.3rem;text-decoration:none;background:none;color:inherit;font:inherit;cursor:pointer}
button.primary{background:#1a5fb4;color:#fff;border-color:#1a5fb4}
label{display:block;margin:.5rem 0}input[type=text]{width:100%;max-width:30rem;font:inherit;
padding:.3rem;box-sizing:border-box}code{overflow-wrap:anywhere}
";

/// Rewrites each `<time datetime>` into the viewer's own time zone (the page reads fine in UTC
/// without it).
const SCRIPT: &str = "for(const t of document.querySelectorAll('time[datetime]')){\
const d=new Date(t.getAttribute('datetime'));if(!isNaN(d)){t.title=t.textContent;\
t.textContent=d.toLocaleString(undefined,{timeZoneName:'short'});}}";

/// Where the router is mounted, and the nonce that lets this response's own script run.
#[derive(Clone)]
pub(super) struct Ctx {
    base: String,
    nonce: Option<String>,
}

/// A page to render: its status, title and body; or a redirect.
pub(super) struct View {
    status: StatusCode,
    title: String,
    body: Markup,
    redirect: Option<String>,
}

impl View {
    fn page(status: StatusCode, title: impl Into<String>, body: Markup) -> Self {
        View {
            status,
            title: title.into(),
            body,
            redirect: None,
        }
    }

    /// A page with one message.
    pub(super) fn message(status: StatusCode, title: &str, message: &str) -> Self {
        let body = html! { h1 { (title) } p.error { (message) } };
        View::page(status, title, body)
    }

    /// A `303 See Other` to `location`.
    pub(super) fn redirect(location: String) -> Self {
        View {
            status: StatusCode::SEE_OTHER,
            title: String::new(),
            body: html! {},
            redirect: Some(location),
        }
    }
}

impl Ctx {
    pub(super) fn new(base: String) -> Self {
        Ctx {
            base,
            nonce: csrf::random_hex(),
        }
    }

    /// A link to `path` (under the mount path) with these query parameters.
    pub(super) fn url(&self, path: &str, query: &[(&str, &str)]) -> String {
        // Nested routers answer their root at the mount path itself, without a slash.
        let mut url = match path {
            "/" if !self.base.is_empty() => self.base.clone(),
            _ => format!("{}{path}", self.base),
        };
        if !query.is_empty() {
            let mut q = form_urlencoded::Serializer::new(String::new());
            for (k, v) in query {
                q.append_pair(k, v);
            }
            url.push('?');
            url.push_str(&q.finish());
        }
        url
    }

    fn table_url(&self, entity: &str) -> String {
        self.url(&format!("/t/{}", segment(entity)), &[])
    }

    fn deleted_url(&self, entity: &str) -> String {
        self.url(&format!("/t/{}/deleted", segment(entity)), &[])
    }

    fn entity_url(&self, entity: &str, key: &str) -> String {
        self.url(&format!("/t/{}/entity", segment(entity)), &[("key", key)])
    }

    fn changeset_url(&self, id: ChangesetId) -> String {
        self.url(&format!("/changeset/{}", id.get()), &[])
    }

    /// The response: the page in the layout, with headers that keep it out of frames and
    /// caches and let no script run but its own.
    pub(super) fn render(&self, view: View) -> Response {
        if let Some(location) = view.redirect {
            let mut response = view.status.into_response();
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            return response;
        }
        let page = html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    meta name="referrer" content="no-referrer";
                    title { (view.title) " · history" }
                    style { (PreEscaped(STYLE)) }
                }
                body {
                    nav { a href=(self.url("/", &[])) { "History" } }
                    main { (view.body) }
                    @if let Some(nonce) = &self.nonce {
                        script nonce=(nonce) { (PreEscaped(SCRIPT)) }
                    }
                }
            }
        };
        let script = match &self.nonce {
            Some(nonce) => format!("'nonce-{nonce}'"),
            None => "'none'".to_owned(),
        };
        let policy = format!(
            "default-src 'none'; style-src 'unsafe-inline'; script-src {script}; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        );
        let mut response = (view.status, page.into_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        if let Ok(policy) = HeaderValue::from_str(&policy) {
            headers.insert(header::CONTENT_SECURITY_POLICY, policy);
        }
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// A path segment, percent-encoded.
fn segment(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An instant: UTC text, which the page's script shows in the viewer's zone.
fn time(t: DateTime<Utc>) -> Markup {
    html! {
        time datetime=(t.to_rfc3339_opts(SecondsFormat::Micros, true)) {
            (t.format("%Y-%m-%d %H:%M:%S UTC"))
        }
    }
}

/// One value of an image: text as itself, NULL and an absent column marked as such.
fn value(image: Option<&Map<String, Value>>, column: &str) -> Markup {
    match image {
        None => html! {},
        Some(image) => match image.get(column) {
            None => html! { span.null { "(absent)" } },
            Some(Value::Null) => html! { span.null { "NULL" } },
            Some(Value::String(s)) => html! { (s) },
            Some(v) => html! { (v.to_string()) },
        },
    }
}

/// The columns to show for images of `entity`: its model's, in order, then any other the
/// images hold.
fn columns<C: JournalConn>(entity: &str, images: &[Option<&Map<String, Value>>]) -> Vec<String> {
    let mut names: Vec<String> = match dynamic::model::<C>(entity) {
        Ok(model) => model.columns().iter().map(|c| c.name.to_owned()).collect(),
        Err(_) => Vec::new(),
    };
    for image in images.iter().flatten() {
        for name in image.keys() {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    names
}

/// What an entry did, in words.
fn op(e: &JournalEntry) -> String {
    match e.undoes {
        Some(seq) => format!("{} of entry {seq}", e.op),
        None => e.op.to_string(),
    }
}

/// One entry: what, who, why, when, and the columns it changed, old beside new.
fn entry<C: JournalConn>(ctx: &Ctx, e: &JournalEntry, heading: bool, restore: bool) -> Markup {
    entry_of::<C>(ctx, e, heading, restore, true)
}

/// [`entry`]; `linked`: with a link to its changeset (not in a confirmation's preview, whose
/// changeset does not exist until it is confirmed).
fn entry_of<C: JournalConn>(
    ctx: &Ctx,
    e: &JournalEntry,
    heading: bool,
    restore: bool,
    linked: bool,
) -> Markup {
    let all = columns::<C>(&e.entity, &[e.before.as_ref(), e.after.as_ref()]);
    let diff_rows = |only_changed: bool| {
        html! {
            @for c in &all {
                @let changed = e.changed_columns.contains(c);
                @if changed || !only_changed {
                    tr.changed[changed] data-column=(c) {
                        th scope="row" { (c) }
                        td.old[changed && e.before.is_some()] { (value(e.before.as_ref(), c)) }
                        td.new[changed && e.after.is_some()] { (value(e.after.as_ref(), c)) }
                    }
                }
            }
        }
    };
    html! {
        article.entry id=(format!("entry-{}", e.seq)) data-seq=(e.seq) {
            div.meta {
                span.op { "#" (e.seq) " " (op(e)) }
                @if heading {
                    a href=(ctx.entity_url(&e.entity, &e.key)) {
                        (e.entity) " " code { (e.key) }
                    }
                }
                span { "by " (e.actor.as_deref().unwrap_or("(no actor)")) }
                span { (time(e.recorded_at)) }
                @if linked {
                    a href=(ctx.changeset_url(e.changeset)) { "changeset " (e.changeset.get()) }
                }
            }
            @if let Some(reason) = &e.reason {
                p.reason { "Reason: " (reason) }
            }
            @if e.changed_columns.is_empty() {
                p { "No column changed." }
            } @else {
                div.scroll {
                    table.diff {
                        thead { tr { th { "column" } th { "before" } th { "after" } } }
                        tbody { (diff_rows(true)) }
                    }
                }
            }
            @if e.op == Op::Update && e.changed_columns.len() < all.len() {
                details {
                    summary { "All columns" }
                    div.scroll { table.all { tbody { (diff_rows(false)) } } }
                }
            }
            @if restore && e.after.is_some() {
                div.actions {
                    a.button.restore href=(ctx.url("/confirm", &[
                        ("action", "restore"), ("table", &e.entity), ("key", &e.key),
                        ("seq", &e.seq.to_string()),
                    ])) { "Restore this version" }
                }
            }
        }
    }
}

/// Links to the first page (when this is not it) and to the next, which starts past the last
/// entry shown (`param` is `before` or `after`), when there is `more`.
fn pager(
    ctx: &Ctx,
    path: &str,
    fixed: &[(&str, &str)],
    param: &str,
    (entries, more): (&[JournalEntry], bool),
    paged: bool,
) -> Markup {
    let next = entries.last().filter(|_| more).map(|e| {
        let seq = e.seq.to_string();
        let mut query = fixed.to_vec();
        query.push((param, &seq));
        ctx.url(path, &query)
    });
    html! {
        div.actions.pager {
            @if paged { a.button href=(ctx.url(path, fixed)) { "First page" } }
            @if let Some(next) = next { a.button.next href=(next) { "Next page" } }
        }
    }
}

/// `/`: the models.
pub(super) fn models<C: JournalConn>(ctx: &Ctx, rows: &[(Model<C>, Counts)]) -> View {
    let body = html! {
        h1 { "History" }
        @if rows.is_empty() {
            p { "No Recoverable model is linked into this program." }
        } @else {
            div.scroll {
                table.models {
                    thead { tr { th { "table" } th { "model" } th { "key" }
                        th { "entities" } th { "entries" } th {} } }
                    tbody {
                        @for (model, counts) in rows {
                            tr {
                                td { a href=(ctx.table_url(model.entity())) { (model.entity()) } }
                                td { code { (model.type_name()) } }
                                td { (model.key_columns().join(", ")) }
                                td { (counts.entities) }
                                td { (counts.entries) }
                                td {
                                    a href=(ctx.deleted_url(model.entity())) { "deleted rows" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    View::page(StatusCode::OK, "Models", body)
}

/// The form that opens an entity by its key.
fn key_form<C: JournalConn>(ctx: &Ctx, model: Model<C>) -> Markup {
    let example = match model.key_columns().len() {
        1 => "1 or \"abc\"".to_owned(),
        n => format!("[{}] (JSON, in key order)", vec!["…"; n].join(",")),
    };
    html! {
        form method="get" action=(ctx.url(&format!("/t/{}/entity", segment(model.entity())), &[])) {
            label {
                "Key (" (model.key_columns().join(", ")) "): "
                input type="text" name="key" required placeholder=(example);
            }
            button type="submit" { "Open" }
        }
    }
}

/// `/t/{table}`: a table's newest entries.
pub(super) fn table<C: JournalConn>(
    ctx: &Ctx,
    model: Model<C>,
    counts: Counts,
    entries: &[JournalEntry],
    more: bool,
    before: Option<i64>,
) -> View {
    let path = format!("/t/{}", segment(model.entity()));
    let body = html! {
        h1 { (model.entity()) }
        p { code { (model.type_name()) } ": " (counts.entities) " rows in the journal, "
            (counts.entries) " entries." }
        div.actions {
            a.button href=(ctx.deleted_url(model.entity())) { "Deleted rows" }
        }
        (key_form(ctx, model))
        h2 { "Newest changes" }
        @if entries.is_empty() { p { "No entries." } }
        @for e in entries { (entry::<C>(ctx, e, true, false)) }
        (pager(ctx, &path, &[], "before", (entries, more), before.is_some()))
    };
    View::page(StatusCode::OK, model.entity(), body)
}

/// What a timeline says of its entity now.
pub(super) struct State {
    /// Its journal entries.
    pub versions: i64,
    /// Whether an undone change can be redone.
    pub redoable: bool,
    /// The stored row, as an image; `None`: no row has this key now.
    pub current: Option<Map<String, Value>>,
}

/// `/t/{table}/entity`: an entity's timeline.
pub(super) fn timeline<C: JournalConn>(
    ctx: &Ctx,
    key: &Key<C>,
    state: &State,
    entries: &[JournalEntry],
    more: bool,
    before: Option<i64>,
) -> View {
    let action = |name: &str| {
        ctx.url(
            "/confirm",
            &[
                ("action", name),
                ("table", key.entity()),
                ("key", key.text()),
            ],
        )
    };
    let path = format!("/t/{}/entity", segment(key.entity()));
    let body = html! {
        h1 { a href=(ctx.table_url(key.entity())) { (key.entity()) } " " code { (key.text()) } }
        @match &state.current {
            Some(row) => {
                h2 #now { "Now" }
                div.scroll {
                    table.image #current {
                        @for c in columns::<C>(key.entity(), &[Some(row)]) {
                            tr data-column=(c) { th scope="row" { (c) } td { (value(Some(row), &c)) } }
                        }
                    }
                }
            }
            None => p #now { "Now: no row has this key." }
        }
        p { (state.versions) " entries, newest first." }
        @if state.versions > 0 {
            div.actions {
                a.button #undo href=(action("undo")) { "Undo the newest change" }
                @if state.redoable { a.button #redo href=(action("redo")) { "Redo" } }
            }
        }
        // Every version but the current one can be restored.
        @for (i, e) in entries.iter().enumerate() {
            (entry::<C>(ctx, e, false, i > 0 || before.is_some()))
        }
        (pager(ctx, &path, &[("key", key.text())], "before", (entries, more), before.is_some()))
    };
    View::page(
        StatusCode::OK,
        format!("{} {}", key.entity(), key.text()),
        body,
    )
}

/// `/t/{table}/deleted`: the deleted rows.
pub(super) fn deleted<C: JournalConn>(
    ctx: &Ctx,
    model: Model<C>,
    entries: &[JournalEntry],
    more: bool,
    before: Option<i64>,
) -> View {
    let path = format!("/t/{}/deleted", segment(model.entity()));
    let body = html! {
        h1 { "Deleted rows of " a href=(ctx.table_url(model.entity())) { (model.entity()) } }
        @if entries.is_empty() { p { "No deleted rows." } }
        @for e in entries {
            (entry::<C>(ctx, e, true, false))
            div.actions {
                a.button.undelete href=(ctx.url("/confirm", &[
                    ("action", "undelete"), ("table", &e.entity), ("key", &e.key)
                ])) { "Undelete " (e.key) }
            }
        }
        (pager(ctx, &path, &[], "before", (entries, more), before.is_some()))
    };
    View::page(StatusCode::OK, format!("deleted {}", model.entity()), body)
}

/// `/changeset/{id}`: a changeset's entries.
pub(super) fn changeset<C: JournalConn>(
    ctx: &Ctx,
    id: ChangesetId,
    entries: &[JournalEntry],
    more: bool,
    after: Option<i64>,
    done: bool,
) -> View {
    let path = format!("/changeset/{}", id.get());
    let id_text = id.get().to_string();
    let body = html! {
        @if done { p.notice #done { "Done: the change was recorded as changeset " (id.get()) "." } }
        h1 { "Changeset " (id.get()) }
        div.actions {
            a.button #undo-changeset
                href=(ctx.url("/confirm", &[("action", "undo-changeset"), ("id", &id_text)])) {
                "Undo this changeset"
            }
        }
        @for e in entries { (entry::<C>(ctx, e, true, false)) }
        (pager(ctx, &path, &[], "after", (entries, more), after.is_some()))
    };
    View::page(StatusCode::OK, format!("changeset {}", id.get()), body)
}

/// A conflict: the row was changed outside recover.
pub(super) struct Conflict {
    pub(super) entity: &'static str,
    pub(super) key: String,
    pub(super) expected: Option<Box<Value>>,
    pub(super) actual: Option<Box<Value>>,
    pub(super) columns: Vec<String>,
}

/// One side of a conflict: a value, or no row at all.
fn side(image: Option<&Map<String, Value>>, column: &str) -> Markup {
    match image {
        None => html! { span.null { "(no row)" } },
        Some(_) => value(image, column),
    }
}

/// Both images of a conflict, the differing columns marked, and what force does.
fn conflict<C: JournalConn>(ctx: &Ctx, c: &Conflict) -> Markup {
    let object = |v: &Option<Box<Value>>| v.as_deref().and_then(Value::as_object).cloned();
    let (journal, stored) = (object(&c.expected), object(&c.actual));
    let names = columns::<C>(c.entity, &[journal.as_ref(), stored.as_ref()]);
    html! {
        section.conflict #conflict {
            h2 { "Conflict: the row was changed outside recover" }
            p {
                a href=(ctx.entity_url(c.entity, &c.key)) { (c.entity) " " code { (c.key) } }
                " no longer holds what the journal last recorded. Nothing was written."
            }
            p #differing { "Differing columns: " strong { (c.columns.join(", ")) } }
            div.scroll {
                table.conflict-images {
                    thead { tr {
                        th { "column" } th { "journal (last recorded)" } th { "stored now" } th {}
                    } }
                    tbody {
                        @for name in &names {
                            @let differs = c.columns.contains(name);
                            tr.differs[differs] data-column=(name) {
                                th scope="row" { (name) }
                                td { (side(journal.as_ref(), name)) }
                                td { (side(stored.as_ref(), name)) }
                                td.flag { @if differs { "differs" } }
                            }
                        }
                    }
                }
            }
            p {
                "To write anyway, tick " strong { "force" } " below: the stored row is overwritten "
                "and the change made outside recover is lost (it is not in the journal, unless "
                "the table is captured). Otherwise, look at the row first."
            }
        }
    }
}

/// `/confirm`: what a write would change (or the conflict it meets), and the form that makes
/// it.
pub(super) fn confirm<C: JournalConn>(
    ctx: &Ctx,
    action: &Action<C>,
    form: &Form,
    (would, more): (Vec<JournalEntry>, bool),
    conflicted: Option<&Conflict>,
) -> View {
    let (verb, title, hidden): (&str, String, Vec<(&str, String)>) = match action {
        Action::Undo(k) => (
            "Undo",
            format!("Undo the newest change of {} {}", k.entity(), k.text()),
            vec![
                ("action", "undo".into()),
                ("table", k.entity().into()),
                ("key", k.text().into()),
            ],
        ),
        Action::Redo(k) => (
            "Redo",
            format!("Redo the last undone change of {} {}", k.entity(), k.text()),
            vec![
                ("action", "redo".into()),
                ("table", k.entity().into()),
                ("key", k.text().into()),
            ],
        ),
        Action::Undelete(k) => (
            "Undelete",
            format!("Undelete {} {}", k.entity(), k.text()),
            vec![
                ("action", "undelete".into()),
                ("table", k.entity().into()),
                ("key", k.text().into()),
            ],
        ),
        Action::Restore(k, to) => {
            let (field, n, what) = match to {
                RestoreTo::Entry(seq) => (
                    "seq",
                    seq.to_string(),
                    format!("its state after entry {seq}"),
                ),
                RestoreTo::Version(n) => ("version", n.to_string(), format!("version {n}")),
                RestoreTo::Time(t) => ("at", t.to_rfc3339(), format!("its state at {t}")),
            };
            (
                "Restore",
                format!("Restore {} {} to {what}", k.entity(), k.text()),
                vec![
                    ("action", "restore".into()),
                    ("table", k.entity().into()),
                    ("key", k.text().into()),
                    (field, n),
                ],
            )
        }
        Action::UndoChangeset(id) => (
            "Undo changeset",
            format!("Undo changeset {}", id.get()),
            vec![
                ("action", "undo-changeset".into()),
                ("id", id.get().to_string()),
            ],
        ),
    };
    // Where Cancel leads: the row's timeline, or the changeset's page.
    let back = match action {
        Action::Undo(k) | Action::Redo(k) | Action::Undelete(k) => {
            ctx.entity_url(k.entity(), k.text())
        }
        Action::Restore(k, _) => ctx.entity_url(k.entity(), k.text()),
        Action::UndoChangeset(id) => ctx.changeset_url(*id),
    };
    let status = if conflicted.is_some() {
        StatusCode::CONFLICT
    } else {
        StatusCode::OK
    };
    let body = html! {
        h1 { (title) }
        @if let Some(c) = conflicted {
            (conflict::<C>(ctx, c))
        } @else {
            h2 { "What it will change" }
            @if would.is_empty() { p { "Nothing to change." } }
            @if more { p { "Its first " (would.len()) " entries:" } }
            @for e in &would { (entry_of::<C>(ctx, e, true, false, false)) }
        }
        form method="post" action=(ctx.url("/apply", &[])) #confirm-form {
            @for (name, v) in &hidden { input type="hidden" name=(name) value=(v); }
            input type="hidden" name="token" value=(form.token);
            label { "Reason (stored in the journal): "
                input type="text" name="reason" value=(form.reason) maxlength="500"; }
            // Only where it would change something: after a conflict.
            @if conflicted.is_some() || form.force {
                label {
                    input type="checkbox" name="force" value="1" checked[form.force];
                    " Force: overwrite the row even if it was changed outside recover"
                }
            }
            div.actions {
                button.primary #confirm type="submit" { (verb) }
                a.button #cancel href=(back) { "Cancel" }
            }
        }
    };
    View::page(status, title, body)
}

/// The page for a failure: what is wrong, with the status it deserves.
pub(super) fn failure(fail: Fail) -> View {
    const AGAIN: &str = "Nothing was written; open the page again and confirm from there.";
    let (status, title, message) = match fail {
        Fail::Input(status, message) => (status, "Bad request", message),
        Fail::Token(refused) => {
            let why = match refused {
                Refused::Missing => "The form carries no token.",
                Refused::Unknown => "The form's token was already used or has expired.",
                Refused::OtherAction => {
                    "The form's token was issued for another action or another user."
                }
            };
            (
                StatusCode::FORBIDDEN,
                "Form refused",
                format!("{why} {AGAIN}"),
            )
        }
        Fail::Connect(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "No database",
            format!("Could not connect to the database: {e}"),
        ),
        Fail::NoRandom => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Failed",
            "No randomness for a form token.".to_owned(),
        ),
        Fail::Task => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Failed",
            "The request's task failed.".to_owned(),
        ),
        Fail::Recover(e) => {
            let (status, title) = match &e {
                Error::Conflict { .. }
                | Error::NothingToUndo { .. }
                | Error::NothingToRedo { .. } => (StatusCode::CONFLICT, "Cannot do that now"),
                Error::UnknownEntity(_)
                | Error::EntryNotFound(_)
                | Error::ChangesetNotFound(_)
                | Error::NotFound { .. } => (StatusCode::NOT_FOUND, "Not found"),
                Error::InvalidKey { .. }
                | Error::EntryOfOtherEntity { .. }
                | Error::VersionOutOfRange { .. }
                | Error::Unsupported(_) => (StatusCode::BAD_REQUEST, "Bad request"),
                Error::Retryable(_) => (StatusCode::SERVICE_UNAVAILABLE, "Busy, try again"),
                _ => (StatusCode::INTERNAL_SERVER_ERROR, "Failed"),
            };
            (status, title, format!("{e}. Nothing was written."))
        }
    };
    View::message(status, title, &message)
}
