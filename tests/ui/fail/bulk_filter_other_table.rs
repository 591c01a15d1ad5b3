// `update_where::<User>` with a filter on another table's column.
use diesel::prelude::*;
use recover::{Journal, Recoverable};

diesel::table! {
    users (id) {
        id -> Integer,
        name -> Text,
    }
}

diesel::table! {
    posts (id) {
        id -> Integer,
        title -> Text,
    }
}

#[derive(Recoverable)]
#[diesel(table_name = users)]
struct User {
    id: i32,
    name: String,
}

fn rename(conn: &mut SqliteConnection) -> Result<(), recover::Error> {
    Journal::new().update_where::<User>(conn, posts::id.eq(1), users::name.eq("x"))?;
    Ok(())
}

fn main() {}
