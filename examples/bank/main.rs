//! A small bank on a SQLite file: edits are recorded, a row is deleted by mistake and brought
//! back, an edit is undone, and an account is restored to an earlier version.
//!
//! Run it with `cargo run --example bank` (it writes `bank.db` in the system's temp folder), then
//! `cargo run --example check -- /tmp/bank.db` to check its journal.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use recover::{At, Journal};

mod model;

use model::{accounts, Account};

fn show(conn: &mut SqliteConnection, when: &str) -> QueryResult<()> {
    println!("\n-- accounts {when}");
    for a in accounts::table.order(accounts::id).load::<Account>(conn)? {
        println!(
            "   #{} {:<6} balance {:>5}  {}  {}",
            a.id,
            a.owner,
            a.balance,
            a.status,
            a.note.as_deref().unwrap_or("")
        );
    }
    Ok(())
}

fn main() -> Result<(), recover::Error> {
    let path = std::env::temp_dir().join("bank.db");
    let _ = std::fs::remove_file(&path);
    let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
    conn.batch_execute(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT NOT NULL,
             balance BIGINT NOT NULL, status TEXT NOT NULL, note TEXT);",
    )?;
    recover::install(&mut conn)?; // the journal tables; idempotent
    println!("bank on {}", path.display());

    let teller = Journal::new().actor("alice").reason("opening day");
    let mut ann = Account {
        id: 1,
        owner: "ann".into(),
        balance: 100,
        status: "open".into(),
        note: None,
    };
    let mut ben = Account {
        id: 2,
        owner: "ben".into(),
        balance: 250,
        status: "open".into(),
        note: None,
    };
    teller.insert(&mut conn, &ann)?;
    teller.insert(&mut conn, &ben)?;
    println!("alice opens two accounts");

    let clerk = Journal::new().actor("bob").reason("ticket 42");
    ann.balance = 50;
    ann.note = Some("withdrew 50".into());
    clerk.update(&mut conn, &ann)?;
    ben.balance = 300;
    clerk.update(&mut conn, &ben)?;
    println!("bob records a withdrawal for ann and a deposit for ben");
    show(&mut conn, "after bob's edits")?;

    clerk.delete(&mut conn, &ben)?;
    println!("\nbob deletes ben's account by mistake");
    show(&mut conn, "after the mistake")?;

    println!("\n-- ben's history, oldest first");
    for e in clerk.history::<Account>(&mut conn, &2)? {
        println!(
            "   #{} {:<7} by {:<5} ({}) changed {:?}",
            e.seq,
            e.op,
            e.actor.as_deref().unwrap_or("?"),
            e.reason.as_deref().unwrap_or(""),
            e.changed_columns()
        );
    }

    let support = Journal::new()
        .actor("carol")
        .reason("undelete ben, ticket 43");
    support.undo::<Account>(&mut conn, &2)?;
    println!("\ncarol undoes the delete: ben is back with his last balance");
    show(&mut conn, "after the undelete")?;

    support.undo::<Account>(&mut conn, &1)?;
    println!("\ncarol undoes ann's withdrawal");
    show(&mut conn, "after the undo")?;
    support.redo::<Account>(&mut conn, &1)?;
    println!("\n...and redoes it: it was right after all");

    conn.batch_execute("UPDATE accounts SET balance = 999999 WHERE id = 2")?;
    println!("\nsomeone edits ben's balance with plain SQL, outside recover");
    match support.undo::<Account>(&mut conn, &2) {
        Err(e @ recover::Error::Conflict { .. }) => println!("undo refuses: {e}"),
        other => println!("unexpected: {other:?}"),
    }
    support
        .clone()
        .force()
        .restore::<Account>(&mut conn, &2, At::Version(1))?;
    println!("carol forces ben back to version 1, the account as alice opened it");

    let cs = teller.changeset(&mut conn, |tx| {
        ann.status = "closed".into();
        tx.update(&ann)?;
        tx.delete(&ann)?;
        Ok(())
    })?;
    println!("\nalice closes and removes ann's account in one changeset {cs:?}");
    show(&mut conn, "after closing ann")?;
    teller.undo_changeset(&mut conn, cs)?;
    println!("\nalice undoes the whole changeset");
    show(&mut conn, "at the end")?;
    Ok(())
}
