//! Capture mode on a SQLite file: the database journals every change of `accounts` — plain
//! Diesel, raw SQL, another connection — and recover undoes them like its own.
//!
//! Run it with `cargo run --example capture`.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use recover::{Journal, Op};

#[path = "bank/model.rs"]
mod model;

use model::{accounts, Account};

fn show(conn: &mut SqliteConnection, when: &str) -> QueryResult<()> {
    let rows = accounts::table.order(accounts::id).load::<Account>(conn)?;
    let rows: Vec<String> = rows
        .iter()
        .map(|a| format!("#{} {} {}", a.id, a.balance, a.status))
        .collect();
    println!("{when:<40} {}", rows.join("  "));
    Ok(())
}

fn main() -> Result<(), recover::Error> {
    let path = std::env::temp_dir().join("capture.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let url = path.to_string_lossy().into_owned();
    let mut conn = SqliteConnection::establish(&url)?;
    conn.batch_execute(
        "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;
         CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT NOT NULL,
             balance BIGINT NOT NULL, status TEXT NOT NULL, note TEXT);",
    )?;
    recover::install(&mut conn)?;
    recover::capture::<Account>(&mut conn)?;

    // Plain Diesel, with no recover call: the triggers journal it.
    for id in 1..=3 {
        diesel::insert_into(accounts::table)
            .values((
                accounts::id.eq(id),
                accounts::owner.eq(format!("owner{id}")),
                accounts::balance.eq(100_i64),
                accounts::status.eq("open"),
            ))
            .execute(&mut conn)?;
    }
    show(&mut conn, "opened with plain Diesel")?;

    // Another service, on its own connection, with raw SQL.
    let mut other = SqliteConnection::establish(&url)?;
    other.batch_execute("UPDATE accounts SET balance = 0, status = 'frozen' WHERE id = 2")?;
    show(&mut conn, "account 2 frozen by another service")?;

    // A batch job in a journal transaction: its plain statements are one changeset, with an
    // actor and a reason.
    let ops = Journal::new().actor("ops").reason("month-end fee");
    let fee = ops.transaction(&mut conn, |conn| {
        diesel::update(accounts::table.filter(accounts::status.eq("open")))
            .set(accounts::balance.eq(accounts::balance - 5))
            .execute(conn)?;
        Ok(())
    })?;
    show(&mut conn, "after the month-end fee")?;

    let history = ops.history::<Account>(&mut conn, &2)?;
    for entry in &history {
        println!(
            "  account 2, entry {}: {:<6} by {:<5} changed {:?}",
            entry.seq,
            entry.op,
            entry.actor.as_deref().unwrap_or("-"),
            entry.changed_columns()
        );
    }
    assert_eq!(history.last().map(|e| e.op), Some(Op::Update));

    // Undo the fee (every row of the changeset), then the other service's freeze.
    ops.undo_changeset(&mut conn, fee)?;
    show(&mut conn, "fee undone")?;
    Journal::new().undo::<Account>(&mut conn, &2)?;
    show(&mut conn, "freeze undone")?;

    let report = recover::check(&mut conn)?;
    println!("check: {report}");
    assert!(report.is_ok());
    Ok(())
}
