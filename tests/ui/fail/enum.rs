#![allow(unused_imports)] // the derive expands to nothing on error, so the prelude goes unused

use diesel::prelude::*;
use recover::Recoverable;

diesel::table! {
    shapes (id) {
        id -> Integer,
    }
}

#[derive(Recoverable)]
#[diesel(table_name = shapes)]
enum Shape {
    Circle { id: i32 },
    Square { id: i32 },
}

fn main() {}
