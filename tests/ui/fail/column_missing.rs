use diesel::prelude::*;
use recover::Recoverable;

diesel::table! {
    users (id) {
        id -> Integer,
        name -> Text,
    }
}

#[derive(Recoverable)]
#[diesel(table_name = users)]
struct User {
    id: i32,
    name: String,
    email: String,
}

fn main() {}
