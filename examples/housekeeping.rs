//! Beyond single rows, on a SQLite file: a batch job's bulk updates and deletes, what it
//! deleted, the whole table brought back to how it was before the job, and the journal pruned.
//!
//! Run it with `cargo run --example housekeeping`.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use recover::{At, Journal, Retention};

#[path = "bank/model.rs"]
mod model;

use model::{accounts, Account};

fn show(conn: &mut SqliteConnection, when: &str) -> QueryResult<()> {
    let rows = accounts::table.order(accounts::id).load::<Account>(conn)?;
    let rows: Vec<String> = rows
        .iter()
        .map(|a| format!("#{} {}", a.id, a.balance))
        .collect();
    println!("{when:<32} {}", rows.join("  "));
    Ok(())
}

fn main() -> Result<(), recover::Error> {
    let path = std::env::temp_dir().join("housekeeping.db");
    let _ = std::fs::remove_file(&path);
    let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
    conn.batch_execute(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT NOT NULL,
             balance BIGINT NOT NULL, status TEXT NOT NULL, note TEXT);",
    )?;
    recover::install(&mut conn)?;

    let teller = Journal::new().actor("teller");
    for id in 1..=5 {
        let owner = format!("owner{id}");
        let account = Account {
            id,
            owner,
            balance: 100,
            status: "open".into(),
            note: None,
        };
        teller.insert(&mut conn, &account)?;
    }
    show(&mut conn, "opening day")?;
    std::thread::sleep(std::time::Duration::from_millis(5));
    let before_the_job = chrono::Utc::now();

    // A batch job goes wrong: it zeroes two balances and deletes two accounts, with bulk
    // statements (every row still gets its journal entry, all in the job's one changeset).
    let job = Journal::new()
        .actor("nightly-job")
        .reason("interest run #7");
    job.changeset(&mut conn, |tx| {
        let zeroed = tx.update_where::<Account>(accounts::id.le(2), accounts::balance.eq(0))?;
        let deleted = tx.delete_where::<Account>(accounts::id.ge(4))?;
        println!("the job zeroes {zeroed} balances and deletes {deleted} accounts");
        Ok(())
    })?;
    show(&mut conn, "after the bad job")?;

    println!("\nwhat was deleted, newest first:");
    for gone in teller.deleted::<Account>(&mut conn)? {
        println!(
            "  #{} (balance {}) by {} at {}",
            gone.key,
            gone.last.balance,
            gone.actor.as_deref().unwrap_or("?"),
            gone.deleted_at.format("%H:%M:%S%.6f")
        );
    }

    let ops = Journal::new().actor("ops").reason("revert interest run #7");
    let cs =
        ops.restore_table_with_progress::<Account>(&mut conn, At::Time(before_the_job), |p| {
            println!("  restored {}/{}", p.done, p.total)
        })?;
    show(&mut conn, "\nthe table as before the job")?;
    ops.undo_changeset(&mut conn, cs)?;
    show(&mut conn, "the restore undone")?;

    // A bulk change on its own is a changeset too, undone in one call.
    let fee = ops.update_where::<Account>(
        &mut conn,
        accounts::balance.ge(100),
        accounts::balance.eq(accounts::balance - 1),
    )?;
    show(&mut conn, "a fee on every full account")?;
    ops.undo_changeset(&mut conn, fee)?;
    show(&mut conn, "the fee undone")?;

    // Keep the newest entry of each account: every row stays restorable to what it holds now.
    let report = ops.prune(&mut conn, &Retention::new().keep_last(1))?;
    println!(
        "\npruned {} entries of {} entities in {} batches",
        report.removed, report.entities, report.batches
    );
    println!("{}", recover::check(&mut conn)?);
    Ok(())
}
