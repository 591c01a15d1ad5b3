use diesel::prelude::*;
use recover::{At, Journal, Recoverable};

diesel::table! {
    accounts (id) {
        id -> Integer,
        owner -> Text,
        balance -> BigInt,
        status -> Text,
        note -> Nullable<Text>,
    }
}

#[derive(
    Debug,
    Clone,
    PartialEq,
    Queryable,
    Selectable,
    Identifiable,
    Insertable,
    AsChangeset,
    Recoverable,
)]
#[diesel(table_name = accounts)]
pub struct Account {
    pub id: i32,
    pub owner: String,
    pub balance: i64,
    pub status: String,
    pub note: Option<String>,
}

#[test]
fn smoke() -> Result<(), recover::Error> {
    let mut conn = SqliteConnection::establish(":memory:")?;
    diesel::sql_query("CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, balance BIGINT NOT NULL, status TEXT NOT NULL, note TEXT)").execute(&mut conn)?;
    recover::install(&mut conn)?;
    let journal = Journal::new().actor("alice").reason("ticket 42");
    let mut a = Account {
        id: 1,
        owner: "ann".into(),
        balance: 100,
        status: "open".into(),
        note: None,
    };
    journal.insert(&mut conn, &a)?;
    a.balance = 50;
    journal.update(&mut conn, &a)?;
    journal.delete(&mut conn, &a)?;
    journal.undo::<Account>(&mut conn, &1)?;
    let row: Account = accounts::table.find(1).first(&mut conn)?;
    assert_eq!(row.balance, 50);
    journal.undo::<Account>(&mut conn, &1)?;
    let row: Account = accounts::table.find(1).first(&mut conn)?;
    assert_eq!(row.balance, 100);
    journal.redo::<Account>(&mut conn, &1)?;
    let row: Account = accounts::table.find(1).first(&mut conn)?;
    assert_eq!(row.balance, 50);
    journal.restore::<Account>(&mut conn, &1, At::Version(1))?;
    let row: Account = accounts::table.find(1).first(&mut conn)?;
    assert_eq!(row.balance, 100);
    let history = journal.history::<Account>(&mut conn, &1)?;
    assert_eq!(history.len(), 7);
    let cs = journal.changeset(&mut conn, |tx| {
        tx.update(&a)?;
        tx.delete(&a)?;
        Ok(())
    })?;
    journal.undo_changeset(&mut conn, cs)?;
    let row: Account = accounts::table.find(1).first(&mut conn)?;
    assert_eq!(row.balance, 100);
    for e in journal.history::<Account>(&mut conn, &1)? {
        println!(
            "{} {:?} {:?} {:?}",
            e.seq,
            e.op,
            e.changed_columns(),
            e.undoes
        );
    }
    Ok(())
}
