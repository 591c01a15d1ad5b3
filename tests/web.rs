//! `recover::web` served on a real socket against a real database: HTTP-level checks of bad input
//! and of the form tokens (on SQLite, and on PostgreSQL and MariaDB when their features are on),
//! and the page driven in headless Chromium through WebDriver (SQLite).
//!
//! The browser tests need Debian's `chromium` and `chromium-driver` (`/usr/bin/chromium`,
//! `/usr/bin/chromedriver`; other paths in `RECOVER_CHROMIUM` and `RECOVER_CHROMEDRIVER`). They
//! fail, saying so, when those are missing. `RECOVER_UPDATE_SCREENSHOT=1` rewrites
//! `docs/history-page.png` from the timeline the browser shows.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use common::{Account, Fresh, Membership, TestDb};
use diesel::prelude::*;
use recover::{web, Journal};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// The application under test

/// Serves the history page, nested as an application would, on 127.0.0.1 and a free port; the
/// URL of its root. The actor is the `X-User` header's user, else "browser".
fn serve<C: recover::JournalConn>(config: web::Config<C>) -> String {
    let config = config.page_size(5).actor(|parts| {
        let user = parts.headers.get("x-user").and_then(|v| v.to_str().ok());
        Some(user.unwrap_or("browser").to_owned())
    });
    let app = Router::new().nest("/admin/history", web::router(config));
    format!("{}/admin/history", serve_app(app))
}

/// Serves `app` on 127.0.0.1 and a free port, from a thread of its own; its URL.
fn serve_app(app: Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    format!("http://{addr}")
}

/// Each pooled SQLite connection waits for the write lock rather than failing at once.
#[derive(Debug)]
struct BusyTimeout;

impl diesel::r2d2::CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for BusyTimeout {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        diesel::connection::SimpleConnection::batch_execute(conn, "PRAGMA busy_timeout = 5000;")
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// The page on a fresh SQLite file, through an r2d2 pool.
fn sqlite(test: &str) -> (Fresh<SqliteConnection>, String) {
    let fresh = common::sqlite_file(test, true);
    let manager = diesel::r2d2::ConnectionManager::new(fresh.path.clone().unwrap());
    let pool = diesel::r2d2::Pool::builder()
        .max_size(2)
        .connection_customizer(Box::new(BusyTimeout))
        .build(manager)
        .unwrap();
    let base = serve(web::Config::pool(pool));
    (fresh, base)
}

/// The page on a fresh PostgreSQL schema (`RECOVER_PG_URL`).
#[cfg(feature = "postgres")]
fn postgres(test: &str) -> (Fresh<diesel::PgConnection>, String) {
    let fresh = common::postgres(test, true);
    let url = std::env::var("RECOVER_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    // The schema common::postgres made (its naming rule).
    let schema = format!("rt_{test}_{}", std::process::id());
    let base = serve(web::Config::new(move || {
        let mut conn = diesel::PgConnection::establish(&url)?;
        diesel::connection::SimpleConnection::batch_execute(
            &mut conn,
            &format!("SET search_path TO {schema}"),
        )
        .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
        Ok::<_, diesel::ConnectionError>(conn)
    }));
    (fresh, base)
}

/// The page on a fresh MySQL/MariaDB database (`RECOVER_MYSQL_URL`).
#[cfg(feature = "mysql")]
fn mysql(test: &str) -> (Fresh<diesel::MysqlConnection>, String) {
    let fresh = common::mysql(test, true);
    let url = std::env::var("RECOVER_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
    let database = format!("rt_{test}_{}", std::process::id());
    let base = serve(web::Config::new(move || {
        let mut conn = diesel::MysqlConnection::establish(&url)?;
        diesel::connection::SimpleConnection::batch_execute(&mut conn, &format!("USE {database}"))
            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
        Ok::<_, diesel::ConnectionError>(conn)
    }));
    (fresh, base)
}

/// Runs an HTTP-level test body on every backend that is built.
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite_file {
            $(#[test] fn $name() { let (mut db, base) = super::sqlite(stringify!($name)); super::$name(&mut db.conn, &base) })*
        }
        #[cfg(feature = "postgres")]
        mod postgres {
            $(#[test] fn $name() { let (mut db, base) = super::postgres(stringify!($name)); super::$name(&mut db.conn, &base) })*
        }
        #[cfg(feature = "mysql")]
        mod mysql {
            $(#[test] fn $name() { let (mut db, base) = super::mysql(stringify!($name)); super::$name(&mut db.conn, &base) })*
        }
    };
}

// ---------------------------------------------------------------------------------------------
// A small HTTP client (std only), for the page and for chromedriver

/// A response: status, headers (names lower-case), body.
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on its own connection.
fn http(method: &str, url: &str, content_type: &str, body: &str) -> Response {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut stream = TcpStream::connect(host).unwrap_or_else(|e| panic!("{url}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\
         Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    read_response(url, stream)
}

/// Reads a response: up to its Content-Length when it has one (chromedriver keeps the
/// connection open), else to the end of the stream.
fn read_response(url: &str, mut stream: TcpStream) -> Response {
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "{url}: connection closed before the headers");
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8(raw[..head_end].to_vec()).unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line from {url}: {head}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[head_end + 4..].to_vec();
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok());
    match length {
        Some(length) => {
            while body.len() < length {
                let n = stream.read(&mut buf).unwrap();
                assert!(n > 0, "{url}: connection closed in the body");
                body.extend_from_slice(&buf[..n]);
            }
        }
        None => {
            stream.read_to_end(&mut body).unwrap();
        }
    }
    let body = String::from_utf8(body).unwrap();
    let body = if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
    {
        unchunk(&body)
    } else {
        body
    };
    Response {
        status,
        headers,
        body,
    }
}

fn unchunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

fn get(url: &str) -> Response {
    http("GET", url, "text/plain", "")
}

/// A form POST.
fn post(url: &str, fields: &[(&str, &str)]) -> Response {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        form.append_pair(k, v);
    }
    http(
        "POST",
        url,
        "application/x-www-form-urlencoded",
        &form.finish(),
    )
}

/// A query string.
fn query(fields: &[(&str, &str)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        q.append_pair(k, v);
    }
    q.finish()
}

/// The value of the hidden input `name` in a page's form.
fn hidden(page: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let at = page.find(&marker)? + marker.len();
    Some(page[at..].split('"').next()?.to_owned())
}

// ---------------------------------------------------------------------------------------------
// HTTP-level tests: bad input and form tokens; nothing written

/// Ann's account, with three entries: insert, update, update.
fn seed<C: TestDb>(conn: &mut C) {
    let j = Journal::new().actor("alice");
    let mut ann = Account::new(1, "ann", 100);
    j.insert(conn, &ann).unwrap();
    ann.balance = 50;
    j.update(conn, &ann).unwrap();
    ann.status = "frozen".into();
    j.update(conn, &ann).unwrap();
    j.insert(conn, &Account::new(2, "ben", 250)).unwrap();
}

/// What the database holds: the rows and the journal.
fn snapshot<C: TestDb>(conn: &mut C) -> (Vec<Account>, usize) {
    (conn.accounts(), conn.journal_rows().len())
}

fn bad_input_is_a_4xx_page_and_writes_nothing<C: TestDb>(conn: &mut C, base: &str) {
    seed(conn);
    let before = snapshot(conn);
    // Account 2's entry (its seq as the journal gave it: on a Galera node seqs step by 3).
    let ben = conn
        .journal_rows()
        .iter()
        .find(|r| r.entity_key == "2")
        .map(|r| r.seq.to_string())
        .unwrap();
    let cases: Vec<(String, u16, &str)> = vec![
        (format!("{base}/t/no_such_table"), 404, "No model for table"),
        (
            format!("{base}/t/no_such_table/entity?key=1"),
            404,
            "No model for table",
        ),
        (
            format!("{base}/t/accounts/entity?{}", query(&[("key", "[1,")])),
            400,
            "is not a key",
        ),
        (
            format!("{base}/t/accounts/entity?{}", query(&[("key", "\"one\"")])),
            400,
            "is not a key",
        ),
        (format!("{base}/t/accounts/entity"), 400, "“key” is missing"),
        (format!("{base}/t/accounts?before=abc"), 400, "not a number"),
        (format!("{base}/changeset/abc"), 400, "not a number"),
        (format!("{base}/changeset/999999"), 404, "not found"),
        (format!("{base}/no/such/page"), 404, "No such page"),
        (
            format!(
                "{base}/confirm?{}",
                query(&[("action", "undo"), ("table", "nope"), ("key", "1")])
            ),
            404,
            "No model for table",
        ),
        (
            format!(
                "{base}/confirm?{}",
                query(&[("action", "undo"), ("table", "accounts"), ("key", "{}")])
            ),
            400,
            "is not a key",
        ),
        (
            format!(
                "{base}/confirm?{}",
                query(&[("action", "drop"), ("table", "accounts"), ("key", "1")])
            ),
            400,
            "is not an action",
        ),
        // Version 4 of an entity with 3 entries.
        (
            format!(
                "{base}/confirm?{}",
                query(&[
                    ("action", "restore"),
                    ("table", "accounts"),
                    ("key", "1"),
                    ("version", "4")
                ])
            ),
            400,
            "no version 4",
        ),
        (
            format!(
                "{base}/confirm?{}",
                query(&[
                    ("action", "restore"),
                    ("table", "accounts"),
                    ("key", "1"),
                    ("version", "0")
                ])
            ),
            400,
            "no version 0",
        ),
        // An entry of account 2.
        (
            format!(
                "{base}/confirm?{}",
                query(&[
                    ("action", "restore"),
                    ("table", "accounts"),
                    ("key", "1"),
                    ("seq", ben.as_str())
                ])
            ),
            400,
            "",
        ),
        (
            format!(
                "{base}/confirm?{}",
                query(&[
                    ("action", "restore"),
                    ("table", "accounts"),
                    ("key", "1"),
                    ("seq", "999")
                ])
            ),
            404,
            "not found",
        ),
        (
            format!(
                "{base}/confirm?{}",
                query(&[("action", "undo-changeset"), ("id", "999")])
            ),
            404,
            "not found",
        ),
        (
            format!(
                "{base}/confirm?{}",
                query(&[
                    ("action", "restore"),
                    ("table", "accounts"),
                    ("key", "1"),
                    ("at", "yesterday")
                ])
            ),
            400,
            "not an RFC 3339 time",
        ),
        // Nothing to redo: a 409 with the reason.
        (
            format!(
                "{base}/confirm?{}",
                query(&[("action", "redo"), ("table", "accounts"), ("key", "1")])
            ),
            409,
            "nothing to redo",
        ),
    ];
    for (url, status, says) in cases {
        let r = get(&url);
        assert_eq!(r.status, status, "{url}: {}", r.body);
        assert!(
            r.body.contains(says),
            "{url} should say {says:?}: {}",
            r.body
        );
        assert!(
            r.header("content-type").unwrap().starts_with("text/html"),
            "{url}"
        );
    }
    // An entry of another entity names both.
    let r = get(&format!(
        "{base}/confirm?{}",
        query(&[
            ("action", "restore"),
            ("table", "accounts"),
            ("key", "1"),
            ("seq", ben.as_str()),
        ])
    ));
    assert!(
        r.body.contains("accounts") && r.body.contains('2'),
        "{}",
        r.body
    );
    assert_eq!(snapshot(conn), before, "bad input wrote something");
}

fn a_missing_foreign_or_replayed_token_is_refused<C: TestDb>(conn: &mut C, base: &str) {
    seed(conn);
    let before = snapshot(conn);
    let undo_1 = [("action", "undo"), ("table", "accounts"), ("key", "1")];
    // No token, an empty one, one never issued.
    for token in [None, Some(""), Some("00112233445566778899aabbccddeeff")] {
        let mut fields = undo_1.to_vec();
        if let Some(token) = token {
            fields.push(("token", token));
        }
        let r = post(&format!("{base}/apply"), &fields);
        assert_eq!(r.status, 403, "{token:?}: {}", r.body);
        assert!(r.body.contains("Nothing was written"), "{}", r.body);
    }
    assert_eq!(snapshot(conn), before);

    // A token issued for undoing account 1, posted to undo account 2: refused, and used up.
    let page = get(&format!("{base}/confirm?{}", query(&undo_1)));
    assert_eq!(page.status, 200, "{}", page.body);
    let token = hidden(&page.body, "token").unwrap();
    let r = post(
        &format!("{base}/apply"),
        &[
            ("action", "undo"),
            ("table", "accounts"),
            ("key", "2"),
            ("token", &token),
        ],
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let mut fields = undo_1.to_vec();
    fields.push(("token", &token));
    assert_eq!(post(&format!("{base}/apply"), &fields).status, 403);
    // A token is bound to its actor too.
    let page = get(&format!("{base}/confirm?{}", query(&undo_1)));
    let token = hidden(&page.body, "token").unwrap();
    let form = query(&[
        ("action", "undo"),
        ("table", "accounts"),
        ("key", "1"),
        ("token", &token),
    ]);
    let r = http_as("mallory", &format!("{base}/apply"), &form);
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(snapshot(conn), before, "a refused token wrote something");

    // A good token works once; replayed, it is refused and nothing more is written.
    let page = get(&format!("{base}/confirm?{}", query(&undo_1)));
    let token = hidden(&page.body, "token").unwrap();
    let mut fields = undo_1.to_vec();
    fields.push(("token", &token));
    fields.push(("reason", "ticket 9"));
    let done = post(&format!("{base}/apply"), &fields);
    assert_eq!(done.status, 303, "{}", done.body);
    let location = done.header("location").unwrap();
    assert!(
        location.starts_with("/admin/history/changeset/"),
        "{location}"
    );
    assert_eq!(conn.account(1).unwrap().status, "open");
    let after_one = snapshot(conn);
    assert_eq!(after_one.1, before.1 + 1);
    let last = conn.journal_rows().pop().unwrap();
    assert_eq!(
        (
            last.op.as_str(),
            last.actor.as_deref(),
            last.reason.as_deref()
        ),
        ("undo", Some("browser"), Some("ticket 9"))
    );
    let replay = post(&format!("{base}/apply"), &fields);
    assert_eq!(replay.status, 403, "{}", replay.body);
    assert_eq!(
        snapshot(conn),
        after_one,
        "a replayed token wrote something"
    );
    // The changeset page the write redirected to shows it.
    let host = base.split("/admin").next().unwrap();
    let shown = get(&format!("{host}{location}"));
    assert_eq!(shown.status, 200);
    assert!(shown.body.contains("id=\"done\""), "{}", shown.body);
}

/// A form POST carrying an `X-User` header: another logged-in user.
fn http_as(user: &str, url: &str, form: &str) -> Response {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = TcpStream::connect(host).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nX-User: {user}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    )
    .unwrap();
    read_response(url, stream)
}

fn every_key_shape_and_page_works<C: TestDb>(conn: &mut C, base: &str) {
    let j = Journal::new().actor("ops");
    // A composite key whose text needs encoding in a URL.
    let odd = "a/b?c=d&e#f %g+ü";
    let mut m = Membership {
        org: odd.into(),
        user_id: 7,
        role: "member".into(),
        since: None,
    };
    j.insert(conn, &m).unwrap();
    m.role = "owner".into();
    j.update(conn, &m).unwrap();
    let key = serde_json::to_string(&json!([7, odd])).unwrap();
    let timeline = get(&format!(
        "{base}/t/memberships/entity?{}",
        query(&[("key", &key)])
    ));
    assert_eq!(timeline.status, 200, "{}", timeline.body);
    assert!(timeline.body.contains("owner") && timeline.body.contains("member"));
    assert!(
        !timeline.body.contains("id=\"redo\""),
        "nothing to redo: no Redo button"
    );
    // Spacing is made canonical.
    let spaced = format!("[ 7 , {} ]", serde_json::to_string(odd).unwrap());
    let r = get(&format!(
        "{base}/t/memberships/entity?{}",
        query(&[("key", &spaced)])
    ));
    assert_eq!(r.status, 200);
    // Undo through the confirmation, by the composite key.
    let undo = [("action", "undo"), ("table", "memberships"), ("key", &key)];
    let page = get(&format!("{base}/confirm?{}", query(&undo)));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("What it will change"));
    // A way back; no force where there is no conflict; no link to a changeset not yet made.
    assert!(page.body.contains("id=\"cancel\""), "{}", page.body);
    assert!(!page.body.contains("name=\"force\""), "{}", page.body);
    assert!(!page.body.contains("/changeset/"), "{}", page.body);
    let token = hidden(&page.body, "token").unwrap();
    let mut fields = undo.to_vec();
    fields.push(("token", &token));
    assert_eq!(post(&format!("{base}/apply"), &fields).status, 303);
    assert_eq!(conn.memberships()[0].role, "member");
    let timeline = get(&format!(
        "{base}/t/memberships/entity?{}",
        query(&[("key", &key)])
    ));
    assert!(
        timeline.body.contains("id=\"redo\""),
        "the undo can be redone"
    );

    // Paging: 12 entries, 5 a page, newest first, no entry twice.
    let mut a = Account::new(5, "eve", 0);
    j.insert(conn, &a).unwrap();
    for n in 1..12 {
        a.balance = n;
        j.update(conn, &a).unwrap();
    }
    let mut url = format!("{base}/t/accounts/entity?key=5");
    let mut seen = Vec::new();
    for _ in 0..5 {
        let page = get(&url);
        assert_eq!(page.status, 200);
        for part in page.body.split("data-seq=\"").skip(1) {
            seen.push(part.split('"').next().unwrap().parse::<i64>().unwrap());
        }
        match page.body.split("class=\"button next\" href=\"").nth(1) {
            Some(next) => {
                let host = base.split("/admin").next().unwrap();
                url = format!(
                    "{host}{}",
                    next.split('"').next().unwrap().replace("&amp;", "&")
                );
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 12, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "{seen:?}");

    // "Restore this version": account 5 as its insert left it.
    let first = conn
        .journal_rows()
        .into_iter()
        .find(|r| r.entity_key == "5")
        .unwrap()
        .seq
        .to_string();
    let restore = [
        ("action", "restore"),
        ("table", "accounts"),
        ("key", "5"),
        ("seq", first.as_str()),
    ];
    let page = get(&format!("{base}/confirm?{}", query(&restore)));
    assert_eq!(page.status, 200, "{}", page.body);
    let token = hidden(&page.body, "token").unwrap();
    let mut fields = restore.to_vec();
    fields.push(("token", &token));
    assert_eq!(post(&format!("{base}/apply"), &fields).status, 303);
    assert_eq!(conn.account(5).unwrap().balance, 0);
    // And back to the newest balance by version (13 entries now: 12, then the restore).
    let restore = [
        ("action", "restore"),
        ("table", "accounts"),
        ("key", "5"),
        ("version", "12"),
    ];
    let page = get(&format!("{base}/confirm?{}", query(&restore)));
    let token = hidden(&page.body, "token").unwrap();
    let mut fields = restore.to_vec();
    fields.push(("token", &token));
    assert_eq!(post(&format!("{base}/apply"), &fields).status, 303);
    assert_eq!(conn.account(5).unwrap().balance, 11);

    // The models page counts; the deleted rows and undelete.
    let models = get(base);
    assert_eq!(models.status, 200);
    assert!(models.body.contains("memberships") && models.body.contains("accounts"));
    j.delete(conn, &a).unwrap();
    let deleted = get(&format!("{base}/t/accounts/deleted"));
    assert_eq!(deleted.status, 200);
    assert!(deleted.body.contains("Undelete 5"), "{}", deleted.body);
    let undelete = [("action", "undelete"), ("table", "accounts"), ("key", "5")];
    let page = get(&format!("{base}/confirm?{}", query(&undelete)));
    let token = hidden(&page.body, "token").unwrap();
    let mut fields = undelete.to_vec();
    fields.push(("token", &token));
    assert_eq!(post(&format!("{base}/apply"), &fields).status, 303);
    assert_eq!(conn.account(5).unwrap().balance, 11);

    // Undo a changeset from its page.
    let cs = j
        .changeset(conn, |tx| {
            let mut a = Account::new(5, "eve", 11);
            a.balance = 0;
            tx.update(&a)?;
            tx.insert(&Account::new(6, "fay", 1))?;
            Ok(())
        })
        .unwrap();
    let id = cs.get().to_string();
    let shown = get(&format!("{base}/changeset/{id}"));
    assert_eq!(shown.status, 200);
    assert_eq!(shown.body.matches("data-seq=").count(), 2);
    assert!(!shown.body.contains("Next page"));

    // A changeset of 7 entries, 5 a page, oldest first.
    let big = j
        .changeset(conn, |tx| {
            for id in 10..17 {
                tx.insert(&Account::new(id, "many", i64::from(id)))?;
            }
            Ok(())
        })
        .unwrap();
    let first = get(&format!("{base}/changeset/{}", big.get()));
    let seqs = |body: &str| -> Vec<i64> {
        body.split("data-seq=\"")
            .skip(1)
            .map(|p| p.split('"').next().unwrap().parse().unwrap())
            .collect()
    };
    let page_1 = seqs(&first.body);
    assert_eq!(page_1.len(), 5);
    let next = first
        .body
        .split("class=\"button next\" href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    let host = base.split("/admin").next().unwrap();
    let page_2 = seqs(&get(&format!("{host}{next}")).body);
    assert_eq!(page_2.len(), 2);
    assert!(page_1
        .iter()
        .chain(&page_2)
        .collect::<Vec<_>>()
        .windows(2)
        .all(|w| w[0] < w[1]));
    let action = [("action", "undo-changeset"), ("id", id.as_str())];
    let page = get(&format!("{base}/confirm?{}", query(&action)));
    assert_eq!(page.status, 200, "{}", page.body);
    let token = hidden(&page.body, "token").unwrap();
    let mut fields = action.to_vec();
    fields.push(("token", &token));
    assert_eq!(post(&format!("{base}/apply"), &fields).status, 303);
    assert_eq!(conn.account(5).unwrap().balance, 11);
    assert!(conn.account(6).is_none());
}

/// Mounted at the root of an application (not nested), links have no prefix.
#[test]
fn mounted_at_the_root() {
    let mut db = common::sqlite_file("mounted_at_the_root", true);
    seed(&mut db.conn);
    let path = db.path.clone().unwrap();
    let root = serve_app(web::router(web::Config::<SqliteConnection>::new(
        move || SqliteConnection::establish(&path),
    )));
    let models = get(&format!("{root}/"));
    assert_eq!(models.status, 200, "{}", models.body);
    assert!(
        models.body.contains("href=\"/t/accounts\""),
        "{}",
        models.body
    );
    let table = get(&format!("{root}/t/accounts"));
    assert!(
        table.body.contains("href=\"/t/accounts/entity?key=1\""),
        "{}",
        table.body
    );
    assert!(
        table.body.contains("<a href=\"/\">History</a>"),
        "{}",
        table.body
    );
}

on_every_backend!(
    bad_input_is_a_4xx_page_and_writes_nothing,
    a_missing_foreign_or_replayed_token_is_refused,
    every_key_shape_and_page_works,
);

// ---------------------------------------------------------------------------------------------
// WebDriver: headless Chromium

/// A chromedriver process and one browser session.
struct Browser {
    driver: Child,
    url: String,
    profile: std::path::PathBuf,
}

impl Browser {
    fn start() -> Browser {
        let chromium =
            std::env::var("RECOVER_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let chromedriver = std::env::var("RECOVER_CHROMEDRIVER")
            .unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        for path in [&chromium, &chromedriver] {
            assert!(
                std::path::Path::new(path).exists(),
                "the browser tests need Chromium and ChromeDriver, and {path} is missing: \
                 apt-get install -y chromium chromium-driver (or set RECOVER_CHROMIUM and \
                 RECOVER_CHROMEDRIVER)"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{chromedriver}: {e}"));
        let root = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = std::env::temp_dir().join(format!(
            "recover-web-chromium-{}-{port}",
            std::process::id()
        ));
        let mut browser = Browser {
            driver,
            url: String::new(),
            profile: profile.clone(),
        };
        let session = call(
            "POST",
            &format!("{root}/session"),
            &json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "unhandledPromptBehavior": "ignore",
                "goog:chromeOptions": {
                    "binary": chromium,
                    "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                             "--no-first-run", "--disable-background-networking",
                             "--disable-component-update", "--disable-sync",
                             "--window-size=900,1300", "--hide-scrollbars",
                             format!("--user-data-dir={}", profile.display())],
                }
            }}}),
        );
        let id = session["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {session}"));
        browser.url = format!("{root}/session/{id}");
        browser
    }

    fn go(&self, url: &str) {
        self.cmd("POST", "/url", json!({ "url": url }));
    }

    fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        call(method, &format!("{}{path}", self.url), &body)
    }

    /// The element `css` selects; waits a little for it to appear.
    fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = call_raw(
                "POST",
                &format!("{}/element", self.url),
                &json!({"using": "css selector", "value": css}),
            );
            if let Some(id) = found["value"]["element-6066-11e4-a52e-4f735466cecf"].as_str() {
                return id.to_owned();
            }
            assert!(Instant::now() < deadline, "no element {css}: {found}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Clicks `css` and waits until the page it leads to has loaded.
    fn click_and_load(&self, css: &str) {
        self.eval("window.recoverOldPage = true; return null");
        self.click(css);
        eventually(&format!("the page after clicking {css}"), || {
            self.eval("return !window.recoverOldPage && document.readyState === 'complete'")
                == json!(true)
        });
    }

    fn click(&self, css: &str) {
        let id = self.find(css);
        self.cmd("POST", &format!("/element/{id}/click"), json!({}));
    }

    fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            json!({ "text": text }),
        );
    }

    fn text(&self, css: &str) -> String {
        let id = self.find(css);
        self.cmd("GET", &format!("/element/{id}/text"), Value::Null)["value"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Runs a script in the page; its result.
    fn eval(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": []}),
        )["value"]
            .clone()
    }

    /// The open alert's text, if one is open.
    fn alert(&self) -> Option<String> {
        let r = call_raw("GET", &format!("{}/alert/text", self.url), &Value::Null);
        r["value"].as_str().map(str::to_owned)
    }

    fn screenshot(&self) -> Vec<u8> {
        let shot = self.cmd("GET", "/screenshot", Value::Null);
        base64(shot["value"].as_str().unwrap())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.url.is_empty() {
            let _ = std::panic::catch_unwind(|| call_raw("DELETE", &self.url, &Value::Null));
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// A WebDriver command; panics on a WebDriver error.
fn call(method: &str, url: &str, body: &Value) -> Value {
    let value = call_raw(method, url, body);
    if let Some(error) = value["value"]["error"].as_str() {
        panic!(
            "WebDriver {method} {url}: {error}: {}",
            value["value"]["message"]
        );
    }
    value
}

fn call_raw(method: &str, url: &str, body: &Value) -> Value {
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let r = http(method, url, "application/json; charset=utf-8", &body);
    serde_json::from_str(&r.body)
        .unwrap_or_else(|e| panic!("WebDriver {method} {url}: {e}: {}", r.body))
}

fn base64(text: &str) -> Vec<u8> {
    let digit = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let sextets: Vec<u8> = text.bytes().filter_map(digit).collect();
    let mut out = Vec::with_capacity(sextets.len() * 3 / 4);
    for chunk in sextets.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &d)| n | u32::from(d) << (18 - 6 * i));
        out.extend(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// Polls until `check` holds (a page load after a click is asynchronous).
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn browser_undo_from_the_timeline() {
    let (mut db, base) = sqlite("browser_undo");
    let conn = &mut db.conn;
    let j = Journal::new().actor("alice").reason("opening day");
    let mut ann = Account::new(1, "ann", 100);
    j.insert(conn, &ann).unwrap();
    let bob = Journal::new().actor("bob").reason("ticket 42");
    ann.balance = 50;
    ann.note = Some("withdrew 50".into());
    bob.update(conn, &ann).unwrap();
    ann.status = "frozen".into();
    bob.update(conn, &ann).unwrap();

    let browser = Browser::start();
    browser.go(&format!("{base}/t/accounts/entity?key=1"));
    assert_eq!(browser.text("h1"), "accounts 1");
    // Times are rewritten into the viewer's zone by the page's script (the CSP lets it run),
    // named: the server writes `2026-12-08 00:58:06 UTC`, the browser its locale's form.
    let time = browser.eval("return document.querySelector('time').textContent");
    let time = time.as_str().unwrap();
    assert!(!time.starts_with("20"), "{time}");
    let zone = time.rsplit(' ').next().unwrap();
    assert!(
        zone.starts_with("UTC") || zone.starts_with("GMT") || zone.chars().all(char::is_alphabetic),
        "{time}"
    );
    if std::env::var_os("RECOVER_UPDATE_SCREENSHOT").is_some() {
        let png = browser.screenshot();
        assert!(png.starts_with(b"\x89PNG"));
        std::fs::write(
            concat!(env!("CARGO_MANIFEST_DIR"), "/docs/history-page.png"),
            png,
        )
        .unwrap();
    } else {
        assert!(browser.screenshot().starts_with(b"\x89PNG"));
    }
    browser.click("#undo");
    eventually("the confirmation page", || {
        browser.eval("return document.title").as_str()
            == Some("Undo the newest change of accounts 1 · history")
    });
    // It shows what will change: status frozen → open.
    assert_eq!(browser.text("tr[data-column=status] td.old"), "frozen");
    assert_eq!(browser.text("tr[data-column=status] td.new"), "open");
    assert_eq!(
        conn.account(1).unwrap().status,
        "frozen",
        "the preview wrote"
    );
    browser.type_into("input[name=reason]", "customer called");
    browser.click_and_load("#confirm");
    assert!(browser.text("#done").starts_with("Done"));
    let now = conn.account(1).unwrap();
    assert_eq!((now.status.as_str(), now.balance), ("open", 50));
    let last = conn.journal_rows().pop().unwrap();
    assert_eq!(
        (
            last.op.as_str(),
            last.undoes,
            last.actor.as_deref(),
            last.reason.as_deref()
        ),
        ("undo", Some(3), Some("browser"), Some("customer called"))
    );
}

#[test]
fn browser_shows_a_script_as_text() {
    let (mut db, base) = sqlite("browser_script");
    let conn = &mut db.conn;
    let evil = "<script>alert(1)</script>";
    let mut a = Account::new(1, evil, 1);
    a.note = Some("<img src=x onerror=alert(2)>".into());
    Journal::new()
        .actor("<b>eve</b>")
        .reason(evil)
        .insert(conn, &a)
        .unwrap();
    let browser = Browser::start();
    for url in [
        format!("{base}/t/accounts/entity?key=1"),
        format!("{base}/t/accounts"),
    ] {
        browser.go(&url);
        assert_eq!(browser.alert(), None, "a value ran as script on {url}");
        assert_eq!(browser.text("tr[data-column=owner] td.new"), evil);
        assert_eq!(
            browser.text("tr[data-column=note] td.new"),
            "<img src=x onerror=alert(2)>"
        );
        assert!(browser.text(".reason").contains(evil));
        assert!(browser.text(".meta").contains("<b>eve</b>"));
        // No element came from the values: one script (the page's own), no img.
        assert_eq!(
            browser.eval("return [document.scripts.length, document.images.length]"),
            json!([1, 0])
        );
    }
}

#[test]
fn browser_shows_a_conflict_and_forces_it() {
    let (mut db, base) = sqlite("browser_conflict");
    let conn = &mut db.conn;
    let j = Journal::new().actor("alice");
    let mut a = Account::new(1, "ann", 100);
    j.insert(conn, &a).unwrap();
    a.balance = 50;
    j.update(conn, &a).unwrap();
    // Changed outside recover.
    conn.exec("UPDATE accounts SET balance = 999, note = 'by hand' WHERE id = 1");

    let browser = Browser::start();
    browser.go(&format!("{base}/t/accounts/entity?key=1"));
    browser.click_and_load("#undo");
    assert!(browser.text("#differing").contains("balance, note"));
    let differing = browser.eval(
        "return [...document.querySelectorAll('#conflict tr.differs')].map(r => r.dataset.column)",
    );
    assert_eq!(differing, json!(["balance", "note"]));
    assert_eq!(
        browser.text("#conflict tr[data-column=balance] td:nth-of-type(1)"),
        "50"
    );
    assert_eq!(
        browser.text("#conflict tr[data-column=balance] td:nth-of-type(2)"),
        "999"
    );
    assert!(browser.text("#conflict").contains("force"));
    // Confirmed without force: the conflict again, nothing written.
    browser.click_and_load("#confirm");
    assert!(browser.text("#differing").contains("balance, note"));
    assert_eq!(conn.account(1).unwrap().balance, 999);
    assert_eq!(conn.journal_rows().len(), 2);
    // With force: undone.
    browser.click("input[name=force]");
    browser.click_and_load("#confirm");
    assert!(browser.text("#done").starts_with("Done"));
    assert_eq!(conn.account(1).unwrap().balance, 100);
}
