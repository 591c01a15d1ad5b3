#![allow(unused_imports)] // the derive expands to nothing on error, so the prelude goes unused

use diesel::prelude::*;
use recover::Recoverable;

diesel::table! {
    boxes (id) {
        id -> Integer,
        content -> Text,
    }
}

#[derive(Recoverable)]
#[diesel(table_name = boxes)]
struct Box<T> {
    id: i32,
    content: T,
}

fn main() {}
