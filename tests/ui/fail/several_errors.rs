#![allow(unused_imports)] // the derive expands to nothing on error, so the prelude goes unused

use diesel::prelude::*;
use recover::Recoverable;

diesel::table! {
    users (id) {
        id -> Integer,
        name -> Text,
        password_hash -> Text,
    }
}

// Every mistake is reported at once.
#[derive(Recoverable)]
#[diesel(table_name = users)]
struct User {
    #[recover(skip)]
    id: i32,
    #[recover(renamed_from = "name")]
    name: String,
    #[recover(skip, renamed_from = "password")]
    password_hash: String,
}

fn main() {}
