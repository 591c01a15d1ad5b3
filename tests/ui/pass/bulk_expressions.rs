// The filters and changesets `update_where` and `delete_where` take: any boolean expression of
// the model's columns (nullable ones included), assignments, tuples of them, and expressions of
// the row's own values.
use diesel::prelude::*;
use recover::{Journal, Recoverable};

diesel::table! {
    accounts (id) {
        id -> Integer,
        owner -> Text,
        balance -> BigInt,
        note -> Nullable<Text>,
    }
}

#[derive(Recoverable)]
#[diesel(table_name = accounts)]
struct Account {
    id: i32,
    owner: String,
    balance: i64,
    note: Option<String>,
}

fn bulk(conn: &mut SqliteConnection) -> Result<(), recover::Error> {
    let journal = Journal::new();
    journal.update_where::<Account>(
        conn,
        accounts::balance.lt(0).and(accounts::owner.like("a%")),
        (accounts::balance.eq(0), accounts::note.eq(Some("reset"))),
    )?;
    journal.update_where::<Account>(
        conn,
        accounts::note.eq("x"),
        accounts::balance.eq(accounts::balance * 2),
    )?;
    journal.delete_where::<Account>(conn, accounts::id.eq_any(vec![1, 2, 3]))?;
    journal.changeset(conn, |tx| {
        tx.update_where::<Account>(accounts::note.is_null(), accounts::note.eq("new"))?;
        tx.delete_where::<Account>(accounts::owner.eq("gone"))?;
        Ok(())
    })?;
    Ok(())
}

fn main() {}
