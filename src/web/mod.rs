//! A history page for the journal (feature `web`): an [axum](https://docs.rs/axum) `Router`
//! that shows every `Recoverable` model linked into the program, each entity's timeline with a
//! column diff per entry, the deleted rows of a table and the entries of a changeset, with
//! buttons to undo, redo, restore a version, undelete and undo a changeset.
//!
//! **Mount it behind your application's authentication.** The router checks no identity of its
//! own: whoever reaches it can read every journaled row and revert any change. Nest it under a
//! path of your application, inside the layer or middleware that logs your staff in:
//!
//! ```no_run
//! use axum::Router;
//! use diesel::{Connection, SqliteConnection};
//! use recover::web;
//!
//! let history = web::Config::new(|| SqliteConnection::establish("bank.db"))
//!     // who makes the changes: your logged-in user, from the request
//!     .actor(|parts| {
//!         parts.headers.get("x-user").and_then(|v| v.to_str().ok()).map(str::to_owned)
//!     });
//! let app: Router = Router::new()
//!     .nest("/admin/history", web::router(history));
//!     // .layer(your_login_layer)
//! ```
//!
//! With a pool, `web::Config::pool(pool)` takes a `diesel::r2d2::Pool`. Every database call
//! runs in `tokio::task::spawn_blocking`, on one connection per request.
//!
//! # Pages (relative to where it is mounted)
//!
//! | path | shows |
//! | --- | --- |
//! | `/` | the models, with their entities and entries in the journal |
//! | `/t/{table}` | a table's newest entries, and a form to open an entity by key |
//! | `/t/{table}/entity?key=..` | an entity's timeline, newest first |
//! | `/t/{table}/deleted` | the table's deleted rows, newest first |
//! | `/changeset/{id}` | a changeset's entries |
//! | `/confirm?action=..` | what a write would change, and the form that makes it (below) |
//!
//! A key is the JSON text the journal stores (`1`, `"abc"`, `[7,"acme"]` for a composite key in
//! `primary_key(..)` order), percent-encoded in the `key` query parameter. Long lists are paged
//! by seq (`?before=SEQ`, `?after=SEQ`): the database reads one page, never a whole table or
//! history.
//!
//! # Writes
//!
//! Every button leads to a confirmation page, `GET /confirm` with `action=undo`, `redo` or
//! `undelete` and `table` and `key`; `action=restore`, `table`, `key` and one of `seq` (the
//! state after that entry), `version` (1-based) or `at` (an RFC 3339 time); or
//! `action=undo-changeset` and `id`. It runs the write in a
//! transaction that is rolled back ([`dynamic::dry_run`]) and shows what it would change, or the
//! conflict it would meet: both images and the columns that differ, and a *force* checkbox that
//! overwrites the row anyway. Its form posts to `/apply` with:
//!
//! - a one-time token against cross-site request forgery: 128 random bits issued with that page
//!   for that action and that actor, kept in this process's memory for
//!   [`Config::token_ttl`] (10 minutes by default) and consumed by the first POST that presents
//!   it. A missing, used, expired or foreign token is refused (403) and nothing is written. (The
//!   tokens live in one process: behind several replicas, keep a user on one of them.)
//! - a reason, stored in the journal with the actor that [`Config::actor`] takes from the
//!   request.
//!
//! Bad input (an unknown table, a malformed key, an entry of another entity, a version out of
//! range, a changeset or entry that does not exist) is a 4xx page saying what is wrong; nothing is
//! written. Every value is HTML-escaped, and pages carry a content security policy that lets no
//! script run but their own.

mod csrf;
mod html;

use std::fmt;
use std::ops::DerefMut;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, OriginalUri, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use recover_core::dynamic::{self, JournalEntry, Key, Log, Model, RestoreTo};
use recover_core::{ChangesetId, Error, Journal, JournalConn};

use self::csrf::{Refused, Tokens};
use self::html::{Ctx, View};

/// An error from opening a connection.
pub type ConnectError = Box<dyn std::error::Error + Send + Sync>;

type Connect<C> =
    dyn Fn() -> Result<Box<dyn DerefMut<Target = C> + Send>, ConnectError> + Send + Sync;

type ActorHook = dyn Fn(&Parts) -> Option<String> + Send + Sync;

/// How the history page reaches the database and who it records as making changes.
pub struct Config<C> {
    connect: Arc<Connect<C>>,
    actor: Arc<ActorHook>,
    page_size: usize,
    token_ttl: Duration,
}

impl<C> Clone for Config<C> {
    fn clone(&self) -> Self {
        Config {
            connect: Arc::clone(&self.connect),
            actor: Arc::clone(&self.actor),
            page_size: self.page_size,
            token_ttl: self.token_ttl,
        }
    }
}

impl<C> fmt::Debug for Config<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("page_size", &self.page_size)
            .field("token_ttl", &self.token_ttl)
            .finish_non_exhaustive()
    }
}

impl<C: JournalConn> Config<C> {
    /// A new connection from `connect` for each request (it runs on a blocking thread).
    pub fn new<F, E>(connect: F) -> Self
    where
        F: Fn() -> Result<C, E> + Send + Sync + 'static,
        E: Into<ConnectError>,
    {
        Self::with_connect(move || {
            connect()
                .map(|conn| Box::new(Owned(conn)) as Box<dyn DerefMut<Target = C> + Send>)
                .map_err(Into::into)
        })
    }

    /// A connection from this pool for each request.
    pub fn pool(pool: diesel::r2d2::Pool<diesel::r2d2::ConnectionManager<C>>) -> Self
    where
        C: diesel::r2d2::R2D2Connection,
    {
        Self::with_connect(move || {
            pool.get()
                .map(|conn| Box::new(conn) as Box<dyn DerefMut<Target = C> + Send>)
                .map_err(Into::into)
        })
    }

    fn with_connect(
        connect: impl Fn() -> Result<Box<dyn DerefMut<Target = C> + Send>, ConnectError>
            + Send
            + Sync
            + 'static,
    ) -> Self {
        Config {
            connect: Arc::new(connect),
            actor: Arc::new(|_| None),
            page_size: 25,
            token_ttl: Duration::from_secs(600),
        }
    }

    /// Who makes a change from the page: usually your logged-in user, read from the request
    /// (an extension your login layer set, a header your proxy set). Stored in each entry's
    /// `actor`; `None` stores none. Tokens are bound to it, so one user's token is refused
    /// for another.
    pub fn actor(
        mut self,
        actor: impl Fn(&Parts) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.actor = Arc::new(actor);
        self
    }

    /// How many entries or rows a page lists (default 25, at least 1).
    pub fn page_size(mut self, n: usize) -> Self {
        self.page_size = n.clamp(1, 1_000);
        self
    }

    /// How long a confirmation page's token stays valid (default 10 minutes).
    pub fn token_ttl(mut self, ttl: Duration) -> Self {
        self.token_ttl = ttl;
        self
    }
}

/// A connection the page opened itself, dropped (closed) after its request.
struct Owned<C>(C);

impl<C> std::ops::Deref for Owned<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.0
    }
}

impl<C> DerefMut for Owned<C> {
    fn deref_mut(&mut self) -> &mut C {
        &mut self.0
    }
}

/// The history page's router, to nest under a path of your application behind its
/// authentication (see the [module docs](self)).
pub fn router<C: JournalConn>(config: Config<C>) -> Router {
    let shared = Arc::new(Shared {
        tokens: Tokens::new(config.token_ttl),
        config,
    });
    Router::new()
        .route("/", get(models::<C>))
        .route("/t/{table}", get(table::<C>))
        .route("/t/{table}/entity", get(timeline::<C>))
        .route("/t/{table}/deleted", get(deleted::<C>))
        .route("/changeset/{id}", get(changeset::<C>))
        .route("/confirm", get(confirm::<C>))
        .route("/apply", axum::routing::post(apply::<C>))
        .fallback(not_found)
        .with_state(shared)
}

/// What every handler shares.
struct Shared<C> {
    config: Config<C>,
    tokens: Tokens,
}

type St<C> = State<Arc<Shared<C>>>;

/// What a handler needs to know of the request: where the router is mounted, and who asks.
struct Caller {
    ctx: Ctx,
    actor: Option<String>,
}

impl<C: JournalConn> FromRequestParts<Arc<Shared<C>>> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<Shared<C>>,
    ) -> Result<Self, Self::Rejection> {
        // Inside `Router::nest` the URI is stripped of the mount path; the original has it.
        let inner = parts.uri.path().to_owned();
        let original = parts
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| inner.clone(), |o| o.0.path().to_owned());
        let base = original
            .strip_suffix(inner.as_str())
            .or_else(|| (inner == "/").then_some(original.as_str()))
            .unwrap_or("")
            .trim_end_matches('/')
            .to_owned();
        Ok(Caller {
            ctx: Ctx::new(base),
            actor: (state.config.actor)(parts),
        })
    }
}

/// Why a page could not be shown.
enum Fail {
    /// Bad input found by the page itself.
    Input(StatusCode, String),
    /// A form token refused.
    Token(Refused),
    Recover(Error),
    Connect(ConnectError),
    /// No randomness for a token.
    NoRandom,
    /// The blocking task died.
    Task,
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Recover(e)
    }
}

/// Runs `f` with a connection on a blocking thread, and renders what it returns.
async fn blocking<C, F>(shared: Arc<Shared<C>>, ctx: Ctx, f: F) -> Response
where
    C: JournalConn,
    F: FnOnce(&Shared<C>, &mut C) -> Result<View, Fail> + Send + 'static,
{
    let done = tokio::task::spawn_blocking(move || {
        let mut conn = (shared.config.connect)().map_err(Fail::Connect)?;
        f(&shared, &mut conn)
    })
    .await
    .unwrap_or(Err(Fail::Task));
    match done {
        Ok(view) => ctx.render(view),
        Err(fail) => ctx.render(html::failure(fail)),
    }
}

async fn not_found(caller: Caller) -> Response {
    caller.ctx.render(View::message(
        StatusCode::NOT_FOUND,
        "Not found",
        "No such page in the history.",
    ))
}

/// `/`: the models and their counts.
async fn models<C: JournalConn>(State(s): St<C>, caller: Caller) -> Response {
    let ctx = caller.ctx.clone();
    blocking(s, caller.ctx, move |_, conn| {
        let mut rows = Vec::new();
        for model in dynamic::models::<C>() {
            rows.push((model, model.counts(conn)?));
        }
        Ok(html::models(&ctx, &rows))
    })
    .await
}

/// `/t/{table}`: a table's newest entries.
async fn table<C: JournalConn>(
    State(s): St<C>,
    caller: Caller,
    Path(table): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let ctx = caller.ctx.clone();
    blocking(s, caller.ctx, move |s, conn| {
        let params = Params::parse(query.as_deref());
        let model = model::<C>(&table)?;
        let before = params.int("before")?;
        let n = s.config.page_size;
        let mut filter = Log::new().table(model).limit(n + 1);
        if let Some(before) = before {
            filter = filter.before(before);
        }
        let (entries, more) = page(dynamic::log(conn, &filter)?, n);
        let counts = model.counts(conn)?;
        Ok(html::table(&ctx, model, counts, &entries, more, before))
    })
    .await
}

/// `/t/{table}/entity?key=..`: an entity's timeline, newest first.
async fn timeline<C: JournalConn>(
    State(s): St<C>,
    caller: Caller,
    Path(table): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let ctx = caller.ctx.clone();
    blocking(s, caller.ctx, move |s, conn| {
        let params = Params::parse(query.as_deref());
        let key = model::<C>(&table)?.key(params.required("key")?)?;
        let before = params.int("before")?;
        let n = s.config.page_size;
        let mut filter = Log::new().entity(&key).limit(n + 1);
        if let Some(before) = before {
            filter = filter.before(before);
        }
        let (entries, more) = page(dynamic::log(conn, &filter)?, n);
        let versions = key.versions(conn)?;
        // Whether there is an undone change to redo: tried, and rolled back.
        let redoable = versions > 0
            && dynamic::dry_run(conn, |conn| Journal::new().redo_key(conn, &key)).is_ok();
        let state = html::State {
            versions,
            redoable,
            current: key.current(conn)?,
        };
        Ok(html::timeline(&ctx, &key, &state, &entries, more, before))
    })
    .await
}

/// `/t/{table}/deleted`: the table's deleted rows, newest first.
async fn deleted<C: JournalConn>(
    State(s): St<C>,
    caller: Caller,
    Path(table): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let ctx = caller.ctx.clone();
    blocking(s, caller.ctx, move |s, conn| {
        let params = Params::parse(query.as_deref());
        let model = model::<C>(&table)?;
        let before = params.int("before")?;
        let n = s.config.page_size;
        let (entries, more) = page(model.deleted(conn, before, n + 1)?, n);
        Ok(html::deleted(&ctx, model, &entries, more, before))
    })
    .await
}

/// `/changeset/{id}`: a changeset's entries, oldest first.
async fn changeset<C: JournalConn>(
    State(s): St<C>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let ctx = caller.ctx.clone();
    blocking(s, caller.ctx, move |s, conn| {
        let params = Params::parse(query.as_deref());
        let id = ChangesetId::from(parse_int::<i64>("changeset id", &id)?);
        let after = params.int("after")?;
        let n = s.config.page_size;
        let (entries, more) = page(dynamic::changeset_page(conn, id, after, n + 1)?, n);
        if entries.is_empty() && after.is_none() {
            return Err(Error::ChangesetNotFound(id).into());
        }
        let done = params.get("done").is_some();
        Ok(html::changeset::<C>(&ctx, id, &entries, more, after, done))
    })
    .await
}

/// `GET /confirm?action=..`: what the write would change, and its form.
async fn confirm<C: JournalConn>(
    State(s): St<C>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Response {
    let ctx = caller.ctx.clone();
    let actor = caller.actor;
    blocking(s, caller.ctx, move |s, conn| {
        let params = Params::parse(query.as_deref());
        let action = Action::<C>::parse(&params)?;
        let force = params.flag("force");
        let n = s.config.page_size;
        let preview = dynamic::dry_run(conn, |conn| {
            let id = action.run(&journal(&actor, None, force), conn)?;
            dynamic::changeset_page(conn, id, None, n + 1)
        });
        let (would, conflicted) = match preview {
            Ok(entries) => (page(entries, n), None),
            Err(e) => ((Vec::new(), false), Some(conflict(e)?)),
        };
        // Only a page that can be confirmed gets a token.
        let form = Form {
            token: issue(s, &action, &actor)?,
            reason: params.get("reason").unwrap_or_default().to_owned(),
            force,
        };
        Ok(html::confirm(
            &ctx,
            &action,
            &form,
            would,
            conflicted.as_ref(),
        ))
    })
    .await
}

/// `POST /apply`: the write, once its token is checked.
async fn apply<C: JournalConn>(State(s): St<C>, caller: Caller, body: Bytes) -> Response {
    let ctx = caller.ctx.clone();
    let actor = caller.actor;
    blocking(s, caller.ctx, move |s, conn| {
        let params = Params::parse(std::str::from_utf8(&body).ok());
        // The token is used up before anything else, so that a refused form cannot be replayed.
        let token = params.get("token");
        let action = Action::<C>::parse(&params);
        let binding = match &action {
            Ok(action) => binding(action, &actor),
            Err(_) => String::new(),
        };
        s.tokens.consume(token, &binding).map_err(Fail::Token)?;
        let action = action?;
        let reason = params
            .get("reason")
            .map(str::trim)
            .filter(|r| !r.is_empty());
        let force = params.flag("force");
        match action.run(&journal(&actor, reason, force), conn) {
            Ok(id) => Ok(View::redirect(
                ctx.url(&format!("/changeset/{}", id.get()), &[("done", "1")]),
            )),
            // The row changed since the confirmation page: show the conflict, with a new form.
            Err(e) => {
                let conflict = conflict(e)?;
                let form = Form {
                    token: issue(s, &action, &actor)?,
                    reason: reason.unwrap_or_default().to_owned(),
                    force: false,
                };
                let would = (Vec::new(), false);
                Ok(html::confirm(&ctx, &action, &form, would, Some(&conflict)))
            }
        }
    })
    .await
}

/// The conflict an error reports, or the error itself.
fn conflict(e: Error) -> Result<html::Conflict, Fail> {
    match e {
        Error::Conflict {
            entity,
            key,
            expected,
            actual,
            columns,
        } => Ok(html::Conflict {
            entity,
            key,
            expected,
            actual,
            columns,
        }),
        e => Err(e.into()),
    }
}

/// The journal a write from the page records with.
fn journal(actor: &Option<String>, reason: Option<&str>, force: bool) -> Journal {
    let mut journal = Journal::new();
    if let Some(actor) = actor {
        journal = journal.actor(actor.as_str());
    }
    if let Some(reason) = reason {
        journal = journal.reason(reason);
    }
    if force {
        journal = journal.force();
    }
    journal
}

/// A fresh token for `action` by `actor`.
fn issue<C: JournalConn>(
    s: &Shared<C>,
    action: &Action<C>,
    actor: &Option<String>,
) -> Result<String, Fail> {
    s.tokens.issue(binding(action, actor)).ok_or(Fail::NoRandom)
}

/// What a token allows: this action, by this actor.
fn binding<C: JournalConn>(action: &Action<C>, actor: &Option<String>) -> String {
    format!(
        "{}\n{}",
        action.describe_exact(),
        actor.as_deref().unwrap_or("")
    )
}

/// The first `n` of a page fetched with one extra row, and whether there was more.
fn page(mut entries: Vec<JournalEntry>, n: usize) -> (Vec<JournalEntry>, bool) {
    let more = entries.len() > n;
    entries.truncate(n);
    (entries, more)
}

/// The model of `table`, or a 404 listing the models there are.
fn model<C: JournalConn>(table: &str) -> Result<Model<C>, Fail> {
    dynamic::model::<C>(table).map_err(|_| {
        let known: Vec<_> = dynamic::models::<C>().iter().map(|m| m.entity()).collect();
        Fail::Input(
            StatusCode::NOT_FOUND,
            format!(
                "No model for table “{table}” in this program (models: {}).",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ),
        )
    })
}

fn parse_int<T: std::str::FromStr>(what: &str, text: &str) -> Result<T, Fail> {
    text.trim().parse().map_err(|_| {
        Fail::Input(
            StatusCode::BAD_REQUEST,
            format!("{what} “{text}” is not a number."),
        )
    })
}

/// Query or form parameters.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(text: Option<&str>) -> Self {
        Params(
            form_urlencoded::parse(text.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn required(&self, name: &str) -> Result<&str, Fail> {
        self.get(name).ok_or_else(|| {
            Fail::Input(
                StatusCode::BAD_REQUEST,
                format!("The parameter “{name}” is missing."),
            )
        })
    }

    fn int<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, Fail> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .map(|v| parse_int(name, v))
            .transpose()
    }

    fn flag(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| !v.is_empty())
    }
}

/// The state a form shows: its token, and what the user typed.
struct Form {
    token: String,
    reason: String,
    force: bool,
}

/// A write a button asks for.
enum Action<C: 'static> {
    Undo(Key<C>),
    Redo(Key<C>),
    /// An undo of a delete, from the deleted rows.
    Undelete(Key<C>),
    Restore(Key<C>, RestoreTo),
    UndoChangeset(ChangesetId),
}

impl<C: JournalConn> Action<C> {
    fn parse(params: &Params) -> Result<Self, Fail> {
        let name = params.required("action")?;
        let key = || -> Result<Key<C>, Fail> {
            Ok(model::<C>(params.required("table")?)?.key(params.required("key")?)?)
        };
        Ok(match name {
            "undo" => Action::Undo(key()?),
            "redo" => Action::Redo(key()?),
            "undelete" => Action::Undelete(key()?),
            "restore" => {
                let key = key()?;
                let at = params.get("at").filter(|t| !t.is_empty());
                let to = match (params.int("seq")?, params.int("version")?, at) {
                    (Some(seq), _, _) => RestoreTo::Entry(seq),
                    (None, Some(n), _) => RestoreTo::Version(n),
                    (None, None, Some(t)) => RestoreTo::Time(
                        chrono::DateTime::parse_from_rfc3339(t)
                            .map_err(|_| {
                                Fail::Input(
                                    StatusCode::BAD_REQUEST,
                                    format!("“{t}” is not an RFC 3339 time."),
                                )
                            })?
                            .with_timezone(&chrono::Utc),
                    ),
                    (None, None, None) => return Err(Fail::Input(
                        StatusCode::BAD_REQUEST,
                        "A restore needs the entry (seq), the version or the time (at) to go to."
                            .into(),
                    )),
                };
                Action::Restore(key, to)
            }
            "undo-changeset" => Action::UndoChangeset(ChangesetId::from(parse_int::<i64>(
                "changeset id",
                params.required("id")?,
            )?)),
            other => {
                return Err(Fail::Input(
                    StatusCode::BAD_REQUEST,
                    format!(
                    "“{other}” is not an action (undo, redo, undelete, restore, undo-changeset)."
                ),
                ))
            }
        })
    }

    /// Does it; the id of the changeset that did it.
    fn run(&self, journal: &Journal, conn: &mut C) -> Result<ChangesetId, Error> {
        match self {
            Action::Undo(key) | Action::Undelete(key) => journal.undo_key(conn, key),
            Action::Redo(key) => journal.redo_key(conn, key),
            Action::Restore(key, to) => journal.restore_key(conn, key, *to),
            Action::UndoChangeset(id) => {
                // An id naming no entries is bad input, not an empty undo.
                dynamic::changeset_page(conn, *id, None, 1)?
                    .first()
                    .ok_or(Error::ChangesetNotFound(*id))?;
                journal.undo_changeset(conn, *id)
            }
        }
    }

    /// The action, its target exactly (canonical key text), one field per line.
    fn describe_exact(&self) -> String {
        match self {
            Action::Undo(k) => format!("undo\n{}\n{}", k.entity(), k.text()),
            Action::Redo(k) => format!("redo\n{}\n{}", k.entity(), k.text()),
            Action::Undelete(k) => format!("undelete\n{}\n{}", k.entity(), k.text()),
            Action::Restore(k, to) => format!("restore\n{}\n{}\n{to:?}", k.entity(), k.text()),
            Action::UndoChangeset(id) => format!("undo-changeset\n{}", id.get()),
        }
    }
}
